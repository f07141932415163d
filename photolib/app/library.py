"""The `Library` facade: every command's behaviour, callable from Python.

The CLI parses arguments, calls one method here and renders what it returns
(plain dicts and dataclasses). Each method hands the work to the module of its
use case, which receives the parts of the library it shares with the others
(`photolib.app.context.LibraryContext`: settings, catalog, index keepers,
providers, the writer lock, notify), never the facade itself:

    importing   add, enrich, reindex, import_embedded
    searching   search, find, similar, explain, list_photos
    browsing    show, summary, source_roots, thumbnail_files, remove, prune
    albums      albums, saved and smart albums
    people      people, person, name_person, merge_people, forget_person, recluster_people
    duplicates  duplicates
    export      export_xmp
    care        stats, doctor, repair, backup, restore, restore_snapshot
    imagine     imagine, generations
    gallery     gallery_input (the site's content; `photolib.render` writes pages)
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Iterable

from photolib.app.albums import Albums
from photolib.app.browsing import Browsing
from photolib.app.care import Care
from photolib.app.context import LibraryContext, shared
from photolib.app.duplicates import Duplicates
from photolib.app.export import Export
from photolib.app.gallery import Gallery
from photolib.app.importing import Importing
from photolib.app.people import People
from photolib.app.searching import SearchHit, Searching
from photolib.core.config import Settings
from photolib.core.layout import GENERATED_FOLDER
from photolib.core.progress import Notify, Progress, ignore
from photolib.pipeline.importer import AddReport

if TYPE_CHECKING:
    from pathlib import Path

    from photolib.app.gallery import GalleryInput
    from photolib.app.imagine import ImagineRequest, ImagineResult
    from photolib.store.salvage import RepairReport
    from photolib.media.sidecars import ExportReport
    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.pipeline.stage import StageReport
    from photolib.query.parser import ParsedQuery
    from photolib.search.albums import Album, AlbumSet
    from photolib.search.duplicates import DuplicateGroup
    from photolib.store.faces import Person

__all__ = ["Library", "SearchHit"]


class Library:
    """A photo library folder: catalog, index and the configured providers."""

    def __init__(self, settings: Settings, *, vision: Any = None, embedder: Any = None,
                 generator: Any = None, image_embedder: Any = None, stage_factories: Any = None,
                 notify: Notify = ignore, background_snapshots: bool = False) -> None:
        """`background_snapshots`: the automatic snapshot is left to `finish` and taken by a detached
        process (as the CLI does), instead of at the end of each writing call."""
        self.context = context = LibraryContext(
            settings, vision=vision, embedder=embedder, generator=generator, image_embedder=image_embedder,
            stage_factories=stage_factories, notify=notify, background_snapshots=background_snapshots)
        self._importing = Importing(context)
        self._searching = Searching(context)
        self._albums = Albums(context, self._searching)
        self._browsing = Browsing(context)
        self._people = People(context)
        self._duplicates = Duplicates(context)
        self._export = Export(context)
        self._care = Care(context)
        self._gallery = Gallery(context, self._albums)

    # -- the shared parts (see `LibraryContext`) ------------------------------------

    settings = shared("settings")
    root = shared("root")
    notify = shared("notify")
    providers = shared("providers")
    background_snapshots = shared("background_snapshots")
    catalog = shared("catalog")
    catalog_changes = shared("catalog_changes")
    vision = shared("vision")
    embedder = shared("embedder")
    image_embedder = shared("image_embedder")
    imagine_vision = shared("imagine_vision")
    generator = shared("generator")
    stages = shared("stages")
    inference_servers = shared("inference_servers")
    thumbnails = shared("thumbnails")
    text_store = shared("text_store")
    face_store = shared("face_store")
    write_lock = shared("write_lock")
    close = shared("close")
    finish = shared("finish")
    index_folder = shared("index_folder")
    index_folder_of = shared("index_folder_of")
    keeper = shared("keeper")
    keeper_of = shared("keeper_of")
    kept_spaces = shared("kept_spaces")
    sync_indexes = shared("sync_indexes")
    index = shared("index")
    index_of = shared("index_of")
    resolve = shared("resolve")
    finder = shared("finder")
    image_finder = shared("image_finder")
    hybrid_search = shared("hybrid_search")

    # -- importing ------------------------------------------------------------------

    def add(self, paths: list[str | os.PathLike], *, progress: Progress | None = None,
            dry_run: bool = False, jobs: int | None = None, workers: int | None = None) -> AddReport:
        """Import photos under `paths`; see `photolib.app.importing`."""
        return self._importing.add(paths, progress=progress, dry_run=dry_run, jobs=jobs, workers=workers)

    def enrich(self, *, progress: Progress | None = None, retry_failed: bool = False,
               jobs: int | None = None, workers: int | None = None) -> list["StageReport"]:
        """Work off every enabled stage's backlog library-wide."""
        return self._importing.enrich(progress=progress, retry_failed=retry_failed, jobs=jobs, workers=workers)

    def reindex(self, *, reembed: bool = False, space: str | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
        """Rebuild each space's index (or `space`'s) from the catalog, re-embedding first with `reembed`."""
        return self._importing.reindex(reembed=reembed, space=space, progress=progress)

    def import_embedded(self, photos: "Iterable[EmbeddedPhoto]", model: str) -> int:
        """Add photos that already have descriptions and vectors (migrations, large test libraries)."""
        return self._importing.import_embedded(photos, model)

    # -- searching ------------------------------------------------------------------

    def search(self, query: str, *, limit: int | None = None, threshold: float | None = None,
               exact: bool = False, sort: str | None = None, offset: int = 0, all_results: bool = False,
               space: str = "all", image_threshold: float | None = None,
               collapse: str | None = None, person: str | None = None) -> list[SearchHit]:
        """Photos matching `query` in the query language, best first; see `photolib.app.searching`."""
        return self._searching.search(query, limit=limit, threshold=threshold, exact=exact, sort=sort, offset=offset,
                                      all_results=all_results, space=space, image_threshold=image_threshold,
                                      collapse=collapse, person=person)

    def find(self, parsed: "ParsedQuery", *, limit: int | None = None, threshold: float | None = None,
             exact: bool = False, sort: str | None = None, offset: int = 0, all_results: bool = False,
             around: Any = None, leave_out: int | None = None, collapse: str | None = None,
             space: str = "description", image_threshold: float | None = None) -> list[SearchHit]:
        """`search` for an already parsed query; `around` ranks by closeness to a vector (`similar`)."""
        return self._searching.find(parsed, limit=limit, threshold=threshold, exact=exact, sort=sort, offset=offset,
                                    all_results=all_results, around=around, leave_out=leave_out, collapse=collapse,
                                    space=space, image_threshold=image_threshold)

    def similar(self, photo_ref: str, *, limit: int | None = None, threshold: float | None = None,
                exact: bool = False, query: str | None = None, sort: str | None = None, offset: int = 0,
                all_results: bool = False, collapse: str | None = None) -> list[SearchHit]:
        """Photos nearest to a photo of the library, or to an image file outside it."""
        return self._searching.similar(photo_ref, limit=limit, threshold=threshold, exact=exact, query=query,
                                       sort=sort, offset=offset, all_results=all_results, collapse=collapse)

    @property
    def last_parts(self) -> list[dict[str, Any]]:
        """How each space and exact words took part in the last ranked search (`search --explain`)."""
        return self._searching.last_parts

    def explain(self, query: str) -> dict[str, Any]:
        """How `query` is understood: its parts, and how many photos its filters leave."""
        return self._searching.explain(query)

    def list_photos(self, query: str | None = None, *, tag: str | None = None, since: str | None = None,
                    until: str | None = None, status: str | None = None, limit: int | None = None,
                    sort: str | None = None, offset: int = 0,
                    filters: dict[str, str | None] | None = None, rating: int | None = None,
                    keyword: str | None = None, has_text: bool = False,
                    person: str | None = None) -> list[dict[str, Any]]:
        """Photos matching `query` and the options (each a filter of the query language), oldest first."""
        return self._searching.list_photos(query, tag=tag, since=since, until=until, status=status, limit=limit,
                                           sort=sort, offset=offset, filters=filters, rating=rating, keyword=keyword,
                                           has_text=has_text, person=person)

    # -- single photos ----------------------------------------------------------------

    def show(self, photo_ref: str | int) -> dict[str, Any]:
        """Every detail of one photo, the text read in it and its faces."""
        return self._browsing.show(photo_ref)

    def summary(self, photo_id: int) -> dict[str, Any] | None:
        """The `list` row of one photo, None when it is gone."""
        return self._browsing.summary(photo_id)

    def source_roots(self, photo_ids: list[int]) -> dict[int, str]:
        """photo id -> the folder given to `add` that found it (tables show paths relative to it)."""
        return self._browsing.source_roots(photo_ids)

    def thumbnail_files(self, photo_ids: list[int]) -> dict[int, "Path"]:
        """photo id -> its small thumbnail file, made now if missing; photos that cannot be read are left out."""
        return self._browsing.thumbnail_files(photo_ids)

    def remove(self, ref: str) -> list[dict[str, Any]]:
        """Forget a photo (by id or path) or every photo under a folder; files are never touched."""
        return self._browsing.remove(ref)

    def prune(self) -> list[dict[str, Any]]:
        """Forget photos whose files no longer exist."""
        return self._browsing.prune()

    # -- albums -----------------------------------------------------------------------

    def albums(self, *, threshold: float | None = None, min_size: int | None = None, seed: int | None = None,
               save: bool = False, export: str | os.PathLike | None = None, copy: bool = False,
               query: str | None = None, collapse: str | None = None) -> "AlbumSet":
        """Group the library (only the photos `query` matches, if given); optionally save and/or export."""
        return self._albums.albums(threshold=threshold, min_size=min_size, seed=seed, save=save, export=export,
                                   copy=copy, query=query, collapse=collapse)

    def album_ids(self, name: str) -> list[int] | None:
        """Photo ids of the album called `name`: a smart album (evaluated) or a saved one; None if neither."""
        return self._albums.album_ids(name)

    def saved_albums(self) -> list["Album"]:
        return self._albums.saved_albums()

    def saved_album(self, ref: int | str, *, sort: str | None = None, export: str | os.PathLike | None = None,
                    copy: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """(name, photos) of a saved album (number or name) or a smart album (name, evaluated now)."""
        return self._albums.saved_album(ref, sort=sort, export=export, copy=copy)

    def albums_listing(self) -> list[dict[str, Any]]:
        """Saved albums and smart albums (marked `smart`, with their query and current size)."""
        return self._albums.listing()

    def smart_album(self, name: str, query: str, *, replace: bool = False) -> dict[str, Any]:
        """Save `query` as a smart album called `name` (evaluated each time it is shown)."""
        return self._albums.save_smart(name, query, replace=replace)

    def delete_album(self, ref: str) -> dict[str, Any]:
        """Delete a smart album (by name) or a saved album (by number or name); photos are untouched."""
        return self._albums.delete(ref)

    def notify_missing(self, missing: list[str]) -> None:
        self._albums.notify_missing(missing)

    # -- people -----------------------------------------------------------------------

    def people(self) -> list["Person"]:
        """Everyone whose face was found, most faces first (unnamed people have a number)."""
        return self._people.people()

    def person(self, ref: str | int) -> dict[str, Any]:
        """One person: counts, and their faces with the photos they are in."""
        return self._people.person(ref)

    def name_person(self, ref: str | int, name: str) -> "Person":
        return self._people.name_person(ref, name)

    def merge_people(self, keep: str | int, other: str | int) -> "Person":
        """`other`'s faces join `keep`, which takes `other`'s name if it has none."""
        return self._people.merge_people(keep, other)

    def forget_person(self, ref: str | int) -> dict[str, Any]:
        """Drop a person and their faces from the catalog (photos stay)."""
        return self._people.forget_person(ref)

    def recluster_people(self, threshold: float | None = None) -> list["Person"]:
        """Group again the faces of unnamed people (named people keep theirs), at `threshold`."""
        return self._people.recluster_people(threshold)

    # -- the user's other tools ---------------------------------------------------------

    def export_xmp(self, paths: list[str | os.PathLike] | None = None, *, style: str | None = None,
                   dry_run: bool = False) -> "ExportReport":
        """Write photolib's tags and caption into XMP sidecars beside the photos (never into the photos)."""
        return self._export.export_xmp(paths, style=style, dry_run=dry_run)

    def duplicates(self, *, similar: bool = False, near_bits: int | None = None,
                   similar_distance: float | None = None, mark: bool = False,
                   export: str | os.PathLike | None = None, progress: Progress | None = None,
                   pairs: bool = True) -> list["DuplicateGroup"]:
        """Groups of copies, best first, then (with `pairs`) RAW+JPEG pairs; nothing is deleted or moved."""
        return self._duplicates.duplicates(similar=similar, near_bits=near_bits, similar_distance=similar_distance,
                                           mark=mark, export=export, progress=progress, pairs=pairs)

    # -- care ---------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        return self._care.stats()

    def doctor(self) -> dict[str, Any]:
        """`stats` plus SQLite's integrity check; a damaged catalog is reported, not raised."""
        return self._care.doctor()

    def repair(self) -> "RepairReport":
        """Salvage a damaged catalog from its readable rows and the newest snapshot."""
        return self._care.repair()

    def backup(self, destination: str | os.PathLike) -> dict[str, Any]:
        """A consistent snapshot (catalog via SQLite's backup API, plus the index) in `destination`."""
        return self._care.backup(destination)

    def restore(self, source: str | os.PathLike, force: bool = False) -> dict[str, Any]:
        """Replace this library's catalog and index with a snapshot made by `backup`."""
        return self._care.restore(source, force)

    def restore_snapshot(self, reference: str) -> dict[str, Any]:
        """Put one of the library's own snapshots (by day, name or `latest`) in place of its catalog."""
        return self._care.restore_snapshot(reference)

    # -- imagine and the gallery -------------------------------------------------------------

    def imagine(self, photo_ref: str | int, request: "ImagineRequest") -> "ImagineResult":
        """Generate images inspired by a photo; see `photolib.app.imagine`."""
        from photolib.app.imagine import imagine

        photo = self.resolve(photo_ref)
        options = self.settings.generation.options if self.settings.generation else {}
        return imagine(photo, request, catalog=self.catalog, providers=self.providers, options=options,
                       folder=request.out or self.root / GENERATED_FOLDER)

    def generations(self) -> list[dict[str, Any]]:
        return self.catalog.generations()

    def gallery_input(self, *, title: str = "Photos") -> "GalleryInput":
        """What `photolib gallery` shows: every photo with its details, the albums, the thumbnails
        (`photolib.render.gallery.write_gallery` writes the site)."""
        return self._gallery.gallery_input(title=title)
