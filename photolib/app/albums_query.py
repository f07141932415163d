"""Albums and the query language: smart albums shown, `album:` resolved, grouping restricted.

A smart album is evaluated as a search of its query, ordered by date unless
asked otherwise; a query with words keeps up to `SMART_LIMIT` photos (its
relevance cutoff usually stops well before). `album:NAME` finds a smart album
first, then a saved one; a smart album whose query names itself, directly or
through others, is an error rather than an endless loop.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from photolib.core.errors import UsageError
from photolib.query.parser import ParsedQuery, QueryError, parse
from photolib.store.smart_albums import SmartAlbum, SmartAlbumStore

if TYPE_CHECKING:
    from photolib.app.library import Library, SearchHit

SMART_LIMIT = 1000  # most photos a smart album with words shows


def evaluate(library: "Library", album: SmartAlbum, *, sort: str | None = None) -> "list[SearchHit]":
    """The photos of a smart album now."""
    evaluating: set[str] = library.__dict__.setdefault("_evaluating_albums", set())
    key = album.name.casefold()
    if key in evaluating:
        raise QueryError(f"smart album {album.name!r} refers to itself through album: filters; "
                         "change one of their queries with `photolib albums smart NAME QUERY --replace`")
    evaluating.add(key)
    try:
        return matching(library, parse(album.query), sort=sort or "date")
    finally:
        evaluating.discard(key)


def matching(library: "Library", parsed: ParsedQuery, *, sort: str = "date") -> "list[SearchHit]":
    """Every photo a query matches (up to `SMART_LIMIT` when it ranks by words)."""
    return library.find(parsed, limit=SMART_LIMIT if parsed.semantic else -1, sort=sort)


def album_ids(library: "Library", name: str) -> list[int] | None:
    smart = _trial(library).get(name.strip().casefold()) or SmartAlbumStore(library.catalog).get(name)
    if smart is not None:
        return [hit.id for hit in evaluate(library, smart)]
    row = library.catalog.db.execute("SELECT id FROM albums WHERE name = ? COLLATE NOCASE ORDER BY id LIMIT 1",
                                     [name.strip()]).fetchone()
    if row is None:
        return None
    return [r[0] for r in library.catalog.db.execute(
        "SELECT photo_id FROM album_photos WHERE album_id = ? ORDER BY position", [row[0]])]


def _trial(library: "Library") -> dict[str, SmartAlbum]:
    """Smart albums being checked before they are saved: they take the place of stored ones."""
    return library.__dict__.setdefault("_smart_album_trials", {})


def save_smart(library: "Library", name: str, query: str, replace: bool = False) -> dict[str, Any]:
    """Store a smart album after evaluating its query against this library as if it were saved
    (unknown albums, bad filters and loops through `album:` are refused, nothing is stored)."""
    parse(query)
    trial = SmartAlbum(0, " ".join(name.split()), query, "", "")
    _trial(library)[trial.name.casefold()] = trial
    try:
        size = len(evaluate(library, trial))
    finally:
        _trial(library).pop(trial.name.casefold(), None)
    with library.write_lock():
        album = SmartAlbumStore(library.catalog).save(name, query, replace=replace)
    return album.as_dict() | {"size": size}


def delete(library: "Library", ref: str) -> dict[str, Any]:
    """Delete a smart album by name, or a saved album by number or name."""
    text = ref.strip()
    store = SmartAlbumStore(library.catalog)
    with library.write_lock():
        smart = None if text.isdigit() else store.get(text)
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
        raise UsageError(f"no album {text!r}: see `photolib albums list` (saved albums by number, "
                         "smart albums by name)")
    return int(row[0])


def listing(library: "Library") -> list[dict[str, Any]]:
    """Saved albums, then smart albums (marked `smart`, with their query and current size)."""
    saved = [a.as_dict() | {"id": a.id, "smart": False} for a in library.saved_albums()]
    smart = [album.as_dict() | {"size": len(hits), "photo_ids": [h.id for h in hits]}
             for album in SmartAlbumStore(library.catalog).all()
             for hits in [evaluate(library, album)]]
    return saved + smart


def show(library: "Library", ref: str, sort: str | None = None) -> tuple[str, list[int], dict[str, int]]:
    """(name, photo ids, scores by id) of a saved album (number or name) or a smart album (name)."""
    text = str(ref).strip()
    smart = None if text.isdigit() else SmartAlbumStore(library.catalog).get(text)
    if smart is not None:
        hits = evaluate(library, smart, sort=sort)
        return smart.name, [h.id for h in hits], {h.id: h.score for h in hits if h.score is not None}
    album_id = _saved_album_id(library, text)
    name = library.catalog.db.execute("SELECT name FROM albums WHERE id = ?", [album_id]).fetchone()[0]
    ids = [r[0] for r in library.catalog.db.execute(
        "SELECT photo_id FROM album_photos WHERE album_id = ? ORDER BY position", [album_id])]
    return name, ids, {}
