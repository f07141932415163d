"""One ranking from several vector spaces: reciprocal rank fusion.

Each space answers the query on its own, through the query language
(`photolib.search.finder`): the `description` space with the text embedder, the
`image` space with the image model's text tower. Each applies the query's
filters, puts photos holding every free word first (in descriptions, tags,
the user's words and text read in photos), and keeps the others within its
own threshold (the spaces' distances live in different ranges, so each has
its own calibrated one) up to the first clear drop. The rankings are then
fused with reciprocal rank fusion (Cormack et al., 2009):

    fusion(photo) = sum over the rankings that hold it of 1 / (K + rank)

with K = 60. RRF needs no score normalisation between spaces, rewards photos
found by several, and a photo found by only one space still ranks by how well
it did there. Photos holding every word lead both rankings, so they lead the
fused one; a photo is kept when at least one space kept it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from photolib.search.relevance import match_score
from photolib.core.spaces import Space

if TYPE_CHECKING:
    import numpy as np

    from photolib.store.catalog import Catalog

RRF_K = 60


@dataclass
class FusedRanked:
    """A photo of a fused ranking: its distance in the space where it ranked best, its distance in
    every space searched (None: it has no vector there yet) and its fused score."""

    id: int
    distance: float | None
    distances: dict[str, float | None] = field(default_factory=dict)
    fusion: float = 0.0

    @property
    def score(self) -> int | None:
        """The 0-100 match score of the description distance (the scale it is calibrated for), else None."""
        return match_score(self.distances.get(str(Space.DESCRIPTION)))


def fuse_rankings(rankings: dict[Space, Sequence[Any]], catalog: "Catalog",
                  vectors: dict[Space, "np.ndarray"]) -> list[FusedRanked]:
    """The fused ranking, best first, of rankings of `Ranked` (id, distance) per space (see the module
    docstring); every photo gets its distance in every space searched (to that space's query vector
    in `vectors`, from the stored vectors; None where it has none)."""
    results: dict[int, FusedRanked] = {}
    best: dict[int, tuple[int, int]] = {}
    for order, (space, ranked) in enumerate(rankings.items()):
        for rank, item in enumerate(ranked, 1):
            fused = results.setdefault(item.id, FusedRanked(item.id, None))
            fused.fusion += 1.0 / (RRF_K + rank)
            fused.distances[str(space)] = None if item.distance is None else round(item.distance, 4)
            best[item.id] = min(best.get(item.id, (rank, order)), (rank, order))
    spaces = list(rankings)
    for space in spaces:
        missing = [pid for pid, fused in results.items() if str(space) not in fused.distances]
        found = distances_to(catalog, vectors[space], missing, space) if missing and space in vectors else {}
        for pid in missing:
            results[pid].distances[str(space)] = round(found[pid], 4) if pid in found else None
    for pid, fused in results.items():
        fused.distances = {str(space): fused.distances.get(str(space)) for space in spaces}
        fused.distance = fused.distances[str(spaces[best[pid][1]])]
    return sorted(results.values(), key=lambda f: (-f.fusion, f.distance if f.distance is not None else 4.0, f.id))


def distances_to(catalog: "Catalog", vector: "np.ndarray", ids: list[int], space: Space) -> dict[int, float]:
    """Distances from `vector` to the stored vectors of `ids` in `space` (those that have one)."""
    import numpy as np

    from photolib.store.index import distances_from_similarity

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
