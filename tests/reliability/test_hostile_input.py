"""A corpus of broken and hostile files: each imported or failed with a reason, terminal output clean."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from photolib.cli import app
from tests.photos import make_photo
from tests.reliability.conftest import TRIALS

RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _image_bytes(fmt: str, size=(300, 200)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 50).convert("RGB").save(out, format=fmt)
    return out.getvalue()


@pytest.fixture
def corpus(tmp_path) -> Path:
    root = tmp_path / "corpus"
    root.mkdir()
    for fmt, ext in (("PNG", "png"), ("GIF", "gif"), ("TIFF", "tiff"), ("WEBP", "webp"), ("JPEG", "jpg")):
        data = _image_bytes(fmt)
        (root / f"truncated.{ext}").write_bytes(data[: len(data) // 3])
        corrupt = bytearray(data)
        corrupt[len(corrupt) // 2: len(corrupt) // 2 + 64] = os.urandom(64)
        (root / f"corrupt.{ext}").write_bytes(bytes(corrupt))
        (root / f"garbage.{ext}").write_bytes(os.urandom(2048))
    make_photo(root / "thin strip.png", size=(6000, 2), pattern=False)
    make_photo(root / "tall strip.jpg", size=(2, 4000), pattern=False)
    make_photo(root / "right\u202eto\u202cleft.jpg")
    make_photo(root / "bell\x07and\ttab.jpg")
    make_photo(root / "esc\x1b]0;title\x07.jpg")
    os.symlink(root, root / "loop")  # a folder link back to itself: not followed
    outside = make_photo(tmp_path / "elsewhere" / "outside.jpg")
    os.symlink(outside, root / "link to outside.jpg")
    with open(os.path.join(os.fsencode(root), b"latin1 \xe9t\xe9.jpg"), "wb") as handle:
        handle.write(_image_bytes("JPEG"))
    return root


def test_hostile_corpus(corpus, library_path):
    result = CliRunner().invoke(app, ["--library", str(library_path), "add", str(corpus), "--json"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    report = json.loads(result.stdout)
    failures = {Path(f["path"]).name: f["reason"] for f in report["failures"]}
    for ext in ("png", "gif", "tiff", "webp", "jpg"):
        assert f"truncated.{ext}" in failures and f"garbage.{ext}" in failures
    assert all(reason and "\n" not in reason for reason in failures.values())
    assert any("UTF-8" in reason for reason in failures.values())
    listed = json.loads(CliRunner().invoke(app, ["--library", str(library_path), "list", "--json"]).stdout)
    ok = {Path(p["path"]).name for p in listed if p["status"] == "ok"}
    assert {"thin strip.png", "tall strip.jpg", "link to outside.jpg", "right\u202eto\u202cleft.jpg"} <= ok
    assert not any("loop" in p["path"] for p in listed)
    TRIALS["hostile corpus files"] += len(listed)
    for command in (["list"], ["list", "--status", "failed"], ["add", str(corpus)], ["search", "strip"], ["albums"]):
        shown = CliRunner().invoke(app, ["--library", str(library_path), *command])
        assert not RAW_CONTROL.search(shown.stdout), (command, shown.stdout)
        assert "Traceback" not in shown.output
