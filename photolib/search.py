"""One ranking from several vector spaces and exact words: reciprocal rank fusion.

Each space answers the query on its own: the `description` space with the
text embedder, the `image` space with the image model's text tower. A
photo counts in a space only within that space's threshold (the spaces'
distances live in different ranges, so each has its own calibrated one). The
ranks are fused with reciprocal rank fusion (Cormack et al., 2009):

    score(photo) = sum over spaces where it is within the threshold of 1 / (K + rank)
                   + 1 / (K + its rank among exact-word matches), if any

with K = 60. RRF needs no score normalisation between spaces, rewards photos
found by several, and a photo found by only one space still ranks by how well
it did there. Photos whose caption, description or tags contain every word of
the query (SQLite FTS5) come first, as they always have in photolib; then the
rest by fused score. The cutoff: a photo is kept when it is an exact-word
match or within the threshold of at least one space, at most `limit` of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from photolib.spaces import Space

if TYPE_CHECKING:
    import numpy as np

    from photolib.catalog import Catalog
    from photolib.index import VectorIndex

RRF_K = 60
CANDIDATES = 50  # per space at least; limit x 4 when larger


@dataclass
class SpaceQuery:
    """A space taking part: its index, the query's vector in it and the distance it keeps."""

    space: Space
    index: "VectorIndex"
    vector: "np.ndarray"
    threshold: float


@dataclass
class Fused:
    id: int
    distance: float  # in the space where the photo ranked best
    distances: dict[str, float | None] = field(default_factory=dict)
    fusion: float = 0.0  # reciprocal rank fusion score (higher is better)
    exact: bool = False


def fuse(queries: list[SpaceQuery], exact_ids: list[int], catalog: "Catalog", limit: int,
         exact_search: bool = False) -> list[Fused]:
    """The fused ranking, best first (see the module docstring)."""
    wanted = max(limit * 4, CANDIDATES)
    distances: dict[Space, dict[int, float]] = {}
    for query in queries:
        found, ids = query.index.search(query.vector, wanted, exact=exact_search)
        distances[query.space] = {int(i): float(d) for d, i in zip(found[0], ids[0]) if i >= 0}
    exact_set = set(exact_ids)
    candidates = set(exact_set)
    for query in queries:
        candidates.update(pid for pid, d in distances[query.space].items() if d <= query.threshold)
    for query in queries:  # every candidate gets its distance in every space, for the JSON and the cut
        missing = [pid for pid in candidates if pid not in distances[query.space]]
        distances[query.space].update(distances_to(catalog, query.vector, missing, query.space))
    results = {pid: Fused(pid, 0.0, exact=pid in exact_set) for pid in candidates}
    best_rank: dict[int, tuple[int, int]] = {}
    for order, query in enumerate(queries):
        inside = sorted((d, pid) for pid, d in distances[query.space].items()
                        if pid in candidates and d <= query.threshold)
        for rank, (_distance, pid) in enumerate(inside, 1):
            results[pid].fusion += 1.0 / (RRF_K + rank)
            best_rank[pid] = min(best_rank.get(pid, (rank, order)), (rank, order))
    for rank, pid in enumerate(exact_ids, 1):
        if pid in results:
            results[pid].fusion += 1.0 / (RRF_K + rank)
    for pid, fused in results.items():
        fused.distances = {str(q.space): round(distances[q.space][pid], 4) if pid in distances[q.space] else None
                           for q in queries}  # None: the photo has no vector in that space (yet)
        known = [d for d in fused.distances.values() if d is not None]
        order = best_rank.get(pid, (0, 0))[1]
        space = str(queries[order].space) if queries else None
        best = fused.distances.get(space)
        fused.distance = best if best is not None else min(known, default=0.0)
    ranked = sorted(results.values(), key=lambda f: (not f.exact, -f.fusion, f.distance, f.id))
    return [f for f in ranked if any(d is not None for d in f.distances.values())][:limit]  # no vector yet: not shown


def distances_to(catalog: "Catalog", vector: "np.ndarray", ids: list[int], space: Space) -> dict[int, float]:
    """Distances from `vector` to the stored vectors of `ids` in `space` (those that have one)."""
    import numpy as np

    from photolib.index import distances_from_similarity

    blobs = catalog.vectors_for(ids, space)
    if not blobs:
        return {}
    ids_found = list(blobs)
    matrix = np.frombuffer(b"".join(blobs[pid] for pid in ids_found), dtype=np.float32).reshape(len(ids_found), -1)
    if matrix.shape[1] != vector.shape[-1]:
        return {}
    similarity = matrix @ np.asarray(vector, dtype=np.float32).reshape(-1)
    return {pid: float(d) for pid, d in zip(ids_found, distances_from_similarity(similarity))}


def image_query_vector(embedder: Any, text: str) -> "np.ndarray":
    import numpy as np

    return np.asarray(embedder.embed_texts([text]), dtype=np.float32)[0]


QueryVector = Callable[[str], "np.ndarray"]
