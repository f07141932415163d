"""A RAW and a JPEG of the same name are one photo with two files, through moves, removals and re-adds."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from photolib.pipeline.pairs import PhotoFiles
from tests.support.format_files import make_dng, two_colour
from tests.support.photos import make_photo


@pytest.fixture
def card(tmp_path):
    """A camera card: one RAW+JPEG pair, a RAW alone and a JPEG alone."""
    folder = tmp_path / "card" / "DCIM"
    make_photo(folder / "IMG_0001.JPG", size=(300, 200), color=(220, 30, 30))
    make_dng(folder / "IMG_0001.DNG", two_colour((300, 200)))
    make_dng(folder / "IMG_0002.DNG", two_colour((300, 200), (30, 200, 30), (30, 200, 30)))
    make_photo(folder / "IMG_0003.JPG", size=(300, 200), color=(30, 30, 220))
    return folder


def _paths(library):
    return sorted(os.path.basename(path) for _, path in library.catalog.all_paths())


def _files(library, ref):
    return [(os.path.basename(f["path"]), f["role"]) for f in library.show(ref)["files"]]


def test_a_raw_beside_its_jpeg_is_one_photo_with_two_files(make_library, card):
    library = make_library()
    report = library.add([card])
    assert (report.new, report.paired, report.failed) == (3, 1, [])
    assert _paths(library) == ["IMG_0001.JPG", "IMG_0002.DNG", "IMG_0003.JPG"]
    pair = library.show(str(card / "IMG_0001.JPG"))
    assert pair["format"] == "JPEG"  # the JPEG is what is shown
    assert _files(library, pair["id"]) == [("IMG_0001.JPG", "shown"), ("IMG_0001.DNG", "raw")]
    assert library.show(str(card / "IMG_0002.DNG"))["format"] == "DNG"  # a RAW alone is a photo
    assert PhotoFiles(library.catalog.db).pairs() == [(pair["id"], str(card / "IMG_0001.JPG"), str(card / "IMG_0001.DNG"))]

    again = library.add([card])  # no work twice: the RAW is not hashed or paired again
    assert (again.new, again.updated, again.moved, again.paired, again.described) == (0, 0, 0, 0, 0)
    assert again.unchanged == 3


def test_show_lists_both_files_in_the_table_and_json(make_library, card, library_path):
    make_library().add([card])
    runner = CliRunner()
    table = runner.invoke(app, ["--library", str(library_path), "show", str(card / "IMG_0001.JPG")])
    assert table.exit_code == 0, table.output
    flat = table.stdout.replace("\n", "").replace("│", "").replace(" ", "")
    assert "rawfile" in flat and "IMG_0001.DNG" in flat
    shown = json.loads(runner.invoke(app, ["--library", str(library_path), "show", str(card / "IMG_0001.JPG"),
                                           "--json"]).stdout)
    assert [f["path"] for f in shown["files"]] == [str(card / "IMG_0001.JPG"), str(card / "IMG_0001.DNG")]


@pytest.mark.parametrize("mode,photos", [("separate", 4), ("skip", 2)])
def test_raw_setting_separate_or_skip(make_library, card, mode, photos):
    library = make_library(settings={"raw_files": mode})
    report = library.add([card])
    assert report.new == photos and report.paired == 0
    skipped = report.not_imported()["raw_skipped"]
    assert skipped == ({"count": 2, "extensions": {".dng": 2}} if mode == "skip" else {"count": 0, "extensions": {}})


def test_removing_the_raw_keeps_the_photo_with_its_jpeg(make_library, card):
    library = make_library()
    library.add([card])
    photo_id = library.show(str(card / "IMG_0001.JPG"))["id"]
    (card / "IMG_0001.DNG").unlink()
    report = library.add([card])
    assert (report.new, report.failed) == (0, [])
    assert _files(library, photo_id) == [("IMG_0001.JPG", "shown")]


def test_removing_the_jpeg_keeps_the_photo_shown_by_its_raw(make_library, card):
    library = make_library()
    library.add([card])
    photo_id = library.show(str(card / "IMG_0001.JPG"))["id"]
    (card / "IMG_0001.JPG").unlink()
    report = library.add([card])
    assert (report.new, report.updated, report.failed) == (0, 1, [])
    shown = library.show(photo_id)
    assert os.path.basename(shown["path"]) == "IMG_0001.DNG" and shown["format"] == "DNG"
    assert shown["status"] == "ok" and _files(library, photo_id) == [("IMG_0001.DNG", "shown")]
    assert _paths(library) == ["IMG_0001.DNG", "IMG_0002.DNG", "IMG_0003.JPG"]


def test_a_pair_moved_together_stays_one_photo(make_library, card, tmp_path):
    library = make_library()
    library.add([card.parent])
    photo_id = library.show(str(card / "IMG_0001.JPG"))["id"]
    (card.parent / "Lisbon").mkdir()
    for name in ("IMG_0001.JPG", "IMG_0001.DNG"):
        shutil.move(card / name, card.parent / "Lisbon" / name)
    report = library.add([card.parent])
    assert (report.new, report.moved, report.failed) == (0, 1, [])
    assert _files(library, photo_id) == [("IMG_0001.JPG", "shown"), ("IMG_0001.DNG", "raw")]
    assert library.show(photo_id)["files"][1]["path"] == str(card.parent / "Lisbon" / "IMG_0001.DNG")
    assert len(library.catalog.all_paths()) == 3


def test_a_raw_moved_away_from_its_jpeg_becomes_a_photo_of_its_own(make_library, card):
    library = make_library()
    library.add([card.parent])
    (card.parent / "raws").mkdir()
    shutil.move(card / "IMG_0001.DNG", card.parent / "raws" / "IMG_0001.DNG")
    report = library.add([card.parent])
    assert (report.new, report.failed) == (1, [])
    assert _files(library, str(card / "IMG_0001.JPG")) == [("IMG_0001.JPG", "shown")]
    assert library.show(str(card.parent / "raws" / "IMG_0001.DNG"))["format"] == "DNG"


def test_a_raw_photo_that_gets_its_jpeg_becomes_the_pair_and_keeps_its_id(make_library, card):
    library = make_library()
    (card / "IMG_0001.JPG").rename(card.parent / "later.jpg")
    library.add([card])
    raw_id = library.show(str(card / "IMG_0001.DNG"))["id"]
    (card.parent / "later.jpg").rename(card / "IMG_0001.JPG")
    report = library.add([card])
    assert (report.new, report.failed) == (0, [])
    assert _files(library, raw_id) == [("IMG_0001.JPG", "shown"), ("IMG_0001.DNG", "raw")]
    assert library.show(raw_id)["format"] == "JPEG"
    assert _paths(library) == ["IMG_0001.JPG", "IMG_0002.DNG", "IMG_0003.JPG"]


def test_removing_a_paired_photo_forgets_its_raw_file_too(make_library, card):
    library = make_library()
    library.add([card])
    library.remove(str(card / "IMG_0001.JPG"))
    assert PhotoFiles(library.catalog.db).pairs() == []


def test_prune_keeps_a_pair_whose_raw_is_still_there(make_library, card):
    library = make_library()
    library.add([card])
    photo_id = library.show(str(card / "IMG_0001.JPG"))["id"]
    (card / "IMG_0001.JPG").unlink()
    assert library.prune() == []
    library.add([card])
    assert os.path.basename(library.show(photo_id)["path"]) == "IMG_0001.DNG"
    (card / "IMG_0001.DNG").unlink()
    assert [p["id"] for p in library.prune()] == [photo_id]
