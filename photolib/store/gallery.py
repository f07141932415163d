"""Catalog queries for what is shown of photos: thumbnail upkeep and gallery pages.

Kept apart from the core catalog module (one module per concern); every
function takes the `Catalog` and only reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from photolib.store.sql import rows_in

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog


def hashes_of(catalog: "Catalog", photo_ids: Sequence[int]) -> set[str]:
    """Content hashes of these photos (photos never read have none)."""
    return {row[0] for row in rows_in(catalog.db, "SELECT hash FROM photos WHERE id IN ({marks}) AND hash IS NOT NULL",
                                      photo_ids)}


def hashes_in_use(catalog: "Catalog", among: Sequence[str] | None = None) -> set[str]:
    """Hashes some photo has: all of them, or those of `among` still used."""
    if among is None:
        return {row[0] for row in catalog.db.execute("SELECT DISTINCT hash FROM photos WHERE hash IS NOT NULL")}
    return {row[0] for row in rows_in(catalog.db, "SELECT DISTINCT hash FROM photos WHERE hash IN ({marks})", among)}


def photos_with_hash(catalog: "Catalog") -> list[tuple[int, str, str]]:
    """(id, path, hash) of every photo whose bytes were hashed, in id order."""
    return [tuple(row) for row in catalog.db.execute(  # type: ignore[misc]
        "SELECT id, path, hash FROM photos WHERE hash IS NOT NULL ORDER BY id")]


def hashes_by_id(catalog: "Catalog", photo_ids: Sequence[int]) -> dict[int, str]:
    """photo id -> content hash, for the photos that have one."""
    return dict(rows_in(catalog.db, "SELECT id, hash FROM photos WHERE id IN ({marks}) AND hash IS NOT NULL",
                        photo_ids))


def source_roots(catalog: "Catalog", photo_ids: Sequence[int]) -> dict[int, str]:
    """photo id -> the folder given to `add` that found it (empty for photos recorded without one)."""
    return dict(rows_in(catalog.db, "SELECT id, source_root FROM photos WHERE id IN ({marks}) AND source_root != ''",
                        photo_ids))
