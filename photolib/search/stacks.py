"""RAW+JPEG pairs as `duplicates` shows them: stacks (one shot in two files, both kept), never copies.

The pairs come from the catalog (`PhotoFiles.pairs`: a RAW kept as the second
file of its JPEG's photo); a RAW and its JPEG imported as two photos
(`[add] raw = "separate"`) are recognised among the near copies by their
names. Either way the group's kind is `pair`, every file in it is marked
keep, and `--mark` folds nothing of it.
"""

from __future__ import annotations

from typing import Any

from photolib.search.duplicates import DuplicateGroup, DuplicateKind, candidates

PAIR_REASON = "RAW+JPEG: one shot, two files; keep both"


def raw_pairs(catalog: Any) -> list[DuplicateGroup]:
    """Every RAW+JPEG pair as a stack: the photo with its shown file and its RAW (`PhotoFiles.pairs`)."""
    from photolib.pipeline.pairs import PhotoFiles

    files = PhotoFiles(catalog.db)
    found = files.pairs()
    if not found:
        return []
    loaded = {c.id: c for c in candidates(catalog, sorted({pid for pid, _, _ in found}))}
    sizes = {f["path"]: f["size"] for rows in files.of_photos(sorted(loaded)).values() for f in rows}
    groups: dict[int, DuplicateGroup] = {}
    for photo_id, shown, raw in found:
        if photo_id not in loaded:
            continue
        group = groups.get(photo_id)
        if group is None:
            photo = loaded[photo_id]
            group = groups[photo_id] = DuplicateGroup(DuplicateKind.PAIR, [photo], PAIR_REASON, files=[
                {"path": shown, "role": "shown", "size": photo.size, "photo": photo_id}])
        group.files.append({"path": raw, "role": "raw", "size": sizes.get(raw), "photo": photo_id})
    return list(groups.values())


def as_pair(group: DuplicateGroup) -> DuplicateGroup | None:
    """A near-copy group that is only a RAW and its JPEG imported as two photos (`[add] raw = "separate"`)."""
    import os

    from photolib.media.formats import DEVELOPED_EXTENSIONS, RAW_EXTENSIONS, extension

    if len(group.photos) != 2:
        return None
    stems = {os.path.splitext(p.path)[0].lower() for p in group.photos}
    kinds = sorted(extension(p.path) in RAW_EXTENSIONS for p in group.photos)
    if len(stems) != 1 or kinds != [False, True] or not any(extension(p.path) in DEVELOPED_EXTENSIONS
                                                           for p in group.photos):
        return None
    shown, raw = sorted(group.photos, key=lambda p: extension(p.path) in RAW_EXTENSIONS)
    return DuplicateGroup(DuplicateKind.PAIR, [shown, raw], PAIR_REASON, group.distance, files=[
        {"path": shown.path, "role": "shown", "size": shown.size, "photo": shown.id},
        {"path": raw.path, "role": "raw", "size": raw.size, "photo": raw.id}])
