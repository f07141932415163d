"""The SQLite catalog: the one source of truth about every photo.

Everything photolib knows lives here — file identity, EXIF, descriptions,
embeddings (float32 BLOBs with the model that made them), status and errors.
The FAISS index is derived from it. A `generation` counter in `meta` is bumped
once in every transaction that changes the set of vectors; each vector row
records the generation that wrote it and every forgotten photo is remembered
with its generation, so an index stamped with an older generation catches up
by reading only what changed since, instead of being rebuilt.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Sequence

import sqlite_utils

from photolib.errors import UsageError
from photolib.models import Description, PhotoMetadata

SCHEMA_VERSION = 5
PHOTO_STATUSES = ("pending", "ok", "failed")
FTS_COLUMNS = ["caption", "description", "tags"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _migration_1(db: sqlite_utils.Database) -> None:
    db["photos"].create(
        {
            "id": int, "path": str, "source_root": str, "hash": str, "size": int, "mtime_ns": int,
            "format": str, "width": int, "height": int, "oriented_width": int, "oriented_height": int,
            "taken_at": str, "camera_make": str, "camera_model": str, "lens": str,
            "gps_lat": float, "gps_lon": float, "place": str,
            "tags": str, "caption": str, "description": str, "vision_model": str, "raw_output": str,
            "status": str, "error": str, "failed_stage": str, "added_at": str, "updated_at": str,
        },
        pk="id",
        not_null={"path", "status"},
        defaults={"status": "pending", "tags": "[]"},
    )
    db["photos"].create_index(["path"], unique=True)
    db["photos"].create_index(["hash"])
    db["photos"].create_index(["status"])
    db["photos"].create_index(["taken_at"])
    db["embeddings"].create(
        {"photo_id": int, "model": str, "dimension": int, "text_hash": str, "vector": bytes},
        pk="photo_id",
        foreign_keys=[("photo_id", "photos", "id")],
    )
    db["descriptions"].create(
        {"hash": str, "model": str, "prompt_version": str, "tags": str, "caption": str,
         "description": str, "created_at": str},
        pk=("hash", "model", "prompt_version"),
    )
    db["photos"].enable_fts(FTS_COLUMNS, create_triggers=True, tokenize="porter")


def _migration_2(db: sqlite_utils.Database) -> None:
    db["albums"].create(
        {"id": int, "name": str, "threshold": float, "seed": int, "created_at": str}, pk="id"
    )
    db["album_photos"].create(
        {"album_id": int, "photo_id": int, "position": int},
        pk=("album_id", "photo_id"),
        foreign_keys=[("album_id", "albums", "id"), ("photo_id", "photos", "id")],
    )
    db["generations"].create(
        {"id": int, "photo_id": int, "prompt": str, "model": str, "seed": int, "path": str,
         "created_at": str},
        pk="id",
    )


def _migration_3(db: sqlite_utils.Database) -> None:
    """Which model made the vectors, answered from an index instead of a scan of every vector
    (the embeddings table is ~1.5 KB a row: 1.5 GB to read at a million photos)."""
    db["embeddings"].create_index(["model", "dimension"], index_name="embeddings_model", if_not_exists=True)


def _migration_4(db: sqlite_utils.Database) -> None:
    """Vector history, so an index catches up with the catalog instead of being rebuilt.

    Rows written before this migration carry generation 0, so the history is
    complete only from the generation set here: older index stamps are rebuilt.
    """
    db.execute("ALTER TABLE embeddings ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")
    db["embeddings"].create_index(["generation"], index_name="embeddings_generation")
    db["forgotten"].create({"photo_id": int, "generation": int}, pk="photo_id")
    db["forgotten"].create_index(["generation"], index_name="forgotten_generation")
    row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    start = int(row[0]) + 1 if row else 1
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?)", [str(start)])
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('history_from', ?)", [str(start)])


def _migration_5(db: sqlite_utils.Database) -> None:
    """Smart albums: named queries evaluated when shown (see `photolib.smart_albums`)."""
    from photolib.smart_albums import create_table

    create_table(db)


# Numbered migrations: append, never edit a released one.
MIGRATIONS = {1: _migration_1, 2: _migration_2, 3: _migration_3, 4: _migration_4, 5: _migration_5}


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


class Catalog:
    """Typed queries over the library database; no printing, no policy."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        new = not self.path.exists()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        if new:
            os.chmod(self.path, 0o600)
        self.db = sqlite_utils.Database(connection)
        self._generation_in_transaction: int | None = None
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=30000")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            connection.close()
            if "locked" in str(error) or "busy" in str(error):
                raise
            raise UsageError(f"{self.path} is not a photolib catalog ({error}): point --library at a photolib "
                             "library folder, or move that file away") from None

    def close(self) -> None:
        self.db.close()

    # -- schema -------------------------------------------------------------

    def _migrate(self) -> None:
        """Bring the schema up to date; a current one is only read, so readers never wait for a writer."""
        if self._schema_version() >= SCHEMA_VERSION:
            return
        with self.transaction():
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            version = self._schema_version()
            for number in sorted(MIGRATIONS):
                if number > version:
                    MIGRATIONS[number](self.db)
                    self.set_meta("schema_version", str(number))

    def _schema_version(self) -> int:
        try:
            return int(self.get_meta("schema_version") or 0)
        except sqlite3.OperationalError:  # no meta table yet: a new catalog
            return 0

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
            self._generation_in_transaction = None
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
    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    @property
    def history_from(self) -> int:
        """The oldest generation an index can catch up from (see `changes_since`)."""
        return int(self.get_meta("history_from") or 0)

    def bump_generation(self) -> int:
        """Mark the vector set as changed: once per transaction, so every change in it shares one number."""
        if self._generation_in_transaction is not None and self.db.conn.in_transaction:
            return self._generation_in_transaction
        value = self.generation + 1
        self.set_meta("generation", str(value))
        if self.db.conn.in_transaction:
            self._generation_in_transaction = value
        return value

    # -- photos -------------------------------------------------------------

    def file_states(self) -> dict[str, tuple[int, int, int, str | None, str, str | None]]:
        """path -> (id, size, mtime_ns, hash, status, failed_stage) for a stat-only rescan."""
        rows = self.db.execute(
            "SELECT path, id, size, mtime_ns, hash, status, failed_stage FROM photos"
        )
        return {row[0]: tuple(row[1:]) for row in rows}  # type: ignore[misc]

    def ids_by_hash(self, hashes: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
        found: dict[str, list[tuple[int, str]]] = {}
        for chunk in _chunks(list(hashes), 500):
            marks = ",".join("?" * len(chunk))
            for photo_id, path, digest in self.db.execute(
                f"SELECT id, path, hash FROM photos WHERE hash IN ({marks}) ORDER BY id", chunk
            ):
                found.setdefault(digest, []).append((photo_id, path))
        return found

    def ids_for_paths(self, paths: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in _chunks(list(paths), 500):
            marks = ",".join("?" * len(chunk))
            found.update((path, pid) for pid, path in self.db.execute(
                f"SELECT id, path FROM photos WHERE path IN ({marks})", chunk))
        return found

    def insert_photo(self, path: str, source_root: str, size: int, mtime_ns: int, digest: str) -> int:
        now = _now()
        return self.db["photos"].insert(
            {"path": path, "source_root": source_root, "size": size, "mtime_ns": mtime_ns,
             "hash": digest, "status": "pending", "tags": "[]", "added_at": now, "updated_at": now}
        ).last_pk

    def update_file(self, photo_id: int, **fields: Any) -> None:
        self.db["photos"].update(photo_id, {**fields, "updated_at": _now()})

    def reset_for_new_content(self, photo_id: int, size: int, mtime_ns: int, digest: str) -> None:
        """A file changed: forget what was derived from the old bytes."""
        self.update_file(
            photo_id, size=size, mtime_ns=mtime_ns, hash=digest, status="pending", error=None,
            failed_stage=None, tags="[]", caption=None, description=None, vision_model=None,
            raw_output=None,
        )
        self.delete_embeddings([photo_id])

    def store_metadata(self, photo_id: int, meta: PhotoMetadata, place: str | None) -> None:
        self.update_file(
            photo_id, format=meta.format, width=meta.width, height=meta.height,
            oriented_width=meta.oriented_width, oriented_height=meta.oriented_height,
            taken_at=meta.taken_at.isoformat() if meta.taken_at else None,
            camera_make=meta.camera_make, camera_model=meta.camera_model, lens=meta.lens,
            gps_lat=meta.gps_lat, gps_lon=meta.gps_lon, place=place,
        )

    def mark_failed(self, photo_id: int, stage: str, error: str, raw_output: str | None = None) -> None:
        self.update_file(photo_id, status="failed", failed_stage=stage, error=error, raw_output=raw_output)

    def store_description(self, photo_id: int, description: Description, model: str, raw: str | None = None) -> None:
        self.update_file(
            photo_id, tags=json.dumps(description.tags, ensure_ascii=False), caption=description.caption,
            description=description.description, vision_model=model, raw_output=raw,
        )

    def cache_description(self, digest: str, model: str, prompt_version: str, description: Description) -> None:
        self.db["descriptions"].insert(
            {"hash": digest, "model": model, "prompt_version": prompt_version,
             "tags": json.dumps(description.tags, ensure_ascii=False), "caption": description.caption,
             "description": description.description, "created_at": _now()},
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

    def get(self, photo_id: int) -> StoredPhoto | None:
        row = self.db.execute("SELECT * FROM photos WHERE id = ?", [photo_id]).fetchone()
        return _decode_row(self._row_dict(row)) if row else None

    def get_by_path(self, path: str) -> StoredPhoto | None:
        row = self.db.execute("SELECT * FROM photos WHERE path = ?", [path]).fetchone()
        return _decode_row(self._row_dict(row)) if row else None

    def get_many(self, photo_ids: Sequence[int]) -> dict[int, StoredPhoto]:
        result: dict[int, StoredPhoto] = {}
        for chunk in _chunks(list(photo_ids), 500):
            marks = ",".join("?" * len(chunk))
            cursor = self.db.execute(f"SELECT * FROM photos WHERE id IN ({marks})", chunk)
            for row in cursor.fetchall():
                photo = _decode_row(self._row_dict(row))
                result[photo.id] = photo
        return result

    def _row_dict(self, row: Sequence[Any]) -> dict[str, Any]:
        return dict(zip(self._photo_columns(), row))

    def _photo_columns(self) -> list[str]:
        if not hasattr(self, "_columns"):
            self._columns = [column.name for column in self.db["photos"].columns]
        return self._columns

    def photos_where(self, where: str = "1", params: Sequence[Any] = (), limit: int | None = None,
                     order: str = "id") -> list[StoredPhoto]:
        sql = f"SELECT * FROM photos WHERE {where} ORDER BY {order}"
        if limit:
            sql += f" LIMIT {int(limit)}"
        return [_decode_row(self._row_dict(row)) for row in self.db.execute(sql, list(params)).fetchall()]

    def photos_needing_work(self) -> list[StoredPhoto]:
        """Pending photos, and those that failed at a model step (worth retrying)."""
        return self.photos_where("status = 'pending' OR (status = 'failed' AND failed_stage IN ('vision', 'embedding'))")

    def delete_photos(self, photo_ids: Sequence[int]) -> None:
        self.delete_embeddings(photo_ids)
        for chunk in _chunks(list(photo_ids), 500):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"DELETE FROM album_photos WHERE photo_id IN ({marks})", chunk)
            self.db.execute(f"DELETE FROM photos WHERE id IN ({marks})", chunk)

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
            return [row[0] for row in self.db.execute(sql, [expression, limit])]
        except sqlite3.OperationalError:
            return []

    # -- embeddings ---------------------------------------------------------

    def store_embeddings(self, rows: Sequence[tuple[int, str, str, bytes, int]]) -> None:
        """rows: (photo_id, model, text_hash, float32 bytes, dimension); marks photos ok."""
        generation = self.bump_generation()
        self.db["embeddings"].insert_all(
            ({"photo_id": pid, "model": model, "text_hash": text_hash, "vector": blob, "dimension": dim,
              "generation": generation}
             for pid, model, text_hash, blob, dim in rows),
            replace=True,
        )
        now = _now()
        self.db.conn.executemany(
            "UPDATE photos SET status='ok', error=NULL, failed_stage=NULL, updated_at=? WHERE id=?",
            [(now, row[0]) for row in rows],
        )

    def mark_pending(self, photo_ids: Sequence[int]) -> None:
        """To be described again; what is stored (description, vector) stays until replaced."""
        self.db.conn.executemany("UPDATE photos SET status='pending', updated_at=? WHERE id=?",
                                 [(_now(), pid) for pid in photo_ids])

    def store_ok(self, photo_ids: Sequence[int]) -> None:
        """Photos whose description and embedding are both current."""
        now = _now()
        self.db.conn.executemany(
            "UPDATE photos SET status='ok', error=NULL, failed_stage=NULL, updated_at=? WHERE id=? AND status!='ok'",
            [(now, pid) for pid in photo_ids],
        )

    def embedding_states(self, photo_ids: Sequence[int], model: str) -> dict[int, tuple[str, int]]:
        """(text hash, dimension) of each photo's stored vector of `model`: what decides re-embedding."""
        found: dict[int, tuple[str, int]] = {}
        for chunk in _chunks(list(photo_ids), 500):
            marks = ",".join("?" * len(chunk))
            for pid, text_hash, dimension in self.db.execute(
                f"SELECT photo_id, text_hash, dimension FROM embeddings WHERE model=? AND photo_id IN ({marks})",
                [model, *chunk],
            ):
                found[pid] = (text_hash, dimension)
        return found

    def delete_embeddings(self, photo_ids: Sequence[int]) -> None:
        """Drop vectors, remembering the ids so an index catching up drops them too."""
        if not photo_ids:
            return
        generation = self.bump_generation()
        self.db.conn.executemany("INSERT OR REPLACE INTO forgotten (photo_id, generation) VALUES (?, ?)",
                                 [(pid, generation) for pid in photo_ids])
        for chunk in _chunks(list(photo_ids), 500):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"DELETE FROM embeddings WHERE photo_id IN ({marks})", chunk)

    def delete_embeddings_of_other_models(self, model: str) -> None:
        """After re-embedding: only `model`'s vectors stay (the index is rebuilt for a new model)."""
        self.bump_generation()
        self.db.execute("DELETE FROM embeddings WHERE model != ?", [model])

    def count_changed_since(self, generation: int) -> int:
        """Vectors written and photos forgotten after `generation`: the work of catching up."""
        written = self.db.execute("SELECT count(*) FROM embeddings WHERE generation > ?", [generation]).fetchone()[0]
        gone = self.db.execute("SELECT count(*) FROM forgotten WHERE generation > ?", [generation]).fetchone()[0]
        return int(written) + int(gone)

    def forgotten_since(self, generation: int) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT photo_id FROM forgotten WHERE generation > ?", [generation])]

    def vectors_since(self, generation: int) -> list[tuple[int, bytes, int]]:
        """(photo_id, vector, dimension) of vectors written after `generation`."""
        return [tuple(row) for row in self.db.execute(  # type: ignore[misc]
            "SELECT photo_id, vector, dimension FROM embeddings WHERE generation > ? ORDER BY photo_id", [generation])]

    def embedding_model_bounds(self) -> tuple[tuple[str, int], tuple[str, int]] | None:
        """The first and last (model, dimension) of the stored vectors, in index order.

        Equal when one model made every vector; two index lookups, so it stays
        instant at a million photos (`embedding_models` counts every row).
        """
        first = self.db.execute("SELECT model, dimension FROM embeddings ORDER BY model, dimension LIMIT 1").fetchone()
        if first is None:
            return None
        last = self.db.execute(
            "SELECT model, dimension FROM embeddings ORDER BY model DESC, dimension DESC LIMIT 1").fetchone()
        return (first[0], first[1]), (last[0], last[1])

    def embedding_models(self) -> list[tuple[str, int, int]]:
        """(model, dimension, count) for every model that has vectors stored."""
        return [
            (row[0], row[1], row[2])
            for row in self.db.execute(
                "SELECT model, dimension, count(*) FROM embeddings GROUP BY model, dimension ORDER BY count(*) DESC"
            )
        ]

    def iter_vectors(self, batch: int = 50_000) -> Iterator[tuple[list[int], list[bytes], str, int]]:
        """Yield (ids, blobs, model, dimension) in id order, in batches, for index rebuilds."""
        last = -1
        while True:
            rows = self.db.execute(
                "SELECT photo_id, vector, model, dimension FROM embeddings WHERE photo_id > ? ORDER BY photo_id LIMIT ?",
                [last, batch],
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [r[0] for r in rows], [r[1] for r in rows], rows[0][2], rows[0][3]

    def vector_count(self) -> int:
        return int(self.db.execute("SELECT count(*) FROM embeddings").fetchone()[0])

    def sample_vectors(self, wanted: int, dimension: int) -> Any:
        """About `wanted` stored vectors spread over the id range, as one float32 matrix (index training)."""
        import numpy as np

        step = max(1, self.vector_count() // max(wanted, 1))
        blobs = [row[0] for row in self.db.execute(
            "SELECT vector FROM embeddings WHERE photo_id % ? = 0 LIMIT ?", [step, wanted])]
        return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dimension)

    def embedded_ids(self) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT photo_id FROM embeddings ORDER BY photo_id")]

    def vectors_for(self, photo_ids: Sequence[int]) -> dict[int, bytes]:
        found: dict[int, bytes] = {}
        for chunk in _chunks(list(photo_ids), 500):
            marks = ",".join("?" * len(chunk))
            for pid, blob in self.db.execute(
                f"SELECT photo_id, vector FROM embeddings WHERE photo_id IN ({marks})", chunk
            ):
                found[pid] = blob
        return found

    def texts_for_reembedding(self) -> list[tuple[int, str, str, str]]:
        """(id, tags json, caption, description) of every described photo."""
        return [
            tuple(row)  # type: ignore[misc]
            for row in self.db.execute(
                "SELECT id, tags, caption, description FROM photos WHERE vision_model IS NOT NULL ORDER BY id"
            )
        ]

    # -- albums and generations ----------------------------------------------

    def replace_albums(self, albums: Sequence[tuple[str, list[int]]], threshold: float, seed: int | None) -> None:
        self.db.execute("DELETE FROM album_photos")
        self.db.execute("DELETE FROM albums")
        now = _now()
        for name, photo_ids in albums:
            album_id = self.db["albums"].insert(
                {"name": name, "threshold": threshold, "seed": seed, "created_at": now}
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

    def record_generation(self, photo_id: int, prompt: str, model: str, seed: int | None, path: str) -> int:
        return self.db["generations"].insert(
            {"photo_id": photo_id, "prompt": prompt, "model": model, "seed": seed, "path": path,
             "created_at": _now()}
        ).last_pk

    def generations(self, photo_id: int | None = None) -> list[dict[str, Any]]:
        where, params = ("WHERE photo_id = ?", [photo_id]) if photo_id is not None else ("", [])
        cursor = self.db.execute(f"SELECT * FROM generations {where} ORDER BY id", params)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row)) for row in cursor.fetchall()]

    def integrity_ok(self) -> bool:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
