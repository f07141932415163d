"""Catalog queries for what is shown of photos: thumbnail upkeep and gallery pages.

Kept apart from the core catalog module (one module per concern); every
function takes the `Catalog` and only reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator, Sequence

if TYPE_CHECKING:
    from photolib.catalog import Catalog


def _chunks(items: list, size: int = 500) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def hashes_of(catalog: "Catalog", photo_ids: Sequence[int]) -> set[str]:
    """Content hashes of these photos (photos never read have none)."""
    found: set[str] = set()
    for chunk in _chunks(list(photo_ids)):
        marks = ",".join("?" * len(chunk))
        found.update(row[0] for row in catalog.db.execute(
            f"SELECT hash FROM photos WHERE id IN ({marks}) AND hash IS NOT NULL", chunk))
    return found


def hashes_in_use(catalog: "Catalog", among: Sequence[str] | None = None) -> set[str]:
    """Hashes some photo has: all of them, or those of `among` still used."""
    if among is None:
        return {row[0] for row in catalog.db.execute("SELECT DISTINCT hash FROM photos WHERE hash IS NOT NULL")}
    found: set[str] = set()
    for chunk in _chunks(list(among)):
        marks = ",".join("?" * len(chunk))
        found.update(row[0] for row in catalog.db.execute(
            f"SELECT DISTINCT hash FROM photos WHERE hash IN ({marks})", chunk))
    return found


def photos_with_hash(catalog: "Catalog") -> list[tuple[int, str, str]]:
    """(id, path, hash) of every photo whose bytes were hashed, in id order."""
    return [tuple(row) for row in catalog.db.execute(  # type: ignore[misc]
        "SELECT id, path, hash FROM photos WHERE hash IS NOT NULL ORDER BY id")]


def hashes_by_id(catalog: "Catalog", photo_ids: Sequence[int]) -> dict[int, str]:
    """photo id -> content hash, for the photos that have one."""
    found: dict[int, str] = {}
    for chunk in _chunks(list(photo_ids)):
        marks = ",".join("?" * len(chunk))
        found.update((row[0], row[1]) for row in catalog.db.execute(
            f"SELECT id, hash FROM photos WHERE id IN ({marks}) AND hash IS NOT NULL", chunk))
    return found


def source_roots(catalog: "Catalog", photo_ids: Sequence[int]) -> dict[int, str]:
    """photo id -> the folder given to `add` that found it (empty for photos recorded without one)."""
    found: dict[int, str] = {}
    for chunk in _chunks(list(photo_ids)):
        marks = ",".join("?" * len(chunk))
        found.update((row[0], row[1]) for row in catalog.db.execute(
            f"SELECT id, source_root FROM photos WHERE id IN ({marks}) AND source_root != ''", chunk))
    return found
