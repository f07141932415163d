"""The catalog's records beside the photos (parts of `Catalog`): the description cache,
saved albums, and the images made by `imagine` (the `generations` table)."""

from __future__ import annotations

import itertools
import json
from typing import Any, Sequence

from photolib.store.sql import CatalogPart
from photolib.core.clock import now
from photolib.core.records import Description


class DescriptionCache(CatalogPart):
    """Descriptions by (content hash, model, prompt version): a re-added or copied photo is not described twice."""

    def cache_description(self, digest: str, model: str, prompt_version: str, description: Description) -> None:
        self.db["descriptions"].insert(
            {"hash": digest, "model": model, "prompt_version": prompt_version,
             "tags": json.dumps(description.tags, ensure_ascii=False), "caption": description.caption,
             "description": description.description, "created_at": now()},
            replace=True,
        )

    def cached_description(self, digest: str, model: str, prompt_version: str) -> Description | None:
        row = self.db.execute(
            "SELECT tags, caption, description FROM descriptions WHERE hash=? AND model=? AND prompt_version=?",
            [digest, model, prompt_version],
        ).fetchone()
        if row is None:
            return None
        return Description(tags=json.loads(row[0] or "[]"), caption=row[1] or "", description=row[2] or "")


class AlbumRecords(CatalogPart):
    def replace_albums(self, albums: Sequence[tuple[str, list[int]]], threshold: float, seed: int | None) -> None:
        """Saved albums, numbered 1, 2, ... skipping the ids of smart albums (one number, one album)."""
        self.db.execute("DELETE FROM album_photos")
        self.db.execute("DELETE FROM albums")
        stamp = now()
        taken = {row[0] for row in self.db.execute("SELECT id FROM smart_albums")}
        free = (number for number in itertools.count(1) if number not in taken)
        for name, photo_ids in albums:
            album_id = self.db["albums"].insert(
                {"id": next(free), "name": name, "threshold": threshold, "seed": seed, "created_at": stamp}
            ).last_pk
            self.db["album_photos"].insert_all(
                {"album_id": album_id, "photo_id": pid, "position": i} for i, pid in enumerate(photo_ids)
            )

    def saved_albums(self) -> list[tuple[int, str, list[int]]]:
        albums = []
        for album_id, name in self.db.execute("SELECT id, name FROM albums ORDER BY id").fetchall():
            ids = [r[0] for r in self.db.execute(
                "SELECT photo_id FROM album_photos WHERE album_id=? ORDER BY position", [album_id])]
            albums.append((album_id, name, ids))
        return albums

    def saved_album_photo_ids(self, name: str) -> list[int] | None:
        """Photo ids of the saved album called `name` (any case; the first of that name), in album
        order; None when no saved album has that name."""
        album_id = self.saved_album_id(name.strip())
        return None if album_id is None else self.saved_album(album_id)[1]

    def saved_album_id(self, name: str) -> int | None:
        """The saved album called `name` (case-insensitive; the oldest of equal names), None if none is."""
        row = self.db.execute("SELECT id FROM albums WHERE name = ? COLLATE NOCASE ORDER BY id LIMIT 1",
                              [name]).fetchone()
        return None if row is None else int(row[0])

    def has_saved_album(self, album_id: int) -> bool:
        return self.db.execute("SELECT id FROM albums WHERE id = ?", [album_id]).fetchone() is not None

    def saved_album(self, album_id: int) -> tuple[str, list[int]]:
        """(name, photo ids in album order) of a saved album that exists."""
        name = self.db.execute("SELECT name FROM albums WHERE id = ?", [album_id]).fetchone()[0]
        ids = [r[0] for r in self.db.execute(
            "SELECT photo_id FROM album_photos WHERE album_id = ? ORDER BY position", [album_id])]
        return name, ids

    def delete_saved_album(self, album_id: int) -> str:
        """Delete a saved album that exists (its photos stay); returns its name. Call inside a transaction."""
        name = self.db.execute("SELECT name FROM albums WHERE id = ?", [album_id]).fetchone()[0]
        self.db.execute("DELETE FROM album_photos WHERE album_id = ?", [album_id])
        self.db.execute("DELETE FROM albums WHERE id = ?", [album_id])
        return name


class ImagineRecords(CatalogPart):
    """Images made by `imagine`: a generation is one image, with its prompt, model and seed."""

    def record_generation(self, photo_id: int, prompt: str, model: str, seed: int | None, path: str) -> int:
        return self.db["generations"].insert(
            {"photo_id": photo_id, "prompt": prompt, "model": model, "seed": seed, "path": path,
             "created_at": now()}
        ).last_pk

    def generations(self, photo_id: int | None = None) -> list[dict[str, Any]]:
        if photo_id is None:
            cursor = self.db.execute("SELECT * FROM generations ORDER BY id")
        else:
            cursor = self.db.execute("SELECT * FROM generations WHERE photo_id = ? ORDER BY id", [photo_id])
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]
