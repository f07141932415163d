"""One ranked search over every vector space: candidates from each, fused, cut, ordered, paged.

Every search that ranks (search, similar, smart albums with words, `list` with words) goes
through here, with one space or several, so its hits carry one kind of score:

1. the query's filters are compiled once (`Finder.allowed`) and every space proposes its
   nearest photos within its own threshold (`Finder.candidates`); photos holding every free
   word are proposed too (`Finder.exact_word_matches`);
2. every proposed photo gets its distance in every space, and each space's relevance curve is
   chosen by its model family and by what the query holds (words compare as text to photo in
   the image space, a photo as photo to photo; a query of both is in between, by weight);
3. `photolib.search.fusion.fuse` combines them into one 0-1 relevance, the score;
4. hits below the score of the threshold are dropped: the threshold is a distance in the
   first space searched (the description space's `--threshold`, or the image space's alone),
   and a hit of any space stays when it scores at least what a photo at that distance scores
   there (10 at the default thresholds). Then the list stops at the first clear drop in score
   (`photolib.search.relevance.adaptive_cutoff`, `SCORE_GAP`), unless all results were
   asked for; photos holding every free word are never cut;
5. the kept hits are sorted (`--sort`), each group of copies shown once, and paged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from photolib.search.calibration import PHOTO_TO_PHOTO, TEXT_TO_PHOTO, TEXT_TO_TEXT, Calibration, calibration
from photolib.search.fusion import BACKGROUND, WORDS, Fusion, FusedRanked, Signal, distances_to, fuse
from photolib.search.relevance import adaptive_cutoff

if TYPE_CHECKING:
    import numpy as np

    from photolib.query.parser import ParsedQuery
    from photolib.search.finder import Finder, FindOptions
    from photolib.store.catalog import Catalog

SCORE_GAP = 0.05  # the smallest drop in fused relevance that ends a list (5 score points)


@dataclass(frozen=True)
class SpaceSearch:
    """One space of a search: its finder, weight, and the distance within which it proposes photos."""

    finder: "Finder"
    weight: float
    threshold: float

    @property
    def name(self) -> str:
        return str(self.finder.space)

    def calibration(self, photo_share: float) -> Calibration:
        """The space's curve for a query whose positive parts are `photo_share` photos (by weight)."""
        family = self.finder.queries.family
        if family == "text":
            return calibration(family, TEXT_TO_TEXT)
        words, photos = calibration(family, TEXT_TO_PHOTO), calibration(family, PHOTO_TO_PHOTO)
        return words.blended(photos, photo_share)


class HybridSearch:
    """Ranked searches over `spaces` (the first one's threshold is the score floor; see the module doc)."""

    def __init__(self, catalog: "Catalog", spaces: Sequence[SpaceSearch], *, words_weight: float,
                 collapse: str = "exact") -> None:
        if not spaces:
            raise ValueError("a search needs at least one space")
        self.catalog = catalog
        self.spaces = list(spaces)
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
        if not parsed.semantic and not around:
            return Fusion(first.listing(parsed, options), [])  # nothing to rank by: listed in SQL
        allowed = first.allowed(parsed)
        stop = None if options.limit < 0 else options.offset + options.limit
        around = around or {}
        vectors = {space.name: space.finder.query_vector(parsed, around.get(space.name)) for space in self.spaces}
        pool: dict[int, dict[str, float | None]] = {}
        for space in self.spaces:
            found = space.finder.candidates(vectors[space.name], allowed, stop, space.threshold,
                                            exact=options.exact, leave_out=leave_out)
            for pid, distance in found.items():
                pool.setdefault(pid, {})[space.name] = distance
        holding = first.exact_word_matches(parsed, allowed.where, leave_out) if parsed.text else []
        for pid in holding:
            pool.setdefault(pid, {})
        sample = [pid for pid in allowed.sample(BACKGROUND) if pid != leave_out]
        background = {}
        for space in self.spaces:
            missing = [pid for pid, distances in pool.items() if space.name not in distances]
            found = distances_to(self.catalog, vectors[space.name], missing, space.finder.space) if missing else {}
            for pid in missing:
                pool[pid][space.name] = found.get(pid)
            background[space.name] = list(distances_to(self.catalog, vectors[space.name], sample,
                                                       space.finder.space).values())
        share = photo_share(parsed, around)
        signals = [Signal(space.name, space.weight, space.calibration(share.get(space.name, 0.0)))
                   for space in self.spaces]
        if holding:
            signals.append(Signal(WORDS, self.words_weight))
        fusion = fuse(pool, signals, holding, background)
        reference = self.spaces[0]
        floor = signals[0].calibration.relevance(reference.threshold) or 0.0
        kept = [hit for hit in fusion.ranked if hit.exact or hit.fusion >= floor]
        if not options.all_results and any(not hit.exact for hit in kept):
            drops = sorted(1.0 - hit.fusion for hit in kept)
            last = drops[adaptive_cutoff(drops, SCORE_GAP) - 1]
            kept = [hit for hit in kept if hit.exact or 1.0 - hit.fusion <= last]
        if options.sort != "relevance":
            kept = first.in_order(kept, options.sort)
        folded = fold(self.catalog, [(hit.id, hit) for hit in kept], Collapse(collapse or self.collapse))
        page = [replace(hit, id=pid) for pid, hit in folded if pid != leave_out][options.offset:stop]
        return Fusion(page, fusion.parts)


def photo_share(parsed: "ParsedQuery", around: Mapping[str, Any]) -> dict[str, float]:
    """Per space, the share (by weight) of the query's positive parts that are photos rather than
    words: a photo to start from (`around`) and image terms. Words compare with photos as text
    to photo, photos as photo to photo; the space's relevance curve is blended between them."""
    words = (1.0 if parsed.text else 0.0) + sum(term.weight for term in parsed.positive if not term.image)
    images = sum(term.weight for term in parsed.positive if term.image)
    shares = {}
    for name in ("description", "image", *around):
        photos = images + (1.0 if name in around else 0.0)
        total = words + photos
        shares[name] = photos / total if total > 0 else 0.0
    return shares


class Deferred:
    """A search built when first used (the spaces a library can search are known only then): what a
    finder's `AlbumFilter.everywhere` holds, so smart albums search every space as `search` does."""

    def __init__(self, build: Any) -> None:
        self.build = build

    def search(self, parsed: "ParsedQuery", options: "FindOptions") -> list[Any]:
        searched = self.build()
        return searched.search(parsed, options) if searched is not None else []
