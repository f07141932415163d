"""What every use case of one library shares: settings, the catalog, the indexes' keepers,
the providers, the writer lock, notify, and the automatic snapshot at the end of a command.

Catalog, keepers and providers are built lazily, so `photolib --help` stays
instant, and can be injected, so tests run the real code against their own
providers. Each use case module (`importing`, `searching`, `albums`, ...)
receives this context, never the `Library` facade.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from photolib.core.config import Settings
from photolib.core.errors import LibraryLockedError, UsageError
from photolib.core.layout import CACHE_FOLDER, CATALOG_NAME, INDEX_FOLDER, LOCK_NAME
from photolib.core.progress import Notify, ignore
from photolib.core.spaces import Space
from photolib.core.files import absolute
from photolib.providers.base import Providers

if TYPE_CHECKING:
    from photolib.core.protocols import Embedder, Generator, Vision
    from photolib.media.thumbnails import ThumbnailCache
    from photolib.pipeline.stage import Stage
    from photolib.search.finder import Finder
    from photolib.search.hybrid import HybridSearch
    from photolib.store.catalog import Catalog, StoredPhoto
    from photolib.store.faces import FaceStore
    from photolib.store.index import VectorIndex
    from photolib.store.keeper import IndexKeeper
    from photolib.store.text import TextStore


class LibraryContext:
    """A photo library folder: catalog, indexes and the configured providers, opened on first use."""

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
        """Rows this library changed in the catalog so far (opening and migrating it not counted)."""
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
                from photolib.providers.base import make_image_embedder
            except ImportError:
                self._image_embedder = None
            else:
                self._image_embedder = make_image_embedder(self._image_settings_in_use())
            self._image_embedder_built = True
        return self._image_embedder

    def _image_settings_in_use(self) -> Settings:
        """The settings with `[image] model` as this library uses it: the library keeps the known model
        its image vectors were made with while the configuration leaves the model at its default
        (`photolib.models.registry.model_in_use`), locally and on inference servers alike."""
        from dataclasses import replace

        from photolib.models.registry import model_in_use

        image = self.settings.image
        kept = model_in_use(image, self.stored_image_model())
        return self.settings if kept == image.model else replace(self.settings, image=replace(image, model=kept))

    def stored_image_model(self) -> str | None:
        """The one model the image space's vectors were made with (None: no vectors, or several):
        the library keeps using it while `[image] model` is left at its default."""
        if not (self.root / CATALOG_NAME).exists():
            return None
        bounds = self.catalog.embedding_model_bounds(Space.IMAGE)
        return bounds[0][0] if bounds and bounds[0] == bounds[1] else None

    def inference_servers(self) -> dict[str, str]:
        """What goes to Immich machine-learning servers, and where: {"image vectors and queries": "gpu:3003,
        nas:3003", ...} for each enabled pixel stage with a url (empty: every pixel model runs here). Builds
        nothing."""
        from photolib.providers.remote_common import host_of

        enabled = {"image": self.settings.image.enabled, "ocr": self.settings.ocr_enabled,
                   "faces": self.settings.faces_enabled}
        names = {"image": "image vectors and queries", "ocr": "text", "faces": "faces"}
        return {names[section]: ", ".join(filter(None, (host_of(url) for url in self.settings.servers(section).urls)))
                for section in ("image", "ocr", "faces") if enabled[section] and self.settings.servers(section).urls}

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

    def checkpoint(self) -> Any:
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

    def check_embedder_matches(self) -> tuple[str, int] | None:
        """The description space's (model, dimension), None when empty; an `IndexMismatchError` when the
        configured embedder is another model (see `Finder.stored_model`)."""
        return self.finder.stored_model()

    @property
    def finder(self) -> "Finder":
        """The query language over the description space (its `albums` resolve `album:` filters, and
        evaluate smart albums over every space, as `search` does)."""
        from photolib.search.finder import DescriptionQueries, Finder
        from photolib.search.hybrid import Deferred

        if getattr(self, "_finder", None) is None or self._finder.catalog is not self.catalog:
            self._finder = Finder(self.catalog, self.keeper, DescriptionQueries(self.providers), self.settings)
            self._finder.albums.everywhere = Deferred(self.hybrid_search)
        return self._finder

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
            chosen = [Space.IMAGE] if self.image_space_ready(required=True) else []
        else:
            chosen = [Space.DESCRIPTION] if self.check_embedder_matches() is not None else []
            if space is None and self.image_space_ready():
                chosen.append(Space.IMAGE)
        if not chosen:
            return None
        if chosen[0] == Space.DESCRIPTION:
            floor = self.settings.search_threshold if threshold is None else threshold
        elif around_space == Space.IMAGE:
            floor = self.image_thresholds()[1] if threshold is None else threshold
        else:  # the image space alone: --threshold, else --image-threshold, else the family's
            given = threshold if threshold is not None else image_threshold
            floor = self.image_thresholds()[0] if given is None else given
        spaces = [SpaceSearch(self.finder if name == Space.DESCRIPTION else self.image_finder, weights[name],
                              image_threshold if name == Space.IMAGE and index else None)
                  for index, name in enumerate(chosen)]
        return HybridSearch(self.catalog, spaces, threshold=floor, words_weight=self.settings.search_words_weight,
                            collapse=self.settings.collapse_duplicates)

    def image_space_ready(self, required: bool = False) -> bool:
        """Whether the image space can answer: it holds vectors of the configured image model; with
        `required`, a UsageError saying what to do when it cannot."""
        stored = self.keeper_of(Space.IMAGE).stored_model()
        embedder = self.image_embedder if (stored or required) else None
        if stored and embedder is not None and stored[0] == embedder.model_name:
            return True
        if stored and embedder is not None:
            self.notify(f"The image space holds vectors of {stored[0]}, not of the configured {embedder.model_name}: "
                        "`photolib enrich` embeds the photos with it; searching without the image space meanwhile.")
        if required:
            if embedder is None:
                raise UsageError("the image space needs an image model, and none is installed: see "
                                 "`photolib models list`, then `photolib models pull NAME`")
            raise UsageError("no photo has been embedded into the image space yet: run `photolib enrich`")
        return False

    def image_thresholds(self) -> tuple[float, float]:
        """The image space's (text -> photo, photo -> photo) thresholds: `[search] image_threshold` for
        the first, else calibrated for the image model's family (`photolib.core.config`)."""
        from photolib.core.config import image_similar_threshold, image_threshold

        family = getattr(self.image_embedder, "family", None)
        return image_threshold(self.settings, family), image_similar_threshold(self.settings, family)

    @property
    def image_finder(self) -> "Finder":
        """The query language over the image space: words embedded by the image model's text tower."""
        from photolib.search.finder import Finder, ImageQueries

        if getattr(self, "_image_finder", None) is None or self._image_finder.catalog is not self.catalog:
            self._image_finder = Finder(self.catalog, self.keeper_of(Space.IMAGE), ImageQueries(self.image_embedder),
                                        self.settings, albums=self.finder.albums)
        return self._image_finder

    def index(self, save: bool = True) -> "VectorIndex":
        """The description index matching the catalog as it is now: loaded and caught up, or rebuilt with a message."""
        return self.keeper.current(save=save)

    def index_of(self, space: "Space | str", save: bool = True) -> "VectorIndex":
        """One space's index, as `index` does it for the description space."""
        return self.keeper_of(space).current(save=save)

    def resolve(self, ref: str | int) -> "StoredPhoto":
        """A photo by id or by path."""
        text = str(ref).strip()
        photo = self.catalog.get(int(text)) if text.isdigit() else self.catalog.get_by_path(str(absolute(text)))
        if photo is None:
            raise UsageError(f"no photo {text!r} in the library: see `photolib list` for ids")
        return photo


def shared(name: str) -> Any:
    """A read-only attribute that is the `LibraryContext`'s attribute `name` (`self.context.<name>`)."""
    return property(lambda self: getattr(self.context, name), doc=f"The library's `{name}` (see `LibraryContext`).")


class UseCase:
    """One use case over a library: the shared parts are read from its context by their usual names."""

    def __init__(self, context: LibraryContext) -> None:
        self.context = context

    settings = shared("settings")
    root = shared("root")
    notify = shared("notify")
    providers = shared("providers")
    catalog = shared("catalog")
    vision = shared("vision")
    embedder = shared("embedder")
    image_embedder = shared("image_embedder")
    thumbnails = shared("thumbnails")
    text_store = shared("text_store")
    face_store = shared("face_store")
    keeper = shared("keeper")
    keeper_of = shared("keeper_of")
    kept_spaces = shared("kept_spaces")
    sync_indexes = shared("sync_indexes")
    index = shared("index")
    index_of = shared("index_of")
    index_folder = shared("index_folder")
    index_folder_of = shared("index_folder_of")
    write_lock = shared("write_lock")
    stages = shared("stages")
    resolve = shared("resolve")
    check_embedder_matches = shared("check_embedder_matches")
    finder = shared("finder")
    image_finder = shared("image_finder")
    hybrid_search = shared("hybrid_search")
    image_space_ready = shared("image_space_ready")
    image_thresholds = shared("image_thresholds")
    stored_image_model = shared("stored_image_model")


def photos_under(photos: list["StoredPhoto"], roots: list[Path]) -> list["StoredPhoto"]:
    """The photos at or below one of `roots`: `add PATH` works on PATH, and sends nothing from elsewhere."""
    prefixes = tuple(str(root).rstrip(os.sep) + os.sep for root in roots)
    names = {str(root) for root in roots}
    return [p for p in photos if p.path in names or p.path.startswith(prefixes)]


def space_named(name: str) -> Space:
    """The vector space `--space NAME` means; a `UsageError` listing the spaces otherwise."""
    try:
        return Space(name)
    except ValueError:
        raise UsageError(f"--space {name!r} is not a vector space: use one of "
                         f"{', '.join(str(s) for s in Space)}") from None
