"""`gallery`: what the static web site of the library shows (written by `photolib.render.gallery`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from photolib.app.albums import Albums
from photolib.app.context import LibraryContext, UseCase

if TYPE_CHECKING:
    from photolib.media.thumbnails import ThumbnailCache


@dataclass
class GalleryInput:
    """What the site shows: photos in order (each the `show` dict), albums, where thumbnails are."""

    photos: list[dict[str, Any]]
    albums: list[tuple[str, list[int]]]
    thumbnails: "ThumbnailCache"
    title: str = "Photos"
    generations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)


class Gallery(UseCase):
    """The site's content; its album pages come from `albums` (saved, else grouped now)."""

    def __init__(self, context: LibraryContext, albums: Albums) -> None:
        super().__init__(context)
        self.albums = albums

    def gallery_input(self, *, title: str = "Photos") -> GalleryInput:
        """Every photo (oldest first) with its details and generated images, and the albums."""
        from photolib.app.views import photo_details
        from photolib.store.catalog import PhotoOrder

        photos = [photo_details(p, self.catalog) for p in self.catalog.find_photos(order=PhotoOrder.TAKEN)]
        generations: dict[int, list[dict[str, Any]]] = {}
        for row in self.catalog.generations():
            generations.setdefault(row["photo_id"], []).append(row)
        return GalleryInput(photos, self._gallery_albums(), self.thumbnails, title=title, generations=generations)

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
