"""The batch engine: every stage of the pipeline runs through it, the first pass included.

What a stage is and declares: `photolib.pipeline.stage`; which stages there
are: `photolib.pipeline.registry`. The engine takes a list of stages and
each one's backlog (photo ids) and works them off batch by batch:

* in order: the stages that run ahead (`runs_ahead`: the image stage) go
  over their whole backlog first, so every photo is searchable by its pixels
  before the slow stages (thumbnails, OCR, faces) are done library-wide; then
  the others, together;
* per photo, ahead of the batch being committed (`LOOKAHEAD` batches, across
  the end of a sweep too; a batch's photo rows are read when it is prepared):
  the pixel stages' jobs (`pixel_job`) run in worker processes, one per core
  (`workers`; `photolib.pipeline.workers`): the file is decoded once for all
  the stages running together (upright per EXIF, RGB, at the smallest size
  they all accept: JPEGs at a reduced DCT scale), each job runs on that image
  and only its small result comes back. What is not a pixel job runs in a
  pool of `jobs` threads here: the first pass's reading and vision calls
  (`process_photo`), and the decode for a pixel stage without a job (its
  `process` then gets the image). Neither touches the catalog: what they need
  from it is read beforehand (`prefetch`);
* per batch, on the calling thread, stage after stage: `process` (a batch
  through a model), then one transaction with the stage's values (`store`)
  and its states (`state_book().record`), so a batch of one stage is kept or
  lost whole, and a killed run resumes each stage where it stopped. Batches
  are committed in photo order whatever the number of workers, so results
  (people formed from faces included) do not depend on it;
* after each batch: `on_commit` (the library saves its indexes now and then),
  and each stage's progress line advances (its rate and time left).

A run-stopping error (`run_stopping`: a rejected key, a missing model) stops
the run: no new model call is made, the batch keeps what it paid for, its
photos that were not finished stay pending, and the error is raised after
the commit. Ctrl-C and bugs stop it too, losing only the batch in hand.

Concurrency lives in three places only, so it can change in one: `_prepare`
(what a thread does for one photo), `workers.run_pixel_task` (what a worker
process does for one photo) and the pools `run` makes.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

from photolib.core.errors import PhotolibError
from photolib.core.progress import NoProgress, Progress
from photolib.pipeline.registry import StageName  # noqa: F401 - re-exported: a stage's name, state and outcome
from photolib.pipeline.stage import StageStatus  # noqa: F401 - beside the engine that records them
from photolib.pipeline.stage import (Outcome, PhotoWork, PixelJob, RunControl, Stage, StageBase, StageReport,
                                     StateBook, as_stage_base)
from photolib.pipeline.workers import PixelTask, PixelWorkers, decode_for, default_workers

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog

BATCH = 32  # photos per batch (and per commit)
LOOKAHEAD = 2  # batches prepared ahead while the current one is processed and committed
LARGE_SIDE = 1024  # decodes here whose shortest side passes this are kept one batch ahead only (memory)


@dataclass
class _Pending:
    """One photo of a batch in preparation: the threads' part and, with pixel jobs, the workers' part."""

    prepared: Future
    pixels: Future | None = None
    task: PixelTask | None = None


class BatchEngine:
    """Works off the backlog of each stage over a set of photos, batch by batch.

    `jobs` is the number of threads for per-photo work in this process (reading, vision calls);
    `workers` the number of worker processes for the pixel stages (None: one per core).
    `on_commit` is called after each committed batch.
    """

    def __init__(self, catalog: "Catalog", *, batch_size: int = BATCH, jobs: int = 2, workers: int | None = None,
                 progress: Progress | None = None, on_commit: Callable[[], None] | None = None) -> None:
        self.catalog = catalog
        self.batch_size = max(1, batch_size)
        self.jobs = max(1, jobs)
        self.workers = max(1, workers or default_workers())
        self.progress = progress or NoProgress()
        self.on_commit = on_commit or (lambda: None)
        self._workers: PixelWorkers | None = None  # started ahead of `run` by `start_workers`

    def start_workers(self, stages: Sequence["Stage | StageBase"], roots: Sequence[str] | None = None,
                      retry_failed: bool = False) -> None:
        """Start the worker processes `run` will need for these stages now, each loading its models, while
        the caller does something else (`add`: its first pass). `close` stops them."""
        declared = [as_stage_base(stage) for stage in stages]
        backlogs = self.backlogs([stage for stage in declared if stage.needs_pixels], roots, retry_failed)
        jobs = {stage.name: job for stage in declared if backlogs.get(stage.name)
                for job in [stage.pixel_job() if stage.needs_pixels else None] if job is not None}
        photos = len({pid for name in jobs for pid in backlogs[name]})
        if photos and self._workers is None:
            self._workers = PixelWorkers(min(self.workers, photos))
            self._workers.start(list(jobs.values()))

    def close(self) -> None:
        """Stop the workers `start_workers` started (`run` stops those it starts itself)."""
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    def backlogs(self, stages: Sequence["Stage | StageBase"], roots: Sequence[str] | None = None,
                 retry_failed: bool = False) -> dict[str, list[int]]:
        """Photo ids each stage still has to do (sorted). `roots` limits them to photos at or under
        these absolute paths (the folders given to `add`); None means the whole library."""
        declared = [as_stage_base(stage) for stage in stages]
        return {stage.name: stage.state_book(self.catalog).backlog(stage, roots, retry_failed) for stage in declared}

    def run(self, stages: Sequence["Stage | StageBase"], *, roots: Sequence[str] | None = None,
            retry_failed: bool = False, backlogs: dict[str, list[int]] | None = None) -> list[StageReport]:
        """Run `stages` over their backlogs (computed from their state books, or given) and report each:
        the stages that run ahead first, then the others together."""
        declared = [as_stage_base(stage) for stage in stages]
        if backlogs is None:
            backlogs = self.backlogs(declared, roots, retry_failed)
        reports = {stage.name: StageReport(str(stage.name), stage.model) for stage in declared}
        wanted = {stage.name: set(backlogs.get(stage.name, [])) for stage in declared}
        if not any(wanted.values()):
            return list(reports.values())
        lines = {stage.name: self.progress.line(stage.progress_title(), len(wanted[stage.name]))
                 for stage in declared if wanted[stage.name]}
        jobs = {stage.name: job for stage in declared if stage.needs_pixels and wanted[stage.name]
                for job in [stage.pixel_job()] if job is not None}
        photos_for_workers = len({pid for name in jobs for pid in wanted[name]})
        sweeps = [[stage for stage in declared if stage.runs_ahead], [stage for stage in declared if not stage.runs_ahead]]
        run = _Run(self.catalog, wanted, jobs, {stage.name: stage.state_book(self.catalog) for stage in declared},
                   reports, lines, tuple(error for stage in declared for error in stage.run_stopping))
        steps = [(sweep, batch) for sweep in sweeps for batch in self._batches(sweep, wanted)]
        workers = self._workers or PixelWorkers(min(self.workers, max(1, photos_for_workers)))
        try:
            self._work_off(steps, run, workers, _lookahead([stage for stage in declared if stage.name not in jobs]))
        except BaseException:
            workers.close(cancel=True)
            self._workers = None
            raise
        if workers is not self._workers:
            workers.close()
        for line in lines.values():
            line.finish()
        return list(reports.values())

    def _batches(self, sweep: list[StageBase], wanted: dict[str, set[int]]) -> list[list[int]]:
        """The photos any stage of the sweep wants, in photo order, cut into batches."""
        todo = sorted({pid for stage in sweep for pid in wanted[stage.name]})
        return [todo[i:i + self.batch_size] for i in range(0, len(todo), self.batch_size)]

    def _work_off(self, steps: list[tuple[list[StageBase], list[int]]], run: "_Run", workers: PixelWorkers,
                  depth: int) -> None:
        """Each (stages, batch) in turn, committed stage by stage; `depth` steps are prepared ahead, across
        the end of a sweep too (the workers start on the next sweep's photos while this process commits
        the last batch of the one before; its commits still all come first)."""
        control = RunControl()
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            try:
                ahead = [self._submit(pool, workers, batch, stages, run, control) for stages, batch in steps[:depth]]
                for number, (stages, _batch) in enumerate(steps):
                    work, stopping = _collect(ahead.pop(0), workers, run.stopping_errors, control)
                    if stopping is None and number + depth < len(steps):
                        following, batch = steps[number + depth]
                        ahead.append(self._submit(pool, workers, batch, following, run, control))
                    for stage in stages:
                        mine = [item for item in work if item.photo.id in run.wanted[stage.name]]
                        if mine:
                            stopping = self._run_stage(stage, run.books[stage.name], mine, run.reports[stage.name],
                                                       stopping)
                            if stopping is None:
                                run.lines[stage.name].advance(
                                    len(mine), **stage.progress_counters(run.reports[stage.name].counts))
                    if stopping is not None:
                        raise stopping
                    self.on_commit()
            except BaseException:
                control.stop()  # no new model calls in the threads still running
                workers.close(cancel=True)
                pool.shutdown(wait=True, cancel_futures=True)
                raise

    def _submit(self, pool: ThreadPoolExecutor, workers: PixelWorkers, batch: list[int], stages: list[StageBase],
                run: "_Run", control: RunControl) -> list[_Pending]:
        """Start the per-photo work of a batch: read its rows and what its stages prefetch, then per photo
        the pixel jobs in a worker process and the rest (`process_photo`, decodes for pixel stages without a
        job) in a thread."""
        photos = self.catalog.get_many(batch)
        inputs = {stage.name: stage.prefetch(self.catalog, [photos[pid] for pid in batch
                                                            if pid in photos and pid in run.wanted[stage.name]])
                  for stage in stages}
        pending = []
        for pid in batch:
            if pid not in photos:
                continue
            mine = [stage for stage in stages if pid in run.wanted[stage.name]]
            by_worker = [stage for stage in mine if stage.name in run.jobs]
            here = [stage for stage in mine if stage.needs_pixels and stage.name not in run.jobs]
            work = PhotoWork(photos[pid], inputs={name: found[pid] for name, found in inputs.items() if pid in found})
            item = _Pending(pool.submit(_prepare, work, bool(here), _largest_side(here), mine, control))
            if by_worker:
                item.task = PixelTask(photos[pid].path, _largest_side(by_worker),
                                      {stage.name: run.jobs[stage.name] for stage in by_worker}, run.stopping_errors)
                item.pixels = workers.submit(item.task)
            pending.append(item)
        return pending

    def _run_stage(self, stage: StageBase, book: StateBook, items: list[PhotoWork], report: StageReport,
                   stopping: BaseException | None) -> BaseException | None:
        """Process one batch in one stage and commit it, values and states together; returns the
        run-stopping error, if the run stops (this batch's finished photos then stay pending)."""
        def failure(work: PhotoWork) -> str | None:
            return (work.error or work.failed.get(stage.name)) if stage.needs_pixels else None

        ready = [work for work in items if not failure(work)]
        outcomes = [Outcome(work.photo.id, error=failure(work)) for work in items if failure(work)]
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


@dataclass
class _Run:
    """What one `run` shares between its sweeps: backlogs, pixel jobs, state books, reports, progress."""

    catalog: "Catalog"
    wanted: dict[str, set[int]]
    jobs: dict[str, PixelJob]
    books: dict[str, StateBook]
    reports: dict[str, StageReport]
    lines: dict[str, Progress]
    stopping_errors: tuple[type[BaseException], ...]


def _lookahead(stages: Sequence[StageBase]) -> int:
    """Batches prepared ahead: one only when pixel stages decode large (or full-size) images here."""
    pixels = [stage for stage in stages if stage.needs_pixels]
    side = _largest_side(pixels)
    return 1 if pixels and (side is None or side > LARGE_SIDE) else LOOKAHEAD


def _largest_side(stages: Sequence[StageBase]) -> int | None:
    sides = [stage.min_side for stage in stages]
    return None if not sides or any(side is None for side in sides) else max(sides)  # type: ignore[type-var]


def _collect(pending: list[_Pending], workers: PixelWorkers, stopping_errors: tuple[type[BaseException], ...],
             control: RunControl) -> tuple[list[PhotoWork], BaseException | None]:
    """The prepared photos of a batch, and the first run-stopping error among them (if any). A photo whose
    worker process died is tried again alone (`PixelWorkers.retry_alone`)."""
    done, stopping = [], None
    for item in pending:
        try:
            work = item.prepared.result()
            if item.pixels is not None and item.task is not None:
                try:
                    result = item.pixels.result()
                except BrokenProcessPool:
                    result = workers.retry_alone(item.task)
                work.made.update(result.made)
                work.failed.update(result.failed)
                work.error = work.error or result.error
            done.append(work)
        except stopping_errors as error:
            control.stop()
            stopping = stopping or error
    return done, stopping


def _prepare(work: PhotoWork, needs_pixels: bool, min_side: int | None, stages: list[StageBase],
             run: RunControl) -> PhotoWork:
    """A thread's part for one photo: decode it for pixel stages without a job, then each stage's per-photo work."""
    if needs_pixels:
        from pathlib import Path

        work.image, work.error = decode_for(Path(work.photo.path), min_side)
    for stage in stages:
        try:
            stage.process_photo(work, run)
        except stage.run_stopping:
            run.stop()
            raise
    return work
