"""Broken, hostile and odd files: imported or recorded as failed, never a traceback."""

from __future__ import annotations

import json
import os
from datetime import datetime

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.support.photos import make_photo
from tests.reliability.helpers import permission_bits_apply, photolib


@pytest.fixture
def messy(tmp_path):
    root = tmp_path / "messy"
    make_photo(root / "good one.jpg", taken_at=datetime(2020, 5, 1, 12, 0))
    make_photo(root / "ünïcødé 写真" / "café au lait.jpg")
    make_photo(root / "[red]x[/red].jpg", color=(255, 0, 0))  # a folder "[red]x[" holding "red].jpg"
    make_photo(root / "[bold]loud[b].jpg", color=(0, 255, 0))
    (root / "empty.jpg").write_bytes(b"")
    good = make_photo(tmp_path / "source.jpg", size=(800, 600))
    (root / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (root / "notes.png").write_text("this is not an image\n")
    os.symlink(tmp_path / "does-not-exist.jpg", root / "broken link.jpg")
    (root / ".hidden").mkdir()
    make_photo(root / ".hidden" / "skipped.jpg")
    (root / "readme.txt").write_text("not a photo extension, ignored")
    return root


def invoke(library, *args):
    return CliRunner().invoke(app, ["--library", str(library), *args])


def test_every_bad_file_is_reported_and_good_ones_imported(messy, library_path):
    result = invoke(library_path, "add", str(messy), "--json")
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    # 7 files hashed (4 photos, 3 that fail to read); the broken link cannot even be hashed
    assert (report["new"], report["failed"], report["vision_calls"], report["embedded"]) == (7, 4, 4, 4)
    reasons = {os.path.basename(f["path"]): f["reason"] for f in report["failures"]}
    assert set(reasons) == {"empty.jpg", "truncated.jpg", "notes.png", "broken link.jpg"}
    assert "empty" in reasons["empty.jpg"]
    assert "truncated" in reasons["truncated.jpg"] or "corrupt" in reasons["truncated.jpg"]
    assert "not an image" in reasons["notes.png"]
    assert "broken" in reasons["broken link.jpg"]
    listed = json.loads(invoke(library_path, "list", "--json").stdout)
    paths = {os.path.relpath(p["path"], messy): p["status"] for p in listed}
    assert paths == {"[red]x[/red].jpg": "ok", "[bold]loud[b].jpg": "ok", "ünïcødé 写真/café au lait.jpg": "ok",
                     "good one.jpg": "ok", "empty.jpg": "failed", "truncated.jpg": "failed", "notes.png": "failed",
                     "broken link.jpg": "failed"}  # nothing from .hidden/, no readme.txt
    stats = json.loads(invoke(library_path, "stats", "--json").stdout)
    assert (stats["photos"], stats["ok"], stats["failed"], stats["pending"]) == (8, 4, 4, 0)


def test_failed_files_print_literally_and_rerun_keeps_work(messy, library_path):
    first = invoke(library_path, "add", str(messy))
    table = invoke(library_path, "list").stdout.replace("\n", "").replace("│", "").replace(" ", "")
    assert "[red]x[/red].jpg" in table and "[bold]loud[b].jpg" in table
    second = invoke(library_path, "add", str(messy), "--json")
    report = json.loads(second.stdout)
    assert report["new"] == 0 and report["vision_calls"] == 0
    assert first.exit_code == 1


def test_decompression_bomb_is_refused(tmp_path, library_path, monkeypatch):
    from PIL import Image

    root = tmp_path / "bomb"
    make_photo(root / "huge.png", size=(400, 400))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100 // 2)
    result = invoke(library_path, "add", str(root), "--json")
    assert result.exit_code == 1
    reason = json.loads(result.stdout)["failures"][0]["reason"]
    assert "decompression bomb" in reason


def test_unreadable_file(tmp_path, library_path):
    """Run as the user would be: as root, under setpriv without the capabilities that bypass permission bits."""
    prefix = permission_bits_apply()
    if prefix is None:
        pytest.skip("running as root without setpriv: permission bits cannot apply")
    root = tmp_path / "locked"
    make_photo(root / "readable.jpg")
    make_photo(root / "secret.jpg").chmod(0)
    result = photolib(library_path, "add", str(root), "--json", prefix=prefix, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    report = json.loads(result.stdout)
    assert report["new"] == 1
    assert [(os.path.basename(f["path"]), "permission" in f["reason"].lower()) for f in report["failures"]] == [
        ("secret.jpg", True)]
    shown = photolib(library_path, "list", "--status", "failed", "--json", prefix=prefix)
    assert [os.path.basename(p["path"]) for p in json.loads(shown.stdout)] == ["secret.jpg"]


def test_control_characters_in_names_are_not_sent_to_terminal(tmp_path, library_path):
    root = tmp_path / "odd"
    make_photo(root / "evil\x1b[31mred\nline.jpg")
    result = invoke(library_path, "add", str(root))
    listing = invoke(library_path, "list")
    assert "\x1b" not in result.stdout + listing.stdout
    assert "\\x1b" in listing.stdout
