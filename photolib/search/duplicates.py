"""Groups of copies: exact (same bytes), near (same perceptual hash, give or take a
few bits) and visually similar (image vectors close). Found, ranked, never deleted.

photolib never deletes or moves a photo. It lists the groups best first, so a
user's own tools can act on the list, and can mark them so `search` and
`albums` show one photo per group.

Near copies are found without comparing every pair: below `EXACT_PAIRS_UP_TO`
photos all pairs are compared in FAISS (fast at that size); above, a
multi-index hash (FAISS `IndexBinaryMultiHash`, four 16-bit tables) finds
every pair within 3 bits and the further pairs that share any 16-bit quarter
of their hash — cost grows with the photos, not with their square.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Iterable, Sequence

from photolib.core.config import DEFAULT_NEAR_BITS, DEFAULT_SIMILAR_DISTANCE

EXACT_PAIRS_UP_TO = 20_000


class DuplicateKind(StrEnum):
    EXACT = "exact"      # same content hash, several paths
    NEAR = "near"        # perceptual hashes within a few bits
    SIMILAR = "similar"  # image vectors close: bursts, retakes
    PAIR = "pair"        # a RAW and its JPEG: one shot in two files, both kept (a stack, not copies)


@dataclass
class Candidate:
    """What ranking looks at for one photo."""

    id: int
    path: str
    hash: str | None
    phash: str | None
    width: int
    height: int
    size: int
    rating: int | None
    completeness: int  # how many of date, place/GPS, camera, keywords, caption are known

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass
class DuplicateGroup:
    kind: DuplicateKind
    photos: list[Candidate]  # best first
    reason: str  # why the first is best
    distance: float | None = None  # largest distance inside the group (bits, or squared L2)
    extra: dict[str, Any] = field(default_factory=dict)
    files: list[dict[str, Any]] = field(default_factory=list)  # pairs: {path, role, size, photo}, shown file first

    @property
    def best(self) -> Candidate:
        return self.photos[0]

    @property
    def copies(self) -> bool:
        """Whether all but the first photo are copies (a pair is one shot: nothing in it is spare)."""
        return self.kind != DuplicateKind.PAIR

    def as_dict(self) -> dict[str, Any]:
        data = {
            "kind": str(self.kind), "best": self.best.id, "reason": self.reason, "distance": self.distance,
            "photos": [{"id": p.id, "path": p.path, "width": p.width, "height": p.height, "size": p.size,
                        "rating": p.rating, "keep": i == 0 or not self.copies} for i, p in enumerate(self.photos)],
        }
        if self.files:
            data["files"] = self.files
        return data


def rank(photos: Sequence[Candidate]) -> tuple[list[Candidate], str]:
    """Best first: the user's rating, then resolution, then metadata, then file size; and why."""
    ordered = sorted(photos, key=lambda p: (-(p.rating or 0), -p.pixels, -p.completeness, -p.size, p.id))
    best, second = ordered[0], ordered[1] if len(ordered) > 1 else ordered[0]
    if (best.rating or 0) > (second.rating or 0):
        reason = f"highest rating ({best.rating}★)"
    elif best.pixels > second.pixels:
        reason = f"highest resolution ({best.width}×{best.height})"
    elif best.completeness > second.completeness:
        reason = "most complete metadata"
    elif best.size > second.size:
        reason = "largest file"
    else:
        reason = "first imported (the copies are alike)"
    return ordered, reason


def exact_groups(photos: Iterable[Candidate]) -> list[DuplicateGroup]:
    by_hash: dict[str, list[Candidate]] = {}
    for photo in photos:
        if photo.hash:
            by_hash.setdefault(photo.hash, []).append(photo)
    groups = []
    for members in by_hash.values():
        if len(members) > 1:
            ordered, reason = rank(members)
            groups.append(DuplicateGroup(DuplicateKind.EXACT, ordered, reason, 0))
    return _in_order(groups)


