"""Group the library into albums of photos that are close in meaning.

The seed service took a random photo, pulled its neighbours within the
threshold and repeated, so albums changed on every call, and one loosely
described photo close to everything could swallow the library. Descriptions of
different events share many words, so at the default threshold of 1.5 nearly
every pair of photos may be "within the threshold": the threshold alone cannot
separate a beach holiday from a winter city trip.

So each photo first finds its own event: its nearest neighbours up to the first
clear gap in distance (a jump of more than `GAP` that at least doubles the
distance), never beyond the threshold. Two photos are linked only when each is
inside the other's event; a camera-roll photo that is close to everything
cannot reach into a trip whose photos see a gap before it. Leaders are then
taken in order (most links first, ties by id; `seed` shuffles the order for a
different, still repeatable, grouping): a photo no leader links to becomes a
leader. Finally every photo joins its nearest linked leader, so an album is a
leader and photos within the threshold of it, and every photo lands in exactly
one album; groups smaller than `min_size` are reported as singletons.

Neighbours come from the FAISS index (top `NEIGHBOURS`, searched in chunks), so
the work is an n x k table, never an n x n matrix, and stays practical at
100 000 photos.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photolib.core.spaces import Space
from photolib.core.vocabulary import GENERIC_WORDS, MONTHS

if TYPE_CHECKING:
    import numpy as np

    from photolib.store.catalog import Catalog, StoredPhoto
    from photolib.store.keeper import IndexKeeper

NEIGHBOURS = 256  # nearest neighbours examined per photo: the largest album one leader can gather
GAP = 0.25  # squared-L2 jump between consecutive neighbours that ends a photo's event
CHUNK = 4096  # photos searched at once (bounds memory at CHUNK x NEIGHBOURS)
IMAGE_WEIGHT = 0.3  # share of the image distance in an album distance, when the library has image vectors


@dataclass
class Album:
    name: str
    photo_ids: list[int]
    start: str | None = None
    end: str | None = None
    id: int | None = None
    hidden_copies: list[int] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.photo_ids)

    def as_dict(self) -> dict[str, Any]:
        data = {"name": self.name, "size": self.size, "photo_ids": self.photo_ids}
        if self.hidden_copies:
            data["hidden_copies"] = self.hidden_copies  # copies shown as their group's best photo
        return data


@dataclass
class AlbumSet:
    albums: list[Album] = field(default_factory=list)
    singletons: list[int] = field(default_factory=list)
    threshold: float = 1.5
    seed: int | None = None
    not_exported: list[str] = field(default_factory=list)  # photos whose files were gone at --export


def group_library(catalog: "Catalog", keeper: "IndexKeeper", *, threshold: float, min_size: int,
                  seed: int | None, only: "list[int] | None" = None) -> AlbumSet:
    """Every embedded photo (of `only`, when given: a query's matches) in one album (or among the
    singletons), neighbours read from the kept index."""
    import numpy as np

    ids = np.array(sorted(catalog.embedded_ids()), dtype=np.int64)
    if only is not None:
        ids = np.intersect1d(ids, np.asarray(only, dtype=np.int64))
    result = AlbumSet(threshold=threshold, seed=seed)
    if len(ids) == 0:
        return result
    distances, positions = _neighbours(keeper.current(), catalog, ids, restrict=only is not None)
    if catalog.embedding_model_bounds(Space.IMAGE) is not None:
        distances, positions = _with_pixels(distances, positions, _image_matrix(catalog, ids))
    groups = partition(distances, positions, threshold, seed)
    photos = catalog.get_many([int(i) for i in ids])
    everywhere = _library_wide_tags(list(photos.values()))
    for group in groups:
        members = [int(ids[p]) for p in group]
        if len(members) < max(min_size, 1):
            result.singletons.extend(members)
        else:
            result.albums.append(_named_album([photos[i] for i in members if i in photos], everywhere))
    result.singletons.sort()
    result.albums.sort(key=lambda album: (album.start or "9999", album.name))
    _make_names_unique(result.albums)
    return result


def _neighbours(index: Any, catalog: Any, ids: "np.ndarray", restrict: bool = False) -> tuple["np.ndarray", "np.ndarray"]:
    """(distances, positions): each photo's nearest neighbours as rows of positions in `ids`
    (-1 for an empty slot or a vector the catalog does not hold), nearest first."""
    import numpy as np

    k = min(NEIGHBOURS, len(ids))
    distances = np.empty((len(ids), k), np.float32)
    positions = np.empty((len(ids), k), np.int32)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        blobs = catalog.vectors_for([int(i) for i in chunk])
        queries = np.vstack([np.frombuffer(blobs[int(i)], dtype=np.float32) for i in chunk])
        found_d, found_i = index.search(queries, k, ids=ids if restrict else None)
        width = found_d.shape[1]
        place = np.minimum(np.searchsorted(ids, found_i), len(ids) - 1)
        known = (found_i >= 0) & (ids[place] == found_i)
        distances[start:start + len(chunk)] = np.inf
        positions[start:start + len(chunk)] = -1
        distances[start:start + len(chunk), :width] = np.where(known, found_d, np.inf)
        positions[start:start + len(chunk), :width] = np.where(known, place, -1)
    return distances, positions


def _image_matrix(catalog: Any, ids: "np.ndarray") -> "np.ndarray":
    """Image vectors of `ids` as rows (zeros for photos without one)."""
    import numpy as np

    blobs = catalog.vectors_for([int(i) for i in ids], Space.IMAGE)
    dimension = len(next(iter(blobs.values()))) // 4
    matrix = np.zeros((len(ids), dimension), np.float32)
    for row, photo_id in enumerate(ids.tolist()):
        blob = blobs.get(photo_id)
        if blob is not None and len(blob) == dimension * 4:
            matrix[row] = np.frombuffer(blob, dtype=np.float32)
    return matrix


def _with_pixels(distances: "np.ndarray", positions: "np.ndarray",
                 images: "np.ndarray") -> tuple["np.ndarray", "np.ndarray"]:
    """Blend each neighbour's description distance with the photos' image distance
    (`IMAGE_WEIGHT` of it; a photo without an image vector counts as 1.0, neither near nor far),
    then re-order each row nearest first. Candidates still come from the description space,
    so an album stays one event; the pixels sharpen who belongs and where the gaps are."""
    import numpy as np

    valid = positions >= 0
    has_image = np.abs(images).sum(axis=1) > 0
    pixel = np.ones(distances.shape, np.float32)
    for start in range(0, len(images), 256):  # 256 x k x d floats at a time, not n x k x d
        rows = slice(start, start + 256)
        neighbours = np.where(valid[rows], positions[rows], 0)
        similarity = np.einsum("nd,nkd->nk", images[rows], images[neighbours])
        present = has_image[rows][:, None] & has_image[neighbours]
        pixel[rows] = np.where(present, np.clip(2.0 - 2.0 * similarity, 0.0, 4.0), 1.0)
    blended = np.where(valid, (1 - IMAGE_WEIGHT) * distances + IMAGE_WEIGHT * pixel, np.inf).astype(np.float32)
    order = np.argsort(blended, axis=1, kind="stable")  # ties keep the index's order: deterministic
    return np.take_along_axis(blended, order, 1), np.take_along_axis(positions, order, 1)


def partition(distances: "np.ndarray", positions: "np.ndarray", threshold: float,
              seed: int | None = None) -> list[list[int]]:
    """Split photos 0..n-1 into groups, given each one's nearest neighbours (see `_neighbours`).

    Every photo is in exactly one group; a group is a leader and photos linked to it,
    each within `threshold` of it. The same input and seed give the same groups."""
    import numpy as np

    count = len(distances)
    linked = _mutual_links(distances, positions, threshold)
    if seed is None:
        order = np.lexsort((np.arange(count), -linked.sum(axis=1)))
    else:
        order = np.random.default_rng(seed).permutation(count)
    covered = np.zeros(count, bool)
    leaders = []
    for photo in order:
        if not covered[photo]:
            leaders.append(photo)
            covered[photo] = True
            covered[positions[photo][linked[photo]]] = True
    owner = _nearest_leader(np.array(leaders), distances, positions, linked)
    groups: dict[int, list[int]] = {}
    for photo, leader in enumerate(owner.tolist()):
        groups.setdefault(leader, []).append(photo)
    return sorted(groups.values())


def _mutual_links(distances: "np.ndarray", positions: "np.ndarray", threshold: float) -> "np.ndarray":
    """linked[i, c]: photo i and its c-th neighbour are each within the other's event.

    A photo's event reaches to the last neighbour before the first gap (a jump of more
    than GAP that at least doubles the distance) or the threshold, whichever comes first."""
    import numpy as np

    count = len(distances)
    valid = positions >= 0
    near = np.where(valid, np.maximum(distances, 0), np.inf)
    previous = np.hstack([np.zeros((count, 1), np.float32), near[:, :-1]])
    ends = (near > threshold) | ((near - previous > GAP) & (near >= 2 * previous))
    first_end = np.where(ends.any(axis=1), ends.argmax(axis=1), near.shape[1])
    reach = np.hstack([previous, near[:, -1:]])[np.arange(count), first_end] + 1e-6
    others = np.where(valid, positions, 0)
    not_self = others != np.arange(count)[:, None]
    return valid & not_self & (near <= reach[:, None]) & (near <= reach[others])


def _nearest_leader(leaders: "np.ndarray", distances: "np.ndarray", positions: "np.ndarray",
                    linked: "np.ndarray") -> "np.ndarray":
    """owner[photo] = the nearest leader linked to it (a leader owns itself)."""
    import numpy as np

    rows = linked[leaders]
    members = np.concatenate([leaders, positions[leaders][rows]])
    nearness = np.concatenate([np.full(len(leaders), -1.0), distances[leaders][rows]])
    heads = np.concatenate([leaders, np.repeat(leaders, rows.sum(axis=1))])
    best = np.lexsort((heads, nearness, members))
    photos, first = np.unique(members[best], return_index=True)
    owner = np.full(len(distances), -1, np.int64)
    owner[photos] = heads[best][first]
    return owner


def _library_wide_tags(photos: list["StoredPhoto"]) -> set[str]:
    """Tags most of the library shares (e.g. the imported folder's name): they name no album."""
    if len(photos) < 4:
        return set()
    counts = Counter(tag for p in photos for tag in dict.fromkeys(p.tags))
    return {tag for tag, n in counts.items() if n > 0.6 * len(photos)}


def _named_album(photos: list["StoredPhoto"], skip: set[str]) -> Album:
    dates = sorted(p.data["taken_at"] for p in photos if p.data.get("taken_at"))
    start, end = (dates[0], dates[-1]) if dates else (None, None)
    parts = [*_shared_words(photos, skip), _date_span(start, end)]
    name = " — ".join(part for part in [" ".join(parts[:-1]).strip(), parts[-1]] if part) or "Untitled"
    return Album(name=name[:80], photo_ids=sorted(p.id for p in photos), start=start, end=end)


def _shared_words(photos: list["StoredPhoto"], skip: set[str]) -> list[str]:
    """Place first, then the tags most photos share, skipping dates, colours, shapes, the camera
    and the rest of the place (its region and country name no album once the city does)."""
    half = len(photos) / 2
    place, place_parts = _shared_place(photos, half)
    cameras = {w.lower() for p in photos for key in ("camera_make", "camera_model")
               for w in str(p.data.get(key) or "").split()}
    words = [place] if place else []
    tags = Counter(tag for p in photos for tag in dict.fromkeys(p.tags))
    for tag, n in tags.most_common():
        if len(words) >= 3 or n < half:
            break
        if (tag in GENERIC_WORDS or tag in skip or tag.isdigit() or tag.lower() in place_parts
                or set(tag.lower().split()) <= cameras or any(tag.lower() in w.lower() for w in words)):
            continue
        words.append(tag)
    return [w.title() if w.islower() else w for w in words]


def _shared_place(photos: list["StoredPhoto"], half: float) -> tuple[str, set[str]]:
    """The most specific part of the photos' place ("City, Region, Country") that at least half
    of them share, and every place part seen (lower case)."""
    places = [[part.strip() for part in (p.data.get("place") or "").split(",") if part.strip()] for p in photos]
    counts = Counter(part for parts in places for part in dict.fromkeys(parts))
    every_part = {part.lower() for part in counts}
    common = Counter(tuple(parts) for parts in places if parts).most_common(1)
    for part in common[0][0] if common else ():
        if counts[part] >= half:
            return part, every_part
    return "", every_part


def _date_span(start: str | None, end: str | None) -> str:
    if not start or not end:
        return ""
    first, last = start[:7], end[:7]
    label = lambda ym: f"{MONTHS[int(ym[5:7]) - 1][:3].title()} {ym[:4]}"  # noqa: E731
    if first == last:
        return label(first)
    if first[:4] == last[:4]:
        return f"{MONTHS[int(first[5:7]) - 1][:3].title()}–{label(last)}"
    return f"{first[:4]}–{last[:4]}"


def _make_names_unique(albums: list[Album]) -> None:
    seen: Counter[str] = Counter()
    for album in albums:
        seen[album.name] += 1
        if seen[album.name] > 1:
            album.name = f"{album.name} ({seen[album.name]})"


def export_albums(albums: list[Album], photos: dict[int, "StoredPhoto"], destination: Path,
                  copy: bool = False) -> list[str]:
    """One folder per album holding symlinks (or copies) of its photos.

    Photos whose file is gone are skipped and returned (the export goes on);
    a folder that cannot be written stops it with a message.
    """
    from photolib.core.errors import UsageError

    missing = []
    for album in albums:
        folder = destination / _safe_folder_name(album.name)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create {folder} ({error.strerror}): choose another --export folder") from None
        for pid in album.photo_ids:
            source = Path(photos[pid].path)
            target = folder / f"{pid}-{_safe_folder_name(source.name)}"
            if target.exists() or target.is_symlink():
                continue
            if not source.is_file():
                missing.append(str(source))
                continue
            if copy:
                shutil.copy2(source, target)
            else:
                os.symlink(source, target)
    return missing


def _safe_folder_name(name: str) -> str:
    cleaned = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]+", "_", name).strip(" .")
    return cleaned[:100] or "album"
