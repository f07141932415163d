"""`gallery` and `--html`: the library as a static web site, and listings as one page."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from photolib.app.albums import Albums
from photolib.app.context import LibraryContext, UseCase
from photolib.pipeline.importer import absolute

if TYPE_CHECKING:
    from photolib.app.imagine import ImagineResult
    from photolib.render.gallery import GalleryReport


class Gallery(UseCase):
    """Web pages of the library; the album pages come from `albums` (saved, else grouped now)."""

    def __init__(self, context: LibraryContext, albums: Albums) -> None:
        super().__init__(context)
        self.albums = albums

    def gallery(self, folder: str | os.PathLike, *, title: str = "Photos") -> "GalleryReport":
        """Write the whole library as a static web site in `folder` (see `photolib.render.gallery`)."""
        from photolib.render.gallery import GalleryInput, check_folder, write_gallery
        from photolib.app.views import photo_details

        folder = absolute(folder)
        check_folder(folder)
        from photolib.store.catalog import PhotoOrder

        photos = [photo_details(p, self.catalog) for p in self.catalog.find_photos(order=PhotoOrder.TAKEN)]
        generations: dict[int, list[dict[str, Any]]] = {}
        for row in self.catalog.generations():
            generations.setdefault(row["photo_id"], []).append(row)
        data = GalleryInput(photos, self._gallery_albums(), self.thumbnails, title=title, generations=generations)
        return write_gallery(folder, data)

    def _gallery_albums(self) -> list[tuple[str, list[int]]]:
        """Saved albums; else the albums `photolib albums` would show now (none before anything is embedded)."""
        saved = self.catalog.saved_albums()
        if saved:
            return [(name, ids) for _id, name, ids in saved]
        if self.catalog.vector_count() == 0:
            return []
        from photolib.core.errors import PhotolibError

        try:
            return [(album.name, album.photo_ids) for album in self.albums.albums().albums]
        except PhotolibError as error:  # e.g. the embedder changed: the site is still written, without albums
            self.notify(f"No albums in the gallery: {error}")
            return []

    def write_html(self, file: str | os.PathLike, title: str, sections: list[tuple[str | None, list[dict[str, Any]]]]) -> str:
        """One self-contained page of photo rows (dicts with `id` and `path`), thumbnails inlined."""
        from photolib.store.gallery import hashes_by_id
        from photolib.render.html import PhotoSection, write_photos_page

        ids = [row["id"] for _title, rows in sections for row in rows]
        written = write_photos_page(absolute(file), title, [PhotoSection(t, rows) for t, rows in sections],
                                    self.thumbnails, hashes_by_id(self.catalog, ids))
        return str(written)

    def write_imagine_html(self, file: str | os.PathLike, result: "ImagineResult") -> str:
        """One self-contained page of an `imagine` run: the source photo beside what was made from it."""
        from photolib.render.html import data_url, imagine_page, write_text
        from photolib.app.views import photo_summary

        photo = self.resolve(result.photo_id)
        digest = photo.data.get("hash")
        thumbnail = data_url(self.thumbnails.path(digest)) if self.thumbnails.ensure(digest, photo.path) else None
        return str(write_text(absolute(file), imagine_page(photo_summary(photo), thumbnail, result.as_dict())))
