"""One ranked search over every vector space: candidates from each, fused, cut, ordered, paged.

Every search that ranks (search, similar, smart albums with words, `list` with words) goes
through here, with one space or several, so its hits carry one kind of score:

1. the query's filters are compiled once (`Finder.allowed`) and every space proposes its
   nearest photos (`Finder.candidates`, at least `photolib.search.finder.CANDIDATES`; within a
   distance only when one is given for that space, `--image-threshold` beside the description
   space); photos holding every free word are proposed too (`Finder.exact_word_matches`),
   when they have a vector in some space searched (a photo with none is not ranked);
2. every proposed photo gets its distance in every space, and its relevance there: each part of
   the query (the words, each +/- term, each image term, `similar`'s photo) through the curve of
   the space's model family for what it compares (words with a photo's pixels as text to
   photo, a photo as photo to photo, anything with descriptions as text to text), combined by
   the parts' weights, pushed-away parts taking away (`query_relevance`);
3. `photolib.search.fusion.fuse` combines them into one 0-1 relevance, the score;
4. hits below the score of the threshold are dropped: the threshold is a distance in the
   first space searched (the description space's `--threshold`, or the image space's alone),
   and a hit of any space stays when it scores at least what a photo at that distance scores
   there, by the curve of the query's leading part (10 at the default thresholds). Then the list stops at the first clear drop in score
   (`photolib.search.relevance.adaptive_cutoff`, `SCORE_GAP`), unless all results were
   asked for; photos holding every free word are never cut;
5. the kept hits are sorted (`--sort`), each group of copies shown once, and paged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from photolib.search.calibration import PHOTO_TO_PHOTO, TEXT_TO_PHOTO, TEXT_TO_TEXT, Calibration, calibration
from photolib.search.fusion import BACKGROUND, WORDS, Fusion, FusedRanked, Signal, cosines_to, fuse
from photolib.search.relevance import adaptive_cutoff

if TYPE_CHECKING:
    import numpy as np

    from photolib.query.parser import ParsedQuery
    from photolib.search.finder import Finder, FindOptions, QueryPart
    from photolib.store.catalog import Catalog

SCORE_GAP = 0.05  # the smallest drop in fused relevance that ends a list (5 score points)


@dataclass(frozen=True)
class SpaceSearch:
    """One space of a search: its finder, its weight, and (when given) the distance within which
    it proposes photos; else its nearest ones, and the fused score decides."""

    finder: "Finder"
    weight: float
    within: float | None = None

    @property
    def name(self) -> str:
        return str(self.finder.space)

    def curve(self, photo: bool) -> Calibration:
        """The space's relevance curve for a query part that is a photo, or words."""
        family = self.finder.queries.family
        if family == "text":
            return calibration(family, TEXT_TO_TEXT)
        return calibration(family, PHOTO_TO_PHOTO if photo else TEXT_TO_PHOTO)


