"""`photolib doctor --repair`: put a salvaged catalog in place of a damaged one, under the write lock.

The salvage itself (newest sound snapshot plus every row still readable) is
`photolib.store.salvage`; this keeps the damaged files aside, waits for a snapshot
being taken, swaps the new catalog in and rebuilds the index.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Callable, ContextManager

from photolib.core.layout import CATALOG_NAME, INDEX_FOLDER
from photolib.maintenance.snapshot_runner import wait_for_snapshot
from photolib.store.salvage import RepairReport, build_salvaged_catalog, catalog_problem, remove_database
from photolib.store.snapshots import keep_aside, replace_catalog


def repair(root: Path, *, write_lock: Callable[[], ContextManager[Any]], close_catalog: Callable[[], None],
           rebuild_index: Callable[[], Any], notify: Callable[[str], Any], lock_timeout: float) -> RepairReport:
    """Salvage a damaged catalog in place (see the module docstring); a healthy one is left as it is.

    `write_lock` is the library's writer lock, `close_catalog` lets go of its open catalog (the file is
    replaced, and the next use opens the new one), `rebuild_index` rebuilds and saves the description
    index from the new catalog."""
    catalog = root / CATALOG_NAME
    with write_lock():
        close_catalog()
        wait_for_snapshot(root, notify, lock_timeout)
        problem = catalog_problem(catalog)
        if problem is None:
            return RepairReport(needed=False)
        report = RepairReport(needed=True, problem=problem)
        kept = keep_aside(catalog, "damaged")
        report.kept_aside = str(kept)
        temp = root / (CATALOG_NAME + ".repairing")
        remove_database(temp)
        build_salvaged_catalog(temp, kept, root, report)
        shutil.rmtree(root / INDEX_FOLDER, ignore_errors=True)  # rebuilt from the new catalog below
        replace_catalog(catalog, temp)
        close_catalog()
        if report.photos:
            try:
                rebuild_index()
            except Exception as error:  # noqa: BLE001 - the catalog is repaired; the index is rebuilt on next use
                notify(f"The index will be rebuilt on next use ({error}).")
    return report
