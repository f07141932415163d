"""RAW files beyond DNG as a camera card holds them (Fujifilm RAF, Panasonic RW2, Canon CR3), how
their pairs are counted by `add`, `add --dry-run` and `stats`, and XMP sidecars that are metadata,
not files left out."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from PIL import Image
from typer.testing import CliRunner

from photolib.cli import app
from photolib.pipeline.pairs import PhotoFiles
from photolib.pipeline.scan import FileKind, classify
from tests.support.format_files import make_cr3_without_preview, make_raf, make_rw2, two_colour
from tests.support.photos import make_photo

TAKEN = datetime(2021, 6, 5, 14, 30, 0)


@pytest.fixture
def card(tmp_path):
    """A card from three cameras: each RAW once beside its JPEG and once alone. The CR3 files hold no
    preview any reader can find (as a CR3 from a camera newer than LibRaw would)."""
    folder = tmp_path / "card"
    make_raf(folder / "DSCF0001.RAF", two_colour((300, 200)), taken_at=TAKEN, make="FUJIFILM", model="X-T4")
    make_photo(folder / "DSCF0001.JPG", size=(300, 200), color=(220, 30, 30))
    make_raf(folder / "DSCF0002.RAF", two_colour((300, 200)), taken_at=TAKEN, make="FUJIFILM", model="X-T4")
    make_rw2(folder / "P1000001.RW2", two_colour((300, 200)), taken_at=TAKEN, make="Panasonic", model="DC-G9")
    make_photo(folder / "P1000001.jpg", size=(300, 200), color=(30, 220, 30))
    make_rw2(folder / "P1000002.RW2", two_colour((300, 200)), taken_at=TAKEN, make="Panasonic", model="DC-G9")
    make_cr3_without_preview(folder / "IMG_0001.CR3")
    make_photo(folder / "IMG_0001.JPG", size=(300, 200), color=(30, 30, 220))
    make_cr3_without_preview(folder / "IMG_0002.CR3")
    return folder


def _add(library_path, folder, *options):
    result = CliRunner().invoke(app, ["-L", str(library_path), "add", str(folder), "--json", *options])
    return result.exit_code, json.loads(result.stdout)


def test_cr3_raf_and_rw2_are_raw_files():
    for name in ("IMG_0001.CR3", "DSCF0001.raf", "P1000001.RW2"):
        assert classify(name) is FileKind.RAW


def test_each_raw_pairs_with_its_jpeg_and_a_raw_alone_is_a_photo_through_its_preview(make_library, card):
    library = make_library()
    report = library.add([card])
    assert report.paired == 3
    assert report.new == 6  # three pairs, the lone RAF and RW2, and the lone CR3 (stored as failed)
    assert [(path.rsplit("/", 1)[1], "CR3" in reason) for path, reason in report.failed] == [("IMG_0002.CR3", True)]
    assert report.not_imported()["unreadable"]["count"] == 1
    assert PhotoFiles(library.catalog.db).count() == 3
    pairs = {shown.rsplit("/", 1)[1]: raw.rsplit("/", 1)[1] for _, shown, raw in PhotoFiles(library.catalog.db).pairs()}
    assert pairs == {"DSCF0001.JPG": "DSCF0001.RAF", "P1000001.jpg": "P1000001.RW2", "IMG_0001.JPG": "IMG_0001.CR3"}
    for name, camera in (("DSCF0002.RAF", "FUJIFILM X-T4"), ("P1000002.RW2", "Panasonic DC-G9")):
        shown = library.show(str(card / name))
        assert shown["camera"] == camera and shown["taken_at"].startswith("2021-06-05T14:30"), name
        assert (shown["width"], shown["height"]) == (300, 200)  # the embedded preview
        with Image.open(library.thumbnails.path(library.catalog.get(shown["id"]).data["hash"])) as thumbnail:
            left, right = thumbnail.convert("RGB").getpixel((20, 50)), thumbnail.convert("RGB").getpixel((230, 50))
        assert left[0] > 180 > left[2] and right[2] > 180 > right[0], name  # the preview's red | blue


def test_dry_run_stats_and_json_count_the_pairs(library_path, card):
    code, dry = _add(library_path, card, "--dry-run")
    assert dry["dry_run"] and dry["raw_paired"] == 3 and dry["new"] == 6
    assert not library_path.joinpath("catalog.db").exists()
    text = CliRunner().invoke(app, ["-L", str(library_path), "add", str(card), "--dry-run"]).stdout
    assert re.search(r"RAW files to pair with their JPEG\s*│\s*3\s*│", text)

    code, report = _add(library_path, card)
    assert code == 1 and report["raw_paired"] == 3 and report["failed"] == 1
    assert report["not_imported"]["unreadable"]["count"] == 1
    code, again = _add(library_path, card, "--dry-run")
    assert again["raw_paired"] == 0 and again["new"] == 0

    stats = json.loads(CliRunner().invoke(app, ["-L", str(library_path), "stats", "--json"]).stdout)
    assert stats["raw_pairs"] == 3
    shown = CliRunner().invoke(app, ["-L", str(library_path), "stats"]).stdout
    assert "RAW+JPEG pairs" in shown and "3 photos with a RAW second file" in " ".join(shown.split())


def test_xmp_sidecars_of_photos_are_metadata_not_files_left_out(library_path, tmp_path):
    folder = tmp_path / "tagged"
    make_photo(folder / "beach.jpg", size=(60, 40))
    (folder / "beach.jpg.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    make_photo(folder / "dunes.jpg", size=(60, 40))
    (folder / "dunes.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    (folder / "lost.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")  # no photo of that name
    (folder / "dunes.aae").write_text("<plist/>")
    make_photo(folder / "DSCF0001.JPG", size=(60, 40))
    make_raf(folder / "DSCF0001.RAF", two_colour((60, 40)))
    (folder / "DSCF0001.RAF.xmp").write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")  # the pair reads the JPEG's
    code, report = _add(library_path, folder)
    assert code == 0 and report["new"] == 3 and report["raw_paired"] == 1
    assert report["xmp_sidecars"] == 2
    assert report["not_imported"]["sidecars"] == {"count": 3, "extensions": {".xmp": 2, ".aae": 1}}
    assert report["not_imported"]["count"] == 3
    result = CliRunner().invoke(app, ["-L", str(library_path), "add", str(folder)])
    flat = " ".join((result.stdout + result.stderr).replace("│", " ").split())
    assert "Not imported: 3 files" in flat and "2 XMP sidecars beside the photos" in flat
