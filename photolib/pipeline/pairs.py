"""RAW+JPEG pairs: one photo, two files.

A camera set to RAW+JPEG writes `IMG_0001.CR2` and `IMG_0001.JPG`: one shot.
The JPEG is the photo photolib shows, describes and searches; the RAW is kept
as the photo's second file (`photolib.store.photo_files`), so `show` lists
both and a duplicates or stack view can show them as a pair. What the scan
decided (`ScanPlan.companions`, `repointed`, `merged_away`,
`stale_companions`) is recorded here, inside the `add` transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from photolib.store.photo_files import PhotoFiles, SecondFile  # noqa: F401 - re-exported: where callers found them

if TYPE_CHECKING:
    from photolib.pipeline.scan import ScanPlan
    from photolib.store.catalog import Catalog


def record_pairs(catalog: "Catalog", plan: "ScanPlan") -> int:
    """Store the pairs the scan found (after its new and moved photos are stored); returns RAW files newly paired."""
    files = PhotoFiles(catalog.db)
    if plan.merged_away:
        catalog.delete_photos(plan.merged_away)
    for photo_id, found, digest in plan.repointed:
        catalog.update_file(photo_id, path=str(found.path), source_root=str(found.root))
        catalog.reset_for_new_content(photo_id, found.size, found.mtime_ns, digest)
    files.forget(plan.stale_companions)
    known = files.states()
    ids = catalog.ids_for_paths([shown for _, shown, _ in plan.companions])
    linked = 0
    for found, shown, digest in plan.companions:
        photo_id = ids.get(shown)
        if photo_id is None:
            continue
        state = known.get(str(found.path))
        if state is None or digest is not None or state.photo_id != photo_id:
            files.link(str(found.path), photo_id, found.size, found.mtime_ns, digest)
            linked += state is None or state.photo_id != photo_id
    return linked


def would_pair(catalog: "Catalog | None", plan: "ScanPlan") -> int:
    """RAW files a real run would newly keep as the second file of their JPEG's photo (as `record_pairs` counts)."""
    known = PhotoFiles(catalog.db).states() if catalog is not None else {}
    return sum(1 for found, _, _ in plan.companions if str(found.path) not in known)
