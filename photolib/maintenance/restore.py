"""`photolib restore --snapshot`: a kept snapshot put back in place of the catalog.

The catalog it replaces is linked into `aside/` first (nothing is deleted), a
snapshot being taken is waited for, and the index is rebuilt from the restored
catalog on next use.
"""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING, Any

from photolib.core.files import fsync_file
from photolib.core.errors import UsageError
from photolib.core.layout import CATALOG_NAME
from photolib.maintenance.snapshot_runner import wait_for_snapshot
from photolib.store import damage
from photolib.store.snapshots import find, keep_aside, photo_count, replace_catalog

if TYPE_CHECKING:
    from photolib.app.library import Library


def restore_snapshot(library: "Library", reference: str) -> dict[str, Any]:
    """Put a snapshot in place of the library's catalog; the catalog it replaces is kept in `aside/`.

    Works on a damaged catalog too (it is never opened). The index is removed
    and rebuilt from the restored catalog on next use.
    """
    wait_for_snapshot(library.root, library.notify, library.settings.lock_timeout)
    snapshot = find(library.root, reference)
    verdict = damage.quick_check(snapshot.path)
    if verdict != "ok" or not damage.has_photolib_tables(snapshot.path):
        raise UsageError(f"{snapshot.path} fails SQLite's check ({verdict}); nothing was restored: "
                         "pick another snapshot (see `photolib stats`)")
    catalog = library.root / CATALOG_NAME
    with library.write_lock():
        library.close()
        temp = library.root / (CATALOG_NAME + ".restoring")
        shutil.copyfile(snapshot.path, temp)
        fsync_file(temp)
        kept = keep_aside(catalog, "replaced") if catalog.exists() else None
        shutil.rmtree(library.index_folder, ignore_errors=True)  # rebuilt from the restored catalog
        replace_catalog(catalog, temp)
        library.close()
    return {"snapshot": snapshot.name, "taken_at": snapshot.taken_at.isoformat(timespec="seconds"),
            "photos": photo_count(catalog), "kept_aside": str(kept) if kept else None, "path": str(snapshot.path)}
