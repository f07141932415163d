"""Tables that fit the terminal, plain output off a terminal, and inline previews where they can be shown.

Snapshots live in tests/snapshots/; after an intended change, rewrite them with
UPDATE_SNAPSHOTS=1 python -m pytest tests/render/test_terminal_output.py and review the diff.
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console
from typer.testing import CliRunner

from photolib.render import console as render
from photolib.cli import app
from photolib.render.terminal import caption_beyond_path, display_path, image_protocol, middle_ellipsis, sixel

SNAPSHOTS = Path(__file__).parents[1] / "snapshots"
HOME = "/home/ana"
ROOT = "/home/ana/Pictures/Holidays 2023"
HITS = [
    {"id": 7, "path": f"{ROOT}/Lisbon trip/IMG_20230714_183012_golden_hour_on_the_tiles.jpg", "distance": 0.8123,
     "caption": "Lisbon trip img golden hour on the tiles — summer evening, July 2023", "tags": ["lisbon", "tiles"],
     "taken_at": "2023-07-14T18:30:12"},
    {"id": 12, "path": f"{ROOT}/Lisbon trip/beach.jpg", "distance": 0.9051,
     "caption": "Lisbon trip beach", "tags": ["beach"], "taken_at": "2023-07-15T09:02:00"},
    {"id": 1043, "path": "/mnt/archive/2019/scans/family/grandparents wedding album page 12 of 40.tif",
     "distance": 1.2488, "caption": "A black and white wedding portrait on the steps of a church",
     "tags": [], "taken_at": None},
]
ROOTS = {7: ROOT, 12: ROOT, 1043: "/mnt/archive"}


def _capture(monkeypatch, width: int, terminal: bool = False, **console) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(render, "stdout", Console(file=buffer, width=width, force_terminal=terminal,
                                                  soft_wrap=False, highlight=False, **console))
    return buffer


def _check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed (UPDATE_SNAPSHOTS=1 rewrites it)"


@pytest.mark.parametrize("width", [80, 200])
def test_search_table_snapshots_one_line_per_photo(monkeypatch, width):
    buffer = _capture(monkeypatch, width)
    render.hits_table(HITS, "Search: beach in Lisbon", roots=ROOTS)
    text = buffer.getvalue()
    _check_snapshot(f"search-{width}.txt", text)
    lines = text.splitlines()
    assert len(lines) == 3 + len(HITS) and all(len(line) <= width for line in lines)
    assert "\x1b" not in text  # not a terminal: plain text
    assert "Holidays 2023/" not in text and "/home/ana" not in text  # relative to the added folder
    assert "beach.jpg" in text and "Lisbon trip beach" not in text  # a caption only repeating the path is dropped


@pytest.mark.parametrize("width", [80, 200])
def test_list_table_snapshots(monkeypatch, width):
    buffer = _capture(monkeypatch, width)
    render.photos_table([dict(hit, status="ok") for hit in HITS], roots=ROOTS)
    text = buffer.getvalue()
    _check_snapshot(f"list-{width}.txt", text)
    assert len(text.splitlines()) == 3 + len(HITS)


def test_long_shows_every_detail(monkeypatch):
    buffer = _capture(monkeypatch, 80)
    render.hits_table(HITS, "Search", roots=ROOTS, long=True)
    text = buffer.getvalue()
    assert "/mnt/archive/" in text and "lisbon, tiles" in text and len(text.splitlines()) > 3 + len(HITS)


def test_no_color_and_previews_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("NO_COLOR", "1")
    buffer = _capture(monkeypatch, 80, terminal=True)
    thumb = _thumbnail(tmp_path)
    render.hits_table(HITS, "Search", roots=ROOTS, previews={7: thumb})
    text = buffer.getvalue()
    assert "▀" not in text and "\x1b_G" not in text and "\x1b]1337" not in text
    assert not any(code in text for code in ("\x1b[3", "\x1b[4", "\x1b[9", "38;", "48;"))  # no colour at all


def _thumbnail(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "t.jpg"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(path)
    return path


def test_previews_half_blocks_kitty_and_iterm(monkeypatch, tmp_path):
    thumb = _thumbnail(tmp_path)
    for name in ("NO_COLOR", "KITTY_WINDOW_ID", "TERM_PROGRAM", "LC_TERMINAL", "TMUX", "KONSOLE_VERSION", "MLTERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    buffer = _capture(monkeypatch, 80, terminal=True, color_system="truecolor")
    render.hits_table(HITS, "Search", roots=ROOTS, previews={7: thumb})
    assert "▀" in buffer.getvalue() and "38;2;200;40;40" in buffer.getvalue()
    monkeypatch.setenv("KITTY_WINDOW_ID", "1")
    buffer = _capture(monkeypatch, 80, terminal=True)
    render.hits_table(HITS, "Search", roots=ROOTS, previews={7: thumb})
    assert buffer.getvalue().count("\x1b_Ga=T,f=100") == 1 and "beach.jpg" in buffer.getvalue()
    monkeypatch.delenv("KITTY_WINDOW_ID")
    monkeypatch.setenv("TERM_PROGRAM", "WezTerm")
    buffer = _capture(monkeypatch, 80, terminal=True)
    render.photo_panel({"id": 7, "path": HITS[0]["path"], "status": "ok"}, preview=thumb)
    assert buffer.getvalue().startswith("\x1b]1337;File=inline=1;")
    buffer = _capture(monkeypatch, 80, terminal=False)  # piped: no preview, whatever the terminal
    render.hits_table(HITS, "Search", roots=ROOTS, previews={7: thumb})
    assert "\x1b" not in buffer.getvalue()


@pytest.mark.parametrize("environ, terminal, expected", [
    ({"TERM": "xterm-kitty"}, True, "kitty"),
    ({"TERM": "xterm-256color", "KITTY_WINDOW_ID": "3"}, True, "kitty"),
    ({"TERM_PROGRAM": "iTerm.app"}, True, "iterm"),
    ({"TERM_PROGRAM": "WezTerm"}, True, "iterm"),
    ({"LC_TERMINAL": "iTerm2", "TERM": "xterm-256color"}, True, "iterm"),
    ({"TERM": "xterm-256color"}, True, "blocks"),
    ({"TERM": "xterm-kitty", "TMUX": "/tmp/tmux-0/default,1,0"}, True, "blocks"),
    ({"TERM": "xterm-kitty"}, False, None),
    ({"TERM": "dumb"}, True, None),
    ({"TERM": "xterm-kitty", "NO_COLOR": ""}, True, None),
    ({"TERM": "foot"}, True, "sixel"),
    ({"TERM": "foot-extra"}, True, "sixel"),
    ({"TERM": "mlterm"}, True, "sixel"),
    ({"TERM": "xterm", "TERM_PROGRAM": "mintty"}, True, "sixel"),
    ({"TERM": "xterm-256color", "KONSOLE_VERSION": "230805"}, True, "sixel"),
    ({"TERM": "xterm-256color", "KONSOLE_VERSION": "211201"}, True, "blocks"),  # before sixel
    ({"TERM": "foot", "TMUX": "/tmp/tmux-0/default,1,0"}, True, "blocks"),
    ({"TERM": "foot"}, False, None),
])
def test_image_protocol_detection(environ, terminal, expected):
    assert image_protocol(environ, terminal) == expected


def test_paths_and_captions():
    assert display_path(f"{ROOT}/a/b.jpg", ROOT, HOME) == "a/b.jpg"
    assert display_path("/home/ana/elsewhere/b.jpg", ROOT, HOME) == "~/elsewhere/b.jpg"
    assert display_path("/srv/b.jpg", None, HOME) == "/srv/b.jpg"
    assert middle_ellipsis("abcdefghijklmnopqrstuvwxyz.jpg", 12) == "abcde…yz.jpg"
    assert len(middle_ellipsis("x" * 100, 17)) == 17 and middle_ellipsis("short", 17) == "short"
    assert caption_beyond_path("Lisbon trip beach", "Lisbon trip/beach.jpg") == ""
    assert caption_beyond_path("Lisbon trip beach — winter night", "Lisbon trip/beach.jpg") == "winter night"
    assert caption_beyond_path("Lisbon trip in Lisbon, Portugal", "Lisbon trip/x.jpg") == "in Lisbon, Portugal"
    assert caption_beyond_path("Two people on a beach", "Lisbon trip/beach.jpg") == "Two people on a beach"


def test_cli_output_off_a_terminal_is_plain_and_json_keeps_full_paths(tmp_path, library_path):
    from tests.support.photos import make_photo

    pics = tmp_path / "pics"
    make_photo(pics / "Lisbon trip" / ("a very long file name from a phone camera " * 3 + ".jpg"))
    runner = CliRunner()
    assert runner.invoke(app, ["-L", str(library_path), "add", str(pics)]).exit_code == 0
    shown = runner.invoke(app, ["-L", str(library_path), "search", "Lisbon trip", "--preview"], env={"COLUMNS": "80"})
    assert shown.exit_code == 0 and "\x1b" not in shown.stdout and "▀" not in shown.stdout
    assert all(len(line) <= 80 for line in shown.stdout.splitlines()) and "…" in shown.stdout
    hits = json.loads(runner.invoke(app, ["-L", str(library_path), "search", "Lisbon trip", "--json",
                                          "--preview"]).stdout)
    assert hits[0]["path"].startswith(str(pics)) and hits[0]["path"].endswith(" .jpg")


# -- sixel ------------------------------------------------------------------------------------

def test_sixel_sequence_of_a_tiny_image():
    """5x7 red with a blue pixel top-left and bottom-right: registers in order of appearance (blue 0,
    red 1, in percent), band 1 = rows 0-5 (blue: bit 0 of column 0 = "@"; red: rows 1-5 of column 0
    = "}", then four full columns = "!4~"), "-", band 2 = row 6 (blue at column 4, red in 0-3)."""
    image = Image.new("RGB", (5, 7), (255, 0, 0))
    image.putpixel((0, 0), (0, 0, 255))
    image.putpixel((4, 6), (0, 0, 255))
    assert sixel(image) == ('\x1bPq"1;1;5;7#0;2;0;0;100#1;2;100;0;0'
                            "#0@$#1}!4~-#0!4?@$#1!4@\x1b\\")


def _decode_sixel(sequence: str) -> np.ndarray:
    """An independent reader of what `sixel` writes (raster size, registers, $, -, !n)."""
    body = sequence[len("\x1bPq"):-2]
    size = re.match(r'"1;1;(\d+);(\d+)', body)
    width, height = int(size.group(1)), int(size.group(2))
    pixels = np.zeros((height, width, 3), dtype=np.int16)
    registers, colour, x, top = {}, (0, 0, 0), 0, 0
    for token in re.finditer(r"#(\d+);2;(\d+);(\d+);(\d+)|#(\d+)|!(\d+)(.)|([?-~])|(\$)|(-)", body[size.end():]):
        define, select, count, repeated, char, back, down = token.groups()[0], token.group(5), token.group(6), \
            token.group(7), token.group(8), token.group(9), token.group(10)
        if define is not None:
            registers[int(define)] = tuple(round(int(token.group(i)) * 255 / 100) for i in (2, 3, 4))
        elif select is not None:
            colour = registers[int(select)]
        elif back:
            x = 0
        elif down:
            x, top = 0, top + 6
        else:
            for _ in range(int(count) if count else 1):
                bits = ord(repeated or char) - 63
                for row in range(6):
                    if bits >> row & 1:
                        pixels[top + row, x] = colour
                x += 1
    return pixels


def test_sixel_round_trip_of_a_photo_sized_picture():
    y, x = np.mgrid[0:45, 0:70]
    picture = np.stack([x * 255 // 69, y * 255 // 44, np.full_like(x, 90)], axis=-1).astype(np.uint8)
    decoded = _decode_sixel(sixel(Image.fromarray(picture)))
    assert decoded.shape == picture.shape
    assert np.abs(decoded - picture).mean() < 8  # quantised to SIXEL_COLOURS registers: close, not exact


def test_sixel_previews_on_a_sixel_terminal(monkeypatch, tmp_path):
    thumb = _thumbnail(tmp_path)
    for name in ("NO_COLOR", "KITTY_WINDOW_ID", "TERM_PROGRAM", "LC_TERMINAL", "TMUX", "KONSOLE_VERSION", "MLTERM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "foot")
    buffer = _capture(monkeypatch, 80, terminal=True)
    render.hits_table(HITS, "Search", roots=ROOTS, previews={7: thumb})
    output = buffer.getvalue()
    assert output.count("\x1bPq") == 1 and "beach.jpg" in output
    sequence = output[output.index("\x1bPq"):output.index("\x1b\\") + 2]
    decoded = _decode_sixel(sequence)
    assert decoded.shape[:2] == (48, 64) and np.abs(decoded - np.array([200, 40, 40])).mean() < 4
    large = tmp_path / "large.jpg"
    Image.new("RGB", (256, 192), (30, 90, 200)).save(large)
    buffer = _capture(monkeypatch, 80, terminal=True)
    render.hits_table(HITS, "Search", roots=ROOTS, previews={7: large})
    output = buffer.getvalue()
    decoded = _decode_sixel(output[output.index("\x1bPq"):output.index("\x1b\\") + 2])
    assert decoded.shape[:2] == (120, 160)  # fitted into 16 x 6 cells of about 10 x 20 pixels
