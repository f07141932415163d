"""Albums: grouping the library by similarity, saved albums, and smart albums (a named query).

A smart album is evaluated as a search of its query (see
`photolib.search.finder.AlbumFilter`, which also resolves `album:NAME`: a
smart album first, then a saved one); here its photos become the hits the
commands show.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from photolib.app.context import LibraryContext, UseCase
from photolib.app.searching import SearchHit, Searching
from photolib.core.errors import UsageError
from photolib.core.files import absolute

if TYPE_CHECKING:
    from photolib.query.parser import ParsedQuery
    from photolib.search.albums import Album, AlbumSet
    from photolib.store.smart_albums import SmartAlbum


class Albums(UseCase):
    """Grouping, saved and smart albums; the photos of a smart album are shown as `searching`'s hits."""

    def __init__(self, context: LibraryContext, searching: Searching) -> None:
        super().__init__(context)
        self.searching = searching

    def albums(self, *, threshold: float | None = None, min_size: int | None = None, seed: int | None = None,
               save: bool = False, export: str | os.PathLike | None = None, copy: bool = False,
               query: str | None = None, collapse: str | None = None) -> "AlbumSet":
        """Group the library (only the photos `query` matches, if given); optionally store the
        albums and/or export them as folders."""
        from photolib.search.albums import export_albums, group_library

        threshold = self.settings.albums_threshold if threshold is None else threshold
        min_size = self.settings.albums_min_size if min_size is None else min_size
        _check_export(export, copy)
        only = self._matching_ids(query)
        if save:
            with self.write_lock():  # grouped under the lock, so no photo vanishes between grouping and saving
                result = group_library(self.catalog, self.keeper, threshold=threshold, min_size=min_size, seed=seed,
                                       only=only)
                self._collapse_albums(result, collapse)
                with self.catalog.transaction():
                    self.catalog.replace_albums([(a.name, a.photo_ids) for a in result.albums], threshold, seed)
        else:
            result = group_library(self.catalog, self.keeper, threshold=threshold, min_size=min_size, seed=seed,
                                   only=only)
            self._collapse_albums(result, collapse)
        if export is not None:
            photos = self.catalog.get_many([pid for album in result.albums for pid in album.photo_ids])
            result.not_exported = export_albums(result.albums, photos, absolute(export), copy=copy)
        return result

    def _matching_ids(self, query: str | None) -> list[int] | None:
        from photolib.query.parser import parse

        if query is None or not query.strip():
            return None
        return [hit.id for hit in self.matching(parse(query))]

    def _collapse_albums(self, result: "AlbumSet", collapse: str | None) -> None:
        """Copies of one photo are grouped together anyway (same vector); the album lists its best."""
        from photolib.search.duplicates import Collapse, shown_instead

        mode = Collapse(collapse or self.settings.collapse_duplicates)
        for album in result.albums:
            members = set(album.photo_ids)
            shown_as = shown_instead(self.catalog, album.photo_ids, mode)
            shown = {shown_as.get(pid, pid) if shown_as.get(pid, pid) in members else pid for pid in album.photo_ids}
            album.hidden_copies = sorted(members - shown)
            album.photo_ids = sorted(shown)

    # -- saved and smart albums ---------------------------------------------------

    def saved_albums(self) -> list["Album"]:
        from photolib.search.albums import Album

        return [Album(name, ids, id=album_id) for album_id, name, ids in self.catalog.saved_albums()]

    def saved_album(self, ref: int | str, *, sort: str | None = None, export: str | os.PathLike | None = None,
                    copy: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """(name, photos) of a saved album (number or name) or a smart album (name, evaluated now);
        with `export`, the album is also written as a folder of symlinks (or copies) there."""
        from photolib.search.albums import Album, export_albums
        from photolib.app.views import photo_summary

        _check_export(export, copy)
        name, ids, scores = self.show(str(ref), sort=sort)
        photos = self.catalog.get_many(ids)
        summaries = [photo_summary(photos[pid]) | ({"score": scores[pid]} if pid in scores else {})
                     for pid in ids if pid in photos]
        if export is not None:
            missing = export_albums([Album(name, [pid for pid in ids if pid in photos])], photos, absolute(export),
                                    copy=copy)
            self.notify_missing(missing)
        return name, summaries

    def notify_missing(self, missing: list[str]) -> None:
        if missing:
            self.notify(f"{len(missing)} photos were left out, their files are gone (first: {missing[0]}); "
                        "`photolib prune` forgets them.")

    def evaluate(self, album: "SmartAlbum", *, sort: str | None = None) -> list[SearchHit]:
        """The photos of a smart album now."""
        return self.searching.hits(self.finder.albums.evaluate(album, sort=sort))

    def matching(self, parsed: "ParsedQuery", *, sort: str = "date") -> list[SearchHit]:
        """Every photo a query matches (up to `SMART_LIMIT` when it ranks by words)."""
        return self.searching.hits(self.finder.albums.matching(parsed, sort=sort))

    def album_ids(self, name: str) -> list[int] | None:
        """Photo ids of the album called `name`: a smart album (evaluated) or a saved one; None if neither."""
        return self.finder.albums.photo_ids(name)

    def save_smart(self, name: str, query: str, replace: bool = False) -> dict[str, Any]:
        """Store a smart album after evaluating its query against this library as if it were saved
        (unknown albums, bad filters, a query that says nothing and loops through `album:` are
        refused, nothing is stored). Image terms are stored with absolute paths, so the album means
        the same whatever folder it is shown from."""
        from photolib.query.parser import parse, with_absolute_images
        from photolib.store.smart_albums import SmartAlbum, SmartAlbumStore

        parse(query)
        query = with_absolute_images(query)
        trial = SmartAlbum(0, " ".join(name.split()), query, "", "")
        with self.finder.albums.trying(trial):
            size = len(self.evaluate(trial))
        with self.write_lock():
            album = SmartAlbumStore(self.catalog).save(name, query, replace=replace)
        return album.as_dict() | {"size": size}

    def delete(self, ref: str) -> dict[str, Any]:
        """Delete a saved or smart album, by number or name; photos are untouched."""
        from photolib.store.smart_albums import SmartAlbumStore

        text = ref.strip()
        store = SmartAlbumStore(self.catalog)
        with self.write_lock():
            smart = self._smart_album(text)
            if smart is not None:
                store.delete(smart.name)
                return {"name": smart.name, "smart": True}
            album_id = self._saved_album_id(text)
            with self.catalog.transaction():
                name = self.catalog.delete_saved_album(album_id)
            return {"name": name, "id": album_id, "smart": False}

    def _saved_album_id(self, text: str) -> int:
        if text.isdigit():
            album_id = int(text) if self.catalog.has_saved_album(int(text)) else None
        else:
            album_id = self.catalog.saved_album_id(text)
        if album_id is None:
            raise UsageError(f"no album {text!r}: see `photolib albums list` for the albums' names and numbers")
        return album_id

    def _smart_album(self, text: str) -> "SmartAlbum | None":
        """The smart album `text` names: by name, or by the number `albums list --json` gives it (one
        number names one album, saved or smart: see `photolib.store.smart_albums.next_album_id`)."""
        from photolib.store.smart_albums import SmartAlbumStore

        store = SmartAlbumStore(self.catalog)
        if not text.isdigit():
            return store.get(text)
        return None if self.catalog.has_saved_album(int(text)) else store.get_by_id(int(text))

    def listing(self) -> list[dict[str, Any]]:
        """Saved albums, then smart albums (marked `smart`, with their query and current size)."""
        from photolib.store.smart_albums import SmartAlbumStore

        saved = [a.as_dict() | {"id": a.id, "smart": False} for a in self.saved_albums()]
        smart = [album.as_dict() | {"size": len(hits), "photo_ids": [h.id for h in hits]}
                 for album in SmartAlbumStore(self.catalog).all()
                 for hits in [self.evaluate(album)]]
        return saved + smart

    def show(self, ref: str, sort: str | None = None) -> tuple[str, list[int], dict[str, int]]:
        """(name, photo ids, scores by id) of a saved or smart album, by number or name."""
        text = str(ref).strip()
        smart = self._smart_album(text)
        if smart is not None:
            hits = self.evaluate(smart, sort=sort)
            return smart.name, [h.id for h in hits], {h.id: h.score for h in hits if h.score is not None}
        name, ids = self.catalog.saved_album(self._saved_album_id(text))
        return name, ids, {}


def _check_export(export: str | os.PathLike | None, copy: bool) -> None:
    if copy and export is None:
        raise UsageError("--copy only applies to --export DIR: add --export, or drop --copy")
    if export is not None and os.path.exists(export) and not os.path.isdir(export):
        raise UsageError(f"{absolute(export)} is a file: give --export a folder (it is created if missing)")
