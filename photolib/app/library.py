"""The `Library` facade: every command's behaviour, callable from Python.

The CLI parses arguments, calls one method here and renders what it returns
(plain dicts and dataclasses). Catalog, index and providers are built lazily
and can be injected, so `photolib --help` stays instant and tests can run the
real code against their own providers.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from photolib.core.config import Settings
from photolib.core.errors import LibraryLockedError, PhotolibError, UsageError
from photolib.pipeline.importer import AddReport, apply_plan, plan_counts_for_dry_run, run_first_pass
from photolib.core.files import absolute
from photolib.core.layout import CACHE_FOLDER, CATALOG_NAME, GENERATED_FOLDER, INDEX_FOLDER, LOCK_NAME
from photolib.core.records import FailedStep, PhotoStatus
from photolib.core.progress import NoProgress, Notify, Progress, ignore
from photolib.providers.base import Providers
from photolib.core.spaces import Space

if TYPE_CHECKING:
    from photolib.search.albums import Album, AlbumSet
    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.store.catalog import Catalog, StoredPhoto
    from photolib.search.finder import Finder, Ranked
    from photolib.search.hybrid import HybridSearch
    from photolib.query.parser import ParsedQuery
    from photolib.store.faces import FaceStore, Person
    from photolib.store.text import TextStore
    from photolib.render.gallery import GalleryReport
    from photolib.app.imagine import ImagineRequest, ImagineResult
    from photolib.store.index import VectorIndex
    from photolib.store.keeper import IndexKeeper
    from photolib.store.salvage import RepairReport
    from photolib.core.protocols import Embedder, Generator, Vision
    from photolib.pipeline.scan import ScanPlan
    from photolib.pipeline.stage import Stage, StageReport
    from photolib.media.thumbnails import ThumbnailCache
    from photolib.search.duplicates import DuplicateGroup
    from photolib.media.sidecars import ExportReport

LIST_LIMIT = 1000  # most photos `list` ranks when its query has words


@dataclass
class SearchHit:
    id: int
    path: str
    distance: float | None
    caption: str
    tags: list[str]
    taken_at: str | None
    score: int | None = None  # 0-100, see `photolib.search.fusion`; None when nothing was ranked
    distances: dict[str, float | None] | None = None  # per space searched (None: no vector in it), when fused
    fusion: float | None = None  # the fused relevance 0-1 (the score before rounding), when fused
    contributions: dict[str, float] | None = None  # each signal's part of the 0-1 relevance (they sum to it)

    def as_dict(self, parts: bool = False) -> dict[str, Any]:
        """Plain data for --json: `distances`, `fusion` and `contributions` when the image space took
        part; `contributions` also with `parts` (search --explain)."""
        data = {"id": self.id, "path": self.path, "score": self.score,
                "distance": None if self.distance is None else round(self.distance, 4),
                "caption": self.caption, "tags": self.tags, "taken_at": self.taken_at}
        if self.distances is not None:
            data.update(distances=self.distances, fusion=self.fusion)
        if self.contributions is not None and (parts or self.distances is not None):
            data.update(contributions=self.contributions)
        return data


class Library:
    """A photo library folder: catalog, index and the configured providers."""

    def __init__(self, settings: Settings, *, vision: Any = None, embedder: Any = None,
                 generator: Any = None, image_embedder: Any = None, stage_factories: Any = None,
                 notify: Notify = ignore, background_snapshots: bool = False) -> None:
        """`background_snapshots`: the automatic snapshot is left to `finish` and taken by a detached
        process (as the CLI does), instead of at the end of each writing call."""
        self.settings = settings
        self.background_snapshots = background_snapshots
        self._changes_closed = 0  # catalog rows changed through connections already closed
        self._changes_base = 0  # total_changes of the open connection once it was opened (migrations aside)
        self._changes_considered = 0  # changes already weighed for a snapshot
        self.root = Path(settings.library_path)
        self.notify = notify
        self.providers = Providers(settings, vision=vision, embedder=embedder, generator=generator)
        self._image_embedder = image_embedder
        self._image_embedder_built = image_embedder is not None
        self._stage_factories = stage_factories  # None: the stage registry (photolib.pipeline.registry)
        self._catalog: Catalog | None = None
        self._keepers: dict[Space, IndexKeeper] = {}
        self._lock_depth = 0

    # -- lazily built parts ---------------------------------------------------

    @property
    def catalog(self) -> "Catalog":
        if self._catalog is None:
            from photolib.store.catalog import Catalog

            self._make_root()
            self._catalog = Catalog(self.root / CATALOG_NAME)
            self._changes_base = self._catalog.db.conn.total_changes
        return self._catalog

    def catalog_changes(self) -> int:
        """Rows this Library changed in the catalog so far (opening and migrating it not counted)."""
        if self._catalog is None:
            return self._changes_closed
        return self._changes_closed + self._catalog.db.conn.total_changes - self._changes_base

    def _make_root(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise UsageError(f"{self.root} is a file, not a library folder: give --library a folder "
                             "(it is created if missing)")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    @property
    def vision(self) -> "Vision":
        return self.providers.vision

    @property
    def embedder(self) -> "Embedder":
        return self.providers.embedder

    @property
    def image_embedder(self) -> Any:
        """The image space's model (an `ImageEmbedder`), or None when none is installed or configured."""
        if not self._image_embedder_built:
            try:
                from photolib.models.clip import make_image_embedder
            except ImportError:
                self._image_embedder = None
            else:
                self._image_embedder = make_image_embedder(self.settings, self.stored_image_model())
            self._image_embedder_built = True
        return self._image_embedder

    def stored_image_model(self) -> str | None:
        """The one model the image space's vectors were made with (None: no vectors, or several):
        the library keeps using it while `[image] model` is left at its default."""
        if not (self.root / CATALOG_NAME).exists():
            return None
        bounds = self.catalog.embedding_model_bounds(Space.IMAGE)
        return bounds[0][0] if bounds and bounds[0] == bounds[1] else None

    def stages(self) -> list["Stage"]:
        """The enabled enrichment stages (see `photolib.pipeline.registry`)."""
        from photolib.pipeline.registry import build_stages
        from photolib.pipeline.stage import StageContext

        context = StageContext(self.settings, self.catalog, self.root / CACHE_FOLDER,
                               lambda: self.image_embedder, lambda: self.embedder, lambda: self.thumbnails)
        return build_stages(context, self._stage_factories)

    @property
    def imagine_vision(self) -> "Vision":
        """The vision provider that writes imagine prompts: [imagine] when configured, else [vision]."""
        return self.providers.imagine_vision

    @property
    def generator(self) -> "Generator":
        return self.providers.generator

    def close(self) -> None:
        if self._catalog is not None:
            self._changes_closed = self.catalog_changes()
            self._catalog.close()
            self._catalog, self._keepers = None, {}

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Only one writer per library; a second one says it waits, waits `lock_timeout`, then gives up."""
        from filelock import FileLock, Timeout

        self._make_root()
        lock = FileLock(str(self.root / LOCK_NAME))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            self.notify(f"Another photolib process is writing to {self.root}; waiting up to "
                        f"{self.settings.lock_timeout:g} s for it to finish.")
            try:
                lock.acquire(timeout=self.settings.lock_timeout)
            except Timeout:
                raise LibraryLockedError(
                    f"another photolib process is writing to {self.root}; wait for it to finish and try again"
                ) from None
        self._lock_depth += 1
        try:
            yield
            if self._lock_depth == 1 and not self.background_snapshots:
                self._snapshot_if_changed()
        finally:
            self._lock_depth -= 1
            lock.release()

    @property
    def thumbnails(self) -> "ThumbnailCache":
        """The library's thumbnail cache (see `photolib.media.thumbnails`)."""
        from photolib.media.thumbnails import THUMBNAIL_FOLDER, ThumbnailCache

        return ThumbnailCache(self.root / THUMBNAIL_FOLDER, large=self.settings.thumbnails_large)

    def _snapshot_if_changed(self) -> None:
        """If the catalog changed since the last look: a rotating snapshot, if one is due (`snapshots`)."""
        from photolib.maintenance.snapshot_runner import maybe_take

        changes = self.catalog_changes()
        if changes == self._changes_considered:
            return
        self._changes_considered = changes
        from photolib.maintenance.snapshot_runner import report_failure

        report_failure(self.root, self.notify)
        connection = self._catalog.db.conn if self._catalog is not None else None
        maybe_take(connection, self.root, self.settings.snapshot_interval, self.settings.snapshot_keep,
                   self.notify, background=self.background_snapshots)

    def finish(self) -> None:
        """The end of a command: if it changed the catalog (any command: add, albums --save, imagine, people
        name, ...) and a snapshot is due, keep one; then close. With `background_snapshots` the catalog is
        closed first and the snapshot left to a detached low-priority process, so nobody waits for it."""
        try:
            if self.background_snapshots:
                self.close()
            self._snapshot_if_changed()
        finally:
            self.close()

    # -- index ------------------------------------------------------------------

    @property
    def index_folder(self) -> Path:
        return self.root / INDEX_FOLDER

    def index_folder_of(self, space: "Space | str") -> Path:
        return self.root / INDEX_FOLDER / str(space)

    @property
    def keeper(self) -> "IndexKeeper":
        """Keeps the description space's index in step with the catalog (see `photolib.store.keeper`)."""
        return self.keeper_of(Space.DESCRIPTION)

    def keeper_of(self, space: "Space | str") -> "IndexKeeper":
        """Keeps one space's index in step with the catalog."""
        space = Space(space)
        if space not in self._keepers:
            from photolib.store.keeper import IndexKeeper

            if space == Space.DESCRIPTION:
                model, legacy = (lambda: self.embedder.model_name), self.index_folder
            else:
                model, legacy = (lambda: getattr(self.image_embedder, "model_name", "none")), None
            self._keepers[space] = IndexKeeper(self.catalog, self.index_folder_of(space), self.root / LOCK_NAME,
                                               model, self.notify, space, legacy_folder=legacy)
        return self._keepers[space]

    def kept_spaces(self) -> list[Space]:
        """Spaces whose index is kept: description always, others once they hold vectors or an index."""
        return [space for space in Space if space == Space.DESCRIPTION
                or self.catalog.embedding_model_bounds(space) is not None or self.index_folder_of(space).exists()]

    def sync_indexes(self) -> None:
        """For writers holding the lock: bring every space's index up to the catalog and save it."""
        for space in self.kept_spaces():
            self.keeper_of(space).sync_and_save()

    def _checkpoint(self) -> Any:
        """During a long run, save the indexes now and then (see `IndexKeeper.checkpoint`)."""
        checks = [self.keeper_of(space).checkpoint() for space in Space]

        def maybe_save() -> None:
            for space, check in zip(Space, checks):
                if space in self.kept_spaces():
                    check()

        return maybe_save

    @property
    def text_store(self) -> "TextStore":
        """Text found in photos (OCR): see `photolib.store.text`."""
        from photolib.store.text import TextStore

        return TextStore(self.catalog)

    @property
    def face_store(self) -> "FaceStore":
        """Faces and people: see `photolib.store.faces`."""
        from photolib.store.faces import FaceStore

        return FaceStore(self.catalog)

    def _check_embedder_matches(self) -> tuple[str, int] | None:
        return self.finder.stored_model()

    def index(self, save: bool = True) -> "VectorIndex":
        """The description index matching the catalog as it is now: loaded and caught up, or rebuilt with a message."""
        return self.keeper.current(save=save)

    def index_of(self, space: "Space | str", save: bool = True) -> "VectorIndex":
        """One space's index, as `index` does it for the description space."""
        return self.keeper_of(space).current(save=save)

    # -- commands -----------------------------------------------------------------

    def add(self, paths: list[str | os.PathLike], *, progress: Progress | None = None,
            dry_run: bool = False, jobs: int | None = None) -> AddReport:
        """Import photos under `paths`; see `importer` for what is and is not redone."""
        roots = [absolute(p) for p in paths]
        for root in roots:
            if not os.path.lexists(root):
                raise UsageError(f"{root} does not exist: give a folder or photo file to add")
        report = AddReport(remote_host=self.vision.remote_host)
        if dry_run:
            return self._dry_run(roots, report, progress)
        with self.write_lock():
            self._check_embedder_matches()
            plan = self._scan(roots, self.catalog, progress)
            before = {p.id for p in self.catalog.photos_needing_work()}
            apply_plan(self.catalog, plan, report)
            if self.vision.describes_from_path and plan.moved:
                self.catalog.mark_pending([photo_id for photo_id, _found in plan.moved])
            needing_work = self.catalog.photos_needing_work()
            todo = _under(needing_work, roots)
            report.elsewhere = len(needing_work) - len(todo)
            report.retried = len([p for p in todo if p.id in before])
            from photolib.pipeline.engine import BatchEngine
            from photolib.pipeline.stages.first_pass import FirstPass

            first_pass = FirstPass(self.catalog, self.vision, self.embedder, self.keeper.stored_model(),
                                   photo_texts=self._photo_texts())
            engine = BatchEngine(self.catalog, jobs=jobs or self.settings.jobs, batch_size=self.settings.batch_size,
                                 progress=progress, on_commit=self.keeper.checkpoint())
            try:
                run_first_pass(engine, first_pass, todo, report)
                self.keeper.sync_and_save()  # searchable by description now; heavier stages follow
                report.stages = self._run_stages([str(root) for root in roots], progress, jobs)
                report.visual_search_hint = self._visual_search_hint()
                report.failed.extend((path, f"{stage.name}: {reason}") for stage in report.stages
                                     for path, reason in stage.failed)
            except KeyboardInterrupt:
                report.interrupted = True
                raise
            finally:
                self.sync_indexes()
        return report

    def _visual_search_hint(self) -> str | None:
        """Without an image model: the one line that says how to turn visual search on."""
        if self.image_embedder is not None or not self.settings.image.enabled:
            return None
        from photolib.models.registry import human_size, known_model

        try:
            size = f" (a {human_size(known_model(self.settings.image.model).download_bytes)} download)"
        except PhotolibError:
            size = ""
        return (f"Visual search is off: `photolib models pull {self.settings.image.model}`{size} lets photolib "
                "see what is in the photos, offline; the next `add` or `photolib enrich` embeds them.")

    def enrich(self, *, progress: Progress | None = None, retry_failed: bool = False,
               jobs: int | None = None) -> list["StageReport"]:
        """Work off every enabled stage's backlog library-wide (after enabling a stage or changing
        its model); no scan, no file outside the catalog is looked at."""
        with self.write_lock():
            try:
                return self._run_stages(None, progress, jobs, retry_failed)
            finally:
                self.sync_indexes()

    def _run_stages(self, roots: list[str] | None, progress: Progress | None, jobs: int | None,
                    retry_failed: bool = False) -> list["StageReport"]:
        from photolib.pipeline.engine import BatchEngine

        stages = self.stages()
        if not stages:
            return []
        engine = BatchEngine(self.catalog, batch_size=self.settings.batch_size,
                             jobs=min(jobs or self.settings.jobs, os.cpu_count() or 2),
                             progress=progress, on_commit=self._checkpoint())
        try:
            return engine.run(stages, roots=roots, retry_failed=retry_failed)
        finally:
            (progress or NoProgress()).finish()

    def _photo_texts(self) -> "Any":
        """Where the words found in photos come from for embedding: only a local embedder sees them
        (a remote one gets descriptions, not what OCR read on receipts and letters)."""
        if self.settings.embedding.provider != "local":
            return None
        from photolib.store.text import TextStore

        return TextStore(self.catalog).texts_for

    def _dry_run(self, roots: list[Path], report: AddReport, progress: Progress | None) -> AddReport:
        """What `add` would do and send; takes no lock and writes nothing, not even a new catalog."""
        catalog = self.catalog if (self.root / CATALOG_NAME).exists() else None
        if catalog is not None:
            self._check_embedder_matches()
        plan = self._scan(roots, catalog, progress)
        pending = _under(catalog.photos_needing_work(), roots) if catalog is not None else []
        plan_counts_for_dry_run(catalog, self.vision, plan, report, pending)
        return report

    def _scan(self, roots: list[Path], catalog: "Catalog | None", progress: Progress | None) -> "ScanPlan":
        from photolib.pipeline.pairs import PhotoFiles
        from photolib.pipeline.scan import RawMode, plan_scan

        scanning = progress or NoProgress()
        scanning.start(None, "Scanning")
        raw = RawMode(self.settings.raw_files)
        if catalog is None:
            plan = plan_scan(roots, {}, lambda hashes: {}, on_file=scanning.advance, raw=raw)
        else:
            plan = plan_scan(roots, catalog.file_states(), catalog.ids_by_hash, on_file=scanning.advance, raw=raw,
                             companions_known=PhotoFiles(catalog.db).states())
        scanning.finish()
        return plan

    def search(self, query: str, *, limit: int | None = None, threshold: float | None = None,
               exact: bool = False, sort: str | None = None, offset: int = 0, all_results: bool = False,
               space: str = "all", image_threshold: float | None = None,
               collapse: str | None = None, person: str | None = None) -> list[SearchHit]:
        """Photos matching `query` in the query language (`photolib.query.parser`), best first.

        Filters select photos in SQL before anything is ranked; free words rank
        them by meaning, photos holding every word (in their description, the
        user's words or text read by OCR) first; results stop at `threshold`
        and, unless `all_results`, at the first clear drop in distance
        (`photolib.search.relevance`). A query of filters only lists the matching
        photos without embedding anything. `person` (a number or name from
        `people`) is the filter `person:`.

        When the library has an image space, the words are also looked for in
        the pixels (the image model's text tower) and both rankings are fused
        (`photolib.search.fusion`); `space` limits the search to "description" or
        "image". `threshold` is the description space's cut-off (the image
        space's with `space="image"`); `image_threshold` the image space's.
        """
        from photolib.query.parser import parse, with_flags

        if not query.strip() and person is None:
            raise UsageError("the search query is empty: say what to look for, e.g. photolib search \"sunset beach\"")
        return self.find(parse(with_flags(query, {"person": person})), limit=limit, threshold=threshold, exact=exact,
                         sort=sort, offset=offset, all_results=all_results, collapse=collapse, space=space,
                         image_threshold=image_threshold)

    def find(self, parsed: "ParsedQuery", *, limit: int | None = None, threshold: float | None = None,
             exact: bool = False, sort: str | None = None, offset: int = 0, all_results: bool = False,
             around: Any = None, leave_out: int | None = None, collapse: str | None = None,
             space: str = "description", image_threshold: float | None = None,
             around_space: "Space | None" = None) -> list[SearchHit]:
        """`search` for an already parsed query; `around` ranks by closeness to a photo's vector in
        `around_space` (`similar`); `collapse` shows each group of copies once (see
        `photolib.search.duplicates`); `space` "all" or "image" brings in the image space."""
        from photolib.search.finder import FindOptions
        from photolib.search.relevance import check_sort

        if parsed.empty and around is None:
            raise UsageError("the query says nothing to look for: add words or filters, e.g. beach year:2019")
        chosen_space = None if space == "all" else _space(space)
        options = FindOptions(limit=limit or self.settings.search_limit, offset=max(0, offset),
                              threshold=self.settings.search_threshold if threshold is None else threshold,
                              sort=check_sort(sort), all_results=all_results, exact=exact)
        if not parsed.semantic and around is None:
            return self._hits(self.finder.listing(parsed, options))
        searched = self.hybrid_search(chosen_space, threshold, image_threshold, around_space=around_space)
        if searched is None:
            self.finder.selection(parsed)  # a bad filter is still an error in an empty library
            return []  # nothing embedded yet: no need to load FAISS, the model or the index
        where = {str(around_space or Space.DESCRIPTION): around} if around is not None else None
        found = searched.run(parsed, options, around=where, leave_out=leave_out, collapse=collapse)
        self.last_parts = [part.as_dict() for part in found.parts]  # how each signal took part, for --explain
        with_pixels = around is None and any(part.name == Space.IMAGE for part in found.parts)
        return self._hits(found.ranked, fused=with_pixels)

    def hybrid_search(self, space: "Space | None" = None, threshold: float | None = None,
                      image_threshold: float | None = None, *,
                      around_space: "Space | None" = None) -> "HybridSearch | None":
        """The spaces a ranked search runs in (`photolib.search.hybrid`), None when none holds vectors
        yet: `space` alone, or (None) every space that can answer, description first. `threshold` is
        a distance in the first space whose score is the lowest kept (default that space's own);
        `image_threshold` limits what the image space proposes beside the description space (and is
        the threshold of the image space alone); `around_space` is the one space of `similar`."""
        from photolib.search.hybrid import HybridSearch, SpaceSearch

        weights = {Space.DESCRIPTION: self.settings.search_description_weight,
                   Space.IMAGE: self.settings.search_image_weight}
        if around_space is not None:
            chosen = [around_space]
        elif space == Space.IMAGE:
            chosen = [Space.IMAGE] if self._image_space_ready(required=True) else []
        else:
            chosen = [Space.DESCRIPTION] if self._check_embedder_matches() is not None else []
            if space is None and self._image_space_ready():
                chosen.append(Space.IMAGE)
        if not chosen:
            return None
        first = chosen[0]
        if first == Space.DESCRIPTION:
            floor = self.settings.search_threshold if threshold is None else threshold
        elif around_space == Space.IMAGE:
            floor = self._image_similar_threshold() if threshold is None else threshold
        else:  # the image space alone: --threshold, else --image-threshold, else the family's
            floor = self._image_threshold(threshold if threshold is not None else image_threshold)
        spaces = [SpaceSearch(self.finder if name == Space.DESCRIPTION else self.image_finder, weights[name],
                              image_threshold if name == Space.IMAGE and index else None)
                  for index, name in enumerate(chosen)]
        return HybridSearch(self.catalog, spaces, threshold=floor, words_weight=self.settings.search_words_weight,
                            collapse=self.settings.collapse_duplicates)

    def _image_space_ready(self, required: bool = False) -> bool:
        """Whether the image space can answer: it holds vectors of the configured image model."""
        stored = self.keeper_of(Space.IMAGE).stored_model()
        embedder = self.image_embedder if (stored or required) else None
        if stored and embedder is not None and stored[0] == embedder.model_name:
            return True
        if stored and embedder is not None:
            self.notify(f"The image space holds vectors of {stored[0]}, not of the configured {embedder.model_name}: "
                        "`photolib enrich` embeds the photos with it; searching without the image space meanwhile.")
        if required:
            raise UsageError(_no_image_space(embedder is None))
        return False

    def _image_threshold(self, given: float | None) -> float:
        from photolib.core.config import image_threshold

        if given is not None:
            return given
        return image_threshold(self.settings, getattr(self.image_embedder, "family", None))

    def _image_similar_threshold(self) -> float:
        from photolib.core.config import image_similar_threshold

        return image_similar_threshold(self.settings, getattr(self.image_embedder, "family", None))

    def explain(self, query: str) -> dict[str, Any]:
        """How `query` is understood: its parts, and how many photos its filters leave."""
        from photolib.query.parser import explain, parse

        parsed = parse(query)
        selection = self.finder.selection(parsed)
        total = self.catalog.photo_count()
        return {"query": query, "parsed": parsed.as_dict(),
                "lines": [{"part": part, "meaning": text} for part, text in explain(parsed)],
                "photos": total, "allowed": total if selection is None else len(selection)}

    @property
    def finder(self) -> "Finder":
        from photolib.search.finder import DescriptionQueries, Finder
        from photolib.search.hybrid import Deferred

        if getattr(self, "_finder", None) is None or self._finder.catalog is not self.catalog:
            self._finder = Finder(self.catalog, self.keeper, DescriptionQueries(self.providers), self.settings)
            self._finder.albums.everywhere = Deferred(self.hybrid_search)  # smart albums search every space
        return self._finder

    @property
    def image_finder(self) -> "Finder":
        """The query language over the image space: words embedded by the image model's text tower."""
        from photolib.search.finder import Finder, ImageQueries

        if getattr(self, "_image_finder", None) is None or self._image_finder.catalog is not self.catalog:
            self._image_finder = Finder(self.catalog, self.keeper_of(Space.IMAGE), ImageQueries(self.image_embedder),
                                        self.settings, albums=self.finder.albums)
        return self._image_finder

    def album_ids(self, name: str) -> list[int] | None:
        """Photo ids of the album called `name`: a smart album (evaluated) or a saved one; None if neither."""
        from photolib.app.albums_query import album_ids

        return album_ids(self, name)

    def _hits(self, chosen: list[Any], fused: bool = False) -> list[SearchHit]:
        """Hits for `Ranked` results (a listing) or `FusedRanked` ones; `fused`: the image space took
        part, so each hit says its distance in each space, the fused relevance and each signal's share of it."""
        photos = self.catalog.get_many([r.id for r in chosen])
        return [
            SearchHit(r.id, photos[r.id].path, r.distance, photos[r.id].data.get("caption") or "", photos[r.id].tags,
                      photos[r.id].data.get("taken_at"), r.score,
                      r.distances if fused else None, round(r.fusion, 4) if fused else None,
                      getattr(r, "contributions", None))
            for r in chosen if r.id in photos
        ]

    def similar(self, photo_ref: str, *, limit: int | None = None, threshold: float | None = None,
                exact: bool = False, query: str | None = None, sort: str | None = None, offset: int = 0,
                all_results: bool = False, collapse: str | None = None) -> list[SearchHit]:
        """Photos nearest to a photo: by the image space when the library has one, else by description.

        `photo_ref` is a photo of the library (id or path; the photo itself is left out), or the
        path of an image file that is not in it: that one is embedded on the fly and stored nowhere.
        `query` (the query language) restricts the neighbours to photos its filters allow and moves
        the comparison by its words, +/- terms and image terms (embedded in the space compared).
        """
        from photolib.query.parser import parse

        parsed = parse(query or "")
        photo, vector, space = self._similar_source(photo_ref)
        return self.find(parsed, limit=limit, threshold=threshold, exact=exact, sort=sort, offset=offset,
                         all_results=True if all_results or not parsed.semantic else False, around=vector,
                         around_space=space, leave_out=photo.id if photo is not None else None, collapse=collapse)

    def _similar_source(self, ref: str) -> tuple["StoredPhoto | None", Any, Space]:
        """(library photo or None, its vector, the space to search) for `similar`."""
        import numpy as np

        text = str(ref).strip()
        if not text.isdigit() and os.path.isfile(absolute(text)) and \
                self.catalog.get_by_path(str(absolute(text))) is None:
            if self._image_space_ready():
                return None, self.image_finder.photo_vector(text), Space.IMAGE
            if self._check_embedder_matches() is None:
                raise UsageError("the library has no embedded photos yet: `photolib add` a folder first")
            return None, self.finder.photo_vector(text), Space.DESCRIPTION
        photo = self.resolve(ref)
        if self._image_space_ready():
            blob = self.catalog.vectors_for([photo.id], Space.IMAGE).get(photo.id)
            if blob is not None:
                return photo, np.frombuffer(blob, dtype=np.float32), Space.IMAGE
        blob = self.catalog.vectors_for([photo.id]).get(photo.id)
        if blob is None:
            raise UsageError(_not_embedded(photo))
        return photo, np.frombuffer(blob, dtype=np.float32), Space.DESCRIPTION

    def resolve(self, ref: str | int) -> "StoredPhoto":
        """A photo by id or by path."""
        text = str(ref).strip()
        photo = self.catalog.get(int(text)) if text.isdigit() else self.catalog.get_by_path(str(absolute(text)))
        if photo is None:
            raise UsageError(f"no photo {text!r} in the library: see `photolib list` for ids")
        return photo

    def show(self, photo_ref: str | int) -> dict[str, Any]:
        from photolib.app.views import photo_details

        photo = self.resolve(photo_ref)
        details = photo_details(photo, self.catalog)
        text = self.text_store.text_of(photo.id)
        details["text"] = text["text"] if text else None
        details["text_boxes"] = text["boxes"] if text else []
        details["faces"] = self.face_store.faces_of_photo(photo.id)
        return details

    def source_roots(self, photo_ids: list[int]) -> dict[int, str]:
        """photo id -> the folder given to `add` that found it (tables show paths relative to it)."""
        from photolib.store.gallery import source_roots

        return source_roots(self.catalog, photo_ids)

    def thumbnail_files(self, photo_ids: list[int]) -> dict[int, Path]:
        """photo id -> its small thumbnail file, made now if missing; photos that cannot be read are left out."""
        from photolib.store.gallery import hashes_by_id

        found = {}
        photos = self.catalog.get_many(photo_ids)
        for photo_id, digest in hashes_by_id(self.catalog, photo_ids).items():
            if self.thumbnails.ensure(digest, photos[photo_id].path):
                found[photo_id] = self.thumbnails.path(digest)
        return found

    def summary(self, photo_id: int) -> dict[str, Any] | None:
        """The `list` row of one photo, None when it is gone."""
        from photolib.app.views import photo_summary

        photo = self.catalog.get(photo_id)
        return photo_summary(photo) if photo else None

    def list_photos(self, query: str | None = None, *, tag: str | None = None, since: str | None = None,
                    until: str | None = None, status: str | None = None, limit: int | None = None,
                    sort: str | None = None, offset: int = 0,
                    filters: dict[str, str | None] | None = None, rating: int | None = None,
                    keyword: str | None = None, has_text: bool = False,
                    person: str | None = None) -> list[dict[str, Any]]:
        """Photos matching `query` (the query language) and the options, oldest first unless `sort`.

        `since`/`until` are inclusive days; `rating` is a minimum; `filters` are more `key: value`
        filters (the CLI's flags). Every option is the query language's filter of that name, so
        `list --rating 4` and `list rating:>=4` are the same. Free words rank by meaning as `search`
        does, then the matches are sorted.
        """
        from photolib.store.catalog import PHOTO_STATUSES
        from photolib.query.parser import parse, with_flags
        from photolib.app.views import photo_summary

        if status and status not in PHOTO_STATUSES:
            raise UsageError(f"--status {status!r} is not a status: use one of {', '.join(PHOTO_STATUSES)}")
        flags = {"tag": tag, "status": status, "rating": None if rating is None else f">={max(rating, 0)}",
                 "keyword": keyword, "person": person, "has": "text" if has_text else None}
        text = with_flags(query, flags | (filters or {}))
        start, end = _parse_date(since, "--since"), _parse_date(until, "--until")
        text += f" date>={start}" if start else ""
        text += f" date<={end}" if end else ""
        parsed = parse(text)
        hits = self.find(parsed, limit=limit or (LIST_LIMIT if parsed.semantic else -1), sort=sort or "date",
                         offset=offset) if not parsed.empty else self._hits(
            self.finder.listing(parsed, _list_options(limit, sort or "date", offset)))
        photos = self.catalog.get_many([hit.id for hit in hits])
        return [photo_summary(photos[hit.id]) | ({"score": hit.score} if hit.score is not None else {})
                for hit in hits if hit.id in photos]

    def remove(self, ref: str) -> list[dict[str, Any]]:
        """Forget a photo (by id or path) or every photo under a folder; files are never touched."""
        from photolib.store.catalog import PhotoFilter

        text = str(ref).strip()
        if text.isdigit():
            photos = [self.resolve(text)]
        else:
            folder = str(absolute(text))
            photos = self.catalog.find_photos(PhotoFilter(at_or_under=folder))
            if not photos:
                raise UsageError(f"no photo at or under {folder!r} in the library: see `photolib list`")
        self._forget([p.id for p in photos])
        return [{"id": p.id, "path": p.path} for p in photos]

    def prune(self) -> list[dict[str, Any]]:
        """Forget photos whose files no longer exist (checked under the write lock, so a move
        that a concurrent `add` has just recorded is not mistaken for a deletion)."""
        from photolib.pipeline.pairs import PhotoFiles

        with self.write_lock():
            gone = [(pid, path) for pid, path in self.catalog.all_paths() if not os.path.exists(path)]
            seconds = PhotoFiles(self.catalog.db).of_photos([pid for pid, _ in gone])
            # a pair whose JPEG is gone but whose RAW is there is kept: the next `add` shows it by its RAW
            gone = [(pid, path) for pid, path in gone
                    if not any(os.path.exists(f["path"]) for f in seconds.get(pid, []))]
            self._forget_locked([pid for pid, _ in gone])
            from photolib.store.gallery import hashes_in_use

            self.thumbnails.drop_unused(hashes_in_use(self.catalog))
        return [{"id": pid, "path": path} for pid, path in gone]

    def _forget(self, ids: list[int]) -> None:
        with self.write_lock():
            self._forget_locked(ids)

    def _forget_locked(self, ids: list[int]) -> None:
        if not ids:
            return
        from photolib.store.gallery import hashes_in_use, hashes_of

        hashes = hashes_of(self.catalog, ids)
        with self.catalog.transaction():
            self.catalog.delete_photos(ids)
        self.sync_indexes()
        self.thumbnails.drop(hashes - hashes_in_use(self.catalog, list(hashes)))

    def reindex(self, *, reembed: bool = False, space: str | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
        """Rebuild each space's index (or `space`'s) from the catalog; with `reembed`, recompute the
        vectors first (description: from the stored descriptions; image: the image stage over every photo)."""
        from photolib.pipeline.reembed import reembed_all

        chosen = [_space(space)] if space else None
        with self.write_lock():
            spaces = chosen or self.kept_spaces()
            embedded = 0
            if reembed and Space.DESCRIPTION in spaces:
                texts = (self.text_store.texts_for(self.text_store.photo_ids_with_text())
                         if self._photo_texts() else None)
                embedded += reembed_all(self.catalog, self.embedder, progress, texts)
            if reembed and Space.IMAGE in spaces:
                embedded += self._reembed_images(progress)
            result: dict[str, Any] = {"reembedded": embedded, "spaces": {}}
            for name in spaces:
                index = self.keeper_of(name).rebuild()
                self.keeper_of(name).save()
                result["spaces"][str(name)] = {"vectors": index.count, "model": index.model,
                                               "dimension": index.dimension}
        first = result["spaces"].get(str(Space.DESCRIPTION)) or next(iter(result["spaces"].values()))
        return {**first, **result}

    def _reembed_images(self, progress: Progress | None) -> int:
        from photolib.store.stage_states import StageStates
        from photolib.pipeline.engine import StageName

        if not any(stage.name == StageName.IMAGE for stage in self.stages()):
            raise UsageError("no image model is installed or configured: see `photolib models list`, "
                             "then `photolib models pull NAME`")
        with self.catalog.transaction():
            StageStates(self.catalog).forget_stage(StageName.IMAGE)
        reports = self._run_stages(None, progress, None)
        return sum(report.done for report in reports if report.name == StageName.IMAGE)

    def stats(self) -> dict[str, Any]:
        from photolib.app.views import library_stats, model_advice, space_stats, stage_counts, stage_problems

        result = library_stats(self.catalog, self.keeper, self.settings, self.providers, self.root)
        spaces = self.kept_spaces()
        description_index = self.keeper.current() if result["catalog_vectors"] and not any(
            "index cannot be used" in problem for problem in result["problems"]) else None
        result["spaces"], problems, repaired = space_stats(
            self.catalog, {space: self.keeper_of(space) for space in spaces},
            {space: self.index_folder_of(space) for space in spaces}, description_index)
        result["stages"] = stage_counts(self.catalog, self.stages(), self.settings, self.providers)
        result["problems"] += problems + stage_problems(result["stages"])
        result["repaired"] += repaired
        result["advice"] = model_advice(self.stored_image_model() or getattr(self.image_embedder, "model_name", None))
        from photolib.pipeline.pairs import PhotoFiles

        return result | {"thumbnails": self.thumbnails.usage().as_dict(), "raw_pairs": PhotoFiles(self.catalog.db).count()}

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
        from photolib.app.albums_query import matching
        from photolib.query.parser import parse

        if query is None or not query.strip():
            return None
        return [hit.id for hit in matching(self, parse(query))]

    # -- people -------------------------------------------------------------------

    def people(self) -> list["Person"]:
        """Everyone whose face was found, most faces first (unnamed people have a number)."""
        return self.face_store.people()

    def person(self, ref: str | int) -> dict[str, Any]:
        """One person: counts, and their faces with the photos they are in."""
        from photolib.app.views import photo_summary

        person = self.face_store.person(ref)
        faces = self.face_store.faces_of_person(person.id)
        photos = self.catalog.get_many(self.face_store.photo_ids_of_person(person.id))
        return {**person.as_dict(), "faces_found": faces,
                "photo_list": [photo_summary(photos[pid]) for pid in sorted(photos)]}

    def name_person(self, ref: str | int, name: str) -> "Person":
        name = " ".join(name.split())
        if not name or name.isdigit():
            raise UsageError(f"{name!r} cannot be a name: give a name with letters, e.g. people name 3 \"Anna\"")
        with self.write_lock(), self.catalog.transaction():
            person = self.face_store.person(ref)
            self.face_store.name(person.id, name)
            return self.face_store.person(person.id)

    def merge_people(self, keep: str | int, other: str | int) -> "Person":
        """`other`'s faces join `keep`, which takes `other`'s name if it has none."""
        with self.write_lock(), self.catalog.transaction():
            first, second = self.face_store.person(keep), self.face_store.person(other)
            if first.id == second.id:
                raise UsageError(f"{keep} and {other} are the same person: give two different people to merge")
            if first.name and second.name:
                raise UsageError(f"both people are named ({first.name!r}, {second.name!r}): rename or forget one, "
                                 "then merge")
            self.face_store.merge(first, second)
            return self.face_store.person(first.id)

    def forget_person(self, ref: str | int) -> dict[str, Any]:
        """Drop a person and their faces from the catalog (photos stay)."""
        with self.write_lock(), self.catalog.transaction():
            person = self.face_store.person(ref)
            dropped = self.face_store.forget(person.id)
        return {"id": person.id, "name": person.name, "faces_dropped": dropped}

    def recluster_people(self, threshold: float | None = None) -> list["Person"]:
        """Group again the faces of unnamed people (named people keep theirs), at `threshold`."""
        threshold = self.settings.faces_threshold if threshold is None else threshold
        with self.write_lock(), self.catalog.transaction():
            from photolib.models.people import group

            self.face_store.ungroup_unnamed()
            self.face_store.group_new_faces(threshold, group)
        return self.face_store.people()

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

    # -- the user's other tools ---------------------------------------------------

    def export_xmp(self, paths: list[str | os.PathLike] | None = None, *, style: str | None = None,
                   dry_run: bool = False) -> "ExportReport":
        """Write photolib's tags and caption into XMP sidecars beside the photos (never into the photos)."""
        from photolib.media.sidecars import export_sidecars

        style = style or self.settings.xmp_sidecar
        if style not in ("photo.jpg.xmp", "photo.xmp"):
            raise UsageError(f"--style {style!r} is not a sidecar name style: use photo.jpg.xmp or photo.xmp")
        from photolib.store.catalog import PhotoFilter

        photos = self.catalog.find_photos(PhotoFilter(described=True))
        if paths:
            photos = _under(photos, [absolute(p) for p in paths])
        if dry_run:
            return export_sidecars(self.catalog, photos, style, dry_run=True)
        with self.write_lock():
            with self.catalog.transaction():
                return export_sidecars(self.catalog, photos, style, dry_run=False)

    def duplicates(self, *, similar: bool = False, near_bits: int | None = None,
                   similar_distance: float | None = None, mark: bool = False,
                   export: str | os.PathLike | None = None, progress: Progress | None = None,
                   pairs: bool = True) -> list["DuplicateGroup"]:
        """Groups of copies, best first, then (with `pairs`) RAW+JPEG pairs as stacks (kind "pair");
        photolib never deletes or moves any of them."""
        from photolib.search import duplicates

        near_bits = self.settings.duplicates_near_bits if near_bits is None else near_bits
        if not 0 <= near_bits <= 32:
            raise UsageError(f"--bits {near_bits} is out of range: give 0 (identical hashes) to 32")
        similar_distance = self.settings.duplicates_similar_distance if similar_distance is None else similar_distance
        if export is not None and os.path.isdir(export):
            raise UsageError(f"{absolute(export)} is a folder: give --export a file name for the list (CSV)")
        self._hash_missing(progress)
        vectors = self._image_vectors() if similar else None
        groups = duplicates.find(self.catalog, near_bits=near_bits, similar=similar, image_vectors=vectors,
                                 similar_distance=similar_distance, pairs=pairs)
        if mark:
            with self.write_lock(), self.catalog.transaction():
                self.catalog.replace_duplicate_marks(
                    duplicates.hidden_copies(g for g in groups if g.kind != duplicates.DuplicateKind.EXACT), "near")
        if export is not None:
            duplicates.write_list(groups, absolute(export))
        return groups

    def _hash_missing(self, progress: Progress | None) -> None:
        """Perceptual hashes for photos imported before photolib made them (read once, then stored)."""
        from photolib.media import read as media
        from photolib.core.errors import PhotolibError

        missing = self.catalog.ids_missing_phash()
        if not missing:
            return
        progress = progress or NoProgress()
        progress.start(len(missing), "Hashing photos imported before perceptual hashes")
        with self.write_lock():
            for start in range(0, len(missing), 256):
                found = {}
                for photo_id, path in missing[start:start + 256]:
                    try:
                        found[photo_id] = media.read_photo(Path(path)).phash
                    except (PhotolibError, OSError):
                        found[photo_id] = None
                with self.catalog.transaction():
                    for photo_id, phash in found.items():
                        self.catalog.store_phash(photo_id, phash or "")
                progress.advance(len(found))
        progress.finish()

    def _image_vectors(self) -> Any:
        """(photo ids, unit-vector matrix) of the image space, of its one model; a `UsageError` saying
        how to make them when the library has none."""
        import numpy as np

        ids: list[int] = []
        blobs: list[bytes] = []
        dimension = 0
        for batch_ids, batch_blobs, _model, dimension in self.catalog.iter_vectors(space=Space.IMAGE):
            ids += batch_ids
            blobs += batch_blobs
        if len(ids) < 1:
            raise UsageError("`duplicates --similar` compares image vectors, and this library has none yet: "
                             "turn on the image model (see `photolib models list`), run `photolib enrich`, "
                             "then retry")
        return ids, np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dimension)

    def backup(self, destination: str | os.PathLike) -> dict[str, Any]:
        """A consistent snapshot (catalog via SQLite's backup API, plus the index) in `destination`."""
        from photolib.maintenance.backup import backup, check_destination

        destination = absolute(destination)
        check_destination(destination)
        with self.write_lock():
            return backup(self.catalog, self.index_folder, destination)

    def restore(self, source: str | os.PathLike, force: bool = False) -> dict[str, Any]:
        """Replace this library's catalog and index with a snapshot made by `backup`.

        The catalog is closed first and reopened on next use, on the restored files."""
        from photolib.maintenance.backup import check_snapshot, restore

        source = absolute(source)
        check_snapshot(source)
        with self.write_lock():
            if sum(self.catalog.status_counts().values()) and not force:
                raise UsageError(f"{self.root} already holds photos: restore into an empty library, or add --force "
                                 "to replace it (take a backup of it first)")
            self.close()
            try:
                return restore(source, self.root)
            finally:
                self.close()

    def doctor(self) -> dict[str, Any]:
        """`stats` plus SQLite's integrity check; a damaged catalog is reported, not raised (`photolib.maintenance.doctor`)."""
        from photolib.maintenance.doctor import doctor

        return doctor(self)

    def repair(self) -> "RepairReport":
        """Salvage a damaged catalog from its readable rows and the newest snapshot (`photolib.maintenance.salvage`)."""
        from photolib.maintenance.repair import repair

        return repair(self)

    def restore_snapshot(self, reference: str) -> dict[str, Any]:
        """Put one of the library's own snapshots (by day, name or `latest`) in place of its catalog."""
        from photolib.maintenance.restore import restore_snapshot

        return restore_snapshot(self, reference)

    def import_embedded(self, photos: "Iterable[EmbeddedPhoto]", model: str) -> int:
        """Add photos that already have descriptions and vectors (migrations, large test libraries)."""
        from photolib.pipeline.bulk import import_embedded

        with self.write_lock():
            try:
                return import_embedded(self.catalog, photos, model)
            finally:
                self.sync_indexes()

    def imagine(self, photo_ref: str | int, request: "ImagineRequest") -> "ImagineResult":
        """Generate images inspired by a photo; see `photolib.app.imagine`."""
        from photolib.app.imagine import imagine

        photo = self.resolve(photo_ref)
        options = self.settings.generation.options if self.settings.generation else {}
        return imagine(photo, request, catalog=self.catalog, providers=self.providers, options=options,
                       folder=request.out or self.root / GENERATED_FOLDER)

    def gallery(self, folder: str | os.PathLike, *, title: str = "Photos") -> "GalleryReport":
        """Write the whole library as a static web site in `folder` (see `photolib.render.gallery`)."""
        from photolib.render.gallery import GalleryInput, check_folder, write_gallery
        from photolib.app.views import photo_details

        folder = absolute(folder)
        check_folder(folder)
        from photolib.store.catalog import PhotoOrder

        photos = [photo_details(p, self.catalog) for p in self.catalog.find_photos(order=PhotoOrder.TAKEN)]
        generations: dict[int, list[dict[str, Any]]] = {}
        for row in self.catalog.generations():
            generations.setdefault(row["photo_id"], []).append(row)
        data = GalleryInput(photos, self._gallery_albums(), self.thumbnails, title=title, generations=generations)
        return write_gallery(folder, data)

    def _gallery_albums(self) -> list[tuple[str, list[int]]]:
        """Saved albums; else the albums `photolib albums` would show now (none before anything is embedded)."""
        saved = self.catalog.saved_albums()
        if saved:
            return [(name, ids) for _id, name, ids in saved]
        if self.catalog.vector_count() == 0:
            return []
        from photolib.core.errors import PhotolibError

        try:
            return [(album.name, album.photo_ids) for album in self.albums().albums]
        except PhotolibError as error:  # e.g. the embedder changed: the site is still written, without albums
            self.notify(f"No albums in the gallery: {error}")
            return []

    def write_html(self, file: str | os.PathLike, title: str, sections: list[tuple[str | None, list[dict[str, Any]]]]) -> str:
        """One self-contained page of photo rows (dicts with `id` and `path`), thumbnails inlined."""
        from photolib.store.gallery import hashes_by_id
        from photolib.render.html import PhotoSection, write_photos_page

        ids = [row["id"] for _title, rows in sections for row in rows]
        written = write_photos_page(absolute(file), title, [PhotoSection(t, rows) for t, rows in sections],
                                    self.thumbnails, hashes_by_id(self.catalog, ids))
        return str(written)

    def write_imagine_html(self, file: str | os.PathLike, result: "ImagineResult") -> str:
        """One self-contained page of an `imagine` run: the source photo beside what was made from it."""
        from photolib.render.html import data_url, imagine_page, write_text
        from photolib.app.views import photo_summary

        photo = self.resolve(result.photo_id)
        digest = photo.data.get("hash")
        thumbnail = data_url(self.thumbnails.path(digest)) if self.thumbnails.ensure(digest, photo.path) else None
        return str(write_text(absolute(file), imagine_page(photo_summary(photo), thumbnail, result.as_dict())))

    def generations(self) -> list[dict[str, Any]]:
        return self.catalog.generations()

    def saved_albums(self) -> list["Album"]:
        from photolib.search.albums import Album

        return [Album(name, ids, id=album_id) for album_id, name, ids in self.catalog.saved_albums()]

    def saved_album(self, ref: int | str, *, sort: str | None = None, export: str | os.PathLike | None = None,
                    copy: bool = False) -> tuple[str, list[dict[str, Any]]]:
        """(name, photos) of a saved album (number or name) or a smart album (name, evaluated now);
        with `export`, the album is also written as a folder of symlinks (or copies) there."""
        from photolib.search.albums import Album, export_albums
        from photolib.app.albums_query import show
        from photolib.app.views import photo_summary

        _check_export(export, copy)
        name, ids, scores = show(self, str(ref), sort=sort)
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

    def albums_listing(self) -> list[dict[str, Any]]:
        """Saved albums and smart albums (marked `smart`, with their query and current size)."""
        from photolib.app.albums_query import listing

        return listing(self)

    def smart_album(self, name: str, query: str, *, replace: bool = False) -> dict[str, Any]:
        """Save `query` as a smart album called `name` (evaluated each time it is shown)."""
        from photolib.app.albums_query import save_smart

        return save_smart(self, name, query, replace=replace)

    def delete_album(self, ref: str) -> dict[str, Any]:
        """Delete a smart album (by name) or a saved album (by number or name); photos are untouched."""
        from photolib.app.albums_query import delete

        return delete(self, ref)


