"""What every part of the catalog shares: the chunked `IN (...)` query (timestamps: `photolib.core.clock`).

The catalog's SQL is split by concern (`catalog.py` photos, `catalog_vectors.py`
vectors and their revision history, `catalog_records.py` description cache,
albums and imagined images); each part is a mixin of `Catalog` and reaches the
database only through `self.db`.
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import sqlite_utils

IN_CHUNK = 500  # values bound per `IN (...)`: well under SQLite's limit on host parameters


def rows_in(db: sqlite_utils.Database, sql: str, values: Sequence[Any], params: Sequence[Any] = ()) -> Iterator[tuple]:
    """Run `sql` once per chunk of `values`, its `{marks}` replaced by that chunk's placeholders.

    `params` are bound before the chunk (for `?` written ahead of `IN ({marks})`).
    Yields every row of every chunk; for a DELETE or UPDATE simply exhaust it.
    """
    values = list(values)
    for start in range(0, len(values), IN_CHUNK):
        chunk = values[start:start + IN_CHUNK]
        yield from db.execute(sql.format(marks=",".join("?" * len(chunk))), [*params, *chunk]).fetchall()


def execute_in(db: sqlite_utils.Database, sql: str, values: Sequence[Any], params: Sequence[Any] = ()) -> None:
    """`rows_in` for statements that return nothing (DELETE, UPDATE)."""
    for _row in rows_in(db, sql, values, params):
        pass


class CatalogPart:
    """The base of each part of `Catalog`: the database, and the revision counter the parts bump."""

    db: sqlite_utils.Database

    def bump_revision(self) -> int:  # pragma: no cover - defined by Catalog
        raise NotImplementedError
