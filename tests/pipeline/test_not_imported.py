"""Nothing in silence: every file `add` saw and did not import is counted, by why, in the summary and JSON."""

from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from photolib.media import formats
from photolib.cli import app
from tests.support.format_files import make_heic
from tests.support.photos import make_photo


def _mixed_folder(root):
    make_photo(root / "beach.jpg", size=(60, 40))
    make_photo(root / "trip" / "harbour.png", size=(60, 40))
    for name in ("clip1.mov", "clip2.MOV", "trip/clip3.mov", "party.mp4"):
        (root / name).write_bytes(b"\x00\x00\x00\x18ftypqt  ")
    for name in ("layers.psd", "trip/poster.psd", "scan.PSD", "notes.txt", "README"):
        (root / name).write_bytes(b"something")
    (root / "beach.xmp").write_text("<x:xmpmeta/>")  # beach.jpg's metadata: read, not left out
    (root / "gone.xmp").write_text("<x:xmpmeta/>")  # no photo of that name: not imported
    make_photo(root / ".secret.jpg", size=(60, 40))
    make_photo(root / ".thumbnails" / "beach.jpg", size=(60, 40))
    make_photo(root / "huge.png", size=(400, 400))  # too large once the pixel limit is lowered
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return root


EXPECTED = {
    "unsupported": {"count": 5, "extensions": {".psd": 3, ".txt": 1, "(no extension)": 1}},
    "not_photos": {"count": 4, "extensions": {".mov": 3, ".mp4": 1}},
    "sidecars": {"count": 1, "extensions": {".xmp": 1}},
    "raw_skipped": {"count": 0, "extensions": {}},
    "needs_package": {"count": 0, "extensions": {}, "install": []},
    "hidden": {"count": 2, "files": 1, "folders": 1},
    "too_large": {"count": 1},
    "unreadable": {"count": 1},
    "count": 14,
}


def test_every_file_not_imported_is_counted_by_why(tmp_path, library_path, monkeypatch):
    root = _mixed_folder(tmp_path / "mixed")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 5000)  # refuses above 10 000 px: huge.png is 160 000
    runner = CliRunner()
    result = runner.invoke(app, ["--library", str(library_path), "add", str(root), "--json"])
    assert result.exit_code == 1  # two files failed; skipped ones alone would not fail the run
    report = json.loads(result.stdout)
    assert report["new"] == 4 and report["failed"] == 2
    assert report["not_imported"] == EXPECTED
    assert report["xmp_sidecars"] == 1

    text = runner.invoke(app, ["--library", str(library_path), "add", str(root)])
    flat = " ".join(text.stdout.replace("│", " ").split())
    assert "Not imported: 14 files" in flat
    assert "unsupported type 5 .psd x3, .txt x1, (no extension) x1" in flat
    assert "not photos (videos) 4 .mov x3, .mp4 x1" in flat
    assert "hidden 2 1 file, 1 folder (not entered)" in flat
    assert "too large 1" in flat and "unreadable 1" in flat
    assert "error" not in flat.lower().split("failed files")[0]  # videos are not errors


def test_a_photo_type_whose_reader_is_missing_names_what_to_install(tmp_path, library_path, monkeypatch):
    root = tmp_path / "phone"
    make_heic(root / "IMG_1.HEIC")
    make_heic(root / "IMG_2.heic")
    make_photo(root / "ok.jpg", size=(60, 40))
    monkeypatch.setattr(formats, "heif_installed", lambda: False)  # as if pi-heif had been uninstalled
    result = CliRunner().invoke(app, ["--library", str(library_path), "add", str(root), "--json"])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["new"] == 1
    needs = report["not_imported"]["needs_package"]
    assert needs["count"] == 2 and needs["extensions"] == {".heic": 2} and "pip install pi-heif" in needs["install"][0]
    text = CliRunner().invoke(app, ["--library", str(library_path), "add", str(root)]).stdout
    assert "pip install pi-heif" in " ".join(text.split())
