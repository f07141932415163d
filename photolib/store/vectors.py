"""The catalog's vectors, by space, and their revision history (a part of `Catalog`).

Vectors are keyed by (photo, space) (`photolib.core.spaces`), each with the model
that made it and the hash of its input (the description text's hash in the
`description` space, the file's content hash in the `image` space). Every
transaction that changes the set of vectors bumps the catalog's `revision`
once; each vector row records the revision that wrote it and every forgotten
photo is remembered per space with its revision, so an index of a space
stamped with an older revision catches up by reading only what changed since.
Methods take the space as an argument; it defaults to the description space.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from photolib.store.sql import CatalogPart, execute_in, rows_in
from photolib.core.clock import now
from photolib.core.spaces import SPACES, Space

DESCRIPTION = Space.DESCRIPTION


class VectorRecords(CatalogPart):
    def store_embeddings(self, rows: Sequence[tuple[int, str, str, bytes, int]]) -> None:
        """Description vectors: rows (photo_id, model, text hash, float32 bytes, dimension); marks photos ok."""
        self.store_vectors(DESCRIPTION, rows)
        stamp = now()
        self.db.conn.executemany(
            "UPDATE photos SET status='ok', error=NULL, failed_stage=NULL, updated_at=? WHERE id=?",
            [(stamp, row[0]) for row in rows],
        )

    def store_vectors(self, space: str, rows: Sequence[tuple[int, str, str | None, bytes, int]]) -> None:
        """rows: (photo_id, model, input hash, float32 bytes, dimension), replacing the photo's vector in `space`."""
        if not rows:
            return
        revision = self.bump_revision()
        self.db.conn.executemany(
            "INSERT OR REPLACE INTO embeddings (photo_id, space, model, dimension, input_hash, vector, revision) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(pid, str(space), model, dim, input_hash, blob, revision) for pid, model, input_hash, blob, dim in rows])

    def embedding_states(self, photo_ids: Sequence[int], model: str,
                         space: str = DESCRIPTION) -> dict[int, tuple[str, int]]:
        """(input hash, dimension) of each photo's stored vector of `model`: what decides re-embedding."""
        return {pid: (input_hash, dimension) for pid, input_hash, dimension in rows_in(
            self.db, "SELECT photo_id, input_hash, dimension FROM embeddings WHERE space=? AND model=? "
                     "AND photo_id IN ({marks})", photo_ids, [str(space), model])}

    def embedding_of(self, photo_id: int, space: str = DESCRIPTION) -> tuple[str, int] | None:
        """(model, dimension) of the photo's stored vector in `space`, or None."""
        row = self.db.execute("SELECT model, dimension FROM embeddings WHERE photo_id = ? AND space = ?",
                              [photo_id, str(space)]).fetchone()
        return (row[0], row[1]) if row else None

    def delete_embeddings(self, photo_ids: Sequence[int], space: str | None = None) -> None:
        """Drop vectors (of every space, or of `space`), remembering the ids so an index catching up
        drops them too."""
        if not photo_ids:
            return
        spaces = SPACES if space is None else (space,)
        revision = self.bump_revision()
        self.db.conn.executemany("INSERT OR REPLACE INTO forgotten (photo_id, space, revision) VALUES (?, ?, ?)",
                                 [(pid, str(name), revision) for pid in photo_ids for name in spaces])
        if space is None:
            execute_in(self.db, "DELETE FROM embeddings WHERE photo_id IN ({marks})", photo_ids)
        else:
            execute_in(self.db, "DELETE FROM embeddings WHERE space = ? AND photo_id IN ({marks})", photo_ids,
                       [str(space)])

    def delete_embeddings_of_other_models(self, model: str, space: str = DESCRIPTION) -> None:
        """After re-embedding: only `model`'s vectors stay in `space` (its index is rebuilt for a new model)."""
        self.bump_revision()
        self.db.execute("DELETE FROM embeddings WHERE space = ? AND model != ?", [str(space), model])

    def count_changed_since(self, revision: int, space: str = DESCRIPTION) -> int:
        """Vectors written and photos forgotten after `revision` in `space`: the work of catching up."""
        written = self.db.execute("SELECT count(*) FROM embeddings WHERE space = ? AND revision > ?",
                                  [str(space), revision]).fetchone()[0]
        gone = self.db.execute("SELECT count(*) FROM forgotten WHERE space = ? AND revision > ?",
                               [str(space), revision]).fetchone()[0]
        return int(written) + int(gone)

    def forgotten_since(self, revision: int, space: str = DESCRIPTION) -> list[int]:
        return [row[0] for row in self.db.execute(
            "SELECT photo_id FROM forgotten WHERE space = ? AND revision > ?", [str(space), revision])]

    def vectors_since(self, revision: int, space: str = DESCRIPTION) -> list[tuple[int, bytes, int]]:
        """(photo_id, vector, dimension) of the vectors of `space` written after `revision`."""
        return [tuple(row) for row in self.db.execute(  # type: ignore[misc]
            "SELECT photo_id, vector, dimension FROM embeddings WHERE space = ? AND revision > ? ORDER BY photo_id",
            [str(space), revision])]

    def embedding_model_bounds(self, space: str = DESCRIPTION) -> tuple[tuple[str, int], tuple[str, int]] | None:
        """The first and last (model, dimension) of the stored vectors of `space`, in index order.

        Equal when one model made every vector; two index lookups, so it stays
        instant at a million photos (`embedding_models` counts every row).
        """
        first = self.db.execute("SELECT model, dimension FROM embeddings WHERE space = ? "
                                "ORDER BY model, dimension LIMIT 1", [str(space)]).fetchone()
        if first is None:
            return None
        last = self.db.execute("SELECT model, dimension FROM embeddings WHERE space = ? "
                               "ORDER BY model DESC, dimension DESC LIMIT 1", [str(space)]).fetchone()
        return (first[0], first[1]), (last[0], last[1])

    def embedding_models(self, space: str = DESCRIPTION) -> list[tuple[str, int, int]]:
        """(model, dimension, count) for every model that has vectors stored in `space`."""
        return [(row[0], row[1], row[2]) for row in self.db.execute(
            "SELECT model, dimension, count(*) FROM embeddings WHERE space = ? GROUP BY model, dimension "
            "ORDER BY count(*) DESC", [str(space)])]

    def iter_vectors(self, batch: int = 50_000,
                     space: str = DESCRIPTION) -> Iterator[tuple[list[int], list[bytes], str, int]]:
        """Yield (ids, blobs, model, dimension) of `space` in id order, in batches, for index rebuilds."""
        last = -1
        while True:
            rows = self.db.execute(
                "SELECT photo_id, vector, model, dimension FROM embeddings WHERE space = ? AND photo_id > ? "
                "ORDER BY photo_id LIMIT ?", [str(space), last, batch],
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield [r[0] for r in rows], [r[1] for r in rows], rows[0][2], rows[0][3]

    def vector_count(self, space: str = DESCRIPTION) -> int:
        return int(self.db.execute("SELECT count(*) FROM embeddings WHERE space = ?", [str(space)]).fetchone()[0])

    def sample_vectors(self, wanted: int, dimension: int, space: str = DESCRIPTION) -> Any:
        """About `wanted` stored vectors spread over the id range, as one float32 matrix (index training)."""
        import numpy as np

        step = max(1, self.vector_count(space) // max(wanted, 1))
        blobs = [row[0] for row in self.db.execute(
            "SELECT vector FROM embeddings WHERE space = ? AND photo_id % ? = 0 LIMIT ?", [str(space), step, wanted])]
        return np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), dimension)

    def embedded_ids(self, space: str = DESCRIPTION) -> list[int]:
        return [row[0] for row in self.db.execute(
            "SELECT photo_id FROM embeddings WHERE space = ? ORDER BY photo_id", [str(space)])]

    def ids_of_model(self, space: str, model: str) -> set[int]:
        """Photos whose vector in `space` was made by `model`."""
        return {row[0] for row in self.db.execute(
            "SELECT photo_id FROM embeddings WHERE space = ? AND model = ?", [str(space), model])}

    def vectors_for(self, photo_ids: Sequence[int], space: str = DESCRIPTION) -> dict[int, bytes]:
        return {pid: blob for pid, blob in rows_in(
            self.db, "SELECT photo_id, vector FROM embeddings WHERE space = ? AND photo_id IN ({marks})",
            photo_ids, [str(space)])}
