"""Smart albums: a named query, evaluated each time the album is shown.

Only the query text is stored (table `smart_albums`), never its photos, so a
photo added later that matches appears the next time the album is shown,
with nothing to re-run. The store keeps the query as text: the caller checks
it before saving it (`photolib.app.albums_query.save_smart` evaluates it, so
a query that does not parse or says nothing is refused), and it is checked
again when it is evaluated, since an album it names may have gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from photolib.core.clock import now as clock_now
from typing import TYPE_CHECKING, Any

from photolib.core.errors import UsageError

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog


@dataclass
class SmartAlbum:
    id: int
    name: str
    query: str
    created_at: str
    updated_at: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "query": self.query, "smart": True,
                "created_at": self.created_at, "updated_at": self.updated_at}


def next_album_id(db: Any) -> int:
    """An id no album has, saved or smart, and above every smart album's: one number names one album
    (`albums list --json` gives both kinds ids, `albums show ID` takes either), and a deleted smart
    album's number is not given to a new one while a later one exists."""
    row = db.execute("SELECT max(coalesce((SELECT max(id) FROM albums), 0), "
                     "coalesce((SELECT max(id) FROM smart_albums), 0))").fetchone()
    return int(row[0]) + 1


class SmartAlbumStore:
    """Smart album rows in the catalog."""

    def __init__(self, catalog: "Catalog") -> None:
        self.catalog = catalog

    def all(self) -> list[SmartAlbum]:
        rows = self.catalog.db.execute(
            "SELECT id, name, query, created_at, updated_at FROM smart_albums ORDER BY name COLLATE NOCASE, id")
        return [SmartAlbum(*row) for row in rows.fetchall()]

    def get_by_id(self, album_id: int) -> SmartAlbum | None:
        row = self.catalog.db.execute(
            "SELECT id, name, query, created_at, updated_at FROM smart_albums WHERE id = ?", [album_id]).fetchone()
        return SmartAlbum(*row) if row else None

    def get(self, name: str) -> SmartAlbum | None:
        row = self.catalog.db.execute(
            "SELECT id, name, query, created_at, updated_at FROM smart_albums WHERE name = ? COLLATE NOCASE",
            [name.strip()]).fetchone()
        return SmartAlbum(*row) if row else None

    def save(self, name: str, query: str, replace: bool = False) -> SmartAlbum:
        """Store a query under `name`; an existing album is replaced only when asked."""
        name = " ".join(name.split())
        if not name:
            raise UsageError("a smart album needs a name: photolib albums smart NAME QUERY")
        if not query.strip():
            raise UsageError(f"smart album {name!r} needs a query, e.g. photolib albums smart {name!r} 'beach year:2019'")
        now = clock_now()
        with self.catalog.transaction():
            existing = self.get(name)
            if existing is not None and not replace:
                raise UsageError(f"smart album {existing.name!r} already exists (query {existing.query!r}): "
                                 "add --replace to change its query, or `photolib albums delete` it")
            if existing is not None:
                self.catalog.db.execute("UPDATE smart_albums SET query = ?, updated_at = ? WHERE id = ?",
                                        [query, now, existing.id])
            else:
                self.catalog.db.execute(
                    "INSERT INTO smart_albums (id, name, query, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
                    [next_album_id(self.catalog.db), name, query, now, now])
        found = self.get(name)
        assert found is not None
        return found

    def delete(self, name: str) -> bool:
        with self.catalog.transaction():
            cursor = self.catalog.db.execute("DELETE FROM smart_albums WHERE name = ? COLLATE NOCASE", [name.strip()])
        return cursor.rowcount > 0