def near_groups(photos: Sequence[Candidate], max_bits: int = DEFAULT_NEAR_BITS) -> list[DuplicateGroup]:
    """Photos whose perceptual hashes are within `max_bits`; exact copies count once (their best)."""
    from photolib.media.phash import as_codes

    representatives = _one_per_content(p for p in photos if p.phash)
    if len(representatives) < 2:
        return []
    codes = as_codes([p.phash for p in representatives])
    pairs = _pairs_within(codes, max_bits)
    components = _components(len(representatives), ((i, j) for i, j, _ in pairs))
    widest: dict[int, int] = {}
    for i, j, bits in pairs:
        root = components[i]
        widest[root] = max(widest.get(root, 0), bits)
    return _groups_from(components, representatives, DuplicateKind.NEAR, widest)


def similar_groups(photos: Sequence[Candidate], vectors: Any, max_distance: float) -> list[DuplicateGroup]:
    """Photos whose image vectors (rows of `vectors`, unit length) are within `max_distance` (squared L2)."""
    import faiss
    import numpy as np

    if len(photos) < 2:
        return []
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    index = faiss.IndexFlatL2(matrix.shape[1])
    index.add(matrix)
    limits, distances, labels = index.range_search(matrix, float(max_distance))
    pairs = []
    for i in range(len(photos)):
        for position in range(limits[i], limits[i + 1]):
            j = int(labels[position])
            if j > i:
                pairs.append((i, j, float(distances[position])))
    components = _components(len(photos), ((i, j) for i, j, _ in pairs))
    widest: dict[int, float] = {}
    for i, j, distance in pairs:
        root = components[i]
        widest[root] = round(max(widest.get(root, 0.0), distance), 4)
    return _groups_from(components, list(photos), DuplicateKind.SIMILAR, widest)


def _best_copy(ids: list[int], loaded: dict[int, Candidate]) -> Candidate | None:
    present = [loaded[pid] for pid in ids if pid in loaded]
    return rank(present)[0][0] if present else None


def _one_per_content(photos: Iterable[Candidate]) -> list[Candidate]:
    best: dict[str, Candidate] = {}
    for photo in photos:
        key = photo.hash or f"id:{photo.id}"
        if key not in best or rank([photo, best[key]])[0][0] is photo:
            best[key] = photo
    return sorted(best.values(), key=lambda p: p.id)


def _pairs_within(codes: Any, max_bits: int) -> list[tuple[int, int, int]]:
    """(i, j, bits) for i < j whose codes differ in at most `max_bits` bits."""
    import faiss

    import numpy as np

    n = codes.shape[0]
    if n <= EXACT_PAIRS_UP_TO:
        index = faiss.IndexBinaryFlat(64)
    else:
        index = faiss.IndexBinaryMultiHash(64, 4, 16)
        index.nflip = 0
    index.add(codes)
    limits, distances, labels = index.range_search(codes, int(max_bits) + 1)  # strict bound in FAISS
    rows = np.repeat(np.arange(n), np.diff(limits).astype(np.int64))
    keep = (labels > rows) & (distances <= max_bits)
    return list(zip(rows[keep].tolist(), labels[keep].tolist(), distances[keep].tolist()))


