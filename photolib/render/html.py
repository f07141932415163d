"""HTML pages of photos: one shared builder for `--html FILE` and the `gallery` site.

Pages are self-contained and work offline: CSS and the small keyboard script
are inline, nothing is fetched from the network (a Content-Security-Policy
says so to the browser too). Every text that comes from a file name, EXIF or
a model is HTML-escaped, and control and bidi characters are made visible,
so a file named `<img src=x onerror=alert(1)>.jpg` is shown as that text.
Original files are linked with `file://` URLs built as `PurePath.as_uri`
does, for POSIX and Windows paths alike. Thumbnails are lazy-loaded.

Other commands that list photos (people, duplicates...) call
`write_photos_page` with their rows (dicts with at least `id` and `path`).
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Callable, Iterable, Sequence

_UNSAFE = re.compile("[\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2069\\ufeff]")
_WINDOWS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\[^\\]+\\[^\\]+)")

# Arrow keys move between cards in a grid; on a photo page, left/right follow rel=prev/next.
SCRIPT = """
document.addEventListener('keydown', function (event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  var target = event.target;
  if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA')) return;
  var cards = Array.prototype.slice.call(document.querySelectorAll('a.card'));
  var index = cards.indexOf(document.activeElement);
  if (index >= 0 && (event.key === 'ArrowRight' || event.key === 'ArrowLeft')) {
    var next = cards[index + (event.key === 'ArrowRight' ? 1 : -1)];
    if (next) { next.focus(); event.preventDefault(); }
    return;
  }
  var rel = {ArrowRight: 'next', ArrowLeft: 'prev', Escape: 'up'}[event.key];
  var link = rel && document.querySelector('a[rel="' + rel + '"]');
  if (link) { window.location.href = link.href; event.preventDefault(); }
});
""".strip()
SCRIPT_HASH = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()

STYLE = """
:root { color-scheme: light dark; --bg: #fafafa; --fg: #1d1d1f; --muted: #6b6b70; --card: #fff;
  --line: #dcdce0; --accent: #0a58ca; }
@media (prefers-color-scheme: dark) { :root { --bg: #141416; --fg: #ececf0; --muted: #a0a0a8; --card: #1f1f23;
  --line: #34343a; --accent: #7fb0ff; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 1rem; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header, main, footer { max-width: 80rem; margin: 0 auto; }
h1 { font-size: 1.35rem; margin: .2rem 0 .8rem; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 1.4rem 0 .6rem; overflow-wrap: anywhere; }
a { color: var(--accent); }
a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
nav { display: flex; flex-wrap: wrap; gap: .4rem 1rem; margin-bottom: .8rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(10.5rem, 1fr)); gap: .75rem;
  list-style: none; padding: 0; margin: 0; }
.card { display: block; background: var(--card); border: 1px solid var(--line); border-radius: .5rem;
  overflow: hidden; color: inherit; text-decoration: none; height: 100%; }
.card img, .card .none { display: block; width: 100%; aspect-ratio: 4 / 3; object-fit: cover; background: var(--line); }
.card .text { padding: .4rem .55rem .55rem; font-size: .85rem; }
.card .name { font-weight: 600; overflow-wrap: anywhere; }
.muted { color: var(--muted); }
.photo { display: grid; grid-template-columns: minmax(0, 3fr) minmax(16rem, 2fr); gap: 1.2rem; align-items: start; }
.photo figure { margin: 0; }
.photo figure img { max-width: 100%; height: auto; border-radius: .4rem; background: var(--line); }
dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: .3rem .9rem; margin: 0; }
dt { font-weight: 600; color: var(--muted); }
dd { margin: 0; overflow-wrap: anywhere; white-space: pre-wrap; }
.tags { display: flex; flex-wrap: wrap; gap: .3rem; padding: 0; margin: 0; list-style: none; }
.tags li { border: 1px solid var(--line); border-radius: 1rem; padding: 0 .5rem; font-size: .85rem; }
.generated { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .75rem; }
.generated figure { margin: 0; background: var(--card); border: 1px solid var(--line); border-radius: .5rem; padding: .5rem; }
.generated img { width: 100%; height: auto; }
@media (max-width: 40rem) { body { padding: .6rem; } .photo { grid-template-columns: 1fr; }
  .grid { grid-template-columns: repeat(auto-fill, minmax(8.5rem, 1fr)); gap: .5rem; } }
""".strip()


def text(value: Any) -> str:
    """Escaped, printable HTML text: controls and bidi marks become visible escapes."""
    raw = "" if value is None else str(value)
    raw = raw.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    raw = _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), raw)
    return html.escape(raw, quote=True)


def file_url(path: str | os.PathLike) -> str:
    """The `file://` URL of an absolute path, POSIX or Windows (`C:\\x` and `\\\\server\\share`)."""
    raw = os.fspath(path)
    if _WINDOWS.match(raw):
        return PureWindowsPath(raw).as_uri()
    if raw.startswith("/"):
        return PurePosixPath(raw).as_uri()
    return Path(os.path.abspath(raw)).as_uri()


def relative_url(target: Path, start: Path) -> str:
    """A URL from the page in folder `start` to `target`, percent-encoded."""
    from urllib.parse import quote

    return quote(Path(os.path.relpath(target, start)).as_posix())


def data_url(file: Path) -> str | None:
    try:
        return "data:image/jpeg;base64," + base64.b64encode(Path(file).read_bytes()).decode("ascii")
    except OSError:
        return None


def page(title: str, body: str, *, links: str = "") -> str:
    """A whole HTML document around `body` (already HTML)."""
    policy = (f"default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'; "
              f"script-src 'sha256-{SCRIPT_HASH}'; base-uri 'none'; form-action 'none'")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{policy}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{text(title)}</title>{links}<style>{STYLE}</style></head>\n"
        f"<body>{body}\n<script>{SCRIPT}</script></body></html>\n"
    )


@dataclass
class Card:
    """One photo in a grid: what it links to, its thumbnail, and a few lines of text."""

    href: str
    thumbnail: str | None
    title: str
    lines: list[str] = field(default_factory=list)
    alt: str = ""


def card_html(card: Card) -> str:
    image = (f"<img src=\"{text(card.thumbnail)}\" loading=\"lazy\" decoding=\"async\" alt=\"{text(card.alt)}\">"
             if card.thumbnail else "<span class=\"none\" role=\"img\" aria-label=\"no thumbnail\"></span>")
    lines = "".join(f"<div class=\"muted\">{text(line)}</div>" for line in card.lines if line)
    return (f"<li><a class=\"card\" href=\"{text(card.href)}\">{image}"
            f"<div class=\"text\"><div class=\"name\">{text(card.title)}</div>{lines}</div></a></li>")


def grid_html(cards: Iterable[Card]) -> str:
    return "<ul class=\"grid\">" + "".join(card_html(card) for card in cards) + "</ul>"


def summary_lines(photo: dict[str, Any]) -> list[str]:
    """The lines under a thumbnail: match score and distance, caption, date, tags."""
    lines = []
    if photo.get("score") is not None and photo.get("distance") is not None:
        lines.append(f"match {int(photo['score'])}% · distance {float(photo['distance']):.3f}")
    elif photo.get("distance") is not None:
        lines.append(f"distance {float(photo['distance']):.3f}")
    if photo.get("caption"):
        lines.append(photo["caption"])
    if photo.get("taken_at"):
        lines.append(str(photo["taken_at"])[:10])
    if photo.get("tags"):
        lines.append(", ".join(photo["tags"][:6]))
    return lines


@dataclass
class PhotoSection:
    """A titled group of photos on a page (an album; `None` title for a plain result list)."""

    title: str | None
    photos: Sequence[dict[str, Any]]


def photos_page(title: str, sections: Sequence[PhotoSection], thumbnail: Callable[[dict[str, Any]], str | None],
                href: Callable[[dict[str, Any]], str], *, header: str = "") -> str:
    parts = [f"<header><h1>{text(title)}</h1>{header}</header><main>"]
    for section in sections:
        if section.title is not None:
            parts.append(f"<h2>{text(section.title)} <span class=\"muted\">({len(section.photos)})</span></h2>")
        parts.append(grid_html(Card(href(p), thumbnail(p), os.path.basename(p["path"]), summary_lines(p),
                                    alt=p.get("caption") or os.path.basename(p["path"])) for p in section.photos))
    if not any(section.photos for section in sections):
        parts.append("<p class=\"muted\">No photos.</p>")
    parts.append("</main>")
    return page(title, "".join(parts))


def write_photos_page(file: str | os.PathLike, title: str, sections: Sequence[PhotoSection],
                      thumbnails: dict[int, Path]) -> Path:
    """One self-contained page (thumbnails inlined as data URLs) linking each photo's original file.

    `thumbnails` maps photo id to its thumbnail file (see `Library.thumbnail_files`); a photo
    without one is shown by name only.
    """
    def thumbnail(photo: dict[str, Any]) -> str | None:
        file = thumbnails.get(photo["id"])
        return data_url(file) if file is not None else None

    document = photos_page(title, sections, thumbnail, lambda photo: file_url(photo["path"]))
    return write_text(Path(file), document)


def write_text(target: Path, document: str) -> Path:
    """Write a page atomically (a temporary file renamed over the target)."""
    from photolib.core.errors import UsageError
    from photolib.core.files import atomic_write

    target = Path(os.path.abspath(target))
    if target.is_dir():
        raise UsageError(f"{target} is a folder: give --html a file name such as results.html")
    encoded = document.encode("utf-8")
    try:
        if target.stat().st_size == len(encoded) and target.read_bytes() == encoded:
            return target  # unchanged (a gallery written again): no write
    except OSError:
        pass
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, encoded, fsync=False)
    except OSError as error:
        raise UsageError(f"cannot write {target} ({error.strerror or error}): choose another place") from None
    return target


def image_data_url(file: Path, longest: int = 768) -> str | None:
    """A generated image as a JPEG data URL at most `longest` px (PNGs of 1-2 MB stay out of the page)."""
    try:
        from PIL import Image

        from photolib.media.read import decode_upright

        frame = decode_upright(Path(file), longest=longest)
        frame.thumbnail((longest, longest), Image.Resampling.BICUBIC)
        import io

        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=85)
        return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
    except Exception:  # noqa: BLE001 - a missing or broken image is shown as a link only
        return None


def imagine_page(photo: dict[str, Any], photo_thumbnail: str | None, result: dict[str, Any]) -> str:
    """An `imagine` run: the source photo beside the images made from it, with prompt, model and seeds."""
    name = os.path.basename(photo["path"])
    source = (f"<img src=\"{text(photo_thumbnail)}\" alt=\"source photo\">" if photo_thumbnail
              else "<p class=\"muted\">No thumbnail.</p>")
    figures = [f"<figure><a href=\"{text(file_url(photo['path']))}\">{source}</a>"
               f"<figcaption><div class=\"name\">Source: {text(name)}</div>"
               f"<div class=\"muted\">photo {text(photo['id'])}</div></figcaption></figure>"]
    for image in result.get("images") or []:
        inline = image_data_url(Path(image["path"]))
        picture = f"<img src=\"{text(inline)}\" alt=\"generated image\">" if inline else ""
        seed = "" if image.get("seed") is None else f"seed {text(image['seed'])} · "
        figures.append(f"<figure><a href=\"{text(file_url(image['path']))}\">{picture}</a><figcaption>"
                       f"<div class=\"muted\">{seed}{text(result.get('model') or '')}</div>"
                       f"<div>{text(os.path.basename(image['path']))}</div></figcaption></figure>")
    body = (f"<header><h1>imagine: {text(name)}</h1></header><main>"
            f"<h2>Prompt</h2><p>{text(result.get('prompt'))}</p>"
            f"<div class=\"generated\">{''.join(figures)}</div></main>")
    return page(f"imagine: {name}", body)


def write_imagine_page(file: str | os.PathLike, photo: dict[str, Any], thumbnail: Path | None,
                       result: dict[str, Any]) -> Path:
    """Write `imagine_page` for `photo` (its `list` row) and its thumbnail file (None: shown without)."""
    return write_text(Path(file), imagine_page(photo, data_url(thumbnail) if thumbnail is not None else None, result))
