"""One ranking from several vector spaces and exact words: a convex combination of calibrated relevances.

Each space answers the query on its own first (`photolib.search.finder`): the `description`
space with the text embedder, the `image` space with the image model's text tower; each
applies the query's filters and proposes its nearest photos within its own threshold. Photos
holding every free word (in descriptions, tags, the user's words, or text read in photos)
are proposed too. Every proposed photo then gets its distance in every space (from the stored
vectors; None where it has none yet), and:

1. each distance becomes a 0-1 relevance through the curve of the space's model family
   (`photolib.search.calibration`): CLIP text-to-photo, SigLIP's own sigmoid, text-to-text,
   photo-to-photo. A query of several parts (words, `+`/`-` terms, image terms, a photo to
   start from) is scored part by part, each through its own curve, and the parts combine by
   their weights, the `-` parts taking away (`photolib.search.hybrid.query_relevance`);
2. each space's weight (`[search] description_weight`, `image_weight`) is multiplied by how
   well the space tells this query's candidates apart, its *confidence*: how far its best
   candidate stands above the typical photo the query's filters allow (the median relevance
   of an evenly spread sample of them, `BACKGROUND` photos), from 0 at a lead of
   `FLAT_SPREAD` or less to 1 at `FULL_SPREAD` or more, and at least `MIN_CONFIDENCE`. A space
   that finds its best photos about as (ir)relevant as any other, such as descriptions that
   never say which way stripes run, weighs little;
3. exact words are one more signal, relevance 1 for a photo holding every free word and 0
   otherwise, with its own weight (`[search] words_weight`); it takes part only when it tells
   candidates apart (some hold the words, some do not);
4. the weights are normalised to sum to 1 and the fused relevance is the convex combination

       fused(photo) = sum over signals s of share_s * relevance_s(photo),
       share_s = weight_s * confidence_s / sum over signals of weight * confidence

   A photo without a vector in a space counts as relevance 0 there (it is still being
   enriched; `distances` says so with null). The score shown is `round(100 * fused)`.

So one 0-100 score holds for every hit whichever spaces found it, and one cutoff works on it
(`photolib.search.relevance`). Bruch, Gai & Ingber (ACM TOIS 2023) found a convex
combination of normalised scores better than reciprocal rank fusion in and out of domain;
`reciprocal_rank_fusion` stays here as the baseline the labelled set measures against
(docs/search.md has the figures).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence


if TYPE_CHECKING:
    import numpy as np

    from photolib.store.catalog import Catalog

WORDS = "words"  # the exact-word signal's name beside the spaces'
FLAT_SPREAD = 0.1  # a space whose best candidate leads the typical photo by this much (or less) is flat
FULL_SPREAD = 0.5  # ... and by this much (or more) has full confidence
MIN_CONFIDENCE = 0.05  # a flat space still weighs a little: it breaks ties
BACKGROUND = 64  # photos sampled to know a space's typical relevance for a query
RRF_K = 60


@dataclass(frozen=True)
class Signal:
    """One space of a search (or the exact-word signal) and its calibrated relevances for one query."""

    name: str
    weight: float
    relevance: Mapping[int, float]  # candidate -> 0-1; a photo without a vector in the space has none
    typical: Sequence[float] | None = None  # relevances of a sample of the allowed photos (None: the candidates')
    calibration: str = ""  # how distances became relevances, for --explain
    space: bool = True  # False: the exact-word signal (relevance 1 for the photos holding every word)


@dataclass
class Part:
    """How a signal took part in one search: configured weight, confidence, share of the score."""

    name: str
    weight: float
    confidence: float
    share: float = 0.0
    calibration: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"signal": self.name, "weight": round(self.weight, 4), "confidence": round(self.confidence, 4),
                "share": round(self.share, 4), "calibration": self.calibration}


@dataclass
class FusedRanked:
    """A photo of a fused ranking: its distance in the space that contributed most, its distance in
    every space searched (None: no vector there yet), each signal's contribution and the fused relevance."""

    id: int
    distance: float | None
    distances: dict[str, float | None] = field(default_factory=dict)
    contributions: dict[str, float] = field(default_factory=dict)
    fusion: float = 0.0  # 0-1
    exact: bool = False  # holds every free word

    @property
    def score(self) -> int:
        return int(round(100 * self.fusion))


@dataclass
class Fusion:
    """The fused ranking, best first, and how each signal took part."""

    ranked: list[FusedRanked]
    parts: list[Part]


