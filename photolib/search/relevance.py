"""Relevance people can read: a 0-100 match score and a cutoff that adapts to the query.

Score. Vectors are unit length, so a squared L2 distance `d` is `2 - 2 cos`.
The score is the cosine similarity as a percentage, floored at 0:
`score = round(100 * max(0, 1 - d / 2))`. So d 0 -> 100 (the same meaning),
d 1.0 -> 50, d 1.5 (the default --threshold) -> 25, d >= 2 (unrelated or
opposite) -> 0. The raw distance stays beside it in --json.

Cutoff. Results within --threshold are ranked by distance; the list stops at
the first clear drop: the largest jump between consecutive distances, when it
is at least `CUTOFF_GAP` (5 score points) and at least `CUTOFF_RATIO` times
the typical (median) jump among the results. A query that matches five beach
photos well and the rest of the library loosely shows the five; a query with
no clear drop shows everything within the threshold. `--all` ignores it.
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
