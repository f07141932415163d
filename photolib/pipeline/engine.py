"""The enrichment pipeline: stages of different cost, each with its own per-photo state.

What photolib learns about a photo comes in stages. The *first pass* (read
the file, describe it, embed the description: `photolib.pipeline.importer`) makes a
photo searchable by description as soon as possible. The stages here follow
in the same `add` run (and in `photolib enrich`): image embedding
(`image_space`), text in photos and faces (`enrich`), after the thumbnails
(`thumbnails`), cheapest first. Each stage

* keeps a state per photo in the catalog (`stage_state`: done / failed with
  a reason, and the model and input hash it ran with); a photo without an
  up-to-date row is *pending*, i.e. in that stage's backlog;
* commits each batch in its own transaction, so an interrupted run keeps
  every finished batch of every stage, and resumes each stage on its own;
* runs only for its backlog: photos it has not done, done with another model
  (changing a stage's model re-runs that stage only), or whose file content
  changed since. Failures are kept with their reason and retried only by
  `photolib enrich --retry-failed` (a second `add` with nothing new does no
  work in any stage);
* shows one progress line with counts and rate while it runs, and its
  backlog and failures in `photolib stats`.

A file is decoded once per run for all stages that need pixels: the runner
opens it, applies the EXIF orientation, converts it to RGB at the largest
size any running stage asked for, and hands that same image to every pixel
stage of the batch.

How to add a stage (OCR, faces, thumbnails, perceptual hash...)
-----------------------------------------------------------------
1. Add its name to `StageName` below (the value is stored in the catalog).
2. Write a module with a class satisfying `Stage`:

   * ``name`` - your `StageName`;
   * ``model`` - the identity of what does the work (model name + version of
     your code/parameters); change it and every photo is re-processed by your
     stage only;
   * ``needs_pixels`` / ``min_side`` - whether `process` gets the decoded
     image, and the shortest side in pixels it needs (None: full size; the
     runner decodes JPEGs at a reduced scale when every stage allows it);
   * ``process(work)`` - the batch function: gets `PhotoWork` items (the
     photo row and, for pixel stages, the decoded, upright RGB PIL image,
     shared with the other pixel stages: never change it in place) and
     returns one `Outcome` per item (a value, or an error reason). It runs
     outside any transaction and must not touch the catalog. Raise a
     `PhotolibError` to fail the whole batch with that reason; other
     exceptions stop the run (bugs are not recorded as photo failures);
   * ``store(catalog, outcomes)`` - writes the successful values where they
     belong (your own table, created by your migration; a vector space; the
     photos row). Called inside the batch's transaction, right before the
     runner records the states, so the value and its "done" commit together.
     It may return counts of what it found (e.g. ``{"found": 3}``), added up
     in the stage's report.

3. Write ``make_stage(context: StageContext) -> Stage | None`` returning None
   when settings disable the stage (or its model is not installed), and add
   ``"your.module:make_stage"`` to `STAGE_FACTORIES`. Stages run in that order.

`tests/test_stages.py` has a small complete example (a stage that records
each photo's mean colour).
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence

from photolib.core.errors import PhotolibError
from photolib.core.progress import NoProgress, Progress

if TYPE_CHECKING:
    from PIL import Image

    from photolib.store.catalog import Catalog, StoredPhoto
    from photolib.core.config import Settings


class StageName(StrEnum):
    """Every stage; the first three are the first pass, whose state lives on the photo row."""

    READ = "read"
    DESCRIBE = "describe"
    EMBED = "embed"
    THUMBNAILS = "thumbnails"  # the thumbnail cache (photolib.media.thumbnails)
    IMAGE = "image"  # the image space: an image-text model over the pixels
    OCR = "ocr"  # text in photos (photolib.pipeline.stages.text_and_faces, photolib.models.ocr)
    FACES = "faces"  # faces and people (photolib.pipeline.stages.text_and_faces, photolib.models.faces)


FIRST_PASS = (StageName.READ, StageName.DESCRIBE, StageName.EMBED)
STAGE_LABELS = {StageName.IMAGE: "Image embedding", StageName.OCR: "Text in photos", StageName.FACES: "Faces",
                StageName.THUMBNAILS: "Thumbnails"}  # progress lines


class StageStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    PENDING = "pending"  # not stored: a photo without an up-to-date row


# Modules whose `make_stage(context)` builds a stage (or None when disabled), in running order.
STAGE_FACTORIES: tuple[str, ...] = (
    "photolib.media.thumbnails:make_stage",
    "photolib.pipeline.stages.image:make_stage",
    "photolib.pipeline.stages.text_and_faces:make_ocr_stage",
    "photolib.pipeline.stages.text_and_faces:make_face_stage",
)

BATCH = 32  # photos per stage batch (and per commit)
DECODE_AHEAD = 2  # batches decoded ahead while the current one runs through the models
LARGE_SIDE = 1024  # decodes whose shortest side passes this are kept one batch ahead only (memory)


@dataclass
class PhotoWork:
    """One photo handed to a stage: its row and, for pixel stages, the decoded upright RGB image."""

    photo: "StoredPhoto"
    image: "Image.Image | None" = None


@dataclass
class Outcome:
    """What a stage made of one photo: `value` to store, or `error` (the reason it failed)."""

    photo_id: int
    value: Any = None
    error: str | None = None


class Stage(Protocol):
    name: StageName
    model: str
    needs_pixels: bool
    min_side: int | None

    def process(self, work: list[PhotoWork]) -> list[Outcome]: ...

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int] | None: ...


@dataclass
class StageContext:
    """What a stage factory may use: settings, the catalog, a cache folder, shared providers."""

    settings: "Settings"
    catalog: "Catalog"
    cache_dir: Path
    image_embedder: Callable[[], Any]  # the configured ImageEmbedder, or None (built once, shared with search)
    text_embedder: Callable[[], Any]  # the description space's embedder
    thumbnails: Callable[[], Any] | None = None  # the library's ThumbnailCache


@dataclass
class StageReport:
    name: str
    model: str
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    counts: dict[str, int] = field(default_factory=dict)  # what the stage found ("found", "faces"...)

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "model": self.model, "done": self.done, **self.counts,
                "failed": len(self.failed),
                "failures": [{"path": path, "reason": reason} for path, reason in self.failed]}


def build_stages(context: StageContext, factories: Sequence[str] = STAGE_FACTORIES) -> list[Stage]:
    """The enabled stages, in order."""
    stages = []
    for spec in factories:
        module_name, _, function = spec.partition(":")
        stage = getattr(importlib.import_module(module_name), function)(context)
        if stage is not None:
            stages.append(stage)
    return stages


class StageRunner:
    """Runs the backlog of each stage over a set of photos, batch by batch.

    `roots` limits the photos to those at or under these absolute paths (the
    folders given to `add`); None means the whole library.
    """

    def __init__(self, catalog: "Catalog", stages: Sequence[Stage], *, batch_size: int = BATCH,
                 jobs: int = 2, progress: Progress | None = None,
                 on_commit: Callable[[], None] | None = None) -> None:
        from photolib.store.stage_states import StageStates

        self.catalog = catalog
        self.states = StageStates(catalog)
        self.stages = list(stages)
        self.batch_size = max(1, batch_size)
        self.jobs = max(1, jobs)
        self.progress = progress or NoProgress()
        self.on_commit = on_commit or (lambda: None)

    def backlogs(self, roots: Sequence[str] | None = None,
                 retry_failed: bool = False) -> dict[StageName, list[int]]:
        """Photo ids each stage still has to do (sorted)."""
        return {stage.name: self.states.backlog(stage.name, stage.model, retry_failed=retry_failed, roots=roots)
                for stage in self.stages}

    def run(self, roots: Sequence[str] | None = None, retry_failed: bool = False) -> list[StageReport]:
        backlogs = self.backlogs(roots, retry_failed)
        reports = {stage.name: StageReport(str(stage.name), stage.model) for stage in self.stages}
        todo = sorted({pid for ids in backlogs.values() for pid in ids})
        if not todo:
            return list(reports.values())
        wanted = {name: set(ids) for name, ids in backlogs.items()}
        lines = {stage.name: self.progress.line(f"{STAGE_LABELS.get(stage.name, stage.name.capitalize())}: {stage.model}",
                                                len(backlogs[stage.name]))
                 for stage in self.stages if backlogs[stage.name]}
        batches = [todo[i:i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        side = _largest_side([stage for stage in self.stages if stage.needs_pixels])
        depth = 1 if side is None or side > LARGE_SIDE else DECODE_AHEAD
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            try:
                ahead = [self._submit(pool, batch, wanted) for batch in batches[:depth]]
                for number in range(len(batches)):
                    work = [future.result() for future in ahead.pop(0)]
                    if number + depth < len(batches):
                        ahead.append(self._submit(pool, batches[number + depth], wanted))
                    for stage in self.stages:
                        mine = [item for item in work if item[0].photo.id in wanted[stage.name]]
                        if mine:
                            self._run_stage(stage, mine, reports[stage.name])
                            lines[stage.name].advance(len(mine))
                    self.on_commit()
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        for line in lines.values():
            line.finish()
        return list(reports.values())

    def _submit(self, pool: ThreadPoolExecutor, batch: list[int], wanted: dict[StageName, set[int]]) -> list:
        photos = self.catalog.get_many(batch)
        futures = []
        for pid in batch:
            if pid not in photos:
                continue
            needing = [s for s in self.stages if s.needs_pixels and pid in wanted[s.name]]
            futures.append(pool.submit(_decode, photos[pid], bool(needing), _largest_side(needing)))
        return futures

    def _run_stage(self, stage: Stage, items: list[tuple[PhotoWork, str | None]], report: StageReport) -> None:
        """Process one batch in one stage and commit it: values and states together."""
        ready = [work for work, error in items if not (stage.needs_pixels and error)]
        outcomes = [Outcome(work.photo.id, error=error) for work, error in items if stage.needs_pixels and error]
        if ready:
            try:
                made = stage.process(ready)
            except PhotolibError as error:
                made = [Outcome(work.photo.id, error=str(error)) for work in ready]
            outcomes.extend(made)
        hashes = {work.photo.id: work.photo.data.get("hash") for work, _ in items}
        paths = {work.photo.id: work.photo.path for work, _ in items}
        with self.catalog.transaction():
            counts = stage.store(self.catalog, [o for o in outcomes if o.error is None]) or {}
            self.states.record(stage.name, stage.model, [(o.photo_id, hashes.get(o.photo_id), o.error) for o in outcomes])
        for key, value in counts.items():
            report.counts[key] = report.counts.get(key, 0) + value
        report.done += sum(1 for o in outcomes if o.error is None)
        report.failed.extend((paths.get(o.photo_id, str(o.photo_id)), o.error) for o in outcomes if o.error)


def _largest_side(stages: Sequence[Stage]) -> int | None:
    sides = [stage.min_side for stage in stages]
    return None if not sides or any(side is None for side in sides) else max(sides)  # type: ignore[type-var]


def _decode(photo: "StoredPhoto", needs_pixels: bool, min_side: int | None) -> tuple[PhotoWork, str | None]:
    """The photo, with its upright RGB image when a pixel stage wants it; or the reason it cannot be decoded."""
    from photolib.media.read import decode_upright

    work = PhotoWork(photo)
    if not needs_pixels:
        return work, None
    try:
        image = decode_upright(Path(photo.path), min_side)
        if min_side and min(image.size) > 2 * min_side:  # not bigger than any stage needs (memory, speed)
            from PIL import Image

            scale = 2 * min_side / min(image.size)
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.Resampling.BILINEAR, reducing_gap=2.0)
        work.image = image
    except PhotolibError as error:
        return work, str(error)
    except OSError as error:
        return work, f"cannot read file: {error.strerror or error}"
    return work, None

