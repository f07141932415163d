"""Group the library into albums of photos that are close in meaning.

The seed service took a random photo, pulled its neighbours within the
threshold and repeated, so albums changed on every call. Here the order is
deterministic: photos with the most neighbours lead first (they are the
centres of their events), ties broken by id; `seed` shuffles the order for a
different, still repeatable, grouping. Every photo lands in exactly one album;
groups smaller than `min_size` are reported as singletons, never dropped.

The threshold is the hard limit, but a leader also stops pulling neighbours at
a clear gap in distance (a jump of more than `GAP` that at least doubles the
distance). Descriptions of different events share many words, so at the
default 1.5 everything may be "within the threshold"; the gap is what keeps a
beach holiday and a winter city trip apart.
"""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from photolib.catalog import StoredPhoto
    from photolib.library import Library

NEIGHBOURS = 512  # nearest neighbours examined per photo
GAP = 0.25  # squared-L2 jump between consecutive neighbours that ends an album
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
          "october", "november", "december"]
GENERIC_TAGS = set(MONTHS) | {
    "spring", "summer", "autumn", "winter", "morning", "afternoon", "evening", "night", "landscape",
    "portrait", "square", "panorama", "bright", "dark", "black and white", "red", "orange", "yellow",
    "green", "teal", "blue", "purple", "pink", "brown", "black", "white", "gray", "photo",
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday",
}


@dataclass
class Album:
    name: str
    photo_ids: list[int]
    start: str | None = None
    end: str | None = None
    id: int | None = None

    @property
    def size(self) -> int:
        return len(self.photo_ids)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "size": self.size, "photo_ids": self.photo_ids}


@dataclass
class AlbumSet:
    albums: list[Album] = field(default_factory=list)
    singletons: list[int] = field(default_factory=list)
    threshold: float = 1.5
    seed: int | None = None


def group_library(library: "Library", *, threshold: float, min_size: int, seed: int | None) -> AlbumSet:
    import numpy as np

    index = library.index()
    ids = np.array(sorted(library.catalog.embedded_ids()), dtype=np.int64)
    result = AlbumSet(threshold=threshold, seed=seed)
    if len(ids) == 0:
        return result
    neighbours = _neighbour_lists(index, library.catalog, ids, threshold)
    groups = _greedy_groups(ids, neighbours, seed)
    photos = library.catalog.get_many([int(i) for i in ids])
    everywhere = _library_wide_tags(list(photos.values()))
    for group in groups:
        if len(group) < max(min_size, 1):
            result.singletons.extend(group)
        else:
            result.albums.append(_named_album([photos[i] for i in group if i in photos], everywhere))
    result.albums.sort(key=lambda album: (album.start or "9999", album.name))
    _make_names_unique(result.albums)
    return result


def _neighbour_lists(index: Any, catalog: Any, ids: Any, threshold: float) -> dict[int, list[int]]:
    """photo id -> ids within `threshold` (squared L2) and before the first gap, nearest first."""
    import numpy as np

    blobs = catalog.vectors_for([int(i) for i in ids])
    vectors = np.vstack([np.frombuffer(blobs[int(i)], dtype=np.float32) for i in ids])
    distances, found = index.search(vectors, min(NEIGHBOURS, len(ids)))
    return {int(pid): _before_gap(int(pid), row_d, row_i, threshold)
            for pid, row_d, row_i in zip(ids, distances, found)}


def _before_gap(pid: int, distances: Any, ids: Any, threshold: float) -> list[int]:
    kept: list[int] = []
    previous = 0.0
    for distance, other in zip(distances, ids):
        if other < 0 or other == pid:
            continue
        if distance > threshold or (distance - previous > GAP and distance >= 2 * previous):
            break
        kept.append(int(other))
        previous = float(distance)
    return kept


def _greedy_groups(ids: Any, neighbours: dict[int, list[int]], seed: int | None) -> list[list[int]]:
    import numpy as np

    if seed is None:
        order = sorted((int(i) for i in ids), key=lambda pid: (-len(neighbours[pid]), pid))
    else:
        order = [int(i) for i in np.random.default_rng(seed).permutation(ids)]
    assigned: set[int] = set()
    groups = []
    for leader in order:
        if leader in assigned:
            continue
        group = [leader] + [pid for pid in neighbours[leader] if pid not in assigned]
        assigned.update(group)
        groups.append(sorted(group))
    return groups


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
    """Place first, then the tags most photos share, skipping dates, colours and shapes."""
    half = len(photos) / 2
    places = Counter((p.data.get("place") or "").split(",")[0].strip() for p in photos)
    place, count = places.most_common(1)[0]
    words = [place] if place and count >= half else []
    tags = Counter(tag for p in photos for tag in dict.fromkeys(p.tags))
    for tag, n in tags.most_common():
        if len(words) >= 3 or n < half:
            break
        if tag in GENERIC_TAGS or tag in skip or tag.isdigit() or any(tag.lower() in w.lower() for w in words):
            continue
        words.append(tag)
    return [w.title() if w.islower() else w for w in words]


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
                  copy: bool = False) -> int:
    """One folder per album holding symlinks (or copies) of its photos; returns files written."""
    written = 0
    for album in albums:
        folder = destination / _safe_folder_name(album.name)
        folder.mkdir(parents=True, exist_ok=True)
        for pid in album.photo_ids:
            source = Path(photos[pid].path)
            target = folder / f"{pid}-{_safe_folder_name(source.name)}"
            if target.exists() or target.is_symlink():
                continue
            if copy:
                shutil.copy2(source, target)
            else:
                os.symlink(source, target)
            written += 1
    return written


def _safe_folder_name(name: str) -> str:
    cleaned = re.sub(r"[\x00-\x1f\x7f/\\:*?\"<>|]+", "_", name).strip(" .")
    return cleaned[:100] or "album"