def fuse(distances: Mapping[int, Mapping[str, float | None]], signals: Sequence[Signal],
         exact: Iterable[int] = ()) -> Fusion:
    """Fuse candidates (photo id -> space name -> distance to the query, shown beside the score) by
    the signals' calibrated relevances (see the module docstring); `exact` are the candidates holding
    every free word."""
    holding = set(exact)
    ids = list(distances)
    parts = []
    for signal in signals:
        if not signal.space:
            telling = 0 < len(holding & set(ids)) < len(ids)
            confidence = 1.0 if telling else 0.0
        else:
            found = [signal.relevance[pid] for pid in ids if pid in signal.relevance]
            typical = found if signal.typical is None else signal.typical
            confidence = lead_confidence(max(found, default=0.0), typical)
        parts.append(Part(signal.name, signal.weight, confidence, calibration=signal.calibration))
    total = sum(part.weight * part.confidence for part in parts)
    for part in parts:
        part.share = part.weight * part.confidence / total if total > 0 else 0.0
    if total <= 0:  # nothing tells anything apart: the configured weights of the spaces as they are
        weights = sum(signal.weight for signal in signals if signal.space) or 1.0
        for part, signal in zip(parts, signals):
            part.share = signal.weight / weights if signal.space else 0.0
    ranked = []
    spaces = [signal.name for signal in signals if signal.space]
    for pid in ids:
        contributions = {part.name: part.share * (signal.relevance.get(pid, 0.0) if signal.space else
                                                  float(pid in holding))
                         for part, signal in zip(parts, signals)}
        leading = max(spaces, key=lambda name: (contributions[name], distances[pid].get(name) is not None),
                      default=None)
        ranked.append(FusedRanked(
            pid, _rounded(distances[pid].get(leading)) if leading else None,
            {name: _rounded(distances[pid].get(name)) for name in spaces},
            {name: round(value, 4) for name, value in contributions.items()},
            min(1.0, max(0.0, sum(contributions.values()))), pid in holding))
    ranked.sort(key=lambda f: (-f.fusion, not f.exact, f.distance if f.distance is not None else 4.0, f.id))
    return Fusion(ranked, parts)


def lead_confidence(best: float, typical: Sequence[float]) -> float:
    """How well a space tells candidates apart: its best relevance's lead over the median of
    `typical` relevances, 0 at `FLAT_SPREAD`, 1 at `FULL_SPREAD`, never below `MIN_CONFIDENCE`."""
    if not typical:
        return MIN_CONFIDENCE
    ordered = sorted(typical)
    middle = len(ordered) // 2
    median = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return max(MIN_CONFIDENCE, min(1.0, (best - median - FLAT_SPREAD) / (FULL_SPREAD - FLAT_SPREAD)))


def reciprocal_rank_fusion(rankings: Mapping[str, Sequence[int]], k: int = RRF_K) -> list[tuple[int, float]]:
    """The baseline: (photo id, sum over rankings of 1 / (k + rank)), best first (Cormack et al., 2009)."""
    totals: dict[int, float] = {}
    best: dict[int, int] = {}
    for ranking in rankings.values():
        for rank, pid in enumerate(ranking, 1):
            totals[pid] = totals.get(pid, 0.0) + 1.0 / (k + rank)
            best[pid] = min(best.get(pid, rank), rank)
    return sorted(totals.items(), key=lambda item: (-item[1], best[item[0]], item[0]))


def distances_to(catalog: "Catalog", vector: "np.ndarray", ids: list[int], space: Any) -> dict[int, float]:
    """Distances from `vector` to the stored vectors of `ids` in `space` (those that have one)."""
    from photolib.store.index import distances_from_similarity

    found = cosines_to(catalog, [vector], ids, space)
    return {pid: float(distances_from_similarity(row)[0]) for pid, row in found.items()}


def cosines_to(catalog: "Catalog", vectors: Sequence["np.ndarray"], ids: list[int], space: Any) -> dict[int, "np.ndarray"]:
    """photo id -> cosine similarity to each of `vectors`, for the `ids` with a stored vector in
    `space` (one read of the catalog, one matrix product)."""
    import numpy as np

    blobs = catalog.vectors_for(ids, space) if ids else {}
    if not blobs or not vectors:
        return {}
    ids_found = list(blobs)
    matrix = np.frombuffer(b"".join(blobs[pid] for pid in ids_found), dtype=np.float32).reshape(len(ids_found), -1)
    queries = np.stack([np.asarray(v, dtype=np.float32).reshape(-1) for v in vectors], axis=1)
    if matrix.shape[1] != queries.shape[0]:
        return {}
    return dict(zip(ids_found, matrix @ queries))


def image_query_vector(embedder: Any, text: str) -> "np.ndarray":
    import numpy as np

    return np.asarray(embedder.embed_texts([text]), dtype=np.float32)[0]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
