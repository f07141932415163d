"""Relevance people can read: the adaptive cutoff, sort orders, and one space's raw match score.

Score. The 0-100 score users see is the calibrated, fused relevance of
`photolib.search.fusion` (one score whichever spaces found a hit).
`match_score` is a single space's raw cosine in percent,
`round(100 * max(0, 1 - d / 2))`, what `Finder.find` reports when a space
ranks on its own (the reciprocal-rank baseline of bench/bench_relevance.py).

Cutoff. A ranked list stops at the first clear drop: the largest jump between
consecutive values (distances ascending, or 1 - relevance), when it is at
least `gap` (`CUTOFF_GAP` for distances: 5 cosine points; the fused search
passes 0.05, 5 score points) and at least `CUTOFF_RATIO` times the typical
(median) jump. A query that matches five beach photos well and the rest of
the library loosely shows the five; a query with no clear drop shows
everything above the threshold. `--all` ignores it.
"""

from __future__ import annotations

from typing import Sequence

from photolib.store.filter_sql import LISTING_ORDER

CUTOFF_GAP = 0.1  # squared L2 (= 5 score points)
CUTOFF_RATIO = 3.0
SORTS = tuple(LISTING_ORDER)  # relevance, date, -date (newest first), name


def match_score(distance: float | None) -> int | None:
    """0-100: the cosine similarity in percent (see the module doc)."""
    if distance is None:
        return None
    return int(round(100 * max(0.0, min(1.0, 1.0 - distance / 2.0))))


def adaptive_cutoff(distances: Sequence[float], gap: float = CUTOFF_GAP) -> int:
    """How many of `distances` (ascending) to keep: up to the first clear drop (at least `gap`), else all."""
    count = len(distances)
    if count < 3:
        return count
    gaps = [distances[i + 1] - distances[i] for i in range(count - 1)]
    largest = max(range(len(gaps)), key=lambda i: (gaps[i], -i))
    typical = sorted(gaps)[len(gaps) // 2]
    if gaps[largest] >= gap and gaps[largest] >= CUTOFF_RATIO * max(typical, 1e-6):
        return largest + 1
    return count


def check_sort(sort: str | None) -> str:
    from photolib.core.errors import UsageError

    sort = (sort or "relevance").strip().lower()
    if sort not in SORTS:
        raise UsageError(f"--sort {sort!r} is not a sort order: use one of {', '.join(SORTS)}")
    return sort


def sort_key(sort: str):
    """A key function over (id, distance, path, taken_at) rows, for sorting after the cutoff."""
    if sort == "date":
        return lambda row: (row[3] is None, row[3] or "", row[0])
    if sort == "-date":
        return lambda row: (row[3] is None, _reverse(row[3] or ""), row[0])
    if sort == "name":
        return lambda row: (row[2].casefold(), row[0])
    return None


def _reverse(text: str) -> tuple[int, ...]:
    return tuple(-ord(c) for c in text)
