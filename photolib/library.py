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

from photolib.config import Settings
from photolib.errors import IndexMismatchError, LibraryLockedError, UsageError
from photolib.importer import AddReport, Importer, absolute, apply_plan, plan_counts_for_dry_run
from photolib.progress import NoProgress, Notify, Progress, ignore

if TYPE_CHECKING:
    from photolib.albums import Album, AlbumSet
    from photolib.bulk import EmbeddedPhoto
    from photolib.catalog import Catalog, StoredPhoto
    from photolib.imagine import ImagineRequest, ImagineResult
    from photolib.index import VectorIndex

CATALOG_NAME = "catalog.db"
INDEX_FOLDER = "index"


@dataclass
class SearchHit:
    id: int
    path: str
    distance: float
    caption: str
    tags: list[str]
    taken_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "distance": round(self.distance, 4),
                "caption": self.caption, "tags": self.tags, "taken_at": self.taken_at}


class Library:
    """A photo library folder: catalog, index and the configured providers."""

    def __init__(self, settings: Settings, *, vision: Any = None, embedder: Any = None,
                 generator: Any = None, notify: Notify = ignore) -> None:
        self.settings = settings
        self.root = Path(settings.library_path)
        self.notify = notify
        self._vision, self._embedder, self._generator = vision, embedder, generator
        self._catalog: Catalog | None = None
        self._index: VectorIndex | None = None

    # -- lazily built parts ---------------------------------------------------

    @property
    def catalog(self) -> "Catalog":
        if self._catalog is None:
            from photolib.catalog import Catalog

            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._catalog = Catalog(self.root / CATALOG_NAME)
        return self._catalog

    @property
    def vision(self) -> Any:
        if self._vision is None:
            from photolib.providers.base import make_provider

            self._vision = make_provider("vision", self.settings.vision)
        return self._vision

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            from photolib.providers.base import make_provider

            self._embedder = make_provider("embedding", self.settings.embedding)
        return self._embedder

    @property
    def generator(self) -> Any:
        if self._generator is None:
            from photolib.errors import GeneratorNotConfiguredError
            from photolib.providers.base import make_provider

            if self.settings.generation is None:
                raise GeneratorNotConfiguredError(
                    "no image generator is configured: set [generation] provider = \"huggingface\" (with HF_TOKEN) "
                    "or \"openai\" (with OPENAI_API_KEY) in the config file, or PHOTOLIB_GENERATION_PROVIDER"
                )
            self._generator = make_provider("generation", self.settings.generation)
        return self._generator

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        """Only one writer per library; a second one waits `lock_timeout`, then gives up."""
        from filelock import FileLock, Timeout

        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        lock = FileLock(str(self.root / ".lock"))
        try:
            lock.acquire(timeout=self.settings.lock_timeout)
        except Timeout:
            raise LibraryLockedError(
                f"another photolib process is writing to {self.root}; wait for it to finish and try again"
            ) from None
        try:
            yield
        finally:
            lock.release()

    # -- index ------------------------------------------------------------------

    @property
    def index_folder(self) -> Path:
        return self.root / INDEX_FOLDER

    def _catalog_model(self) -> tuple[str, int] | None:
        bounds = self.catalog.embedding_model_bounds()
        if bounds is None or bounds[0] == bounds[1]:
            return bounds[0] if bounds else None
        models = self.catalog.embedding_models()
        if len(models) > 1:
            names = ", ".join(f"{m} ({d}-d, {n} photos)" for m, d, n in models)
            raise IndexMismatchError(f"the catalog mixes embeddings of several models ({names}): run `photolib reindex --reembed`")
        return (models[0][0], models[0][1]) if models else None

    def _check_embedder_matches(self) -> tuple[str, int] | None:
        stored = self._catalog_model()
        if stored and stored[0] != self.embedder.model_name:
            raise IndexMismatchError(
                f"the library was embedded with {stored[0]} ({stored[1]}-d) but the configured embedder is "
                f"{self.embedder.model_name}: run `photolib reindex --reembed` to re-embed with it"
            )
        return stored

    def index(self, save: bool = True) -> "VectorIndex":
        """The index matching the catalog: loaded (memory-mapped), or rebuilt (with a message) when missing or stale."""
        if self._index is not None:
            return self._index
        from photolib.index import VectorIndex

        stored = self._catalog_model()
        loaded = VectorIndex.load(self.index_folder)
        reason = self._stale_reason(loaded, stored)
        if reason is None and loaded is not None:
            self._index = loaded[0]
            return self._index
        self._index = self._build_index(stored)
        if stored is not None or loaded is not None:
            self.notify(f"Index {reason}; rebuilt it from the catalog ({self._index.count} vectors).")
        if save:
            self._save_index_if_unlocked()
        return self._index

    def _stale_reason(self, loaded: Any, stored: tuple[str, int] | None) -> str | None:
        if loaded is None:
            return "was missing" if stored else "was empty"
        index, stamp = loaded
        if stamp.generation != self.catalog.generation:
            return f"was stale (made at catalog generation {stamp.generation}, catalog is at {self.catalog.generation})"
        if stored and (stamp.model, stamp.dimension) != stored:
            return f"held {stamp.model} vectors, catalog holds {stored[0]}"
        return None

    def _build_index(self, stored: tuple[str, int] | None) -> "VectorIndex":
        """Exact index for small libraries, IVF (trained on a sample) from APPROXIMATE_FROM vectors."""
        import numpy as np

        from photolib.index import APPROXIMATE_FROM, TRAINING_POINTS_PER_LIST, VectorIndex, ivf_parameters

        if stored is None:
            return VectorIndex.empty(self.embedder.model_name, 0)
        count = self.catalog.vector_count()
        if count >= APPROXIMATE_FROM:
            wanted = ivf_parameters(count)["nlist"] * TRAINING_POINTS_PER_LIST
            index = VectorIndex.approximate(*stored, self.catalog.sample_vectors(wanted, stored[1]), count)
        else:
            index = VectorIndex.empty(*stored)
        for ids, blobs, _model, dimension in self.catalog.iter_vectors():
            matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dimension)
            index.add(np.array(ids, dtype=np.int64), matrix)
        return index

    def _save_index_if_unlocked(self) -> None:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.root / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return  # a writer is busy; it will save its own index
        try:
            self._save_index()
        finally:
            lock.release()

    def _save_index(self) -> None:
        if self._index is not None:
            self._index.save(self.index_folder, self.catalog.generation)

    # -- commands -----------------------------------------------------------------

    def add(self, paths: list[str | os.PathLike], *, progress: Progress | None = None,
            dry_run: bool = False, jobs: int | None = None) -> AddReport:
        """Import photos under `paths`; see `importer` for what is and is not redone."""
        from photolib.scan import plan_scan

        roots = [absolute(p) for p in paths]
        for root in roots:
            if not os.path.lexists(root):
                raise UsageError(f"{root} does not exist: give a folder or photo file to add")
        report = AddReport(remote_host=getattr(self.vision, "remote_host", None))
        with self.write_lock():
            self._check_embedder_matches()
            scanning = progress or NoProgress()
            scanning.start(None, "Scanning")
            plan = plan_scan(roots, self.catalog.file_states(), self.catalog.ids_by_hash, on_file=scanning.advance)
            scanning.finish()
            if dry_run:
                plan_counts_for_dry_run(self.catalog, self.vision, plan, report, self.catalog.photos_needing_work())
                return report
            before = {p.id for p in self.catalog.photos_needing_work()}
            apply_plan(self.catalog, plan, report)
            todo = self.catalog.photos_needing_work()
            report.retried = len([p for p in todo if p.id in before])
            index = self.index(save=False)
            importer = Importer(self.catalog, self.vision, self.embedder, index,
                                jobs=jobs or self.settings.jobs, batch_size=self.settings.batch_size,
                                progress=progress)
            try:
                importer.run(todo, report)
                if self._index is not None and self._index.wanted_kind() != self._index.kind:
                    self._index = self._build_index(self._catalog_model())
            except KeyboardInterrupt:
                report.interrupted = True
                raise
            finally:
                self._save_index()
        return report

    def search(self, query: str, *, limit: int | None = None, threshold: float | None = None,
               exact: bool = False) -> list[SearchHit]:
        """Photos whose description means what `query` says, best first.

        Photos whose caption, description or tags contain every word of the
        query come first (exact words beat near meanings), then the others.
        """
        if not query.strip():
            raise UsageError("the search query is empty: say what to look for, e.g. photolib search \"sunset beach\"")
        limit = limit or self.settings.search_limit
        threshold = self.settings.search_threshold if threshold is None else threshold
        if self._check_embedder_matches() is None:
            return []  # nothing embedded yet: no need to load FAISS, the model or the index
        index = self.index()
        if index.count == 0:
            return []
        vector = self.embedder.embed_query(query)
        self._check_query_dimension(vector, index)
        distances, ids = index.search(vector, max(limit * 4, 50), exact=exact)
        semantic = {int(i): float(d) for d, i in zip(distances[0], ids[0]) if i >= 0}
        exact = self.catalog.fts_match(query, limit)
        semantic.update(self._distances_to(vector, [pid for pid in exact if pid not in semantic]))
        exact_set = {pid for pid in exact if pid in semantic}
        ranked = sorted(semantic.items(), key=lambda item: (item[0] not in exact_set, item[1]))
        chosen = [(pid, dist) for pid, dist in ranked if pid in exact_set or dist <= threshold][:limit]
        return self._hits(chosen)

    def _distances_to(self, vector: Any, ids: list[int]) -> dict[int, float]:
        import numpy as np

        from photolib.index import distances_from_similarity

        blobs = self.catalog.vectors_for(ids)
        return {pid: float(distances_from_similarity(np.frombuffer(blob, dtype=np.float32) @ vector))
                for pid, blob in blobs.items()}

    def _check_query_dimension(self, vector: Any, index: "VectorIndex") -> None:
        if vector.shape[-1] != index.dimension:
            raise IndexMismatchError(
                f"the embedder returned {vector.shape[-1]}-d vectors but the index holds {index.dimension}-d "
                f"vectors of {index.model}: run `photolib reindex --reembed`"
            )

    def _hits(self, chosen: list[tuple[int, float]]) -> list[SearchHit]:
        photos = self.catalog.get_many([pid for pid, _ in chosen])
        return [
            SearchHit(pid, photos[pid].path, dist, photos[pid].data.get("caption") or "", photos[pid].tags,
                      photos[pid].data.get("taken_at"))
            for pid, dist in chosen if pid in photos
        ]

    def similar(self, photo_ref: str, *, limit: int | None = None, threshold: float | None = None) -> list[SearchHit]:
        """Photos nearest to a photo of the library (the photo itself left out)."""
        photo = self.resolve(photo_ref)
        limit = limit or self.settings.search_limit
        threshold = self.settings.search_threshold if threshold is None else threshold
        index = self.index()
        blob = self.catalog.vectors_for([photo.id]).get(photo.id)
        if blob is None:
            raise UsageError(f"photo {photo.id} has no embedding yet (status {photo.status}): run `photolib add` to finish it")
        import numpy as np

        distances, ids = index.search(np.frombuffer(blob, dtype=np.float32), limit + 1)
        chosen = [(int(i), float(d)) for d, i in zip(distances[0], ids[0]) if i >= 0 and i != photo.id and d <= threshold]
        return self._hits(chosen[:limit])

    def resolve(self, ref: str | int) -> "StoredPhoto":
        """A photo by id or by path."""
        text = str(ref).strip()
        photo = self.catalog.get(int(text)) if text.isdigit() else self.catalog.get_by_path(str(absolute(text)))
        if photo is None:
            raise UsageError(f"no photo {text!r} in the library: see `photolib list` for ids")
        return photo

    def show(self, photo_ref: str | int) -> dict[str, Any]:
        from photolib.views import photo_details

        photo = self.resolve(photo_ref)
        return photo_details(photo, self.catalog)

    def list_photos(self, *, tag: str | None = None, since: str | None = None, until: str | None = None,
                    status: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        from photolib.views import list_filters, photo_summary

        where, params = list_filters(tag=tag, since=_parse_date(since, "--since"),
                                     until=_parse_date(until, "--until", end=True), status=status)
        return [photo_summary(p) for p in self.catalog.photos_where(where, params, limit=limit, order="taken_at IS NULL, taken_at, id")]

    def remove(self, ref: str) -> list[dict[str, Any]]:
        """Forget a photo (by id or path) or every photo under a folder; files are never touched."""
        text = str(ref).strip()
        if text.isdigit():
            photos = [self.resolve(text)]
        else:
            folder = str(absolute(text))
            photos = self.catalog.photos_where("path = ? OR path LIKE ? ESCAPE '\\'", [folder, _like_prefix(folder)])
            if not photos:
                raise UsageError(f"no photo at or under {folder!r} in the library: see `photolib list`")
        self._forget([p.id for p in photos])
        return [{"id": p.id, "path": p.path} for p in photos]

    def prune(self) -> list[dict[str, Any]]:
        """Forget photos whose files no longer exist."""
        gone = [(pid, path) for pid, path in self.catalog.all_paths() if not os.path.exists(path)]
        self._forget([pid for pid, _ in gone])
        return [{"id": pid, "path": path} for pid, path in gone]

    def _forget(self, ids: list[int]) -> None:
        if not ids:
            return
        with self.write_lock():
            index = self.index(save=False)
            with self.catalog.transaction():
                self.catalog.delete_photos(ids)
                self.catalog.bump_generation()
            import numpy as np

            index.remove(np.array(ids, dtype=np.int64))
            self._save_index()

    def reindex(self, *, reembed: bool = False, progress: Progress | None = None) -> dict[str, Any]:
        """Rebuild the index from the catalog; with `reembed`, recompute every vector first."""
        from photolib.reembed import reembed_all

        with self.write_lock():
            embedded = reembed_all(self.catalog, self.embedder, progress) if reembed else 0
            self._index = self._build_index(self._catalog_model())
            self._save_index()
        return {"vectors": self._index.count, "model": self._index.model, "dimension": self._index.dimension,
                "reembedded": embedded}

    def stats(self) -> dict[str, Any]:
        from photolib.views import library_stats

        return library_stats(self)

    def albums(self, *, threshold: float | None = None, min_size: int | None = None, seed: int | None = None,
               save: bool = False, export: str | os.PathLike | None = None, copy: bool = False) -> "AlbumSet":
        """Group the library; optionally store the albums and/or export them as folders."""
        from photolib.albums import export_albums, group_library

        threshold = self.settings.albums_threshold if threshold is None else threshold
        min_size = self.settings.albums_min_size if min_size is None else min_size
        result = group_library(self, threshold=threshold, min_size=min_size, seed=seed)
        if save:
            with self.write_lock(), self.catalog.transaction():
                self.catalog.replace_albums([(a.name, a.photo_ids) for a in result.albums], threshold, seed)
        if export is not None:
            photos = self.catalog.get_many([pid for album in result.albums for pid in album.photo_ids])
            export_albums(result.albums, photos, absolute(export), copy=copy)
        return result

    def backup(self, destination: str | os.PathLike) -> dict[str, Any]:
        """A consistent snapshot (catalog via SQLite's backup API, plus the index) in `destination`."""
        from photolib.backup import backup

        return backup(self, absolute(destination))

    def restore(self, source: str | os.PathLike, force: bool = False) -> dict[str, Any]:
        """Replace this library's catalog and index with a snapshot made by `backup`."""
        from photolib.backup import restore

        return restore(self, absolute(source), force=force)

    def import_embedded(self, photos: "Iterable[EmbeddedPhoto]", model: str) -> int:
        """Add photos that already have descriptions and vectors (migrations, large test libraries)."""
        from photolib.bulk import import_embedded

        return import_embedded(self, photos, model)

    def imagine(self, photo_ref: str | int, request: "ImagineRequest") -> "ImagineResult":
        """Generate images inspired by a photo; see `photolib.imagine`."""
        from photolib.imagine import imagine

        return imagine(self, photo_ref, request)

    def generations(self) -> list[dict[str, Any]]:
        return self.catalog.generations()

    def saved_albums(self) -> list["Album"]:
        from photolib.albums import Album

        return [Album(name, ids, id=album_id) for album_id, name, ids in self.catalog.saved_albums()]

    def saved_album(self, album_id: int) -> tuple[str, list[dict[str, Any]]]:
        from photolib.views import photo_summary

        for album in self.saved_albums():
            if album.id == album_id:
                photos = self.catalog.get_many(album.photo_ids)
                return album.name, [photo_summary(photos[pid]) for pid in album.photo_ids if pid in photos]
        raise UsageError(f"no saved album {album_id}: see `photolib albums list` (albums are saved with --save)")


def _like_prefix(folder: str) -> str:
    escaped = folder.rstrip(os.sep).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + os.sep + "%"


def _parse_date(text: str | None, option: str, end: bool = False) -> str | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date: use YYYY-MM-DD") from None
    return (day + timedelta(days=1)).isoformat() if end else day.isoformat()
