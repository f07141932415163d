"""One registry entry per filter (`photolib.query.filters.FILTERS`) is what the user meets
everywhere: the options of search and list and their --help, what --explain says, and the
docs' table, whose examples are queries that work."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from photolib.query.filters import FILTERS, flagged, markdown_table
from photolib.query.parser import parse
from tests.support import xmp_samples
from tests.support.photos import make_photo

LISBON, SAO_PAULO = (38.7223, -9.1393), (-23.5505, -46.6333)


def examples(name: str) -> list[str]:
    """The queries the docs table shows for a filter (its backquoted examples)."""
    return re.findall(r"`([^`]+)`", FILTERS[name].example)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, embedder):
    """Three photos that each flagged filter's first docs example tells apart (it keeps one or two of
    them): a Lisbon beach (July 2019, Canon, 24-105 lens, Lightroom sidecar naming Anna, rated 5),
    a portrait PNG of January 2019, and a market in São Paulo (2021, digiKam keyword Lisbon);
    the smart album "Lisbon Beach Holiday" holds the photos taken in Lisbon."""
    from photolib.app.library import Library
    from photolib.core.config import load_settings

    root = tmp_path_factory.mktemp("registry")
    pics = root / "pics"
    beach = make_photo(pics / "2019" / "Lisbon beach" / "IMG_1.jpg", taken_at=datetime(2019, 7, 14, 11), gps=LISBON,
                       make="Canon", model="Canon EOS R6", lens="RF24-105mm F4 L IS USM", color=(230, 200, 120))
    (beach.parent / "IMG_1.jpg.xmp").write_text(xmp_samples.LIGHTROOM, encoding="utf-8")
    make_photo(pics / "2019" / "winter" / "IMG_2.png", size=(480, 640), taken_at=datetime(2019, 1, 5, 9),
               make="NIKON CORPORATION", model="NIKON D750", color=(120, 120, 130))
    market = make_photo(pics / "2021" / "market" / "feira.jpg", taken_at=datetime(2021, 12, 24, 9), gps=SAO_PAULO,
                        make="FUJIFILM", model="X-T4", color=(200, 60, 60))
    (market.parent / "feira.jpg.xmp").write_text(xmp_samples.DIGIKAM, encoding="utf-8")
    settings = load_settings(library_path=root / "library")
    settings.ocr_enabled = settings.faces_enabled = False  # module fixtures run before conftest turns them off
    library = Library(settings, embedder=embedder)
    assert not library.add([pics]).failed
    library.smart_album("Lisbon Beach Holiday", "place:Lisbon")
    library.close()
    return str(root / "library")


def cli(folder: str, *args: str):
    return CliRunner().invoke(app, ["-L", folder, *args], env={"COLUMNS": "250"})


def help_text(command: str) -> str:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


@pytest.mark.parametrize("command", ["search", "similar", "list"])
def test_help_shows_an_option_for_each_filter_that_has_one(command):
    shown = help_text(command)
    assert [f.flag for f in flagged()] == ["date", "after", "before", "year", "month", "place", "near", "camera",
                                           "lens", "album", "type", "path", "orientation"]
    for f in flagged():
        assert f"--{f.flag} " in shown
        assert f"Same as {f.name}:VALUE ({f.flag_help})." in shown


def test_the_commands_own_options_for_a_filter_exist_and_the_others_are_query_only():
    """A filter without the shared option names the commands' own options for it (the docs table shows
    them); one without either is written in the query only, and no command has an option of its name."""
    helps = {command: help_text(command) for command in ("search", "similar", "list")}
    for f in FILTERS.values():
        assert not (f.flag and f.options), f.name
        for option in f.options:
            command, name = option.split()
            assert f"{name} " in helps[command], option
        if not f.flag and not f.options:
            assert all(f"--{f.name} " not in shown for shown in helps.values()), f.name


@pytest.mark.parametrize("command", ["search", "list"])
@pytest.mark.parametrize("name", [f.name for f in flagged()])
def test_an_option_keeps_the_photos_its_filter_keeps(folder, command, name):
    f = FILTERS[name]
    query = examples(name)[0]
    by_query = cli(folder, command, query, "--json")
    by_option = cli(folder, command, f"--{f.flag}", query.split(":", 1)[1].strip('"'), "--json")
    assert by_query.exit_code == 0, by_query.output
    assert by_option.exit_code == 0, by_option.output
    kept = [photo["id"] for photo in json.loads(by_query.stdout)]
    assert 0 < len(kept) < 3  # the example tells the three photos apart
    assert [photo["id"] for photo in json.loads(by_option.stdout)] == kept


EXPLAINED = {  # what `search --explain` says of each filter's first docs example
    "date": "date:2019  (taken from 2019-01-01 up to (not including) 2020-01-01)",
    "after": "after:2019  (taken on or after 2020-01-01)",
    "before": "before:2019-07  (taken before 2019-07-01)",
    "year": "year:2019  (year 2019)",
    "month": "month:july  (taken in July of any year)",
    "place": "place:Lisbon  (place name contains 'Lisbon' (any case, any accents))",
    "near": "near:38.72,-9.14,5km  (within 5 km of 38.72,-9.14)",
    "camera": "camera:canon  (camera contains 'canon')",
    "lens": "lens:24-105  (lens contains '24-105')",
    "tag": "tag:beach  (tag is 'beach')",
    "album": "album:\"Lisbon Beach Holiday\"  (album is 'Lisbon Beach Holiday')",
    "person": "person:Anna  (person is 'Anna')",
    "text": "text:invoice  (text is 'invoice')",
    "status": "status:failed  (status is 'failed')",
    "type": "type:png  (type is 'PNG')",
    "path": "path:2019/  (path under the added folder matches '2019/')",
    "orientation": "orientation:portrait  (orientation is 'portrait')",
    "width": "width>4000  (width >= 4001 px wide)",
    "height": "height>=3000  (height >= 3000 px high)",
    "has": "has:gps  (has is 'gps')",
    "rating": "rating:5  (rating 5 stars)",
    "keyword": "keyword:Lisbon  (keyword is 'Lisbon')",
}


def test_every_filter_says_what_it_keeps_in_explain():
    assert set(EXPLAINED) == set(FILTERS)


@pytest.mark.parametrize("name", list(FILTERS))
def test_explain_says_what_each_filter_keeps(folder, name):
    result = cli(folder, "search", examples(name)[0], "--explain", "--json")
    assert result.exit_code == 0, result.output
    assert {"part": "filter", "meaning": EXPLAINED[name]} in json.loads(result.stdout)["explain"]["lines"]


@pytest.mark.parametrize("name", list(FILTERS))
def test_every_example_of_the_docs_is_a_query_of_its_filter(name):
    shown = examples(name)
    assert shown
    for example in shown:
        parsed = parse(example)
        assert [group.key for group in parsed.filters] == [name], example
        assert not parsed.semantic


def test_docs_table_has_one_row_per_filter_with_its_example_and_option():
    rows = markdown_table().splitlines()
    assert rows[0].startswith("| Filter | Meaning | Example | Option |")
    body = rows[2:]
    assert len(body) == len(FILTERS)
    for row, f in zip(body, FILTERS.values()):
        cells = [cell.strip() for cell in row.strip("|").split(" | ")]
        assert cells[0].split(",")[0] == f"`{f.name}:`"
        assert cells[2] == f.example
        assert cells[3] == (f"`--{f.flag} VALUE`" if f.flag else ", ".join(f"`{o}`" for o in f.options)
                            or "query only")
