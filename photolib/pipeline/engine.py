"""The batch engine: every stage of the pipeline runs through it, the first pass included.

What a stage is and declares: `photolib.pipeline.stage`; which stages there
are: `photolib.pipeline.registry`. The engine takes a list of stages and
each one's backlog (photo ids) and works them off batch by batch:

* per photo, in a pool of worker threads, ahead of the batch being
  committed (`LOOKAHEAD` batches; one when pixel stages want large images, to
  bound memory): the file is decoded once for every pixel stage (upright per
  EXIF, RGB, at the largest size any of them asked for, JPEGs at a reduced
  DCT scale when all allow it), and each stage's per-photo work runs
  (`process_photo`: the first pass reads the file and asks the vision model
  there). Workers never touch the catalog: what they need from it is read
  beforehand (`prefetch`);
* per batch, on the calling thread, stage after stage: `process` (a batch
  through a model), then one transaction with the stage's values (`store`)
  and its states (`state_book().record`), so a batch of one stage is kept or
  lost whole, and a killed run resumes each stage where it stopped;
* after each batch: `on_commit` (the library saves its indexes now and then),
  and each stage's progress line advances.

A run-stopping error (`run_stopping`: a rejected key, a missing model) stops
the run: no new model call is made, the batch keeps what it paid for, its
photos that were not finished stay pending, and the error is raised after
the commit. Ctrl-C and bugs stop it too, losing only the batch in hand.

Concurrency lives in two places only, so it can change in one: `_prepare`
(what a worker does for one photo) and the pool `run` makes (`jobs` threads).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from photolib.core.errors import PhotolibError
from photolib.core.progress import NoProgress, Progress
from photolib.pipeline.registry import StageName  # noqa: F401 - re-exported: a stage's name, state and outcome
from photolib.pipeline.stage import StageStatus  # noqa: F401 - beside the engine that records them
from photolib.pipeline.stage import (Outcome, PhotoWork, RunControl, Stage, StageBase, StageReport, StateBook,
                                     as_stage_base)

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog, StoredPhoto

BATCH = 32  # photos per batch (and per commit)
LOOKAHEAD = 2  # batches prepared ahead while the current one is processed and committed
LARGE_SIDE = 1024  # decodes whose shortest side passes this are kept one batch ahead only (memory)


class BatchEngine:
    """Works off the backlog of each stage over a set of photos, batch by batch.

    `jobs` is the number of worker threads for per-photo work (decoding,
    reading, vision calls). `on_commit` is called after each committed batch.
    """

    def __init__(self, catalog: "Catalog", *, batch_size: int = BATCH, jobs: int = 2,
                 progress: Progress | None = None, on_commit: Callable[[], None] | None = None) -> None:
        self.catalog = catalog
        self.batch_size = max(1, batch_size)
        self.jobs = max(1, jobs)
        self.progress = progress or NoProgress()
        self.on_commit = on_commit or (lambda: None)

    def backlogs(self, stages: Sequence["Stage | StageBase"], roots: Sequence[str] | None = None,
                 retry_failed: bool = False) -> dict[str, list[int]]:
        """Photo ids each stage still has to do (sorted). `roots` limits them to photos at or under
        these absolute paths (the folders given to `add`); None means the whole library."""
        declared = [as_stage_base(stage) for stage in stages]
        return {stage.name: stage.state_book(self.catalog).backlog(stage, roots, retry_failed) for stage in declared}

    def run(self, stages: Sequence["Stage | StageBase"], *, roots: Sequence[str] | None = None,
            retry_failed: bool = False, backlogs: dict[str, list[int]] | None = None) -> list[StageReport]:
        """Run `stages` over their backlogs (computed from their state books, or given) and report each."""
        declared = [as_stage_base(stage) for stage in stages]
        if backlogs is None:
            backlogs = self.backlogs(declared, roots, retry_failed)
        reports = {stage.name: StageReport(str(stage.name), stage.model) for stage in declared}
        todo = sorted({pid for stage in declared for pid in backlogs.get(stage.name, [])})
        if not todo:
            return list(reports.values())
        wanted = {stage.name: set(backlogs.get(stage.name, [])) for stage in declared}
        lines = {stage.name: self.progress.line(stage.progress_title(), len(wanted[stage.name]))
                 for stage in declared if wanted[stage.name]}
        batches = [todo[i:i + self.batch_size] for i in range(0, len(todo), self.batch_size)]
        depth = _lookahead(declared)
        books = {stage.name: stage.state_book(self.catalog) for stage in declared}
        stopping_errors = tuple(error for stage in declared for error in stage.run_stopping)
        run = RunControl()
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            try:
                ahead = [self._submit(pool, batch, declared, wanted, run) for batch in batches[:depth]]
                for number in range(len(batches)):
                    work, stopping = _collect(ahead.pop(0), stopping_errors)
                    if stopping is None and number + depth < len(batches):
                        ahead.append(self._submit(pool, batches[number + depth], declared, wanted, run))
                    for stage in declared:
                        mine = [item for item in work if item.photo.id in wanted[stage.name]]
                        if mine:
                            stopping = self._run_stage(stage, books[stage.name], mine, reports[stage.name], stopping)
                            if stopping is None:
                                lines[stage.name].advance(len(mine),
                                                          **stage.progress_counters(reports[stage.name].counts))
                    if stopping is not None:
                        raise stopping
                    self.on_commit()
            except BaseException:
                run.stop()  # no new model calls in the workers still running
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        for line in lines.values():
            line.finish()
        return list(reports.values())

    def _submit(self, pool: ThreadPoolExecutor, batch: list[int], stages: list[StageBase],
                wanted: dict[str, set[int]], run: RunControl) -> list[Future]:
        """Start the per-photo work of a batch: read its rows and what its stages prefetch, then one
        task per photo (decode for the pixel stages that want it, each stage's `process_photo`)."""
        photos = self.catalog.get_many(batch)
        inputs = {stage.name: stage.prefetch(self.catalog, [photos[pid] for pid in batch
                                                            if pid in photos and pid in wanted[stage.name]])
                  for stage in stages}
        futures = []
        for pid in batch:
            if pid not in photos:
                continue
            mine = [stage for stage in stages if pid in wanted[stage.name]]
            pixels = [stage for stage in mine if stage.needs_pixels]
            work = PhotoWork(photos[pid], inputs={name: found[pid] for name, found in inputs.items() if pid in found})
            futures.append(pool.submit(_prepare, work, bool(pixels), _largest_side(pixels), mine, run))
        return futures

    def _run_stage(self, stage: StageBase, book: StateBook, items: list[PhotoWork], report: StageReport,
                   stopping: BaseException | None) -> BaseException | None:
        """Process one batch in one stage and commit it, values and states together; returns the
        run-stopping error, if the run stops (this batch's finished photos then stay pending)."""
        ready = [work for work in items if not (stage.needs_pixels and work.error)]
        outcomes = [Outcome(work.photo.id, error=work.error) for work in items if stage.needs_pixels and work.error]
        if ready:
            made: list[Outcome]
            if stopping is not None:
                made = stage.unfinished(ready)
            else:
                try:
                    made = stage.process(ready)
                except stage.run_stopping as error:
                    stopping, made = error, stage.unfinished(ready)
                except PhotolibError as error:
                    made = [Outcome(work.photo.id, error=str(error)) for work in ready]
            outcomes.extend(made)
        hashes = {work.photo.id: work.photo.data.get("hash") for work in items}
        paths = {work.photo.id: work.photo.path for work in items}
        failures = [o for o in outcomes if o.error]
        with self.catalog.transaction():
            counts = stage.store(self.catalog, [o for o in outcomes if o.error is None]) or {}
            kept = (stage.keep_failed(self.catalog, failures) or {}) if failures else {}
            book.record(stage, outcomes, hashes, finished=stopping is None)
        if stopping is not None:
            return stopping
        for key, value in [*counts.items(), *kept.items()]:
            report.counts[key] = report.counts.get(key, 0) + value
        report.done += sum(1 for o in outcomes if o.error is None)
        report.failed.extend((paths.get(o.photo_id, str(o.photo_id)), o.error) for o in failures)  # type: ignore[misc]
        report.warnings.extend((paths.get(o.photo_id, str(o.photo_id)), warning)
                               for o in outcomes for warning in o.warnings)
        return None


def _lookahead(stages: Sequence[StageBase]) -> int:
    """Batches prepared ahead: one only when pixel stages want large (or full-size) images."""
    pixels = [stage for stage in stages if stage.needs_pixels]
    side = _largest_side(pixels)
    return 1 if pixels and (side is None or side > LARGE_SIDE) else LOOKAHEAD


def _largest_side(stages: Sequence[StageBase]) -> int | None:
    sides = [stage.min_side for stage in stages]
    return None if not sides or any(side is None for side in sides) else max(sides)  # type: ignore[type-var]


def _collect(futures: list[Future], stopping_errors: tuple[type[BaseException], ...]
             ) -> tuple[list[PhotoWork], BaseException | None]:
    """The prepared photos of a batch, and the first run-stopping error among them (if any)."""
    done, stopping = [], None
    for future in futures:
        try:
            done.append(future.result())
        except stopping_errors as error:
            stopping = stopping or error
    return done, stopping


def _prepare(work: PhotoWork, needs_pixels: bool, min_side: int | None, stages: list[StageBase],
             run: RunControl) -> PhotoWork:
    """A worker's part for one photo: decode it for the pixel stages, then each stage's per-photo work."""
    if needs_pixels:
        _decode(work, min_side)
    for stage in stages:
        try:
            stage.process_photo(work, run)
        except stage.run_stopping:
            run.stop()
            raise
    return work


def _decode(work: PhotoWork, min_side: int | None) -> None:
    """The photo's upright RGB image (`work.image`), or the reason it cannot be decoded (`work.error`)."""
    from photolib.media.read import decode_upright

    photo: "StoredPhoto" = work.photo
    try:
        image = decode_upright(Path(photo.path), min_side)
        if min_side and min(image.size) > 2 * min_side:  # not bigger than any stage needs (memory, speed)
            from PIL import Image

            scale = 2 * min_side / min(image.size)
            image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                                 Image.Resampling.BILINEAR, reducing_gap=2.0)
        work.image = image
    except PhotolibError as error:
        work.error = str(error)
    except OSError as error:
        work.error = f"cannot read file: {error.strerror or error}"
