"""`photolib gallery DIR`: the whole library as a static, offline web site.

    DIR/index.html            albums, then every photo (oldest first)
    DIR/albums/<n>.html       one page per album
    DIR/photos/<id>.html      one page per photo: its details, the images `imagine` made from it
    DIR/thumbs/, generated/   thumbnails and generated images (hard links when possible)

Pages link to each other with relative URLs, and to original files with
`file://` URLs, so the folder can be opened straight from disk. Writing the
site again updates it in place and removes pages of photos that are gone; a
folder that is not empty and was not made by `gallery` is refused.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from photolib.core.errors import UsageError
from urllib.parse import quote

from photolib.render.html import PhotoSection, file_url, page, photos_page, text, write_text

if TYPE_CHECKING:
    from photolib.app.gallery import GalleryInput

MARKER = ".photolib-gallery"


@dataclass
class GalleryReport:
    path: str
    photos: int
    albums: int
    without_thumbnail: int

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "index": str(Path(self.path) / "index.html"), "photos": self.photos,
                "albums": self.albums, "without_thumbnail": self.without_thumbnail}


def check_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder} is a file: give gallery a folder (it is created if missing)")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / MARKER).exists():
        raise UsageError(f"{folder} is not empty and was not made by `photolib gallery`: give a new or empty folder")


def write_gallery(folder: Path, data: GalleryInput) -> GalleryReport:
    folder = Path(os.path.abspath(folder))
    check_folder(folder)
    for sub in ("photos", "albums", "thumbs", "generated"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("made by photolib gallery\n", encoding="utf-8")
    site = _Site(folder, data)
    missing = site.copy_thumbnails()
    site.write_photo_pages()
    site.write_album_pages()
    write_text(folder / "index.html", site.index_page())
    site.remove_stale()
    return GalleryReport(str(folder), len(data.photos), len(data.albums), missing)


class _Site:
    def __init__(self, folder: Path, data: GalleryInput) -> None:
        self.folder = folder
        self.data = data
        self.by_id = {photo["id"]: photo for photo in data.photos}
        self.thumbs: dict[tuple[int, int], str] = {}  # (photo id, size) -> file name under thumbs/
        self.albums_of: dict[int, list[int]] = {}
        for number, (_name, ids) in enumerate(data.albums, 1):
            for photo_id in ids:
                self.albums_of.setdefault(photo_id, []).append(number)
        self.written: dict[str, set[str]] = {"photos": set(), "albums": set(), "thumbs": set(), "generated": set()}

    # -- files ------------------------------------------------------------------

    def copy_thumbnails(self) -> int:
        cache, missing = self.data.thumbnails, 0
        for photo in self.data.photos:
            digest = photo.get("hash")
            if not digest or not cache.ensure(digest, photo["path"]):
                missing += 1
                continue
            for size in cache.sizes:
                name = f"{digest}-{size}.jpg"
                if _link(cache.path(digest, size), self.folder / "thumbs" / name):
                    self.thumbs[(photo["id"], size)] = name
                    self.written["thumbs"].add(name)
        return missing

    def remove_stale(self) -> None:
        """Pages and files of a previous run that this run did not write (photos since removed)."""
        for sub, keep in self.written.items():
            for file in (self.folder / sub).iterdir():
                if file.name not in keep and file.is_file():
                    file.unlink()

    def _thumb(self, photo: dict[str, Any], size: int, start: Path) -> str | None:
        """The thumbnail's URL from a page in `start` (the site folder or one of its sub-folders)."""
        name = self.thumbs.get((photo["id"], size)) or self.thumbs.get((photo["id"], self.data.thumbnails.small))
        if not name:
            return None
        return ("thumbs/" if start == self.folder else "../thumbs/") + quote(name)

    # -- pages ------------------------------------------------------------------

    def index_page(self) -> str:
        start = self.folder
        albums = "".join(
            f"<li><a href=\"albums/{number}.html\">{text(name)}</a> <span class=\"muted\">({len(ids)})</span></li>"
            for number, (name, ids) in enumerate(self.data.albums, 1))
        header = (f"<p class=\"muted\">{len(self.data.photos)} photos, {len(self.data.albums)} albums</p>"
                  + (f"<h2>Albums</h2><ul>{albums}</ul>" if albums else ""))
        return photos_page(self.data.title, [PhotoSection("All photos", self.data.photos)],
                           lambda p: self._thumb(p, self.data.thumbnails.small, start),
                           lambda p: f"photos/{p['id']}.html", header=header)

    def write_album_pages(self) -> None:
        start = self.folder / "albums"
        for number, (name, ids) in enumerate(self.data.albums, 1):
            photos = [self.by_id[i] for i in ids if i in self.by_id]
            header = "<nav><a href=\"../index.html\" rel=\"up\">All photos</a></nav>"
            document = photos_page(name, [PhotoSection(None, photos)],
                                   lambda p: self._thumb(p, self.data.thumbnails.small, start),
                                   lambda p: f"../photos/{p['id']}.html", header=header)
            write_text(start / f"{number}.html", document)
            self.written["albums"].add(f"{number}.html")

    def write_photo_pages(self) -> None:
        photos = self.data.photos
        for position, photo in enumerate(photos):
            previous = photos[position - 1]["id"] if position > 0 else None
            following = photos[position + 1]["id"] if position + 1 < len(photos) else None
            write_text(self.folder / "photos" / f"{photo['id']}.html", self._photo_page(photo, previous, following))
            self.written["photos"].add(f"{photo['id']}.html")

    def _photo_page(self, photo: dict[str, Any], previous: int | None, following: int | None) -> str:
        start = self.folder / "photos"
        name = os.path.basename(photo["path"])
        links = ["<a href=\"../index.html\" rel=\"up\">All photos</a>"]
        if previous is not None:
            links.append(f"<a href=\"{previous}.html\" rel=\"prev\">← Previous</a>")
        if following is not None:
            links.append(f"<a href=\"{following}.html\" rel=\"next\">Next →</a>")
        for number in self.albums_of.get(photo["id"], []):
            links.append(f"<a href=\"../albums/{number}.html\">Album: {text(self.data.albums[number - 1][0])}</a>")
        large = self._thumb(photo, self.data.thumbnails.large or self.data.thumbnails.small, start)
        original = text(file_url(photo["path"]))
        picture = (f"<a href=\"{original}\"><img src=\"{text(large)}\" alt=\"{text(photo.get('caption') or name)}\"></a>"
                   if large else "<p class=\"muted\">No thumbnail: the file could not be read.</p>")
        body = (f"<header><nav>{''.join(links)}</nav><h1>{text(name)}</h1></header><main class=\"photo\">"
                f"<figure>{picture}</figure><section>{details_html(photo)}</section></main>"
                + self._generated_html(photo))
        return page(name, body)

    def _generated_html(self, photo: dict[str, Any]) -> str:
        made = self.data.generations.get(photo["id"]) or []
        if not made:
            return ""
        figures = []
        for generation in made:
            source = Path(generation["path"])
            name = f"{generation['id']}{source.suffix.lower() or '.png'}"
            image = ""
            if _link(source, self.folder / "generated" / name):
                self.written["generated"].add(name)
                image = f"<img src=\"../generated/{text(name)}\" loading=\"lazy\" alt=\"generated image\">"
            figures.append(f"<figure>{image}<figcaption>{generation_caption(generation)}</figcaption></figure>")
        return f"<section><h2>Imagined from this photo</h2><div class=\"generated\">{''.join(figures)}</div></section>"


