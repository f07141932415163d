"""Bulk import of photos that already have descriptions and vectors.

For migrations (e.g. from the web service photolib grew out of, which stored
a description and an embedding per photo) and for building large libraries
fast: rows go into the catalog in large transactions, and the index catches
up with them (or is built, for a large import) and is saved once at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator

from photolib.core.records import Description, text_hash

if TYPE_CHECKING:
    import numpy as np

    from photolib.store.catalog import Catalog

CHUNK = 20_000
IMPORTED_MODEL = "imported"  # the vision model recorded for imported descriptions


@dataclass
class EmbeddedPhoto:
    path: str
    description: Description
    vector: "np.ndarray"  # unit float32 vector of the library's embedding model
    size: int = 0
    mtime_ns: int = 0
    hash: str | None = None
    taken_at: str | None = None


def import_embedded(catalog: "Catalog", photos: Iterable[EmbeddedPhoto], model: str) -> int:
    """Insert or replace photos by path, one transaction per `CHUNK`; returns how many were written.

    The caller holds the library's write lock and brings the index up to date afterwards.
    """
    written = 0
    for chunk in _chunks(photos, CHUNK):
        _write_chunk(catalog, chunk, model)
        written += len(chunk)
    return written


def _write_chunk(catalog: "Catalog", chunk: list[EmbeddedPhoto], model: str) -> None:
    with catalog.transaction():
        catalog.upsert_described(
            [(p.path, p.hash, p.size, p.mtime_ns, p.taken_at, p.description) for p in chunk], IMPORTED_MODEL)
        ids = catalog.ids_for_paths([p.path for p in chunk])
        catalog.store_embeddings([
            (ids[p.path], model, text_hash(p.description.embedding_text()), p.vector.astype("float32").tobytes(),
             int(p.vector.shape[0])) for p in chunk
        ])


def _chunks(items: Iterable[EmbeddedPhoto], size: int) -> Iterator[list[EmbeddedPhoto]]:
    chunk: list[EmbeddedPhoto] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
