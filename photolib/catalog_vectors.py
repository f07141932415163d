"""The catalog's vectors and their revision history (a part of `Catalog`).

Every transaction that changes the set of vectors bumps the catalog's
`revision` once; each vector row records the revision that wrote it and every
forgotten photo is remembered with its revision, so an index stamped with an
older revision catches up by reading only what changed since.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from photolib.catalog_sql import CatalogPart, execute_in, now, rows_in


class VectorRecords(CatalogPart):
    def store_embeddings(self, rows: Sequence[tuple[int, str, str, bytes, int]]) -> None:
        """rows: (photo_id, model, text_hash, float32 bytes, dimension); marks photos ok."""
        revision = self.bump_revision()
        self.db["embeddings"].insert_all(
            ({"photo_id": pid, "model": model, "text_hash": text_hash, "vector": blob, "dimension": dim,
              "revision": revision}
             for pid, model, text_hash, blob, dim in rows),
            replace=True,
        )
        stamp = now()
        self.db.conn.executemany(
            "UPDATE photos SET status='ok', error=NULL, failed_stage=NULL, updated_at=? WHERE id=?",
            [(stamp, row[0]) for row in rows],
        )

    def embedding_states(self, photo_ids: Sequence[int], model: str) -> dict[int, tuple[str, int]]:
        """(text hash, dimension) of each photo's stored vector of `model`: what decides re-embedding."""
        return {pid: (text_hash, dimension) for pid, text_hash, dimension in rows_in(
            self.db, "SELECT photo_id, text_hash, dimension FROM embeddings WHERE model=? AND photo_id IN ({marks})",
            photo_ids, [model])}

    def embedding_of(self, photo_id: int) -> tuple[str, int] | None:
        """(model, dimension) of the photo's stored vector, or None."""
        row = self.db.execute("SELECT model, dimension FROM embeddings WHERE photo_id = ?", [photo_id]).fetchone()
        return (row[0], row[1]) if row else None

    def delete_embeddings(self, photo_ids: Sequence[int]) -> None:
        """Drop vectors, remembering the ids so an index catching up drops them too."""
        if not photo_ids:
            return
        revision = self.bump_revision()
        self.db.conn.executemany("INSERT OR REPLACE INTO forgotten (photo_id, revision) VALUES (?, ?)",
                                 [(pid, revision) for pid in photo_ids])
        execute_in(self.db, "DELETE FROM embeddings WHERE photo_id IN ({marks})", photo_ids)

    def delete_embeddings_of_other_models(self, model: str) -> None:
        """After re-embedding: only `model`'s vectors stay (the index is rebuilt for a new model)."""
        self.bump_revision()
        self.db.execute("DELETE FROM embeddings WHERE model != ?", [model])

    def count_changed_since(self, revision: int) -> int:
        """Vectors written and photos forgotten after `revision`: the work of catching up."""
        written = self.db.execute("SELECT count(*) FROM embeddings WHERE revision > ?", [revision]).fetchone()[0]
        gone = self.db.execute("SELECT count(*) FROM forgotten WHERE revision > ?", [revision]).fetchone()[0]
        return int(written) + int(gone)

    def forgotten_since(self, revision: int) -> list[int]:
        return [row[0] for row in self.db.execute("SELECT photo_id FROM forgotten WHERE revision > ?", [revision])]

    def vectors_since(self, revision: int) -> list[tuple[int, bytes, int]]:
        """(photo_id, vector, dimension) of vectors written after `revision`."""
        return [tuple(row) for row in self.db.execute(  # type: ignore[misc]
            "SELECT photo_id, vector, dimension FROM embeddings WHERE revision > ? ORDER BY photo_id", [revision])]

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
        return {pid: blob for pid, blob in rows_in(
            self.db, "SELECT photo_id, vector FROM embeddings WHERE photo_id IN ({marks})", photo_ids)}
