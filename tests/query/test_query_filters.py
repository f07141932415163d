"""Every filter of the query language against a library with known dates, places, cameras and tags."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from tests.support.photos import make_photo

LISBON, PORTO, SAO_PAULO = (38.7223, -9.1393), (41.1496, -8.6110), (-23.5505, -46.6333)


def _photos(root):
    """name -> path; folders name the subject (the local vision provider describes from them)."""
    made = {}
    for i in range(3):
        made[f"lisbon{i}"] = make_photo(root / "Lisbon beach holiday" / f"IMG_{i}.jpg", taken_at=datetime(2019, 7, 14 + i, 11),
                                        gps=(LISBON[0] + 0.002 * i, LISBON[1]), make="Canon", model="Canon EOS R6",
                                        lens="RF24-105mm F4 L IS USM", color=(230, 200, 120))
    for i in range(2):
        made[f"porto{i}"] = make_photo(root / "Porto city walk" / f"DSC_{i}.png", size=(480, 640),
                                       taken_at=datetime(2020, 3, 10, 15 + i), gps=PORTO, make="NIKON CORPORATION",
                                       model="NIKON D750", color=(120, 120, 130))
    made["saopaulo"] = make_photo(root / "market" / "feira.jpg", size=(500, 500), taken_at=datetime(2021, 12, 24, 9),
                                  gps=SAO_PAULO, make="FUJIFILM", model="X-T4", color=(200, 60, 60))
    made["scan"] = make_photo(root / "scans" / "panorama.jpg", size=(4200, 300), color=(90, 90, 90))
    return made


@pytest.fixture(scope="module")
def library(tmp_path_factory, embedder):
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    root = tmp_path_factory.mktemp("filters")
    made = _photos(root / "pics")
    settings = load_settings(library_path=root / "library")
    settings.ocr_enabled = settings.faces_enabled = False  # module fixtures run before conftest turns them off
    library = Library(settings, embedder=embedder)
    report = library.add([root / "pics"])
    assert not report.failed
    library.ids = {name: library.catalog.get_by_path(str(path)).id for name, path in made.items()}
    library.root_folder = root / "pics"
    yield library
    library.close()


def names(library, query, **options):
    by_id = {v: k for k, v in library.ids.items()}
    return sorted(by_id[hit.id] for hit in library.search(query, limit=50, **options))


LISBON_ALL = ["lisbon0", "lisbon1", "lisbon2"]
PORTO_ALL = ["porto0", "porto1"]
CASES = [
    ("date:2019", LISBON_ALL),
    ("date:2019-07", LISBON_ALL),
    ("date:2019-07-15", ["lisbon1"]),
    ("date:2019-07-15..2019-07-16", ["lisbon1", "lisbon2"]),
    ("date:2019..2020", LISBON_ALL + PORTO_ALL),
    ("after:2019", PORTO_ALL + ["saopaulo"]),
    ("before:2020", LISBON_ALL),
    ("date<2019-07-15", ["lisbon0"]),
    ("year:2020", PORTO_ALL),
    ("year>=2020", PORTO_ALL + ["saopaulo"]),
    ("month:july", LISBON_ALL),
    ("month:12", ["saopaulo"]),
    ("place:lisbon", LISBON_ALL),
    ("place:LISBOA", []),
    ('place:"sao paulo"', ["saopaulo"]),
    ("place:São", ["saopaulo"]),
    ("place:Lisbon OR place:Porto", LISBON_ALL + PORTO_ALL),
    ("place:Portugal", LISBON_ALL + PORTO_ALL),
    ("-place:Portugal", ["saopaulo", "scan"]),
    ("near:38.72,-9.14,5km", LISBON_ALL),
    ("near:38.7223,-9.1393,100m", ["lisbon0"]),
    ("near:41.15,-8.61,300km", LISBON_ALL + PORTO_ALL),
    ("camera:canon", LISBON_ALL),
    ("camera:d750", PORTO_ALL),
    ("camera:canon OR camera:fujifilm", LISBON_ALL + ["saopaulo"]),
    ("lens:24-105", LISBON_ALL),
    ("tag:beach", LISBON_ALL),
    ("tag:BEACH", LISBON_ALL),
    ("NOT tag:beach has:gps", PORTO_ALL + ["saopaulo"]),
    ("status:ok", LISBON_ALL + PORTO_ALL + ["saopaulo", "scan"]),
    ("status:failed", []),
    ('path:"Porto city walk/"', PORTO_ALL),
    ("path:*/feira.*", ["saopaulo"]),
    ("type:png", PORTO_ALL),
    ("type:jpg has:gps", LISBON_ALL + ["saopaulo"]),
    ("orientation:portrait", PORTO_ALL),
    ("orientation:square", ["saopaulo"]),
    ("orientation:landscape", LISBON_ALL + ["scan"]),
    ("width>4000", ["scan"]),
    ("height>=640", PORTO_ALL),
    ("width:400..500", PORTO_ALL + ["saopaulo"]),
    ("has:gps", LISBON_ALL + PORTO_ALL + ["saopaulo"]),
    ("-has:gps", ["scan"]),
    ("has:place", LISBON_ALL + PORTO_ALL + ["saopaulo"]),
    ('"beach holiday"', LISBON_ALL),
    ("has:gps NOT beach", PORTO_ALL + ["saopaulo"]),
    ("date:2019 place:Porto", []),
]


@pytest.mark.parametrize("query,expected", CASES, ids=[q for q, _ in CASES])
def test_filter(library, query, expected):
    assert names(library, query) == sorted(expected)


def test_filter_only_query_embeds_nothing(library):
    calls = []
    original = library.embedder.embed_query
    library.embedder.embed_query = lambda text: calls.append(text) or original(text)
    try:
        hits = library.search("place:Lisbon date:2019")
    finally:
        del library.embedder.embed_query
    assert calls == []
    assert [h.id for h in hits] == [library.ids[n] for n in LISBON_ALL]  # oldest first
    assert all(h.score is None and h.distance is None for h in hits)


def test_words_rank_only_photos_the_filters_allow(library):
    hits = library.search("beach holiday", all_results=True, threshold=4.0, limit=50)
    assert {h.id for h in hits} >= {library.ids[n] for n in LISBON_ALL}
    filtered = library.search("beach holiday year:2020", all_results=True, threshold=4.0, limit=50)
    assert {h.id for h in filtered} == {library.ids[n] for n in PORTO_ALL}
    assert all(0 <= h.score <= 100 for h in filtered)


def test_sort_and_paging(library):
    everything = [library.ids[n] for n in LISBON_ALL + PORTO_ALL + ["saopaulo"]]
    assert [h.id for h in library.search("has:gps", sort="date")] == everything
    assert [h.id for h in library.search("has:gps", sort="-date")] == everything[::-1]
    assert [h.id for h in library.search("has:gps", sort="date", limit=2, offset=2)] == everything[2:4]
    ranked = library.search("lisbon beach has:gps", sort="-date", all_results=True, threshold=4.0, limit=50)
    dates = [h.taken_at for h in ranked]
    assert dates == sorted(dates, reverse=True)


@pytest.mark.parametrize("query,message", [
    ("person:Anna", "no person 'Anna' in the library (nobody is named yet)"),
    ("album:Nowhere", "no album has that name"),
    ("plce:Lisbon", "did you mean `place:`?"),
    ("rating:6", "expected a star rating 0-5"),
])
def test_filters_naming_what_is_not_there_are_one_line_errors(library, query, message):
    from photolib.core.errors import UsageError

    with pytest.raises(UsageError) as raised:
        library.search(query)
    assert message in str(raised.value)


def test_cli_filters_flags_explain_and_json(library, tmp_path):
    from typer.testing import CliRunner

    from photolib.cli import app

    runner = CliRunner()
    folder = str(library.root)
    out = runner.invoke(app, ["-L", folder, "search", "--place", "lisbon", "--camera", "canon", "--json"])
    assert out.exit_code == 0, out.output
    assert [h["id"] for h in json.loads(out.stdout)] == [library.ids[n] for n in LISBON_ALL]
    explained = runner.invoke(app, ["-L", folder, "search", "beach -people date:2019 NOT dog", "--explain"])
    assert explained.exit_code == 0, explained.output
    for part in ("close to 'beach'", "less of", "'people'", "excluded", "date:2019", "3 of 7 pass the filters"):
        assert part in explained.stdout
    bad = runner.invoke(app, ["-L", folder, "search", "plce:Lisbon"])
    assert bad.exit_code == 2
    assert "unknown filter `plce:`; did you mean `place:`?" in bad.output
    listed = runner.invoke(app, ["-L", folder, "list", "month:july OR month:march", "--sort", "-date", "--json"])
    assert [p["id"] for p in json.loads(listed.stdout)] == [library.ids[n] for n in
                                                            ["porto1", "porto0", "lisbon2", "lisbon1", "lisbon0"]]


@pytest.mark.parametrize("query,expected", [c for c in CASES if c[1]][::2])
def test_filters_through_the_index_id_selector(library, monkeypatch, query, expected):
    """The same answers when the filters become a FAISS id selector (large libraries' path)."""
    import photolib.search.finder

    monkeypatch.setattr(photolib.search.finder.Finder, "_nearest_then_filtered", lambda *args: None)
    monkeypatch.setattr(photolib.search.finder, "SMALL_SELECTION", 0)
    found = library.search(f"photo {query}", limit=50, all_results=True, threshold=4.0)
    by_id = {v: k for k, v in library.ids.items()}
    assert sorted(by_id[hit.id] for hit in found) == sorted(expected)


def test_a_filter_too_narrow_for_the_nearest_photos_skips_the_whole_library_search(library, monkeypatch):
    """A sample of the library tells narrow filters from broad ones: a narrow one goes straight to the
    selection (no search of the whole index whose results would be thrown away), a broad one not."""
    from photolib.store.index import VectorIndex
    from photolib.query.parser import parse

    finder = library.finder
    assert finder.allowed(parse("date:2019")).share() == pytest.approx(3 / 7)
    searched = []
    real = VectorIndex.search
    monkeypatch.setattr(VectorIndex, "search", lambda self, *args, **kw: searched.append(kw.get("ids")) or real(
        self, *args, **kw))
    assert library.search("photo date:2030") == [] and searched == []
    assert names(library, "photo date:2019", all_results=True, threshold=4.0) == LISBON_ALL
    assert searched == [None]  # broad: the nearest photos of the whole library, then the filters