class HybridSearch:
    """Ranked searches over `spaces`; `threshold` is a distance in the first one, whose score is the
    lowest kept (see the module doc)."""

    def __init__(self, catalog: "Catalog", spaces: Sequence[SpaceSearch], *, threshold: float,
                 words_weight: float, collapse: str = "exact") -> None:
        if not spaces:
            raise ValueError("a search needs at least one space")
        self.catalog = catalog
        self.spaces = list(spaces)
        self.threshold = threshold
        self.words_weight = words_weight
        self.collapse = collapse

    @property
    def fused(self) -> bool:
        return len(self.spaces) > 1

    def search(self, parsed: "ParsedQuery", options: "FindOptions", **kwargs: Any) -> list[FusedRanked]:
        """The page of hits asked for, best first (or in `options.sort` order)."""
        return self.run(parsed, options, **kwargs).ranked

    def run(self, parsed: "ParsedQuery", options: "FindOptions", *,
            around: "Mapping[str, np.ndarray] | None" = None, leave_out: int | None = None,
            collapse: str | None = None) -> Fusion:
        """The page of hits asked for, and how each signal took part. `around` gives a space a
        photo's vector to start from (`similar`); `leave_out` is never a hit."""
        from photolib.search.duplicates import Collapse
        from photolib.search.duplicates import collapse as fold

        first = self.spaces[0].finder
        around = around or {}
        if not parsed.semantic and not around:
            return Fusion(first.listing(parsed, options), [])  # nothing to rank by: listed in SQL
        allowed = first.allowed(parsed)
        stop = None if options.limit < 0 else options.offset + options.limit
        parts = {space.name: space.finder.query_parts(parsed, around.get(space.name)) for space in self.spaces}
        vectors = {space.name: space.finder.query_vector(parsed, parts=parts[space.name]) for space in self.spaces}
        pool: dict[int, dict[str, float | None]] = {}
        for space in self.spaces:
            found = space.finder.candidates(vectors[space.name], allowed, stop, space.within,
                                            exact=options.exact, leave_out=leave_out)
            for pid, distance in found.items():
                pool.setdefault(pid, {})[space.name] = distance
        holding = first.exact_word_matches(parsed, allowed.where, leave_out) if parsed.text else []
        for pid in holding:
            pool.setdefault(pid, {})
        sample = [pid for pid in allowed.sample(BACKGROUND) if pid != leave_out]
        signals = []
        for space in self.spaces:
            relevance, typical = self._relevances(space, parts[space.name], vectors[space.name], pool, sample)
            described = "; ".join(dict.fromkeys(space.curve(part.photo).describe() for part in parts[space.name]))
            signals.append(Signal(space.name, space.weight, relevance, typical, described))
        pool = {pid: distances for pid, distances in pool.items() if any(d is not None for d in distances.values())}
        holding = [pid for pid in holding if pid in pool]  # a photo with no vector in any space is not ranked
        if holding:
            signals.append(Signal(WORDS, self.words_weight, {}, calibration="1 for a photo holding every free word",
                                  space=False))
        fusion = fuse(pool, signals, holding)
        kept = [hit for hit in fusion.ranked if hit.exact or hit.fusion >= self.floor(parts[self.spaces[0].name])]
        if not options.all_results and any(not hit.exact for hit in kept):
            drops = sorted(1.0 - hit.fusion for hit in kept)
            last = drops[adaptive_cutoff(drops, SCORE_GAP) - 1]
            kept = [hit for hit in kept if hit.exact or 1.0 - hit.fusion <= last]
        if options.sort != "relevance":
            kept = first.in_order(kept, options.sort)
        folded = fold(self.catalog, [(hit.id, hit) for hit in kept], Collapse(collapse or self.collapse))
        page = [replace(hit, id=pid) for pid, hit in folded if pid != leave_out][options.offset:stop]
        return Fusion(page, fusion.parts)

    def floor(self, parts: Sequence["QueryPart"]) -> float:
        """The lowest score kept: what a photo at the first space's threshold scores there, by the
        curve of the query's leading part (a photo for `similar`, else words)."""
        leading = max(parts, key=lambda part: part.weight)
        return self.spaces[0].curve(leading.photo).relevance(self.threshold) or 0.0

    def _relevances(self, space: SpaceSearch, parts: Sequence["QueryPart"], vector: "np.ndarray",
                    pool: dict[int, dict[str, float | None]],
                    sample: list[int]) -> tuple[dict[int, float], list[float]]:
        """Fill in every candidate's distance to the query in `space` and return (candidate -> relevance,
        the relevances of the background sample); one read of the vectors, one matrix product."""
        import numpy as np

        from photolib.store.index import distances_from_similarity

        ids = list(dict.fromkeys([*pool, *sample]))
        cosines = cosines_to(self.catalog, [vector, *(part.vector for part in parts)], ids, space.finder.space)
        if not cosines:
            for distances in pool.values():
                distances.setdefault(space.name, None)
            return {}, []
        found = list(cosines)
        matrix = np.stack([cosines[pid] for pid in found])
        curves = [space.curve(part.photo) for part in parts]
        in_sample = set(sample)
        seen = [row for pid, row in zip(found, matrix) if pid in in_sample]
        typical = np.median(np.stack(seen)[:, 1:], axis=0) if seen else np.zeros(len(parts))
        values = query_relevance(parts, matrix[:, 1:], curves, typical)
        distance = distances_from_similarity(matrix[:, 0])
        row_of = {pid: row for row, pid in enumerate(found)}
        relevance: dict[int, float] = {}
        for pid, distances in pool.items():
            row = row_of.get(pid)
            if space.name not in distances:
                distances[space.name] = None if row is None else float(distance[row])
            if row is not None:
                relevance[pid] = float(values[row])
        return relevance, [float(values[row_of[pid]]) for pid in sample if pid in row_of]


def query_relevance(parts: Sequence["QueryPart"], cosines: "np.ndarray", curves: Sequence[Calibration],
                    typical: "np.ndarray") -> "np.ndarray":
    """Photos' relevance to a query of several parts, 0-1, for rows of `cosines` (one column a part).

    Each pulled part's cosine goes through its own curve, and the relevances average by weight
    (words and a photo compare in different ranges, so they are made comparable first). A
    pushed-away part lowers every pulled part's cosine by how much closer the photo is to it
    than the typical photo is (`typical`: the median cosine of the background sample), in
    proportion to its weight: "beach -people" keeps beaches without people high and moves
    beaches with people down, and a photo no nearer to people than any other loses nothing.
    A query of pushed-away parts only scores 1 minus their average relevance.
    """
    import numpy as np

    cosines = np.asarray(cosines, dtype=np.float64).reshape(-1, len(parts))
    weights = np.asarray([part.weight for part in parts], dtype=np.float64)
    pulled = weights[weights > 0].sum()
    if pulled <= 0:
        pushed = -weights.sum()
        value = sum(-part.weight * curve.relevance_of_cosines(cosines[:, i])
                    for i, (part, curve) in enumerate(zip(parts, curves))) / pushed
        return np.clip(1.0 - value, 0.0, 1.0)
    penalty = np.zeros(len(cosines))
    for i, part in enumerate(parts):
        if part.weight < 0:
            penalty += -part.weight * np.maximum(0.0, cosines[:, i] - float(typical[i]))
    penalty /= pulled
    value = sum(part.weight * curve.relevance_of_cosines(cosines[:, i] - penalty)
                for i, (part, curve) in enumerate(zip(parts, curves)) if part.weight > 0) / pulled
    return np.clip(value, 0.0, 1.0)


class Deferred:
    """A search built when first used (the spaces a library can search are known only then): what a
    finder's `AlbumFilter.everywhere` holds, so smart albums search every space as `search` does."""

    def __init__(self, build: Any) -> None:
        self.build = build

    def search(self, parsed: "ParsedQuery", options: "FindOptions") -> list[Any]:
        searched = self.build()
        return searched.search(parsed, options) if searched is not None else []
