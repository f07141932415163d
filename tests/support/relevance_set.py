"""A labelled set for search: photos whose right answers are known for every kind of query.

Thirteen photos in six folders. The folder names give the descriptions (the local vision
provider describes a photo from the words of its folder); the pixels are stripes that run
one way or the other, or none, which is all the tiny image model of
`tests.support.onnx_models.build_tiny_stripe_clip` sees. So each space knows something the other
does not:

* pixel-only queries ("horizontal stripes"): no description says which way stripes run;
* description-only queries ("beach holiday in Hawaii"): the image model knows no such words;
* queries both spaces answer ("vertical blinds": the blinds are vertical, and say so);
* queries nothing answers ("volcano eruption"): the right answer is no photo at all.

`evaluate` runs every query through a library and scores its ranking by precision at the
number of relevant photos (R-precision), NDCG@10 with binary gains, and, for the queries
nothing answers, how many photos came back. Tests assert on it and `bench/bench_relevance.py`
prints it for reciprocal rank fusion and for the calibrated fusion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Sequence

FOLDERS: dict[str, tuple[str | None, int]] = {  # folder name -> (stripe orientation or None, photos)
    "beach holiday in Hawaii": ("horizontal", 3),
    "rocket launch at Cape Canaveral": ("vertical", 2),
    "birthday party with friends": ("horizontal", 2),
    "city street at night": ("vertical", 2),
    "vertical blinds in the office": ("vertical", 2),
    "garden flowers in spring": (None, 2),
}
COLOURS = [((235, 230, 220), (40, 60, 120)), ((230, 225, 200), (120, 40, 40)), ((220, 235, 220), (30, 90, 40))]
PIXELS, DESCRIPTION, BOTH, NOTHING = "pixels only", "description only", "both spaces", "nothing"
KINDS = (PIXELS, DESCRIPTION, BOTH, NOTHING)


@dataclass(frozen=True)
class LabelledQuery:
    text: str
    kind: str
    relevant: tuple[str, ...]  # folders whose photos are the right answer (none: no photo is)


QUERIES = (
    LabelledQuery("horizontal stripes", PIXELS, ("beach holiday in Hawaii", "birthday party with friends")),
    LabelledQuery("vertical stripes", PIXELS, ("rocket launch at Cape Canaveral", "city street at night",
                                               "vertical blinds in the office")),
    LabelledQuery("beach holiday in Hawaii", DESCRIPTION, ("beach holiday in Hawaii",)),
    LabelledQuery("rocket launch", DESCRIPTION, ("rocket launch at Cape Canaveral",)),
    LabelledQuery("birthday party", DESCRIPTION, ("birthday party with friends",)),
    LabelledQuery("garden flowers", DESCRIPTION, ("garden flowers in spring",)),
    LabelledQuery("vertical blinds", BOTH, ("vertical blinds in the office",)),
    LabelledQuery("Hawaii horizon", BOTH, ("beach holiday in Hawaii",)),
    LabelledQuery("upright city street", BOTH, ("city street at night",)),
    LabelledQuery("volcano eruption", NOTHING, ()),
    LabelledQuery("wedding cake", NOTHING, ()),
    LabelledQuery("snowy mountain peak", NOTHING, ()),
)


def make_photos(root: Path) -> Path:
    """The set's photos under `root` (one folder per entry of FOLDERS); returns `root`."""
    from tests.support.onnx_models import striped_photo
    from tests.support.photos import make_photo

    start = datetime(2022, 3, 1, 10, 0)
    number = 0
    for index, (folder, (orientation, count)) in enumerate(FOLDERS.items()):
        for i in range(count):
            image = striped_photo(orientation, colours=COLOURS[(index + i) % len(COLOURS)], width=20 + 4 * i)
            make_photo(root / folder / f"IMG_{number:04d}.jpg", image=image,
                       taken_at=start + timedelta(days=number), make="Canon", model="Canon EOS R6")
            number += 1
    return root


def folder_of(path: str) -> str:
    return Path(path).parent.name


