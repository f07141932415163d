"""Second files of photos: the `photo_files` table (the RAW of a RAW+JPEG pair).

A camera set to RAW+JPEG writes `IMG_0001.CR2` and `IMG_0001.JPG`: one shot.
The JPEG is the photo photolib shows, describes and searches; the RAW is kept
here as the photo's second file (path, size, mtime, content hash; the table is
made by migration 7), so `show`
lists both and a duplicates or stack view can show them as a pair. Which files
pair up is decided by the scan (`photolib.pipeline.scan`) and recorded by
`photolib.pipeline.pairs`; this module only stores and reads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from photolib.core.clock import now
from photolib.store.sql import rows_in

if TYPE_CHECKING:
    import sqlite_utils

ROLE_RAW = "raw"


class SecondFile(NamedTuple):
    """What a stat-only rescan knows of a photo's second file."""

    photo_id: int
    size: int
    mtime_ns: int
    hash: str | None
    photo_path: str  # the file the photo is shown by


class PhotoFiles:
    """Queries over `photo_files`: the catalog's knowledge of each photo's second files."""

    def __init__(self, db: "sqlite_utils.Database") -> None:
        self.db = db

    def states(self) -> dict[str, SecondFile]:
        """path -> what a stat-only rescan needs to know of each second file."""
        rows = self.db.execute(
            "SELECT f.path, f.photo_id, f.size, f.mtime_ns, f.hash, p.path FROM photo_files f "
            "JOIN photos p ON p.id = f.photo_id")
        return {row[0]: SecondFile(*row[1:]) for row in rows}

    def of_photos(self, photo_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        for photo_id, path, role, size, digest in rows_in(
                self.db, "SELECT photo_id, path, role, size, hash FROM photo_files WHERE photo_id IN ({marks}) ORDER BY path",
                photo_ids):
            found.setdefault(photo_id, []).append({"path": path, "role": role, "size": size, "hash": digest})
        return found

    def count(self) -> int:
        """Photos that have a RAW second file (RAW+JPEG pairs)."""
        return self.db.execute("SELECT COUNT(DISTINCT photo_id) FROM photo_files").fetchone()[0]

    def pairs(self) -> list[tuple[int, str, str]]:
        """(photo id, shown path, RAW path) of every pair: what a stack view shows together."""
        return [tuple(row) for row in self.db.execute(  # type: ignore[misc]
            "SELECT p.id, p.path, f.path FROM photo_files f JOIN photos p ON p.id = f.photo_id ORDER BY p.id, f.path")]

    def link(self, path: str, photo_id: int, size: int, mtime_ns: int, digest: str | None) -> None:
        """Record `path` as a second file of `photo_id` (a None hash keeps the one stored)."""
        self.db.execute(
            "INSERT INTO photo_files (path, photo_id, role, size, mtime_ns, hash, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(path) DO UPDATE SET photo_id=excluded.photo_id, "
            "size=excluded.size, mtime_ns=excluded.mtime_ns, hash=COALESCE(excluded.hash, photo_files.hash)",
            [path, photo_id, ROLE_RAW, size, mtime_ns, digest, now()],
        )

    def forget(self, paths: Sequence[str]) -> None:
        self.db.conn.executemany("DELETE FROM photo_files WHERE path = ?", [(path,) for path in paths])