def generation_caption(generation: dict[str, Any]) -> str:
    seed = "" if generation.get("seed") is None else f", seed {text(generation['seed'])}"
    return (f"<div>{text(generation.get('prompt') or '')}</div>"
            f"<div class=\"muted\">{text(generation.get('model') or '')}{seed}</div>"
            f"<div><a href=\"{text(file_url(generation['path']))}\">{text(os.path.basename(generation['path']))}</a></div>")


DETAIL_ROWS: list[tuple[str, Callable[[dict[str, Any]], Any]]] = [
    ("distance", lambda p: None if p.get("distance") is None else f"{float(p['distance']):.3f}"),
    ("caption", lambda p: p.get("caption")),
    ("taken", lambda p: (p.get("taken_at") or "").replace("T", " ") or None),
    ("place", lambda p: p.get("place")),
    ("camera", lambda p: p.get("camera")),
    ("lens", lambda p: p.get("lens")),
    ("size", lambda p: f"{p.get('oriented_width') or p['width']}×{p.get('oriented_height') or p['height']} px"
     if p.get("width") else None),
    ("description", lambda p: p.get("description")),
    ("text in photo", lambda p: p.get("text")),
    ("faces", lambda p: ", ".join(f.get("person") or "not grouped yet" for f in p.get("faces") or []) or None),
    ("status", lambda p: None if p.get("status") in (None, "ok") else f"{p['status']}: {p.get('error') or ''}"),
]


def details_html(photo: dict[str, Any]) -> str:
    """A photo's details as a definition list; every value escaped."""
    rows = []
    for label, value_of in DETAIL_ROWS:
        value = value_of(photo)
        if value not in (None, ""):
            rows.append(f"<dt>{text(label)}</dt><dd>{text(value)}</dd>")
    if photo.get("tags"):
        tags = "".join(f"<li>{text(tag)}</li>" for tag in photo["tags"])
        rows.append(f"<dt>tags</dt><dd><ul class=\"tags\">{tags}</ul></dd>")
    rows.append(f"<dt>file</dt><dd><a href=\"{text(file_url(photo['path']))}\">{text(photo['path'])}</a></dd>")
    return f"<dl>{''.join(rows)}</dl>"


def _link(source: Path, target: Path) -> bool:
    """Put `source` at `target`: a hard link when possible, else a copy; False when the source is gone."""
    try:
        if target.exists():
            if os.path.samefile(source, target):
                return True
            target.unlink()
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)
        return True
    except OSError:
        return False
