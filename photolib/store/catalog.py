"""The SQLite catalog: the one source of truth about every photo.

Everything photolib knows lives here — file identity, EXIF, descriptions,
vectors of every space (float32 BLOBs with the model that made them), the
pipeline stages' states (`stage_states.py`), status and errors.
The FAISS index is derived from it. A `revision` counter in `meta` is bumped
once in every transaction that changes the set of vectors (see
`catalog_vectors`), so an index stamped with an older revision catches up by
reading only what changed since, instead of being rebuilt.

All SQL lives behind `Catalog`, split by concern: photos here, vectors in
`catalog_vectors.py`, the description cache, albums and imagined images in
`catalog_records.py`, the schema in `migrations.py`.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterator, NamedTuple, Sequence

import sqlite_utils

from photolib.store.records import AlbumRecords, DescriptionCache, ImagineRecords
from photolib.store.sql import execute_in, rows_in
from photolib.core.clock import now
from photolib.store.vectors import VectorRecords
from photolib.store.usermeta import UserMetadataRecords
from photolib.core.errors import PhotolibError, UsageError
from photolib.core.matching import like_escape
from photolib.store.migrations import SCHEMA_VERSION, migrate, schema_version
from photolib.core.records import RETRIED_STEPS, Description, FailedStep, PhotoMetadata, PhotoStatus

PHOTO_STATUSES = tuple(status.value for status in PhotoStatus)


class FileState(NamedTuple):
    """What a stat-only rescan compares a file with."""

    id: int
    size: int
    mtime_ns: int
    hash: str | None
    status: str
    failed_stage: str | None
    sidecar_sig: str | None  # name, size and mtime of its XMP sidecars when last read


class PhotoOrder(StrEnum):
    ID = "id"  # the order photos were added in
    TAKEN = "taken"  # oldest first by capture time, undated photos last


_ORDER_SQL = {PhotoOrder.ID: "id", PhotoOrder.TAKEN: "taken_at IS NULL, taken_at, id"}


@dataclass(frozen=True)
class PhotoFilter:
    """Which photos `Catalog.find_photos` returns; every field given narrows the set.

    Only what `remove` and `export xmp` ask for: every other selection is a filter of the query
    language, with its one SQL."""

    at_or_under: str | None = None  # this absolute path, or any photo below this folder
    described: bool = False  # only photos a vision model has described

    def sql(self) -> tuple[str, list[Any]]:
        """The WHERE clause and its parameters; only fixed fragments, every value bound."""
        clauses, params = ["1"], []
        if self.at_or_under:
            clauses.append("(path = ? OR path LIKE ? ESCAPE '\\')")
            params += [self.at_or_under, _like_prefix(self.at_or_under)]
        if self.described:
            clauses.append("vision_model IS NOT NULL")
        return " AND ".join(clauses), params


@dataclass
class StoredPhoto:
    """The row of a photo, with JSON columns decoded."""

    id: int
    path: str
    status: str
    data: dict[str, Any]

    @property
    def tags(self) -> list[str]:
        return list(self.data.get("tags") or [])


def _decode_row(row: dict[str, Any]) -> StoredPhoto:
    row = dict(row)
    try:
        row["tags"] = json.loads(row.get("tags") or "[]")
    except ValueError:
        row["tags"] = []
    return StoredPhoto(id=row["id"], path=row["path"], status=row["status"], data=row)


class Catalog(VectorRecords, DescriptionCache, AlbumRecords, ImagineRecords, UserMetadataRecords):
    """Typed queries over the library database; no printing, no policy."""

    def __init__(self, path: Path) -> None:
        from photolib.store import damage

        self.path = Path(path)
        suspicious = damage.precheck(self.path)
        if suspicious and (found := damage.diagnose(self.path)) is not None:
            raise found
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        if new:
            os.chmod(self.path, 0o600)
        self.db = sqlite_utils.Database(connection)
        self._revision_in_transaction: int | None = None
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=30000")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            connection.close()
            raise damage.open_error(self.path, error) from None
        except PhotolibError:
            connection.close()
            raise

    def close(self) -> None:
        self.db.close()

    def integrity_check(self, limit: int = 50) -> list[str]:
        """SQLite's full `integrity_check` of the open catalog: ["ok"], or up to `limit` findings."""
        return [str(row[0]) for row in self.db.execute(f"PRAGMA integrity_check({int(limit)})").fetchall()]

    # -- schema, transactions, revision -------------------------------------

    def _migrate(self) -> None:
        """Bring the schema up to date; a current one is only read, so readers never wait for a writer."""
        from photolib.store import damage

        version = schema_version(self.db)
        if version > SCHEMA_VERSION:
            raise damage.too_new(self.path, version, SCHEMA_VERSION)
        if version == SCHEMA_VERSION:
            return
        if version == 0 and self.db.execute("SELECT count(*) FROM sqlite_master WHERE type='table' AND name NOT IN "
                                            "('meta', 'sqlite_sequence')").fetchone()[0]:
            raise damage.not_a_catalog(self.path, "an SQLite database of another program")
        with self.transaction():
            migrate(self.db)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction; taken IMMEDIATE so writers queue instead of deadlocking."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            self._revision_in_transaction = None
        conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A read transaction: every query inside sees the catalog as of one moment (WAL snapshot)."""
        conn = self.db.conn
        if conn.in_transaction:
            yield
            return
        conn.execute("BEGIN")
        try:
            yield
        finally:
            conn.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, value])

    @property
    def revision(self) -> int:
        """The catalog's change counter: bumped by every transaction that changes the set of vectors."""
        return int(self.get_meta("revision") or 0)

    @property
    def history_from(self) -> int:
        """The oldest revision an index can catch up from (see `changes_since`)."""
        return int(self.get_meta("history_from") or 0)

    def bump_revision(self) -> int:
        """Mark the vector set as changed: once per transaction, so every change in it shares one number."""
        if self._revision_in_transaction is not None and self.db.conn.in_transaction:
            return self._revision_in_transaction
        value = self.revision + 1
        self.set_meta("revision", str(value))
        if self.db.conn.in_transaction:
            self._revision_in_transaction = value
        return value

    def backup_to(self, path: Path) -> None:
        """A consistent copy of the catalog (SQLite's online backup API, safe with WAL) at `path`, mode 600."""
        target = sqlite3.connect(str(path))
        try:
            self.db.conn.backup(target)
        finally:
            target.close()
        os.chmod(path, 0o600)

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

    # -- photos -------------------------------------------------------------

    def file_states(self) -> dict[str, FileState]:
        """path -> what a stat-only rescan needs to know of the file."""
        rows = self.db.execute(
            "SELECT path, id, size, mtime_ns, hash, status, failed_stage, sidecar_sig FROM photos"
        )
        return {row[0]: FileState(*row[1:]) for row in rows}

    def ids_by_hash(self, hashes: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
        found: dict[str, list[tuple[int, str]]] = {}
        for photo_id, path, digest in rows_in(
                self.db, "SELECT id, path, hash FROM photos WHERE hash IN ({marks}) ORDER BY id", hashes):
            found.setdefault(digest, []).append((photo_id, path))
        return found

    def ids_for_paths(self, paths: Sequence[str]) -> dict[str, int]:
        return {path: pid for pid, path in rows_in(self.db, "SELECT id, path FROM photos WHERE path IN ({marks})", paths)}

    def insert_photo(self, path: str, source_root: str, size: int, mtime_ns: int, digest: str) -> int:
        stamp = now()
        return self.db["photos"].insert(
            {"path": path, "source_root": source_root, "size": size, "mtime_ns": mtime_ns,
             "hash": digest, "status": PhotoStatus.PENDING.value, "tags": "[]", "added_at": stamp, "updated_at": stamp}
        ).last_pk

    def upsert_described(self, rows: Sequence[tuple[str, str | None, int, int, str | None, Description]],
                         vision_model: str) -> None:
        """Insert or replace photos by path that come with their description, marked ok:
        rows of (path, hash, size, mtime_ns, taken_at, description). Vectors are stored apart."""
        stamp = now()
        self.db.conn.executemany("""
            INSERT INTO photos (path, source_root, hash, size, mtime_ns, taken_at, tags, caption, description,
                                vision_model, status, added_at, updated_at)
            VALUES (?, '', ?, ?, ?, ?, ?, ?, ?, ?, 'ok', ?, ?)
            ON CONFLICT(path) DO UPDATE SET hash=excluded.hash, size=excluded.size, mtime_ns=excluded.mtime_ns,
                taken_at=excluded.taken_at, tags=excluded.tags, caption=excluded.caption,
                description=excluded.description, vision_model=excluded.vision_model, status='ok',
                updated_at=excluded.updated_at
            """, [(path, digest, size, mtime_ns, taken_at, json.dumps(d.tags, ensure_ascii=False), d.caption,
                   d.description, vision_model, stamp, stamp)
                  for path, digest, size, mtime_ns, taken_at, d in rows])

    def update_file(self, photo_id: int, **fields: Any) -> None:
        self.db["photos"].update(photo_id, {**fields, "updated_at": now()})

    def reset_for_new_content(self, photo_id: int, size: int, mtime_ns: int, digest: str) -> None:
        """A file changed: forget what was derived from the old bytes."""
        self.update_file(
            photo_id, size=size, mtime_ns=mtime_ns, hash=digest, status=PhotoStatus.PENDING.value, error=None,
            failed_stage=None, tags="[]", caption=None, description=None, vision_model=None,
            raw_output=None, image_labels=None,
        )
        self.delete_embeddings([photo_id])

    def store_metadata(self, photo_id: int, meta: PhotoMetadata, place: str | None) -> None:
        self.update_file(
            photo_id, format=meta.format, width=meta.width, height=meta.height,
            oriented_width=meta.oriented_width, oriented_height=meta.oriented_height,
            taken_at=meta.taken_at.isoformat() if meta.taken_at else None,
            camera_make=meta.camera_make, camera_model=meta.camera_model, lens=meta.lens,
            gps_lat=meta.gps_lat, gps_lon=meta.gps_lon, place=place, phash=meta.phash,
        )

    def mark_failed(self, photo_id: int, step: FailedStep, error: str, raw_output: str | None = None) -> None:
        self.update_file(photo_id, status=PhotoStatus.FAILED.value, failed_stage=FailedStep(step).value, error=error,
                         raw_output=raw_output)

    def store_description(self, photo_id: int, description: Description, model: str, raw: str | None = None) -> None:
        self.update_file(
            photo_id, tags=json.dumps(description.tags, ensure_ascii=False), caption=description.caption,
            description=description.description, vision_model=model, raw_output=raw,
        )

    def mark_pending(self, photo_ids: Sequence[int]) -> None:
        """To be described again; what is stored (description, vector) stays until replaced."""
        self.db.conn.executemany("UPDATE photos SET status='pending', updated_at=? WHERE id=?",
                                 [(now(), pid) for pid in photo_ids])

    def store_ok(self, photo_ids: Sequence[int]) -> None:
        """Photos whose description and embedding are both current."""
        stamp = now()
        self.db.conn.executemany(
            "UPDATE photos SET status='ok', error=NULL, failed_stage=NULL, updated_at=? WHERE id=? AND status!='ok'",
            [(stamp, pid) for pid in photo_ids],
        )

    def get(self, photo_id: int) -> StoredPhoto | None:
        row = self.db.execute("SELECT * FROM photos WHERE id = ?", [photo_id]).fetchone()
        return _decode_row(self._row_dict(row)) if row else None

    def get_by_path(self, path: str) -> StoredPhoto | None:
        row = self.db.execute("SELECT * FROM photos WHERE path = ?", [path]).fetchone()
        return _decode_row(self._row_dict(row)) if row else None

    def get_many(self, photo_ids: Sequence[int]) -> dict[int, StoredPhoto]:
        photos = (_decode_row(self._row_dict(row))
                  for row in rows_in(self.db, "SELECT * FROM photos WHERE id IN ({marks})", photo_ids))
        return {photo.id: photo for photo in photos}

    def _row_dict(self, row: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self._photo_columns(), row))

    def _photo_columns(self) -> list[str]:
        if not hasattr(self, "_columns"):
            self._columns = [column.name for column in self.db["photos"].columns]
        return self._columns

    def find_photos(self, where: PhotoFilter | None = None, *, order: PhotoOrder = PhotoOrder.ID,
                    limit: int | None = None) -> list[StoredPhoto]:
        """The photos `where` selects (all without it), in `order`, at most `limit` of them."""
        clause, params = (where or PhotoFilter()).sql()
        return self._photos(f"{clause} ORDER BY {_ORDER_SQL[PhotoOrder(order)]}", params, limit)

    def _photos(self, where_and_order: str, params: Sequence[Any] = (), limit: int | None = None) -> list[StoredPhoto]:
        sql = f"SELECT * FROM photos WHERE {where_and_order}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_decode_row(self._row_dict(row)) for row in self.db.execute(sql, list(params)).fetchall()]

    def photos_needing_work(self) -> list[StoredPhoto]:
        """Pending photos, and those that failed at a model step (worth retrying)."""
        return self._photos("status = ? OR (status = ? AND failed_stage IN (?, ?)) ORDER BY id",
                            [PhotoStatus.PENDING.value, PhotoStatus.FAILED.value, *(s.value for s in RETRIED_STEPS)])

    def delete_photos(self, photo_ids: Sequence[int]) -> None:
        self.delete_embeddings(photo_ids)
        execute_in(self.db, "DELETE FROM album_photos WHERE photo_id IN ({marks})", photo_ids)
        execute_in(self.db, "DELETE FROM photos WHERE id IN ({marks})", photo_ids)

    def photo_count(self) -> int:
        """Photos in the catalog, whatever their status."""
        return int(self.db.execute("SELECT count(*) FROM photos").fetchone()[0])

    def status_counts(self) -> dict[str, int]:
        counts = {status: 0 for status in PHOTO_STATUSES}
        for status, count in self.db.execute("SELECT status, count(*) FROM photos GROUP BY status"):
            counts[status] = count
        return counts

    def all_paths(self) -> list[tuple[int, str]]:
        return [(row[0], row[1]) for row in self.db.execute("SELECT id, path FROM photos ORDER BY id")]

    def fts_match(self, query: str, limit: int) -> list[int]:
        """Ids of photos whose caption, description or tags contain every word of `query`."""
        words = [w for w in "".join(c if c.isalnum() else " " for c in query).split() if w]
        if not words:
            return []
        expression = " ".join(f'"{w}"' for w in words)
        sql = ("SELECT rowid FROM photos_fts WHERE photos_fts MATCH ? ORDER BY rank LIMIT ?")
        try:
            found = [row[0] for row in self.db.execute(sql, [expression, limit])]
        except sqlite3.OperationalError:
            found = []
        users = self.user_fts_match(expression, limit)  # the user's own words first
        return (users + [pid for pid in found if pid not in set(users)])[:limit]

    def texts_for_reembedding(self) -> list[tuple[int, str, str, str]]:
        """(id, tags json, caption, description) of every described photo."""
        return [
            tuple(row)  # type: ignore[misc]
            for row in self.db.execute(
                "SELECT id, tags, caption, description FROM photos WHERE vision_model IS NOT NULL ORDER BY id"
            )
        ]


def inspect_catalog_file(path: Path) -> tuple[str, int]:
    """(SQLite's integrity verdict, number of photos) of a catalog file, opened read-only.

    For snapshots that are not (yet) a library's catalog; raises
    `sqlite3.DatabaseError` when the file is no readable catalog.
    """
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        verdict = connection.execute("PRAGMA integrity_check").fetchone()[0]
        count = connection.execute("SELECT count(*) FROM photos").fetchone()[0]
    finally:
        connection.close()
    return verdict, int(count)


def _like_prefix(folder: str) -> str:
    """A LIKE pattern (escape character backslash) matching every path below `folder`."""
    return like_escape(folder.rstrip(os.sep)) + os.sep + "%"
