"""Albums and the query language: smart albums shown, `album:` resolved, grouping restricted.

A smart album is evaluated as a search of its query (see
`photolib.search.finder.AlbumFilter`, which also resolves `album:NAME`: a
smart album first, then a saved one); here its photos become the hits the
commands show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from photolib.core.errors import UsageError
from photolib.query.parser import ParsedQuery, parse
from photolib.store.smart_albums import SmartAlbum, SmartAlbumStore

if TYPE_CHECKING:
    from photolib.app.library import Library, SearchHit


def evaluate(library: "Library", album: SmartAlbum, *, sort: str | None = None) -> "list[SearchHit]":
    """The photos of a smart album now."""
    return library._hits(library.finder.albums.evaluate(album, sort=sort))


def matching(library: "Library", parsed: ParsedQuery, *, sort: str = "date") -> "list[SearchHit]":
    """Every photo a query matches (up to `SMART_LIMIT` when it ranks by words)."""
    return library._hits(library.finder.albums.matching(parsed, sort=sort))


def album_ids(library: "Library", name: str) -> list[int] | None:
    return library.finder.albums.photo_ids(name)


def save_smart(library: "Library", name: str, query: str, replace: bool = False) -> dict[str, Any]:
    """Store a smart album after evaluating its query against this library as if it were saved
    (unknown albums, bad filters, a query that says nothing and loops through `album:` are
    refused, nothing is stored). Image terms are stored with absolute paths, so the album means
    the same whatever folder it is shown from."""
    from photolib.query.parser import with_absolute_images

    parse(query)
    query = with_absolute_images(query)
    trial = SmartAlbum(0, " ".join(name.split()), query, "", "")
    with library.finder.albums.trying(trial):
        size = len(evaluate(library, trial))
    with library.write_lock():
        album = SmartAlbumStore(library.catalog).save(name, query, replace=replace)
    return album.as_dict() | {"size": size}


def delete(library: "Library", ref: str) -> dict[str, Any]:
    """Delete a saved or smart album, by number or name."""
    text = ref.strip()
    store = SmartAlbumStore(library.catalog)
    with library.write_lock():
        smart = _smart_album(library, text)
        if smart is not None:
            store.delete(smart.name)
            return {"name": smart.name, "smart": True}
        album_id = _saved_album_id(library, text)
        with library.catalog.transaction():
            name = library.catalog.db.execute("SELECT name FROM albums WHERE id = ?", [album_id]).fetchone()[0]
            library.catalog.db.execute("DELETE FROM album_photos WHERE album_id = ?", [album_id])
            library.catalog.db.execute("DELETE FROM albums WHERE id = ?", [album_id])
        return {"name": name, "id": album_id, "smart": False}


def _saved_album_id(library: "Library", text: str) -> int:
    if text.isdigit():
        row = library.catalog.db.execute("SELECT id FROM albums WHERE id = ?", [int(text)]).fetchone()
    else:
        row = library.catalog.db.execute("SELECT id FROM albums WHERE name = ? COLLATE NOCASE ORDER BY id LIMIT 1",
                                         [text]).fetchone()
    if row is None:
        raise UsageError(f"no album {text!r}: see `photolib albums list` for the albums' names and numbers")
    return int(row[0])


def _smart_album(library: "Library", text: str) -> SmartAlbum | None:
    """The smart album `text` names: by name, or by the number `albums list --json` gives it (numbers
    name one album, saved or smart)."""
    store = SmartAlbumStore(library.catalog)
    if not text.isdigit():
        return store.get(text)
    if library.catalog.db.execute("SELECT 1 FROM albums WHERE id = ?", [int(text)]).fetchone():
        return None
    return store.get_by_id(int(text))


def listing(library: "Library") -> list[dict[str, Any]]:
    """Saved albums, then smart albums (marked `smart`, with their query and current size)."""
    saved = [a.as_dict() | {"id": a.id, "smart": False} for a in library.saved_albums()]
    smart = [album.as_dict() | {"size": len(hits), "photo_ids": [h.id for h in hits]}
             for album in SmartAlbumStore(library.catalog).all()
             for hits in [evaluate(library, album)]]
    return saved + smart


def show(library: "Library", ref: str, sort: str | None = None) -> tuple[str, list[int], dict[str, int]]:
    """(name, photo ids, scores by id) of a saved or smart album, by number or name."""
    text = str(ref).strip()
    smart = _smart_album(library, text)
    if smart is not None:
        hits = evaluate(library, smart, sort=sort)
        return smart.name, [h.id for h in hits], {h.id: h.score for h in hits if h.score is not None}
    album_id = _saved_album_id(library, text)
    name = library.catalog.db.execute("SELECT name FROM albums WHERE id = ?", [album_id]).fetchone()[0]
    ids = [r[0] for r in library.catalog.db.execute(
        "SELECT photo_id FROM album_photos WHERE album_id = ? ORDER BY position", [album_id])]
    return name, ids, {}
