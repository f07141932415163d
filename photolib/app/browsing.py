"""`show`, `remove`, `prune` and what tables need of photos: one photo's details, the
folder that found it, its thumbnail; forgetting photos (their files are never touched).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from photolib.app.context import UseCase
from photolib.core.errors import UsageError
from photolib.core.files import absolute


class Browsing(UseCase):
    """Single photos: shown, summarised, forgotten."""

    def show(self, photo_ref: str | int) -> dict[str, Any]:
        from photolib.app.views import photo_details

        photo = self.resolve(photo_ref)
        details = photo_details(photo, self.catalog)
        text = self.text_store.text_of(photo.id)
        details["text"] = text["text"] if text else None
        details["text_boxes"] = text["boxes"] if text else []
        details["faces"] = self.face_store.faces_of_photo(photo.id)
        return details

    def source_roots(self, photo_ids: list[int]) -> dict[int, str]:
        """photo id -> the folder given to `add` that found it (tables show paths relative to it)."""
        from photolib.store.gallery import source_roots

        return source_roots(self.catalog, photo_ids)

    def thumbnail_files(self, photo_ids: list[int]) -> dict[int, Path]:
        """photo id -> its small thumbnail file, made now if missing; photos that cannot be read are left out."""
        from photolib.store.gallery import hashes_by_id

        found = {}
        photos = self.catalog.get_many(photo_ids)
        for photo_id, digest in hashes_by_id(self.catalog, photo_ids).items():
            if self.thumbnails.ensure(digest, photos[photo_id].path):
                found[photo_id] = self.thumbnails.path(digest)
        return found

    def summary(self, photo_id: int) -> dict[str, Any] | None:
        """The `list` row of one photo, None when it is gone."""
        from photolib.app.views import photo_summary

        photo = self.catalog.get(photo_id)
        return photo_summary(photo) if photo else None


    def remove(self, ref: str) -> list[dict[str, Any]]:
        """Forget a photo (by id or path) or every photo under a folder; files are never touched."""
        from photolib.store.catalog import PhotoFilter

        text = str(ref).strip()
        if text.isdigit():
            photos = [self.resolve(text)]
        else:
            folder = str(absolute(text))
            photos = self.catalog.find_photos(PhotoFilter(at_or_under=folder))
            if not photos:
                raise UsageError(f"no photo at or under {folder!r} in the library: see `photolib list`")
        self._forget([p.id for p in photos])
        return [{"id": p.id, "path": p.path} for p in photos]

    def prune(self) -> list[dict[str, Any]]:
        """Forget photos whose files no longer exist (checked under the write lock, so a move
        that a concurrent `add` has just recorded is not mistaken for a deletion)."""
        from photolib.pipeline.pairs import PhotoFiles

        with self.write_lock():
            gone = [(pid, path) for pid, path in self.catalog.all_paths() if not os.path.exists(path)]
            seconds = PhotoFiles(self.catalog.db).of_photos([pid for pid, _ in gone])
            # a pair whose JPEG is gone but whose RAW is there is kept: the next `add` shows it by its RAW
            gone = [(pid, path) for pid, path in gone
                    if not any(os.path.exists(f["path"]) for f in seconds.get(pid, []))]
            self._forget_locked([pid for pid, _ in gone])
            from photolib.store.gallery import hashes_in_use

            self.thumbnails.drop_unused(hashes_in_use(self.catalog))
        return [{"id": pid, "path": path} for pid, path in gone]

    def _forget(self, ids: list[int]) -> None:
        with self.write_lock():
            self._forget_locked(ids)

    def _forget_locked(self, ids: list[int]) -> None:
        if not ids:
            return
        from photolib.store.gallery import hashes_in_use, hashes_of

        hashes = hashes_of(self.catalog, ids)
        with self.catalog.transaction():
            self.catalog.delete_photos(ids)
        self.sync_indexes()
        self.thumbnails.drop(hashes - hashes_in_use(self.catalog, list(hashes)))
