"""The user's own words (XMP/IPTC keywords, title, caption, rating, people) and
duplicate marks: a part of `Catalog`.

The user's words live apart from model output (`photos.tags/caption/...`), so
no model ever overwrites them; their FTS table makes them found by exact-word
search, and `words` is what the description embedding sees of them.
"""

from __future__ import annotations

import json
from typing import Any, Sequence

from photolib.store.sql import CatalogPart, rows_in
from photolib.core.clock import now
from photolib.core.records import UserMetadata

USER_FTS_COLUMNS = ["title", "caption", "words"]


class UserMetadataRecords(CatalogPart):
    def store_user_metadata(self, photo_id: int, meta: UserMetadata | None, sidecar_sig: str | None) -> None:
        """Replace what is known of the user's words (None or empty: there are none now)."""
        self.db.execute("UPDATE photos SET sidecar_sig = ? WHERE id = ?", [sidecar_sig or None, photo_id])
        if meta is None or meta.is_empty():
            self.db.execute("DELETE FROM user_metadata WHERE photo_id = ?", [photo_id])
            return
        self.db["user_metadata"].insert(
            {"photo_id": photo_id, "keywords": json.dumps(meta.keywords, ensure_ascii=False), "title": meta.title,
             "caption": meta.caption, "rating": meta.rating, "people": json.dumps(meta.people, ensure_ascii=False),
             "words": meta.words(), "read_at": now()},
            replace=True,
        )

    def store_sidecar_signature(self, photo_id: int, sidecar_sig: str) -> None:
        """After photolib wrote a sidecar: what it wrote holds none of the user's words to read again."""
        self.db.execute("UPDATE photos SET sidecar_sig = ? WHERE id = ?", [sidecar_sig or None, photo_id])

    def user_metadata(self, photo_ids: Sequence[int]) -> dict[int, UserMetadata]:
        found = {}
        for pid, keywords, title, caption, rating, people in rows_in(
                self.db, "SELECT photo_id, keywords, title, caption, rating, people FROM user_metadata "
                "WHERE photo_id IN ({marks})", photo_ids):
            found[pid] = UserMetadata(keywords=json.loads(keywords or "[]"), title=title, caption=caption,
                                      rating=rating, people=json.loads(people or "[]"))
        return found

    def user_fts_match(self, expression: str, limit: int) -> list[int]:
        """Photo ids whose user words match an FTS5 expression, best first."""
        import sqlite3

        try:
            return [row[0] for row in self.db.execute(
                "SELECT rowid FROM user_metadata_fts WHERE user_metadata_fts MATCH ? ORDER BY rank LIMIT ?",
                [expression, limit])]
        except sqlite3.OperationalError:
            return []

    def ids_with_rating(self, minimum: int) -> set[int]:
        return {row[0] for row in self.db.execute("SELECT photo_id FROM user_metadata WHERE rating >= ?", [minimum])}

    def ids_with_keyword(self, keyword: str) -> set[int]:
        """Photos with `keyword` as a keyword or as a level of a hierarchy (case-insensitive)."""
        wanted = keyword.strip().casefold()
        found = set()
        for pid, keywords in self.db.execute("SELECT photo_id, keywords FROM user_metadata WHERE keywords != '[]'"):
            for value in json.loads(keywords or "[]"):
                if wanted == value.casefold() or wanted in (level.casefold() for level in value.split("/")):
                    found.add(pid)
        return found

    # -- perceptual hashes and duplicates -------------------------------------

    def store_phash(self, photo_id: int, phash: str | None) -> None:
        self.db.execute("UPDATE photos SET phash = ? WHERE id = ?", [phash, photo_id])

    def ids_missing_phash(self) -> list[tuple[int, str]]:
        """(id, path) of readable photos without a perceptual hash (imported before hashes existed)."""
        return [(r[0], r[1]) for r in self.db.execute(
            "SELECT id, path FROM photos WHERE phash IS NULL AND NOT (status = 'failed' AND failed_stage = 'read') "
            "ORDER BY id")]

    def duplicate_keys(self) -> list[tuple[int, str | None, str | None]]:
        """(id, content hash, perceptual hash) of every readable photo, in id order."""
        return self.db.execute(
            "SELECT id, hash, phash FROM photos WHERE NOT (status = 'failed' AND failed_stage = 'read') "
            "ORDER BY id").fetchall()

    def duplicate_candidates(self, photo_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
        """What ranking needs of every photo (or of `photo_ids`): size, pixels, rating, known metadata."""
        sql = ("SELECT p.id, p.path, p.hash, p.phash, coalesce(p.oriented_width, p.width, 0), "
               "coalesce(p.oriented_height, p.height, 0), coalesce(p.size, 0), u.rating, "
               "(p.taken_at IS NOT NULL) + (p.gps_lat IS NOT NULL) + (p.camera_model IS NOT NULL) "
               "+ (u.keywords IS NOT NULL AND u.keywords != '[]') + (p.caption IS NOT NULL OR u.caption IS NOT NULL) "
               "FROM photos p LEFT JOIN user_metadata u ON u.photo_id = p.id "
               "WHERE NOT (p.status = 'failed' AND p.failed_stage = 'read')")
        columns = ["id", "path", "hash", "phash", "width", "height", "size", "rating", "completeness"]
        if photo_ids is None:
            rows = self.db.execute(sql + " ORDER BY p.id").fetchall()
        else:
            rows = list(rows_in(self.db, sql + " AND p.id IN ({marks})", photo_ids))
        return [dict(zip(columns, row)) for row in rows]

    def replace_duplicate_marks(self, hidden: dict[int, int], kind: str) -> None:
        """Remember which photos are shown as another (the best of their group) for one kind of group."""
        self.db.execute("DELETE FROM duplicate_marks WHERE kind = ?", [kind])
        stamp = now()
        self.db["duplicate_marks"].insert_all(
            ({"photo_id": pid, "shown_id": shown, "kind": kind, "marked_at": stamp} for pid, shown in hidden.items()),
            replace=True,
        )

    def duplicate_marks(self, photo_ids: Sequence[int]) -> dict[int, int]:
        return {pid: shown for pid, shown in rows_in(
            self.db, "SELECT photo_id, shown_id FROM duplicate_marks WHERE photo_id IN ({marks})", photo_ids)}

    def hashes_of(self, photo_ids: Sequence[int]) -> dict[int, str]:
        return {pid: digest for pid, digest in rows_in(
            self.db, "SELECT id, hash FROM photos WHERE id IN ({marks}) AND hash IS NOT NULL", photo_ids)}

    def ids_sharing_hashes(self, hashes: Sequence[str]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for pid, digest in rows_in(self.db, "SELECT id, hash FROM photos WHERE hash IN ({marks}) ORDER BY id",
                                    hashes):
            found.setdefault(digest, []).append(pid)
        return found