@dataclass
class QueryResult:
    query: LabelledQuery
    folders: list[str]  # folder of each hit, best first

    @property
    def relevant_count(self) -> int:
        return sum(FOLDERS[folder][1] for folder in self.query.relevant)

    @property
    def r_precision(self) -> float | None:
        """Share of relevant photos among the first R hits (R = relevant photos); None when none is."""
        wanted = self.relevant_count
        if not wanted:
            return None
        return sum(folder in self.query.relevant for folder in self.folders[:wanted]) / wanted

    @property
    def ndcg10(self) -> float | None:
        """NDCG@10, binary gains; None for a query with no relevant photo."""
        wanted = self.relevant_count
        if not wanted:
            return None
        gains = [1.0 if folder in self.query.relevant else 0.0 for folder in self.folders[:10]]
        dcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))
        ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(wanted, 10)))
        return dcg / ideal

    @property
    def wrong_hits(self) -> int:
        """Hits that are not relevant (for a query nothing answers: every hit)."""
        return sum(folder not in self.query.relevant for folder in self.folders)


def evaluate(search: Callable[[str], Sequence[str]], queries: Sequence[LabelledQuery] = QUERIES) -> list[QueryResult]:
    """Each query through `search` (query text -> hit paths, best first)."""
    return [QueryResult(query, [folder_of(path) for path in search(query.text)]) for query in queries]


def summary(results: Sequence[QueryResult]) -> dict[str, dict[str, float]]:
    """Per kind of query: mean R-precision and NDCG@10 (queries with relevant photos), mean wrong
    hits (every query), and the same over every query ("all")."""
    table = {}
    for kind in (*KINDS, "all"):
        chosen = [r for r in results if kind in ("all", r.query.kind)]
        ranked = [r for r in chosen if r.relevant_count]
        table[kind] = {
            "queries": len(chosen),
            "r_precision": _mean([r.r_precision for r in ranked]),
            "ndcg10": _mean([r.ndcg10 for r in ranked]),
            "wrong_hits": _mean([float(r.wrong_hits) for r in chosen]),
        }
    return table


def _mean(values: list) -> float:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else float("nan")


def build_library(root: Path, make_library: Callable[..., object]):
    """The set's photos, the stripe model and a library that has added them; `make_library(settings=...)`
    builds a Library (the tests' fixture, or the bench's own). Returns the library."""
    from photolib.core.config import ImageSettings
    from tests.support.onnx_models import build_tiny_stripe_clip

    model = build_tiny_stripe_clip(root / "stripe-clip")
    photos = make_photos(root / "photos")
    library = make_library(settings={"image": ImageSettings(model="test/stripe-clip", model_path=model)})
    library.add([photos])
    return library


def fused_search(library, limit: int = 10) -> Callable[[str], list[str]]:
    """Query text -> hit paths through `search` (the calibrated fusion)."""
    return lambda text: [hit.path for hit in library.search(text, limit=limit)]


def rrf_search(library, limit: int = 10) -> Callable[[str], list[str]]:
    """Query text -> hit paths the way search fused spaces before calibration: each space ranks on its
    own (photos holding every word first, then by distance within its threshold, cut at its first
    clear drop), and the rankings are fused by reciprocal rank fusion (k = 60)."""
    from photolib.query.parser import parse
    from photolib.search.finder import FindOptions
    from photolib.search.fusion import reciprocal_rank_fusion

    def search(text: str) -> list[str]:
        parsed = parse(text)
        spaces = library.hybrid_search().spaces
        thresholds = {"description": library.settings.search_threshold,
                      "image": library.context.image_thresholds()[0]}
        rankings = {space.name: [r.id for r in space.finder.find(
            parsed, FindOptions(limit=2 * limit, threshold=thresholds[space.name]))] for space in spaces}
        ids = [pid for pid, _ in reciprocal_rank_fusion(rankings)][:limit]
        photos = library.catalog.get_many(ids)
        return [photos[pid].path for pid in ids]

    return search
