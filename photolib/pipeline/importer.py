"""The `add` pipeline: scan, read, describe, embed, commit in batches.

Each batch is committed in one transaction together with its vectors, so an
interrupted run keeps every finished batch and the next `add` picks up the
photos still `pending`. Descriptions are cached per (content hash, model,
prompt version) and embeddings per (text hash, model): re-adding the same
folder makes no model call at all.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from photolib.core.config import DEFAULT_BATCH_SIZE, DEFAULT_JOBS
from photolib.core.errors import (MalformedOutputError, PhotolibError, ProviderAuthError, ProviderError,
                             ProviderUnavailableError)
from photolib.core.records import Description, PhotoForVision, Stage, with_photo_text
from photolib.pipeline.pairs import PhotoFiles, record_pairs
from photolib.core.progress import NoProgress, Progress

if TYPE_CHECKING:
    from photolib.pipeline.scan import ScanPlan, Skipped
    from photolib.store.catalog import Catalog, StoredPhoto
    from photolib.core.protocols import Embedder, Vision
    from photolib.media.thumbnails import ThumbnailCache
    from photolib.pipeline.engine import StageReport


TOO_LARGE_REASONS = ("decompression bomb", "image too large")  # from photolib.media.read
MODEL_STEP_REASONS = ("vision failed", "unusable model output", "embedding failed", "not described",
                      "image: ", "ocr: ", "faces: ")  # a pipeline stage's failure: the photo is imported
LOOKAHEAD = 2  # batches being read/described while the current one is embedded
RUN_STOPPING = (ProviderAuthError, ProviderUnavailableError)  # every further call would fail the same way


@dataclass
class AddReport:
    new: int = 0
    updated: int = 0
    moved: int = 0
    unchanged: int = 0
    retried: int = 0
    described: int = 0  # vision calls made
    embedded: int = 0  # texts sent to the embedder
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    dry_run: bool = False
    to_describe: int = 0  # dry run: photos that would be sent to the vision model
    to_embed: int = 0
    remote_host: str | None = None
    interrupted: bool = False
    elsewhere: int = 0  # photos outside the given paths that still need work (left for their own `add`)
    stages: list = field(default_factory=list)  # StageReport of each enabled pipeline stage (after the first pass)
    visual_search_hint: str | None = None  # how to turn on the image space, when no image model is installed
    paired: int = 0  # RAW files newly kept as the second file of their JPEG's photo
    skipped: "Skipped | None" = None  # files seen and not imported, by why (see `not_imported`)

    def not_imported(self) -> dict:
        """What this run saw and did not import, by why; failures split into too large and unreadable."""
        from photolib.pipeline.scan import Skipped

        counts = (self.skipped or Skipped()).as_dict()
        too_large = [path for path, reason in self.failed if reason.startswith(TOO_LARGE_REASONS)]
        unreadable = [path for path, reason in self.failed
                      if not reason.startswith(TOO_LARGE_REASONS + MODEL_STEP_REASONS)]
        counts["too_large"] = {"count": len(too_large)}
        counts["unreadable"] = {"count": len(unreadable)}
        counts["count"] = sum(kind["count"] for kind in counts.values())
        return counts

    def stage(self, name: str) -> "StageReport | None":
        """What the pipeline stage `name` did in this run; None when it is not enabled."""
        return next((stage for stage in self.stages if stage.name == name), None)

    def xmp_sidecars(self) -> int:
        """XMP sidecars seen beside the photos of this run: their metadata, not files left out."""
        return self.skipped.xmp_of_photos if self.skipped is not None else 0

    sidecars_changed: int = 0  # photos whose XMP sidecar changed: the user's words read again, nothing else
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): not failures (bad sidecars)

    def as_dict(self) -> dict:
        data = {
            "new": self.new, "updated": self.updated, "moved": self.moved, "unchanged": self.unchanged,
            "retried": self.retried, "failed": len(self.failed), "vision_calls": self.described,
            "embedded": self.embedded, "dry_run": self.dry_run, "elsewhere_unfinished": self.elsewhere,
            "sidecars_changed": self.sidecars_changed,
            "failures": [{"path": p, "reason": r} for p, r in self.failed],
            "stages": {stage.name: stage.as_dict() for stage in self.stages},
            "visual_search_hint": self.visual_search_hint,
            "raw_paired": self.paired, "not_imported": self.not_imported(), "xmp_sidecars": self.xmp_sidecars(),
            "warnings": [{"path": p, "reason": r} for p, r in self.warnings],
        }
        if self.dry_run:
            data.update(would_describe=self.to_describe, would_embed=self.to_embed, photos_sent_to=self.remote_host)
        return data


@dataclass
class _Prepared:
    photo: "StoredPhoto"
    description: Description | None = None
    metadata: tuple | None = None  # (PhotoMetadata, place)
    error: str | None = None
    stage: Stage = Stage.READ
    raw: str | None = None
    called_vision: bool = False
    vision_description: Description | None = None  # as the vision model (or its cache) gave it, without labels
    user: Any = None  # records.UserMetadata: the user's words from the file and its sidecars
    sidecar_sig: str | None = None
    warnings: list[str] = field(default_factory=list)

    def embedding_text(self) -> str:
        return self.description.embedding_text(self.user.words() if self.user is not None else "")


def text_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def apply_plan(catalog: "Catalog", plan: "ScanPlan", report: AddReport) -> None:
    """Record what the scan found: moves, touches, changed content, new rows, unreadable paths."""
    with catalog.transaction():
        for photo_id, found in plan.touched:
            catalog.update_file(photo_id, size=found.size, mtime_ns=found.mtime_ns)
        for photo_id, found in plan.moved:
            catalog.update_file(photo_id, path=str(found.path), source_root=str(found.root),
                                size=found.size, mtime_ns=found.mtime_ns)
        for photo_id, found, digest in plan.changed:
            catalog.reset_for_new_content(photo_id, found.size, found.mtime_ns, digest)
        catalog.mark_pending(plan.sidecar_changed)
        for found, digest in plan.new:
            catalog.insert_photo(str(found.path), str(found.root), found.size, found.mtime_ns, digest)
        report.paired += record_pairs(catalog, plan)
        for problem in plan.problems:
            if problem.folder:
                continue
            existing = catalog.get_by_path(problem.path)
            photo_id = existing.id if existing else catalog.insert_photo(problem.path, "", 0, 0, None)
            catalog.mark_failed(photo_id, Stage.READ, problem.reason)
    report.new += len(plan.new)
    report.updated += len(plan.changed) + len(plan.repointed)
    report.moved += len(plan.moved)
    report.unchanged += len(plan.unchanged) + len(plan.touched)
    report.sidecars_changed += len(plan.sidecar_changed)
    _report_problems(catalog, plan, report)


def _report_problems(catalog: "Catalog | None", plan: "ScanPlan", report: AddReport) -> None:
    """This run's problems, and files already known to be unreadable whose bytes have not changed."""
    report.skipped = plan.skipped
    report.failed.extend((p.path, p.reason) for p in plan.problems)
    if catalog is None:
        return
    for photo in catalog.get_many(plan.unchanged_unreadable).values():
        report.failed.append((photo.path, f"{photo.data.get('error') or 'cannot be read'} (unchanged since the last run)"))


