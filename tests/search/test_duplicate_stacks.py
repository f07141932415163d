"""`photolib duplicates` shows a RAW and its JPEG as what they are: one shot in two files (a stack,
kind "pair", every file kept), never as a copy to delete; in the table, --json, --html and --export."""

from __future__ import annotations

import csv
import json
import shutil

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.conftest import table_cells
from tests.support.format_files import make_dng, two_colour


@pytest.fixture
def card(tmp_path):
    """IMG_0001: the same picture as a JPEG and a DNG (its preview); beach.jpg and an exact copy of it."""
    folder = tmp_path / "card"
    folder.mkdir()
    picture = two_colour((300, 200), (200, 60, 40), (40, 90, 200))
    picture.save(folder / "IMG_0001.JPG", quality=92)
    make_dng(folder / "IMG_0001.DNG", picture)
    two_colour((240, 160), (20, 160, 60), (230, 220, 40)).save(folder / "beach.jpg", quality=90)
    shutil.copyfile(folder / "beach.jpg", folder / "beach copy.jpg")
    return folder


def _cli(library_path, *args):
    return CliRunner().invoke(app, ["-L", str(library_path), *args])


def _squashed(path) -> str:
    return "".join(str(path).split())


def test_a_pair_is_a_stack_with_both_files_kept_never_a_copy(make_library, card, tmp_path):
    library = make_library()
    library.add([card])
    groups = [g.as_dict() for g in library.duplicates()]
    assert [g["kind"] for g in groups] == ["exact", "pair"]
    pair = groups[1]
    assert [(f["path"].rsplit("/", 1)[1], f["role"]) for f in pair["files"]] == [("IMG_0001.JPG", "shown"),
                                                                                 ("IMG_0001.DNG", "raw")]
    assert all(photo["keep"] for photo in pair["photos"]) and len(pair["photos"]) == 1
    assert pair["files"][1]["size"] == (card / "IMG_0001.DNG").stat().st_size
    library.duplicates(mark=True)
    assert library.catalog.duplicate_marks([pair["best"]]) == {}  # nothing of a pair is folded away
    assert [g.kind for g in library.duplicates(pairs=False)] == ["exact"]

    export = tmp_path / "list.csv"
    library.duplicates(export=export)
    rows = [row for row in csv.DictReader(export.open()) if row["kind"] == "pair"]
    assert [(row["path"].rsplit("/", 1)[1], row["keep"]) for row in rows] == [("IMG_0001.JPG", "yes"),
                                                                             ("IMG_0001.DNG", "yes")]


def test_raw_and_jpeg_imported_separately_are_shown_as_a_pair_not_near_copies(make_library, card):
    library = make_library(settings={"raw_files": "separate"})
    library.add([card])
    assert len(library.list_photos()) == 4
    groups = [g.as_dict() for g in library.duplicates()]
    assert [g["kind"] for g in groups] == ["exact", "pair"]
    pair = groups[1]
    assert [p["path"].rsplit("/", 1)[1] for p in pair["photos"]] == ["IMG_0001.JPG", "IMG_0001.DNG"]
    assert all(p["keep"] for p in pair["photos"])
    assert [f["role"] for f in pair["files"]] == ["shown", "raw"]


def test_cli_table_json_and_html_show_the_pairs(library_path, card, tmp_path):
    (card / "beach copy.jpg").unlink()  # no copies left: only the pair
    assert _cli(library_path, "add", str(card)).exit_code == 0
    shown = _cli(library_path, "duplicates")
    assert shown.exit_code == 0
    flat = " ".join((shown.stdout + shown.stderr).replace("│", " ").split())
    assert "No duplicates found." in flat
    assert "1 RAW+JPEG pairs (one shot, two files: keep both)" in flat

    data = json.loads(_cli(library_path, "duplicates", "--json").stdout)
    assert table_cells(shown.stdout) == [["id", "shownfile", "RAWfile"],  # each path whole, however it is folded
                                         [str(data[0]["best"]), _squashed(card / "IMG_0001.JPG"),
                                          _squashed(card / "IMG_0001.DNG")]]
    assert [(g["kind"], [f["role"] for f in g["files"]]) for g in data] == [("pair", ["shown", "raw"])]
    assert json.loads(_cli(library_path, "duplicates", "--json", "--no-pairs").stdout) == []

    page = tmp_path / "dups.html"
    assert _cli(library_path, "duplicates", "--html", str(page)).exit_code == 0
    document = page.read_text()
    assert "RAW+JPEG pair" in document and "IMG_0001.DNG" in document and "IMG_0001.JPG" in document
    assert document.count("data:image/jpeg;base64,") == 2  # each file shown by the photo's thumbnail
