"""The catalog's text-in-photos tables: OCR results, their state, and word search over them.

`photo_text` holds the text of each photo the OCR stage has read (with the
model that read it); the stage's state per photo (done / failed / pending)
is the pipeline's (`stage_states`). `photo_text_fts` is an FTS5 trigram index of
the joined text, so any part of a word of three letters or more is found
("voic" finds INVOICE). Triggers keep it in step, and drop a photo's text when
its bytes change or the photo is forgotten.
"""

from __future__ import annotations

import json
import sqlite3
from typing import TYPE_CHECKING, Any, Sequence

from photolib.core.clock import now
from photolib.store.sql import rows_in

if TYPE_CHECKING:
    from photolib.store.sql import CatalogPart
    from photolib.core.records import PhotoText



class TextStore:
    """Queries over the OCR tables of one catalog; no policy, no printing."""

    def __init__(self, catalog: "CatalogPart") -> None:
        self.catalog = catalog
        self.db = catalog.db

    def store(self, photo_id: int, model: str, result: "PhotoText", min_confidence: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO photo_text (photo_id, model, state, error, text, boxes, gated, min_confidence, "
            "updated_at) VALUES (?, ?, 'done', NULL, ?, ?, ?, ?, ?)",
            [photo_id, model, result.text, json.dumps([b.as_dict() for b in result.boxes], ensure_ascii=False),
             int(result.gated), min_confidence, now()])

    def text_of(self, photo_id: int) -> dict[str, Any] | None:
        """The stored result of one photo: text, boxes, state, model; None if not read yet."""
        row = self.db.execute("SELECT text, boxes, state, error, model, gated FROM photo_text WHERE photo_id = ?",
                              [photo_id]).fetchone()
        if row is None:
            return None
        return {"text": row[0], "boxes": json.loads(row[1] or "[]"), "state": row[2], "error": row[3],
                "model": row[4], "gated": bool(row[5])}

    def texts_for(self, photo_ids: Sequence[int]) -> dict[int, str]:
        """Joined text of those photos that have some."""
        return dict(rows_in(self.db, "SELECT photo_id, text FROM photo_text WHERE text <> '' AND photo_id IN ({marks})",
                            photo_ids))

    def photo_ids_with_text(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT photo_id FROM photo_text WHERE text <> '' ORDER BY photo_id")]

    def photo_ids_matching(self, query: str, limit: int | None = None) -> list[int]:
        """Photos whose text contains every word of `query` (whole or part, any case), best first.

        Words of three characters or more go through the trigram index; shorter
        ones are matched as substrings of the candidates' text.
        """
        words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
        if not words:
            return []
        long_words = [w for w in words if len(w) >= 3]
        short_words = [w.lower() for w in words if len(w) < 3]
        if long_words:
            expression = " AND ".join(f'"{w}"' for w in long_words)
            sql = "SELECT rowid, text FROM photo_text_fts WHERE photo_text_fts MATCH ? ORDER BY rank"
            try:
                rows = self.db.execute(sql, [expression]).fetchall()
            except sqlite3.OperationalError:
                return []
        else:
            rows = self.db.execute("SELECT photo_id, text FROM photo_text WHERE text <> '' ORDER BY photo_id").fetchall()
        ids = [row[0] for row in rows if all(w in row[1].lower() for w in short_words)]
        return ids[:limit] if limit else ids

    def count_with_text(self) -> int:
        return self.db.execute("SELECT count(*) FROM photo_text WHERE text <> ''").fetchone()[0]


