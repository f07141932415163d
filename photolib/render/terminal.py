"""What fits a terminal: short paths, captions that add something, inline thumbnails.

Rendering helpers only (no catalog, no printing): `render` uses them to keep
one line per photo at 80 columns and to show previews on terminals that can.
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path
from typing import Any, Mapping

ELLIPSIS = "…"
PREVIEW_COLUMNS = 16  # width of an inline thumbnail, in character cells
PREVIEW_ROWS = 6
CELL_PIXELS = (10, 20)  # a usual cell, for sixel (sized in pixels); the terminal is never asked
SIXEL_COLOURS = 128  # colour registers used: the sixel terminals recognised here all have 256 or more


def display_path(path: str, root: str | None = None, home: str | None = None) -> str:
    """`path` as the user knows it: relative to the folder that was added, else below `~`, else as stored."""
    home = os.path.expanduser("~") if home is None else home
    if root:
        prefix = root.rstrip(os.sep) + os.sep
        if len(prefix) > 1 and path.startswith(prefix):
            return path[len(prefix):]
    if home and home != os.sep and path.startswith(home.rstrip(os.sep) + os.sep):
        return "~" + os.sep + path[len(home.rstrip(os.sep)) + 1:]
    return path


def middle_ellipsis(text: str, width: int) -> str:
    """`text` cut in the middle to `width` characters, keeping its start and its file name end."""
    if width <= 0:
        return ""
    if len(text) <= width:
        return text
    if width <= 2:
        return text[:width]
    tail = (width - 1) * 3 // 5  # the end (file name) matters more than the start
    head = width - 1 - tail
    return text[:head] + ELLIPSIS + text[len(text) - tail:]


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def caption_beyond_path(caption: str, shown_path: str) -> str:
    """The caption without what the path already says: local captions start with the folder and
    file words ("Lisbon trip beach — winter night"); a caption of only those words becomes ""."""
    words_in_path = {w.lower() for w in _WORD.findall(shown_path)}
    parts = [part.strip() for part in re.split(r"\s+[—–-]\s+", caption or "", maxsplit=1)]
    if parts and parts[0] and {w.lower() for w in _WORD.findall(parts[0])} <= words_in_path:
        return parts[1] if len(parts) > 1 else ""
    folder = os.path.basename(os.path.dirname(shown_path))
    if folder and (caption or "").lower().startswith(folder.lower() + " "):
        return caption[len(folder) + 1:]  # "Lisbon trip in Lisbon, Portugal" under "Lisbon trip/"
    return caption or ""


# -- inline thumbnails --------------------------------------------------------

def image_protocol(environ: Mapping[str, str], is_terminal: bool) -> str | None:
    """How this terminal can show images: "kitty", "iterm" (iTerm2, WezTerm...), "sixel" (foot,
    mlterm, mintty, Konsole 22.04+, contour), "blocks" (Unicode half-blocks in colour, anywhere
    else), or None (not a terminal, NO_COLOR, or TERM=dumb).

    Only environment variables are read: no query is written to the terminal, so nothing can
    be left on screen or block when the terminal does not answer."""
    term = environ.get("TERM", "")
    if not is_terminal or term == "dumb" or "NO_COLOR" in environ:
        return None
    if environ.get("TMUX") or term.startswith(("screen", "tmux")):
        return "blocks"  # multiplexers drop or garble image escapes without extra setup
    if environ.get("KITTY_WINDOW_ID") or term == "xterm-kitty" or environ.get("TERM_PROGRAM") == "ghostty":
        return "kitty"
    if environ.get("TERM_PROGRAM") in ("iTerm.app", "WezTerm") or environ.get("LC_TERMINAL") == "iTerm2":
        return "iterm"
    if _sixel_terminal(environ, term):
        return "sixel"
    return "blocks"


def _sixel_terminal(environ: Mapping[str, str], term: str) -> bool:
    """Terminals known to draw sixel whatever their settings, told by what they set in the environment
    (xterm draws sixel only when built and started for it, so it gets half-blocks)."""
    if term.startswith(("foot", "mlterm", "contour")) or environ.get("MLTERM"):
        return True
    if environ.get("TERM_PROGRAM") in ("mintty", "contour"):
        return True
    version = environ.get("KONSOLE_VERSION", "")
    return version.isdigit() and int(version) >= 220400  # Konsole 22.04 added sixel


def sixel_image(path: Path, columns: int = PREVIEW_COLUMNS, rows: int = PREVIEW_ROWS) -> str:
    """A thumbnail as sixel graphics, fitted into about `columns` x `rows` cells."""
    from PIL import Image

    box = (columns * CELL_PIXELS[0], rows * CELL_PIXELS[1])
    frame = preview_frame(path, longest=max(box))
    frame.thumbnail(box, Image.Resampling.BILINEAR)
    return sixel(frame)


def sixel(image: Any, colours: int = SIXEL_COLOURS) -> str:
    """An RGB image as a DEC sixel sequence: DCS q, raster size, the colour registers (in percent),
    then bands of six pixel rows, one run of sixel characters per colour ("$" back to the band's
    start, "-" to the next band, "!n" repeats), and ST. Colours are quantised (fast octree, no
    dithering) and numbered in the order they first appear, so the output is deterministic."""
    import numpy as np
    from PIL import Image

    quantised = image.convert("RGB").quantize(colors=colours, method=Image.Quantize.FASTOCTREE,
                                              dither=Image.Dither.NONE)
    indices = np.asarray(quantised, dtype=np.int32)
    palette = np.asarray(quantised.getpalette()[:768], dtype=np.int32).reshape(-1, 3)
    used, first = np.unique(indices, return_index=True)
    order = used[np.argsort(first)]
    number = np.zeros(max(256, int(indices.max()) + 1), dtype=np.int32)
    number[order] = np.arange(len(order))
    pixels = number[indices]
    height, width = pixels.shape
    out = [f'\x1bPq"1;1;{width};{height}']
    out += [f"#{n};2;{';'.join(str(round(v * 100 / 255)) for v in palette[index])}" for n, index in enumerate(order)]
    weights = (1 << np.arange(6, dtype=np.uint8))[:, None]  # row r of a band is bit r of a sixel
    for top in range(0, height, 6):
        band = pixels[top:top + 6]
        present = np.unique(band)
        bits = ((band[None] == present[:, None, None]) * weights[:len(band)]).sum(axis=1, dtype=np.uint8) + 63
        runs = [f"#{colour}" + _repeats(row.tobytes().decode("ascii").rstrip("?")) for colour, row in zip(present, bits)]
        out.append("$".join(runs) + ("-" if top + 6 < height else ""))
    return "".join(out) + "\x1b\\"


_RUN = re.compile(r"(.)\1{3,}")


def _repeats(chars: str) -> str:
    """Sixel run-length encoding: four or more of one character as !count char."""
    return _RUN.sub(lambda found: f"!{len(found.group(0))}{found.group(1)}", chars)


def kitty_image(png: bytes, columns: int = PREVIEW_COLUMNS, rows: int = PREVIEW_ROWS) -> str:
    """kitty graphics protocol: transmit and show a PNG over `columns` x `rows` cells, in 4 KB chunks."""
    data = base64.standard_b64encode(png).decode("ascii")
    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)] or [""]
    out = []
    for number, chunk in enumerate(chunks):
        more = 1 if number < len(chunks) - 1 else 0
        control = f"a=T,f=100,c={columns},r={rows},q=2,m={more}" if number == 0 else f"m={more}"
        out.append(f"\x1b_G{control};{chunk}\x1b\\")
    return "".join(out)


def iterm_image(data: bytes, columns: int = PREVIEW_COLUMNS, rows: int = PREVIEW_ROWS) -> str:
    """iTerm2 inline image (also WezTerm): OSC 1337 File=...:base64 BEL."""
    encoded = base64.standard_b64encode(data).decode("ascii")
    return (f"\x1b]1337;File=inline=1;size={len(data)};width={columns};height={rows};"
            f"preserveAspectRatio=1:{encoded}\x07")


def preview_frame(path: Path, longest: int = 256) -> Any:
    """The photo (or its cached thumbnail) upright in 8-bit RGB, at most `longest` px: the decode every
    pixel user shares (`media.decode_upright`), so a RAW shows its preview and 16-bit/CMYK look right."""
    from PIL import Image

    from photolib.media.read import decode_upright

    frame = decode_upright(Path(path), longest=longest)
    frame.thumbnail((longest, longest), Image.Resampling.BILINEAR)
    return frame


def image_bytes(path: Path, fmt: str = "PNG", longest: int = 256) -> bytes:
    frame = preview_frame(path, longest)
    buffer = io.BytesIO()
    frame.save(buffer, format=fmt)
    return buffer.getvalue()


def halfblocks(path: Path, columns: int = PREVIEW_COLUMNS) -> Any:
    """A Rich Text drawing the image with "▀": each cell shows two pixels (top in the
    foreground colour, bottom in the background), so it works on any colour terminal."""
    from PIL import Image
    from rich.style import Style
    from rich.text import Text

    frame = preview_frame(path, longest=max(64, columns * 2))
    rows = max(1, round(columns * frame.height / frame.width / 2))
    frame = frame.resize((columns, rows * 2), Image.Resampling.BILINEAR)
    pixels = frame.load()
    text = Text(no_wrap=True, overflow="crop")
    for row in range(rows):
        for column in range(columns):
            top, bottom = pixels[column, row * 2], pixels[column, row * 2 + 1]
            text.append("▀", Style(color=f"rgb({top[0]},{top[1]},{top[2]})",
                                   bgcolor=f"rgb({bottom[0]},{bottom[1]},{bottom[2]})"))
        if row < rows - 1:
            text.append("\n")
    return text