def _check_export(export: str | os.PathLike | None, copy: bool) -> None:
    if copy and export is None:
        raise UsageError("--copy only applies to --export DIR: add --export, or drop --copy")
    if export is not None and os.path.exists(export) and not os.path.isdir(export):
        raise UsageError(f"{absolute(export)} is a file: give --export a folder (it is created if missing)")


def _space(name: str) -> Space:
    try:
        return Space(name)
    except ValueError:
        raise UsageError(f"--space {name!r} is not a vector space: use one of "
                         f"{', '.join(str(s) for s in Space)}") from None


def _under(photos: list["StoredPhoto"], roots: list[Path]) -> list["StoredPhoto"]:
    """The photos at or below one of `roots`: `add PATH` works on PATH, and sends nothing from elsewhere."""
    prefixes = tuple(str(root).rstrip(os.sep) + os.sep for root in roots)
    names = {str(root) for root in roots}
    return [p for p in photos if p.path in names or p.path.startswith(prefixes)]


def _not_embedded(photo: "StoredPhoto") -> str:
    """Why a photo has no vector, and what (if anything) finishes it."""
    if photo.status == PhotoStatus.FAILED and photo.data.get("failed_stage") == FailedStep.READ:
        return (f"photo {photo.id} could not be read ({photo.data.get('error')}), so it has no embedding: "
                "replace the file, then run `photolib add` on its folder")
    return f"photo {photo.id} has no embedding yet (status {photo.status}): run `photolib add` on its folder to finish it"


def _no_image_space(no_model: bool) -> str:
    if no_model:
        return ("the image space needs an image model, and none is installed: see `photolib models list`, "
                "then `photolib models pull NAME`")
    return "no photo has been embedded into the image space yet: run `photolib enrich`"


def _list_options(limit: int | None, sort: str, offset: int) -> Any:
    from photolib.search.finder import FindOptions
    from photolib.search.relevance import check_sort

    return FindOptions(limit=limit or -1, sort=check_sort(sort), offset=max(0, offset))


def _parse_date(text: str | None, option: str, end: bool = False) -> str | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date: use YYYY-MM-DD") from None
    return (day + timedelta(days=1)).isoformat() if end else day.isoformat()
