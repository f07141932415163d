"""`photolib doctor`: what `stats` reports, plus SQLite's full integrity check of the catalog.

A catalog too damaged to open is still reported (what `integrity_check` finds,
the snapshots there are, the command that helps), never a traceback.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from photolib.store import damage
from photolib.core.errors import CatalogDamagedError
from photolib.store.snapshots import list_snapshots

if TYPE_CHECKING:
    from photolib.app.library import Library


def doctor(library: "Library") -> dict[str, Any]:
    """`Library.stats` plus `integrity` (SQLite's findings, ["ok"] when sound) and `damaged`."""
    from photolib.core.layout import CATALOG_NAME

    catalog = library.root / CATALOG_NAME
    try:
        result = library.stats()
        integrity = library.catalog.integrity_check()
    except CatalogDamagedError as error:
        return _damaged(library, str(error))
    except sqlite3.DatabaseError as error:
        if not damage.is_corruption(error):
            raise
        return _damaged(library, str(damage.damaged(catalog, str(error))))
    result["integrity"] = integrity
    result["damaged"] = integrity != ["ok"]
    if result["damaged"]:
        result["problems"].insert(0, str(damage.damaged(catalog, f"integrity_check: {integrity[0]}")))
    return result


def _damaged(library: "Library", problem: str) -> dict[str, Any]:
    from photolib.core.layout import CATALOG_NAME

    catalog = library.root / CATALOG_NAME
    library.close()
    return {"library": str(library.root), "catalog": str(catalog), "damaged": True,
            "integrity": damage.integrity_report(catalog), "problems": [problem],
            "snapshots": [s.as_dict() for s in list_snapshots(library.root)], "repaired": []}