class Importer:
    """Processes the photos that need work, batch by batch.

    It writes only to the catalog; the index catches up from the catalog
    afterwards (`Library.index`), and `on_commit` is called after each batch.
    `stored` is the (model, dimension) of the vectors already in the library.
    `photo_texts` gives the words already found in photos (OCR), embedded after the description.
    """

    def __init__(self, catalog: "Catalog", vision: "Vision", embedder: "Embedder",
                 stored: tuple[str, int] | None, jobs: int = DEFAULT_JOBS, batch_size: int = DEFAULT_BATCH_SIZE,
                 progress: Progress | None = None, on_commit: Callable[[], None] | None = None,
                 photo_texts: Callable[[list[int]], dict[int, str]] | None = None,
                 thumbnails: "ThumbnailCache | None" = None) -> None:
        self.catalog = catalog
        self.vision = vision
        self.embedder = embedder
        self.stored = stored
        self.jobs = max(1, jobs)
        self.batch_size = max(1, batch_size)
        self.progress = progress or NoProgress()
        self.on_commit = on_commit or (lambda: None)
        self.photo_texts = photo_texts  # words found in photos (OCR), embedded with the description
        self.thumbnails = thumbnails
        self.embedded_count = 0
        self._stop = threading.Event()

    def run(self, photos: list["StoredPhoto"], report: AddReport) -> None:
        """Batches flow through a pipeline: while one batch is embedded and committed,
        the next ones are already being read and described by the worker threads."""
        self.progress.start(len(photos), "Describing and embedding")
        batches = [photos[i:i + self.batch_size] for i in range(0, len(photos), self.batch_size)]
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            try:
                in_flight = [self._submit(pool, batch) for batch in batches[:LOOKAHEAD]]
                for number in range(len(batches)):
                    prepared, stopping = _results(in_flight.pop(0))
                    if stopping is None and number + LOOKAHEAD < len(batches):
                        in_flight.append(self._submit(pool, batches[number + LOOKAHEAD]))
                    self._commit(prepared, report, stopping)
                    self.on_commit()
            except BaseException:
                self._stop.set()  # auth failure or Ctrl-C: no new model calls
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        self.progress.finish()

    def _submit(self, pool: ThreadPoolExecutor, batch: list["StoredPhoto"]) -> list:
        return [pool.submit(self._prepare, photo, self._cached_description(photo)) for photo in batch]

    def _cached_description(self, photo: "StoredPhoto") -> Description | None:
        digest = photo.data.get("hash")
        if not digest or self.vision.describes_from_path:
            return None
        return self.catalog.cached_description(digest, self.vision.model_name, self.vision.prompt_version)

    def _prepare(self, photo: "StoredPhoto", cached: Description | None) -> _Prepared:
        """Read the file and get its description (cached or from the vision model), with the labels
        the image model gave the photo (if any) merged in.

        Runs in worker threads, so it never touches the catalog.
        """
        from photolib.pipeline.stages.image import with_labels

        result = self._describe(photo, cached)
        labels = photo.data.get("image_labels")
        result.vision_description = result.description
        if result.description is not None and labels:
            local = getattr(self.vision, "remote_host", None) is None
            result.description = with_labels(result.description, json.loads(labels), local)
        return result

    def _describe(self, photo: "StoredPhoto", cached: Description | None) -> _Prepared:
        from photolib.media import geocode
        from photolib.media import read as media

        result = _Prepared(photo)
        path = Path(photo.path)
        try:
            metadata = media.read_photo(path)
        except PhotolibError as error:
            result.error = str(error)
            return result
        except OSError as error:
            result.error = f"cannot read file: {error.strerror or error}"
            return result
        result.stage = Stage.VISION
        if self.thumbnails is not None:
            self.thumbnails.ensure(photo.data.get("hash"), path)  # a photo without one is still imported
        _read_user_words(result, path, metadata)
        place = geocode.place_name(metadata.gps_lat, metadata.gps_lon) if metadata.gps_lat is not None else None
        result.metadata = (metadata, place)
        if cached is not None:
            result.description = cached
            return result
        vision_input = PhotoForVision(path, metadata, place, Path(photo.data.get("source_root") or path.parent))
        if self._stop.is_set():
            result.error = "not described: the run was stopped"
            return result
        try:
            result.called_vision = True
            result.description = self.vision.describe(vision_input)
        except RUN_STOPPING:
            self._stop.set()
            raise
        except MalformedOutputError as error:
            result.error, result.raw = f"unusable model output: {error}", error.raw
        except PhotolibError as error:
            result.error = f"vision failed: {error}"
        return result

    def _commit(self, prepared: list[_Prepared], report: AddReport, stopping: BaseException | None = None) -> None:
        """Store a batch in one transaction; a run-stopping error is raised only after what was
        already paid for (descriptions, metadata) is stored, the photos left pending."""
        import numpy as np

        described = [p for p in prepared if p.description is not None]
        vectors = []
        if stopping is None:
            try:
                vectors = self._embed(described)
            except RUN_STOPPING as error:
                stopping = error
        with self.catalog.transaction():
            for item in prepared:
                self._store_one(item)
            rows = [(item.photo.id, self.embedder.model_name, th, vec.astype(np.float32).tobytes(), vec.shape[0])
                    for item, th, vec in vectors]
            if rows:
                self.catalog.store_embeddings(rows)
            if stopping is None:
                self.catalog.store_ok([item.photo.id for item in described if item.error is None])
        if stopping is not None:
            self._stop.set()
            raise stopping
        for item in prepared:
            if item.error:
                report.failed.append((item.photo.path, item.error))
            report.warnings.extend((item.photo.path, warning) for warning in item.warnings)
        report.described += sum(1 for item in prepared if item.called_vision)
        report.embedded = self.embedded_count
        self.progress.advance(len(prepared), vision=report.described, embedded=report.embedded)

    def _embed(self, described: list[_Prepared]) -> list:
        """Embed descriptions whose text (or model) changed; failures mark the photo failed."""
        texts = {item.photo.id: item.embedding_text() for item in described}
        if self.photo_texts is not None and texts:
            words = self.photo_texts(list(texts))
            texts = {pid: with_photo_text(text, words.get(pid)) for pid, text in texts.items()}
        existing = self.catalog.embedding_states(list(texts), self.embedder.model_name)
        todo = [item for item in described
                if existing.get(item.photo.id, ("",))[0] != text_hash(texts[item.photo.id])]
        if not todo:
            return []
        try:
            matrix = self.embedder.embed_documents([texts[item.photo.id] for item in todo])
            self._check_dimension(matrix)
        except RUN_STOPPING:
            raise
        except PhotolibError as error:
            for item in todo:
                item.error, item.stage = f"embedding failed: {error}", Stage.EMBEDDING
            return []
        self.embedded_count += len(todo)
        return [(item, text_hash(texts[item.photo.id]), matrix[row]) for row, item in enumerate(todo)]

    def _check_dimension(self, matrix) -> None:
        """Every vector of a library has one size: the one stored, or else the first this run made."""
        if self.stored is None:
            self.stored = (self.embedder.model_name, int(matrix.shape[1]))
        elif matrix.shape[1] != self.stored[1]:
            raise ProviderError(
                f"the embedder returned {matrix.shape[1]}-d vectors but the library holds {self.stored[1]}-d "
                f"vectors of {self.stored[0]} (if the model changed, run `photolib reindex --reembed`)"
            )

    def _store_one(self, item: _Prepared) -> None:
        if item.metadata is not None:
            self.catalog.store_metadata(item.photo.id, *item.metadata)
            self.catalog.store_user_metadata(item.photo.id, item.user, item.sidecar_sig)
        if item.description is not None:
            self.catalog.store_description(item.photo.id, item.description, self.vision.model_name, item.raw)
            if item.called_vision:
                self.catalog.cache_description(item.photo.data["hash"], self.vision.model_name,
                                               self.vision.prompt_version, item.vision_description or item.description)
        if item.error:
            self.catalog.mark_failed(item.photo.id, item.stage, item.error, item.raw)


