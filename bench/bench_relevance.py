"""Search quality on the labelled set: reciprocal rank fusion against the calibrated fusion.

    python -m bench.bench_relevance            # prints the table
    python -m bench.bench_relevance --docs     # ... and writes it into docs/search.md (between its markers)
    python -m bench.bench_relevance --grid     # ... and the calibrated fusion under other weights
    python -m bench.bench_relevance --smoke    # the same (the set is small already); CI runs it

The labelled set is tests/support/relevance_set.py: 13 photos whose folder names say what they show and
whose pixels are stripes, an image model that sees only stripe orientation with CLIP's cosine
ranges, and 12 queries of four kinds (pixel-only, description-only, both spaces, nothing). Each
query runs through `search` (the calibrated fusion, default weights) and through the earlier
pipeline (each space ranked on its own within its threshold, exact words first, cut at its first
clear drop, then reciprocal rank fusion with k = 60), on the same library. Figures per kind:
R-precision (share of right photos among the first R hits, R = the right photos), NDCG@10
(binary gains) and wrong hits (photos shown that are not right; for the queries nothing
answers, every photo shown). Quality, not time: the figures do not depend on the machine.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DOCS_PAGE = ROOT / "docs" / "search.md"
DOCS_START, DOCS_END = "<!-- relevance:start -->", "<!-- relevance:end -->"


GRID = [(1.0, 1.0, 0.5), (1.0, 0.5, 0.5), (1.0, 2.0, 0.5), (0.5, 1.0, 0.5), (1.0, 1.0, 0.0), (1.0, 1.0, 1.0)]


def measure(work: Path, grid: bool = False) -> dict[str, dict]:
    """{"rrf": summary, "calibrated": summary} on a library of the labelled set built under `work`;
    with `grid`, also "weights d/i/w": summary for each (description, image, words) weights of `GRID`."""
    from photolib.app.library import Library
    from photolib.core.config import load_settings
    from tests.support import relevance_set as labelled

    def make(settings):
        built = load_settings(library_path=work / "library")
        built.thumbnails_enabled = built.ocr_enabled = built.faces_enabled = False
        for key, value in settings.items():
            setattr(built, key, value)
        return Library(built)

    library = labelled.build_library(work, make)
    try:
        figures = {"rrf": labelled.summary(labelled.evaluate(labelled.rrf_search(library))),
                   "calibrated": labelled.summary(labelled.evaluate(labelled.fused_search(library)))}
        for description, image, words in GRID if grid else []:
            settings = library.settings
            settings.search_description_weight, settings.search_image_weight = description, image
            settings.search_words_weight = words
            figures[f"weights {description:g}/{image:g}/{words:g}"] = labelled.summary(
                labelled.evaluate(labelled.fused_search(library)))
        return figures
    finally:
        library.close()


def table(figures: dict[str, dict]) -> str:
    """A Markdown table: one row per kind of query, RRF and calibrated side by side."""
    from tests.support.relevance_set import KINDS

    lines = ["| queries | n | R-precision RRF | R-precision calibrated | NDCG@10 RRF | NDCG@10 calibrated "
             "| wrong hits RRF | wrong hits calibrated |", "|---|---|---|---|---|---|---|---|"]
    for kind in (*KINDS, "all"):
        rrf, ours = figures["rrf"][kind], figures["calibrated"][kind]
        lines.append(f"| {kind} | {ours['queries']} | {_cell(rrf['r_precision'])} | {_cell(ours['r_precision'])} "
                     f"| {_cell(rrf['ndcg10'])} | {_cell(ours['ndcg10'])} | {rrf['wrong_hits']:.2f} "
                     f"| {ours['wrong_hits']:.2f} |")
    return "\n".join(lines) + "\n"


def _cell(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.3f}"


def write_docs(text: str, page: Path = DOCS_PAGE) -> None:
    content = page.read_text(encoding="utf-8")
    start, end = content.find(DOCS_START), content.find(DOCS_END)
    if start < 0 or end < start:
        raise SystemExit(f"{page}: no {DOCS_START} ... {DOCS_END} region to write the table into")
    start += len(DOCS_START)
    page.write_text(content[:start] + "\n" + text + content[end:], encoding="utf-8")
    print(f"wrote the table into {page}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", action="store_true", help="also write the table into docs/search.md")
    parser.add_argument("--grid", action="store_true",
                        help="also the calibrated fusion's figures for other description/image/words weights")
    parser.add_argument("--smoke", action="store_true", help="the same run (the set is small): CI runs it")
    options = parser.parse_args(argv)
    os.environ.setdefault("PHOTOLIB_OCR_ENABLED", "false")
    os.environ.setdefault("PHOTOLIB_FACES_ENABLED", "false")
    work = Path(tempfile.mkdtemp(prefix="bench-relevance-"))
    try:
        figures = measure(work, grid=options.grid)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = table(figures)
    print("search quality on the labelled set (tests/support/relevance_set.py): reciprocal rank fusion vs calibrated fusion")
    print(text, end="")
    for name, summary in figures.items():
        if name.startswith("weights"):
            every = summary["all"]
            print(f"{name} (description/image/words): R-precision {every['r_precision']:.3f}, "
                  f"NDCG@10 {every['ndcg10']:.3f}, wrong hits {every['wrong_hits']:.2f}")
    if options.docs:
        write_docs(text)


if __name__ == "__main__":
    main()