def _components(count: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    """Union-find: each node's root, the smallest index of its component (so results are stable)."""
    parent = list(range(count))

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for i, j in edges:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [find(node) for node in range(count)]


def _groups_from(components: list[int], photos: list[Candidate], kind: DuplicateKind,
                 widest: dict[int, Any]) -> list[DuplicateGroup]:
    members: dict[int, list[Candidate]] = {}
    for node, root in enumerate(components):
        members.setdefault(root, []).append(photos[node])
    groups = []
    for root, group in members.items():
        if len(group) > 1:
            ordered, reason = rank(group)
            groups.append(DuplicateGroup(kind, ordered, reason, widest.get(root)))
    return _in_order(groups)


def _in_order(groups: list[DuplicateGroup]) -> list[DuplicateGroup]:
    return sorted(groups, key=lambda g: min(p.id for p in g.photos))


def hidden_copies(groups: Iterable[DuplicateGroup]) -> dict[int, int]:
    """photo id -> the id shown instead of it (the group's best), for collapsing results; pairs hide nothing."""
    shown = {}
    for group in groups:
        if not group.copies:
            continue
        for photo in group.photos[1:]:
            shown[photo.id] = group.best.id
    return shown


# -- over a catalog -------------------------------------------------------------


class Collapse(StrEnum):
    """Which copies `search`, `similar` and `albums` fold into their group's best photo."""

    NONE = "none"      # show every copy
    EXACT = "exact"    # copies with the same bytes (the default)
    MARKED = "marked"  # also the near copies marked by `photolib duplicates --mark`


def candidates(catalog: Any, photo_ids: Sequence[int] | None = None) -> list[Candidate]:
    return [Candidate(**row) for row in catalog.duplicate_candidates(photo_ids)]


def find(catalog: Any, *, near_bits: int = DEFAULT_NEAR_BITS, similar: bool = False,
         image_vectors: Any = None, similar_distance: float = DEFAULT_SIMILAR_DISTANCE,
         pairs: bool = True) -> list[DuplicateGroup]:
    """Every group of copies in the library: exact, near and (with `similar`) visually similar; then,
    with `pairs`, every RAW+JPEG pair as a stack of its own (kind `pair`: nothing in it is a copy).

    A RAW and its JPEG imported as two photos (`[add] raw = "separate"`) that hash as near copies
    are shown as such a pair, never as a copy to drop. An exact copy is not listed again as a near
    copy of itself. Only the
    members of groups are loaded in full (ranking needs their sizes and
    ratings): a million photos cost three narrow columns, not a million rows.
    """
    keys = catalog.duplicate_keys()  # (id, content hash, perceptual hash)
    by_hash: dict[str, list[int]] = {}
    for pid, digest, _ in keys:
        if digest:
            by_hash.setdefault(digest, []).append(pid)
    copies = {digest: ids for digest, ids in by_hash.items() if len(ids) > 1}
    first_of = {ids[0]: ids for ids in copies.values()}
    heads = [(pid, phash) for pid, digest, phash in keys if phash and (not digest or by_hash[digest][0] == pid)]
    near_sets = []
    if len(heads) > 1:
        from photolib.media.phash import as_codes

        close = _pairs_within(as_codes([h for _, h in heads]), near_bits)
        components = _components(len(heads), ((i, j) for i, j, _ in close))
        members: dict[int, list[int]] = {}
        for node, root in enumerate(components):
            members.setdefault(root, []).append(node)
        widest: dict[int, int] = {}
        for i, _j, bits in close:
            widest[components[i]] = max(widest.get(components[i], 0), bits)
        near_sets = [([heads[n][0] for n in nodes], widest.get(root)) for root, nodes in members.items()
                     if len(nodes) > 1]
    wanted = {pid for ids in copies.values() for pid in ids} | {pid for ids, _ in near_sets for pid in ids}
    loaded = {c.id: c for c in candidates(catalog, sorted(wanted))} if wanted else {}
    groups = []
    for ids in copies.values():
        ordered, reason = rank([loaded[pid] for pid in ids if pid in loaded])
        groups.append(DuplicateGroup(DuplicateKind.EXACT, ordered, reason, 0))
    for ids, bits in near_sets:
        shown = [_best_copy(first_of.get(pid, [pid]), loaded) for pid in ids]
        ordered, reason = rank([photo for photo in shown if photo is not None])
        groups.append(DuplicateGroup(DuplicateKind.NEAR, ordered, reason, bits))
    groups = _in_order([g for g in groups if len(g.photos) > 1])
    if similar and image_vectors is not None:
        ids, matrix = image_vectors
        by_id = {p.id: p for p in candidates(catalog, list(ids))}
        keep = [i for i, pid in enumerate(ids) if pid in by_id]
        listed = {p.id for g in groups for p in g.photos}
        similar_found = similar_groups([by_id[ids[i]] for i in keep], matrix[keep], similar_distance)
        groups += [g for g in similar_found if len({p.id for p in g.photos} - listed) > 0]
    separate = [as_pair(g) if g.kind == DuplicateKind.NEAR else None for g in groups]
    stacks = [pair for pair in separate if pair is not None]
    groups = [g for g, pair in zip(groups, separate) if pair is None]
    if not pairs:
        return groups
    return groups + _in_order(stacks + raw_pairs(catalog))


def collapse(catalog: Any, ranked: Sequence[tuple[int, Any]], mode: Collapse) -> list[tuple[int, Any]]:
    """(photo id, score) in rank order, each group of copies once: as its best photo, where its
    first-ranked copy stood, with that copy's score."""
    shown_as = shown_instead(catalog, [pid for pid, _ in ranked], mode)
    result, seen = [], set()
    for pid, score in ranked:
        shown = shown_as.get(pid, pid)
        if shown not in seen:
            seen.add(shown)
            result.append((shown, score))
    return result


def shown_instead(catalog: Any, photo_ids: Sequence[int], mode: Collapse) -> dict[int, int]:
    """photo id -> the photo shown for its group (itself when it is the best or has no copies)."""
    shown_as: dict[int, int] = {}
    if mode == Collapse.NONE or not photo_ids:
        return shown_as
    hashes = catalog.hashes_of(photo_ids)
    by_hash: dict[str, list[int]] = {}
    for pid in photo_ids:
        if pid in hashes:
            by_hash.setdefault(hashes[pid], []).append(pid)
    for members in by_hash.values():
        if len(members) > 1:
            best = rank(candidates(catalog, members))[0][0].id
            shown_as.update({pid: best for pid in members})
    if mode == Collapse.MARKED:
        for pid, shown in catalog.duplicate_marks(photo_ids).items():
            shown_as.setdefault(pid, shown)
    return shown_as


def write_list(groups: Sequence[DuplicateGroup], path: Any) -> int:
    """A CSV of every group (one row per photo, the best marked `keep`), for the user's own tools."""
    import csv
    from pathlib import Path

    from photolib.core.files import atomic_file

    path = Path(path)
    with atomic_file(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["group", "kind", "rank", "keep", "id", "path", "width", "height", "size", "rating",
                         "reason"])
        for number, group in enumerate(groups, 1):
            if group.files:  # a pair: one row per file, every one kept
                by_id = {p.id: p for p in group.photos}
                for position, file in enumerate(group.files, 1):
                    photo = by_id[file["photo"]]
                    writer.writerow([number, str(group.kind), position, "yes", photo.id, file["path"],
                                     photo.width, photo.height, file["size"] or "", photo.rating or "",
                                     group.reason if position == 1 else ""])
                continue
            for position, photo in enumerate(group.photos, 1):
                writer.writerow([number, str(group.kind), position, "yes" if position == 1 else "no", photo.id,
                                 photo.path, photo.width, photo.height, photo.size, photo.rating or "",
                                 group.reason if position == 1 else ""])
    return sum(len(g.files or g.photos) for g in groups)


# -- RAW+JPEG pairs as `duplicates` shows them: stacks (one shot in two files, both kept), never copies --

PAIR_REASON = "RAW+JPEG: one shot, two files; keep both"


def raw_pairs(catalog: Any) -> list[DuplicateGroup]:
    """Every RAW+JPEG pair as a stack: the photo with its shown file and its RAW (`PhotoFiles.pairs`)."""
    from photolib.store.photo_files import PhotoFiles

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
