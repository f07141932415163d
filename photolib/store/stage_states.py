"""Catalog queries behind the enrichment pipeline: each stage's state per photo.

A row (photo, stage) says the stage is done or failed (with the reason) for
that photo, with the model it ran with and the content hash of the file it
read. A photo with no row, or a row of another model or of other content,
is pending: that is the stage's backlog. Rows go when their photo goes
(ON DELETE CASCADE; the catalog enforces foreign keys).
"""

from __future__ import annotations

import os
from photolib.core.clock import now as clock_now
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    import sqlite_utils

    from photolib.store.catalog import Catalog


# Photos whose file was read (the first pass stored its metadata): the ones pipeline stages can work on.
_READABLE = "p.format IS NOT NULL AND p.hash IS NOT NULL AND NOT (p.status = 'failed' AND p.failed_stage = 'read')"


class StageStates:
    """Typed queries over `stage_state`; no policy beyond what "up to date" means."""

    def __init__(self, catalog: "Catalog") -> None:
        self.catalog = catalog

    @property
    def _db(self) -> Any:
        return self.catalog.db

    def backlog(self, stage: str, model: str, retry_failed: bool = False,
                roots: Sequence[str] | None = None) -> list[int]:
        """Readable photos `stage` has not done with `model` on their current content (failed ones
        only with `retry_failed`), by id; with `roots`, only photos at or under those absolute paths
        (path ranges on the path index: a small folder of a large library reads only its rows)."""
        failed = "" if retry_failed else "AND NOT (s.status IS 'failed' AND s.model IS ? AND s.input_hash IS p.hash)"
        params: list[Any] = [stage, model] + ([] if retry_failed else [model])
        where = ""
        if roots is not None:
            ranges = []
            for root in roots:
                prefix = root.rstrip(os.sep) + os.sep
                ranges.append("p.path = ? OR (p.path >= ? AND p.path < ?)")
                params += [root, prefix, prefix + "\U0010ffff"]
            where = "AND (" + " OR ".join(ranges or ["0"]) + ")"
        sql = (f"SELECT p.id FROM photos p LEFT JOIN stage_state s ON s.photo_id = p.id AND s.stage = ? "
               f"WHERE {_READABLE} AND NOT (s.status IS 'done' AND s.model IS ? AND s.input_hash IS p.hash) {failed} "
               f"{where} ORDER BY p.id")
        return [row[0] for row in self._db.execute(sql, params)]

    def record(self, stage: str, model: str, outcomes: Sequence[tuple[int, str | None, str | None]]) -> None:
        """outcomes: (photo id, content hash read, error or None); call inside a transaction."""
        now = clock_now()
        self._db.conn.executemany(
            "INSERT OR REPLACE INTO stage_state (photo_id, stage, status, model, input_hash, error, updated_at) "
            "SELECT ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM photos WHERE id = ?)",
            [(pid, stage, "failed" if error else "done", model, digest, error, now, pid)
             for pid, digest, error in outcomes])

    def counts(self, stage: str, model: str | None) -> dict[str, int]:
        """done / failed / pending for `stage` as of `model` (None: the stage is not enabled, so
        nothing is pending and only what was done before is counted)."""
        done = failed = 0
        if model is not None:
            sql = (f"SELECT s.status, count(*) FROM photos p JOIN stage_state s ON s.photo_id = p.id AND s.stage = ? "
                   f"WHERE {_READABLE} AND s.model = ? AND s.input_hash IS p.hash GROUP BY s.status")
            for status, count in self._db.execute(sql, [stage, model]):
                done, failed = (count, failed) if status == "done" else (done, count)
            readable = self._db.execute(f"SELECT count(*) FROM photos p WHERE {_READABLE}").fetchone()[0]
            return {"done": done, "failed": failed, "pending": int(readable) - done - failed}
        for status, count in self._db.execute(
                "SELECT status, count(*) FROM stage_state WHERE stage = ? GROUP BY status", [stage]):
            done, failed = (count, failed) if status == "done" else (done, count)
        return {"done": done, "failed": failed, "pending": 0}

    def failures(self, stage: str, limit: int = 20) -> list[tuple[str, str]]:
        """(path, reason) of photos the stage failed on."""
        return [tuple(row) for row in self._db.execute(  # type: ignore[misc]
            "SELECT p.path, s.error FROM stage_state s JOIN photos p ON p.id = s.photo_id "
            "WHERE s.stage = ? AND s.status = 'failed' ORDER BY p.id LIMIT ?", [stage, limit])]

    def of_photo(self, photo_id: int) -> dict[str, dict[str, Any]]:
        """stage -> {status, model, error} for one photo (`photolib show`)."""
        return {row[0]: {"status": row[1], "model": row[2], "error": row[3]} for row in self._db.execute(
            "SELECT stage, status, model, error FROM stage_state WHERE photo_id = ? ORDER BY stage", [photo_id])}

    def forget_stage(self, stage: str) -> None:
        """Every photo back in `stage`'s backlog (`reindex --reembed --space image`); what it stored stays
        until replaced."""
        self._db.execute("DELETE FROM stage_state WHERE stage = ?", [stage])

    def first_pass_counts(self) -> dict[str, int]:
        """What the first pass (read, describe, embed) did, from the photo rows and description vectors."""
        queries = {
            "photos": "SELECT count(*) FROM photos",
            "read_failed": "SELECT count(*) FROM photos WHERE status = 'failed' AND failed_stage = 'read'",
            "read": "SELECT count(*) FROM photos WHERE format IS NOT NULL",
            "described": "SELECT count(*) FROM photos WHERE vision_model IS NOT NULL",
            "vision_failed": "SELECT count(*) FROM photos WHERE status = 'failed' AND failed_stage = 'vision'",
            "embedded": "SELECT count(*) FROM embeddings WHERE space = 'description'",
            "embedding_failed": "SELECT count(*) FROM photos WHERE status = 'failed' AND failed_stage = 'embedding'",
        }
        return {name: int(self._db.execute(sql).fetchone()[0]) for name, sql in queries.items()}
