"""`photolib doctor`: what `stats` reports, plus SQLite's full integrity check of the catalog.

A catalog too damaged to open is still reported (what `integrity_check` finds,
the snapshots there are, the command that helps), never a traceback.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any, Callable

from photolib.store import damage
from photolib.core.errors import CatalogDamagedError
from photolib.store.snapshots import list_snapshots


def doctor(root: Path, *, stats: Callable[[], dict[str, Any]], integrity: Callable[[], list[str]],
           close_catalog: Callable[[], None]) -> dict[str, Any]:
    """`stats()` (what `Library.stats` reports) plus `integrity` (SQLite's findings, ["ok"] when sound)
    and `damaged`. `integrity` runs the full check on the open catalog; `close_catalog` lets go of it
    when it turns out too damaged to read."""
    from photolib.core.layout import CATALOG_NAME

    catalog = root / CATALOG_NAME
    try:
        result = stats()
        findings = integrity()
    except CatalogDamagedError as error:
        return _damaged(root, str(error), close_catalog)
    except sqlite3.DatabaseError as error:
        if not damage.is_corruption(error):
            raise
        return _damaged(root, str(damage.damaged(catalog, str(error))), close_catalog)
    result["integrity"] = findings
    result["damaged"] = findings != ["ok"]
    if result["damaged"]:
        result["problems"].insert(0, str(damage.damaged(catalog, f"integrity_check: {findings[0]}")))
    return result


def _damaged(root: Path, problem: str, close_catalog: Callable[[], None]) -> dict[str, Any]:
    from photolib.core.layout import CATALOG_NAME

    catalog = root / CATALOG_NAME
    close_catalog()
    return {"library": str(root), "catalog": str(catalog), "damaged": True,
            "integrity": damage.integrity_report(catalog), "problems": [problem],
            "snapshots": [s.as_dict() for s in list_snapshots(root)], "repaired": []}
