"""A corpus of broken and hostile files, imported through the real CLI: each file is imported or listed as
failed with a one-line reason, no traceback, exit code 0 or 1, and no raw control character reaches the
terminal, in tables or in `--json` output."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import zlib
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from photolib.cli import app
from photolib.media.read import SUPPORTED_EXTENSIONS
from tests.support.photos import make_photo
from tests.reliability.conftest import TRIALS
from tests.reliability.exif_bytes import exif_bytes
from tests.reliability.helpers import permission_bits_apply, photolib

# C0 except newline, DEL, C1 (U+0085 NEL, U+009B CSI...), bidi embeddings/overrides and isolates, and the
# invisible breaks (zero-width space, line/paragraph separators): each can rewrite, reorder or hide what
# the terminal shows.
TERMINAL_CONTROL = "\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"
INVISIBLE_BREAKS = "\u200b\u2028\u2029"
RAW_CONTROL = re.compile(f"[{TERMINAL_CONTROL}{INVISIBLE_BREAKS}]")
# Hostile file names; each holds a good photo.
NAMES = [
    "[bold red]markup.jpg", "[link=https:example.com]click[blink].jpg", "new\nline.jpg", "cr\rreturn.jpg",
    "esc\x1b]0;title\x07.jpg", "csi\x1b[31mred.jpg", "bell\x07and\ttab.jpg", "del\x7fete.jpg",
    "c1 \x9b31m csi.jpg", "c1 \x85 next line.jpg", "right\u202eto\u202cleft.jpg", "isolate\u2066x\u2069.jpg",
    "line\u2028sep\u2029para.jpg", "zero\u200bwidth.jpg",
]
CONTROL_TEXT = "\x1b[2J\x1b]0;pwned\x07\x9b31m\u202egnp.exe\u2028[bold]x[/bold]\x00\xff"
DATE, GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 0x9003, 1, 2, 3, 4
MAKE, MODEL, ORIENTATION, DATETIME, LENS = 0x010F, 0x0110, 0x0112, 0x0132, 0xA434


def _image_bytes(fmt: str, size=(300, 200)) -> bytes:
    out = io.BytesIO()
    Image.effect_noise(size, 50).convert("RGB").save(out, format=fmt)
    return out.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims `width` x `height` pixels in a few bytes: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def _exif_photo(path: Path, exif: bytes, fmt: str = "JPEG") -> None:
    Image.new("RGB", (64, 48), (90, 90, 200)).save(path, format=fmt, exif=exif)


def _gps(lat_ref, lat, lon_ref, lon) -> list:
    return [(GPS_LAT_REF, *lat_ref), (GPS_LAT, *lat), (GPS_LON_REF, *lon_ref), (GPS_LON, *lon)]


EXIF_CASES = {
    # name: (exif block, format) - each a good image with absurd metadata, so it must be imported
    "exif year 0.jpg": (exif_bytes([(DATETIME, "ASCII", "0000:00:00 00:00:00")],
                                   exif=[(DATE, "ASCII", "0000:01:01 00:00:00")]), "JPEG"),
    "exif year 9999.jpg": (exif_bytes([(DATETIME, "ASCII", "9999:12:31 23:59:59")],
                                      exif=[(DATE, "ASCII", "9999:12:31 23:59:59")]), "JPEG"),
    "exif impossible date.jpg": (exif_bytes([], exif=[(DATE, "ASCII", "2021:13:45 25:61:61")]), "JPEG"),
    "exif gps out of range.jpg": (exif_bytes([], gps=_gps(
        ("ASCII", "N"), ("RATIONAL", [(400, 1), (0, 1), (0, 1)]),
        ("ASCII", "E"), ("RATIONAL", [(1000, 1), (0, 1), (0, 1)]))), "JPEG"),
    "exif gps zero denominators.jpg": (exif_bytes([], gps=_gps(
        ("ASCII", "Q"), ("RATIONAL", [(1, 0), (0, 0), (5, 0)]),
        ("ASCII", "E"), ("SRATIONAL", [(-3, -1), (0, 1), (0, 1)]))), "JPEG"),
    "exif huge strings.png": (exif_bytes([(MAKE, "ASCII", "Canon " * 20000), (MODEL, "ASCII", "x" * 100_000)],
                                         exif=[(LENS, "ASCII", "L" * 50_000)]), "PNG"),
    "exif binary strings.jpg": (exif_bytes([(MAKE, "ASCII", CONTROL_TEXT.encode("utf-8") + bytes(range(256))),
                                            (MODEL, "UNDEFINED", b"\x00\xff\xfe\x1b[31m binary \x9b\x07" * 40)],
                                           exif=[(LENS, "ASCII", CONTROL_TEXT)]), "JPEG"),
    "exif wrong types.jpg": (exif_bytes(
        [(MAKE, "RATIONAL", [(1, 3)]), (MODEL, "DOUBLE", [3.25]), (ORIENTATION, "ASCII", "six"),
         (DATETIME, "LONG", [20200101])],
        exif=[(DATE, "SHORT", [2020, 1, 1]), (LENS, "LONG", [7])],
        gps=_gps(("SHORT", [78]), ("ASCII", "north"), ("LONG", [69]), ("DOUBLE", [10.0, 5.0]))), "JPEG"),
}


def build_corpus(root: Path, elsewhere: Path) -> None:
    root.mkdir(parents=True)
    for fmt, ext in (("PNG", "png"), ("GIF", "gif"), ("TIFF", "tiff"), ("WEBP", "webp"), ("JPEG", "jpg")):
        data = _image_bytes(fmt)
        (root / f"truncated.{ext}").write_bytes(data[: len(data) // 3])
        corrupt = bytearray(data)
        corrupt[len(corrupt) // 2: len(corrupt) // 2 + 64] = os.urandom(64)
        (root / f"corrupt.{ext}").write_bytes(bytes(corrupt))
        (root / f"garbage.{ext}").write_bytes(os.urandom(2048))
        (root / f"empty.{ext}").write_bytes(b"")
    (root / "bomb.png").write_bytes(_png_header_only(30_000, 30_000))  # 900 M pixels: over twice the limit
    make_photo(root / "thin strip.png", size=(6000, 2), pattern=False)
    make_photo(root / "tall strip.jpg", size=(2, 4000), pattern=False)
    for n, name in enumerate(NAMES):
        make_photo(root / "names" / name, color=(20 + 15 * n, 90, 160))
    (root / "exif").mkdir()
    for name, (exif, fmt) in EXIF_CASES.items():
        _exif_photo(root / "exif" / name, exif, fmt)
    os.symlink(root, root / "loop")  # a folder link back to itself: not followed
    outside = make_photo(elsewhere / "outside.jpg")
    os.symlink(outside, root / "link to outside.jpg")
    with open(os.path.join(os.fsencode(root), b"latin1 \xe9t\xe9.jpg"), "wb") as handle:
        handle.write(_image_bytes("JPEG"))


def corpus_files(root: Path) -> set[str]:
    """Every photo-named file the scan should consider (links to folders are not followed)."""
    found = set()
    for folder, dirs, files in os.walk(root):
        for name in files:
            if os.path.splitext(name)[1].lower().lstrip(".") in SUPPORTED_EXTENSIONS and _utf8(name):
                found.add(os.path.join(folder, name))
    return found


def _utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """The corpus, and the result of one `photolib add --json` of it in its own process."""
    base = tmp_path_factory.mktemp("hostile")
    corpus, library = base / "corpus", base / "library"
    build_corpus(corpus, base / "elsewhere")
    config = base / "config.toml"
    config.write_text("")
    env = {"PHOTOLIB_CONFIG": str(config)}
    result = photolib(library, "add", str(corpus), "--json", env=env, timeout=300)
    return {"corpus": corpus, "library": library, "config": config, "env": env, "add": result}


def cli(imported, *args: str):
    return CliRunner().invoke(app, ["--config", str(imported["config"]), "--library", str(imported["library"]), *args])


def listed(imported) -> dict[str, dict]:
    result = cli(imported, "list", "--json")
    assert result.exit_code == 0, result.output
    return {photo["path"]: photo for photo in json.loads(result.stdout)}


def test_each_file_is_imported_or_failed_with_a_reason(imported):
    add = imported["add"]
    assert add.returncode == 1, add.stderr  # some files failed: 1, never a crash or usage code
    assert "Traceback" not in add.stdout + add.stderr
    report = json.loads(add.stdout)
    failures = {f["path"]: f["reason"] for f in report["failures"]}
    assert all(reason and "\n" not in reason and len(reason) < 300 for reason in failures.values())
    photos = listed(imported)
    corpus = imported["corpus"]
    expected = corpus_files(corpus)
    for path in expected:
        assert path in photos, f"{path!r} was neither imported nor listed"
        status = photos[path]["status"]
        assert status == "ok" or (status == "failed" and path in failures), (path, status)
    assert not any("/loop/" in path for path in photos)
    by_name = {Path(path).name: reason for path, reason in failures.items()}
    for ext in ("png", "gif", "tiff", "webp", "jpg"):
        assert f"truncated.{ext}" in by_name and f"garbage.{ext}" in by_name
        assert "empty" in by_name[f"empty.{ext}"]
    assert "decompression bomb" in by_name["bomb.png"]
    assert any("UTF-8" in reason for reason in failures.values())
    ok = {Path(path).name for path, photo in photos.items() if photo["status"] == "ok"}
    assert {"thin strip.png", "tall strip.jpg", "link to outside.jpg", *NAMES, *EXIF_CASES} <= ok
    TRIALS["hostile corpus files"] += len(photos)


def test_absurd_exif_is_dropped_not_shown(imported):
    photos = listed(imported)
    for name in EXIF_CASES:
        path = str(imported["corpus"] / "exif" / name)
        shown = cli(imported, "show", str(photos[path]["id"]), "--json")
        assert shown.exit_code == 0, shown.output
        details = json.loads(shown.stdout)
        assert details["status"] == "ok"
        if "year" in name or "date" in name or "types" in name:
            assert details["taken_at"] is None, (name, details["taken_at"])
        if "gps" in name or "types" in name:
            assert details["gps"] is None and details["place"] is None, (name, details["gps"])
        for field in ("camera_make", "camera_model", "lens"):
            value = details[field]
            assert value is None or (len(value) <= 200 and value.isprintable()), (name, field, value)


def listing_commands(imported) -> list[list[str]]:
    ids = [str(photo["id"]) for photo in listed(imported).values()]
    return [["list"], ["list", "--status", "failed"], ["add", str(imported["corpus"])], ["search", "strip"],
            ["albums"], ["stats"], *[["show", photo_id] for photo_id in ids]]


def raw_characters_shown(imported, characters: str, json_output: bool) -> dict[str, str]:
    """Command -> the first raw character of `characters` (a regex class body) it printed, with context."""
    pattern = re.compile(f"[{characters}]")
    outputs = {}
    if json_output:
        outputs["add --json"] = imported["add"].stdout + imported["add"].stderr
    for command in listing_commands(imported):
        if json_output and command[0] == "stats":
            continue
        command = [*command, "--json"] if json_output else command
        shown = cli(imported, *command)
        assert shown.exit_code in (0, 1) and "Traceback" not in shown.output, (command, shown.output)
        if json_output:
            json.loads(shown.stdout)
        outputs[" ".join(command)] = shown.stdout + shown.stderr
    return {name: f"{match.group()!r} in ...{text[max(0, match.start() - 40): match.end() + 40]}..."
            for name, text in outputs.items() if (match := pattern.search(text))}


def test_tables_show_names_and_metadata_without_raw_control_characters(imported):
    assert raw_characters_shown(imported, TERMINAL_CONTROL + INVISIBLE_BREAKS, json_output=False) == {}
    # --long: whole names, folded (the one-line table shortens long paths in the middle)
    table = cli(imported, "list", "--long").stdout.replace("\n", "").replace("│", "").replace(" ", "")
    assert "[boldred]markup.jpg" in table and "[link=https:example.com]click[blink].jpg" in table


def test_json_output_has_no_raw_control_characters(imported):
    assert raw_characters_shown(imported, TERMINAL_CONTROL + INVISIBLE_BREAKS, json_output=True) == {}


def test_fifo_and_device_named_like_photos_are_reported_not_read(tmp_path):
    root = tmp_path / "odd"
    root.mkdir()
    os.mkfifo(root / "x.jpg")
    os.symlink("/dev/zero", root / "y.jpg")
    try:  # reading either would never end: a FIFO blocks in open(), /dev/zero has no end
        result = photolib(tmp_path / "library", "add", str(root), "--json", timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("`photolib add` hung on a FIFO or a device file named like a photo")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    reasons = {Path(f["path"]).name: f["reason"] for f in json.loads(result.stdout)["failures"]}
    assert set(reasons) == {"x.jpg", "y.jpg"} and all(reasons.values())


def test_unreadable_folder_and_file_are_reported(tmp_path):
    prefix = permission_bits_apply()
    if prefix is None:
        pytest.skip("running as root without setpriv: permission bits cannot apply")
    root = tmp_path / "photos"
    make_photo(root / "good.jpg")
    make_photo(root / "locked folder" / "inside.jpg")
    make_photo(root / "secret.jpg").chmod(0)
    (root / "locked folder").chmod(0)
    try:
        result = photolib(tmp_path / "library", "add", str(root), "--json", prefix=prefix, timeout=120)
    finally:
        (root / "locked folder").chmod(0o755)
    assert result.returncode == 1 and "Traceback" not in result.stdout + result.stderr, result.stderr
    report = json.loads(result.stdout)
    reasons = {Path(f["path"]).name: f["reason"].lower() for f in report["failures"]}
    assert set(reasons) == {"locked folder", "secret.jpg"}
    assert all("permission" in reason for reason in reasons.values()), reasons
    assert report["new"] == 1
    failed = photolib(tmp_path / "library", "list", "--status", "failed", "--json", prefix=prefix)
    assert [Path(photo["path"]).name for photo in json.loads(failed.stdout)] == ["secret.jpg"]
