"""Filtered search against unfiltered search on a large library (issue 13's figure).

    python bench/filters.py                 # 1 000 000 photos (builds once, cached under bench/.cache)
    python bench/filters.py --count 100000
    python bench/filters.py --smoke         # 2 000 photos, one pass (CI: it runs)

The library holds MiniLM-shaped synthetic vectors (as bench/run.py builds)
with dates spread over 2015-2024, so `date:2019` selects about a tenth of it,
`date:2019-07` about a hundredth and `date:2019-07-14` about 1/3650. Each case
runs `Library.search` end to end (query parsing, SQL filters, the id selector, ranking, rows for the hits);
the query vectors are MiniLM embeddings computed once beforehand, so embedding
time (the same with or without filters) does not blur the comparison. Prints
p50/p99 per case, the filtered/unfiltered p50 ratio (target <= 1.5), and each
case's recall@10 against the same search done exactly.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402
from bench.run import CACHE, synthetic_photos  # noqa: E402

QUERIES = ["sunset over the sea", "children playing in a park", "snowy mountain village", "a plate of food",
           "old church interior", "dog on a beach", "city skyline at night", "birthday party with cake"]
CASES = ["{q}", "date:2019 {q}", "date:2019-07 {q}", "date:2019-07-14 {q}", "year:2016..2018 -tag:x {q}", "{q} NOT zebra"]


def dated(count: int):
    start = datetime(2015, 1, 1)
    span = (datetime(2025, 1, 1) - start).total_seconds()
    for i, photo in enumerate(synthetic_photos(count, 1, "dated")):
        photo.taken_at = (start + timedelta(seconds=span * ((i * 7919) % count) / count)).isoformat(timespec="seconds")
        yield photo


class Precomputed:
    """The real embedder's query vectors, computed once (embedding costs the same in every case)."""

    def __init__(self, embedder, texts) -> None:
        self.model_name = embedder.model_name
        self.vectors = {text: embedder.embed_query(text) for text in texts}

    def embed_query(self, text):
        return self.vectors[text]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="passes over the queries per case")
    parser.add_argument("--smoke", action="store_true", help="2 000 photos, one pass: the benchmark runs (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        run.smoke_mode()
        args.count, args.runs = 2_000, 1

    from photolib.core.config import load_settings
    from photolib.app.library import Library

    path = CACHE / (f"filters-{args.count}" + ("-smoke" if args.smoke else ""))
    library = Library(load_settings(library_path=path))
    if library.catalog.vector_count() < args.count:
        started = time.perf_counter()
        library.import_embedded(dated(args.count), library.embedder.model_name)
        print(f"built {args.count:,} photos in {time.perf_counter() - started:.0f} s", flush=True)
    texts = QUERIES + ["x", "zebra"]
    library = Library(load_settings(library_path=path), embedder=Precomputed(library.embedder, texts))
    library.search(QUERIES[0])  # load the index (memory-mapped) and warm the caches
    times: dict[str, list[float]] = {case: [] for case in CASES}
    found: dict[str, int] = {case: 0 for case in CASES}
    for _ in range(args.runs):  # cases interleaved, so load on the machine falls on all of them alike
        for query in QUERIES:
            for case in CASES:
                started = time.perf_counter()
                hits = library.search(case.format(q=query), limit=10)
                times[case].append(time.perf_counter() - started)
                found[case] += len(hits)
    recall = {}  # top 10 against the same search done exactly (every IVF list probed)
    for case in CASES:
        agree = total = 0
        for query in QUERIES:
            approximate = [h.id for h in library.search(case.format(q=query), limit=10)]
            exact = [h.id for h in library.search(case.format(q=query), limit=10, exact=True)]
            agree += len(set(approximate) & set(exact))
            total += len(exact)
        recall[case] = agree / total if total else 1.0
    p50 = {}
    for case in CASES:
        ordered = sorted(times[case])
        p50[case] = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        print(f"  {case.format(q='QUERY'):<32} p50 {p50[case]:7.2f} ms  p99 {p99:7.2f} ms  "
              f"x{p50[case] / p50[CASES[0]]:4.2f} of unfiltered  ({found[case] / len(ordered):.1f} hits/query, "
              f"recall@10 vs exact {recall[case]:.2f})",
              flush=True)
    filtered = max(p50[c] for c in CASES[1:]) / p50[CASES[0]]
    print(f"filtered/unfiltered p50, worst case: {filtered:.2f} (target <= 1.5) "
          f"{'n/a' if args.smoke else 'PASS' if filtered <= 1.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