def _read_user_words(result: _Prepared, path: Path, metadata: Any) -> None:
    """The user's own words: sidecars first (what their tools edit), then what the file embeds."""
    from photolib.media.xmp import read_sidecars, sidecar_candidates, sidecar_signature
    from photolib.core.records import UserMetadata

    sidecars = [p for p in sidecar_candidates(path) if p.is_file()]
    from_sidecars, warnings = read_sidecars(sidecars)
    result.user = from_sidecars.merged(metadata.user or UserMetadata())
    result.sidecar_sig = sidecar_signature(sidecars)
    result.warnings = warnings + ([metadata.xmp_warning] if metadata.xmp_warning else [])


def _results(futures: list) -> tuple[list[_Prepared], BaseException | None]:
    """The finished photos of a batch, and the first run-stopping error among them (if any)."""
    done, stopping = [], None
    for future in futures:
        try:
            done.append(future.result())
        except RUN_STOPPING as error:
            stopping = stopping or error
    return done, stopping


def plan_counts_for_dry_run(catalog: "Catalog | None", vision: "Vision", plan: "ScanPlan", report: AddReport,
                            pending: list["StoredPhoto"]) -> None:
    """What `add` would send, without sending or writing anything (`catalog` is None for a new library)."""
    hashes = [d for _, d in plan.new] + [d for _, _, d in plan.changed] + [p.data.get("hash") for p in pending]
    uncached = [d for d in hashes if d and (catalog is None or vision.describes_from_path or catalog.cached_description(
        d, vision.model_name, vision.prompt_version) is None)]
    report.dry_run = True
    report.new, report.updated, report.moved = len(plan.new), len(plan.changed), len(plan.moved)
    report.unchanged = len(plan.unchanged) + len(plan.touched)
    report.retried = len(pending)
    report.sidecars_changed = len(plan.sidecar_changed)
    report.paired = _would_pair(catalog, plan)
    report.to_describe = len(uncached)
    report.to_embed = len(hashes)
    _report_problems(catalog, plan, report)


def _would_pair(catalog: "Catalog | None", plan: "ScanPlan") -> int:
    """RAW files a real run would newly keep as the second file of their JPEG's photo (as `record_pairs` counts)."""
    known = PhotoFiles(catalog.db).states() if catalog is not None else {}
    return sum(1 for found, _, _ in plan.companions if str(found.path) not in known)

