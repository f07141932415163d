"""`photolib doctor --repair`: put a salvaged catalog in place of a damaged one, under the write lock.

The salvage itself (newest sound snapshot plus every row still readable) is
`photolib.store.salvage`; this keeps the damaged files aside, waits for a snapshot
being taken, swaps the new catalog in and rebuilds the index.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from photolib.core.layout import CATALOG_NAME
from photolib.maintenance.snapshot_runner import wait_for_snapshot
from photolib.store.salvage import RepairReport, build_salvaged_catalog, catalog_problem, remove_database
from photolib.store.snapshots import keep_aside, replace_catalog

if TYPE_CHECKING:
    from photolib.app.library import Library


def repair(library: "Library") -> RepairReport:
    """Salvage a damaged catalog in place (see the module docstring); a healthy one is left as it is."""
    catalog = library.root / CATALOG_NAME
    with library.write_lock():
        library.close()
        wait_for_snapshot(library.root, library.notify, library.settings.lock_timeout)
        problem = catalog_problem(catalog)
        if problem is None:
            return RepairReport(needed=False)
        report = RepairReport(needed=True, problem=problem)
        kept = keep_aside(catalog, "damaged")
        report.kept_aside = str(kept)
        temp = library.root / (CATALOG_NAME + ".repairing")
        remove_database(temp)
        build_salvaged_catalog(temp, kept, library.root, report)
        shutil.rmtree(library.index_folder, ignore_errors=True)  # rebuilt from the new catalog below
        replace_catalog(catalog, temp)
        library.close()
        if report.photos:
            try:
                library.keeper.rebuild()
                library.keeper.save()
            except Exception as error:  # noqa: BLE001 - the catalog is repaired; the index is rebuilt on next use
                library.notify(f"The index will be rebuilt on next use ({error}).")
    return report
