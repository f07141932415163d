"""Worker processes for the pixel stages: every core works on its own photo.

The pixel stages' per-photo work (decode, thumbnails, the image model, OCR,
faces) is CPU work in native code. ONNX Runtime releases the GIL, but dlib
holds it for a whole detection (measured: two threads detecting faces take as
long as one doing both), and decoding, resizing and the OCR post-processing
hold it too, so threads in one process keep about one core busy. Worker
processes do not share a GIL: `PixelWorkers(count)` starts `count` of them
(`[add] workers`, default one per core), and each runtime inside one uses
`threads_per_worker` threads (cores // workers), so the total matches the
cores (`photolib.models.runtime`).

What a worker does for one photo is `run_pixel_task`: decode the file once,
upright, at the smallest size every stage of the task accepts, then each
stage's `PixelJob` on that image, and send back only the small results
(vectors, text boxes, faces). Workers never open the catalog: the engine
commits, batch by batch, in the calling process, so killing any process at
any moment loses at most the batch in hand. A worker exits when its parent
does (kill -9 included: Linux's parent-death signal, and a watchdog thread
elsewhere), ignores Ctrl-C (the engine stops it), and a worker that dies on a
photo (a crash in a native library) costs that photo only: the engine tries
it again alone, in a fresh pool, and records it failed if it dies again.

With one worker no process is started: the jobs run in a thread of the
calling process, which is cheaper for small runs and on one core.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from photolib.core.errors import PhotolibError

if TYPE_CHECKING:
    from photolib.pipeline.stage import PixelJob

WATCHDOG_SECONDS = 1.0  # how often a worker checks that its parent is alive (where Linux cannot tell it)
CRASHED = "the worker process reading it stopped (a crash or a kill in a native library)"


def default_workers() -> int:
    """Every core this process may run on."""
    from photolib.models.runtime import cores

    return cores()


def threads_per_worker(workers: int) -> int:
    """Each worker's share of the cores for its model runtimes, so the total matches the cores."""
    from photolib.models.runtime import cores

    return max(1, cores() // max(1, workers))


@dataclass
class PixelTask:
    """One photo for a worker: its file, the shortest side its stages need (None: full size), and each
    stage's job by stage name; `stopping` are the errors that stop the run (raised, not recorded)."""

    path: str
    min_side: int | None
    jobs: dict[str, "PixelJob"]
    stopping: tuple[type[BaseException], ...] = ()


@dataclass
class PixelResult:
    """What a worker made of one photo: each stage's value, each stage's failure, or why the file could
    not be decoded (`error`: every stage of the task fails with it)."""

    made: dict[str, Any] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    error: str | None = None


def run_pixel_task(task: PixelTask) -> PixelResult:
    """Decode once, run each job on the image; a job's failure is that stage's for this photo only."""
    image, error = decode_for(Path(task.path), task.min_side)
    if error is not None:
        return PixelResult(error=error)
    result = PixelResult()
    for name, job in task.jobs.items():
        try:
            result.made[name] = job(image)
        except task.stopping:
            raise
        except PhotolibError as failure:
            result.failed[name] = str(failure)
        except Exception as failure:  # noqa: BLE001 - a decoder or model failure on one photo is that photo's
            result.failed[name] = f"{job.failure} ({type(failure).__name__}: {failure})"
    return result


def decode_for(path: Path, min_side: int | None) -> tuple[Any, str | None]:
    """The photo's upright RGB image for pixel stages that need `min_side` pixels on its short side
    (None: full size), decoded at the smallest DCT scale that keeps that much and never kept larger
    than twice that (memory, speed); or None and the reason it cannot be decoded."""
    from photolib.media.read import decode_upright, reduced_by

    try:
        image = decode_upright(path, min_side)
    except PhotolibError as error:
        return None, str(error)
    except OSError as error:
        return None, f"cannot read file: {error.strerror or error}"
    if min_side:
        image = reduced_by(image, 2 * min_side / min(image.size))
    return image, None


class PixelWorkers:
    """`count` worker processes (or, for one, a thread of this process) running `PixelTask`s, started on
    the first task, or ahead of it by `start` (each worker then loads the models of the jobs it is given
    while the caller does other work: `add` starts them before its first pass).

    `submit` returns a future of the `PixelResult`, and must be called from the thread that made this
    object (on Linux a worker dies with the thread that started it). A future that raises
    `BrokenProcessPool` (a worker died) is worth `retry_alone`: the task again in a process of its own;
    if that dies too, the photo fails with `CRASHED`. `close` stops them all (`cancel`: without waiting
    for the photos in hand).
    """

    def __init__(self, count: int) -> None:
        self.count = max(1, count)
        self._pool: Any = None
        self._solo: Any = None  # where photos whose worker died are tried again, one at a time
        self._warm: tuple["PixelJob", ...] = ()

    def start(self, jobs: Sequence["PixelJob"] = ()) -> None:
        """Start every worker now, each loading the models of `jobs` before its first photo."""
        if self._pool is None:
            self._warm = tuple(jobs)
            self._pool = _start(self.count, warm=self._warm)
            if self.count == 1:
                self._pool.submit(_warm_up, self._warm)

    def submit(self, task: PixelTask) -> Future:
        if self._pool is None:
            self._pool = _start(self.count)
        try:
            return self._pool.submit(run_pixel_task, task)
        except BrokenProcessPool:  # a worker died on an earlier photo: a fresh pool for the next ones
            _stop(self._pool, cancel=True)
            self._pool = _start(self.count, warm=self._warm)
            return self._pool.submit(run_pixel_task, task)

    def retry_alone(self, task: PixelTask) -> PixelResult:
        """The task again, in a worker of its own: a photo whose worker dies twice is that photo's failure."""
        if self._solo is None:
            self._solo = _start(self.count, processes=1)
        try:
            return self._solo.submit(run_pixel_task, task).result()
        except BrokenProcessPool:
            _stop(self._solo, cancel=True)
            self._solo = None
            return PixelResult(error=CRASHED)

    def close(self, cancel: bool = False) -> None:
        for pool in (self._pool, self._solo):
            if pool is not None:
                _stop(pool, cancel)
        self._pool = self._solo = None

    def __enter__(self) -> "PixelWorkers":
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        self.close(cancel=error is not None)


def _start(count: int, processes: int | None = None, warm: tuple["PixelJob", ...] = ()) -> Any:
    """`count` workers' pool: a thread for one, else processes (`processes` of them, each with the
    threads of one of `count` workers, loading the models of the `warm` jobs as it starts)."""
    if count == 1:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="pixel-worker")
    import multiprocessing

    # spawn, not fork: the parent has threads and open SQLite connections (forking those is unsafe),
    # and not forkserver: it talks over a unix socket, and a local run opens no socket at all.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=processes or count, mp_context=context, initializer=_worker_started,
                               initargs=(os.getpid(), threads_per_worker(count), warm))
    with _main_module_hidden():  # every process now (one per waiting task): none is started later
        for _ in range(processes or count):
            pool.submit(_nothing)
    return pool


@contextmanager
def _main_module_hidden() -> Iterator[None]:
    """While workers start: a spawned process imports the program's main module again unless it cannot
    find it (a script calling `Library.add` without a `__main__` guard would run again in each worker,
    and the CLI's module would cost each worker its imports). Workers need only photolib."""
    main = sys.modules.get("__main__")
    saved = {name: getattr(main, name) for name in ("__spec__", "__file__") if hasattr(main, name)}
    try:
        if main is not None:
            main.__spec__ = None
            if "__file__" in saved:
                del main.__file__
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def _stop(pool: Any, cancel: bool) -> None:
    if cancel and isinstance(pool, ProcessPoolExecutor):
        for process in list(getattr(pool, "_processes", {}).values()):  # no public way to stop them at once
            process.terminate()
    pool.shutdown(wait=True, cancel_futures=cancel)


def _worker_started(parent: int, threads: int, warm: tuple["PixelJob", ...] = ()) -> None:
    """In each worker process, first: die with the parent, leave Ctrl-C to it, take a share of the cores,
    load the models of the `warm` jobs."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(parent)
    from photolib.models.runtime import set_threads

    set_threads(threads)
    _warm_up(warm)


def _warm_up(jobs: Sequence["PixelJob"]) -> None:
    """Each job once on a small grey picture: its models load now, not on the first photo."""
    from PIL import Image

    picture = Image.new("RGB", (64, 48), (128, 128, 128))
    for job in jobs:
        try:
            job(picture)
        except Exception:  # noqa: BLE001 - a model that cannot load says so on the first photo, as that photo's
            pass


def _nothing() -> None:
    """A task that only makes the pool start a worker process."""


def _die_with(parent: int) -> None:
    try:  # Linux: the kernel sends SIGKILL when the parent dies, whatever killed it
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before the signal was set up
        os._exit(1)

    def watch() -> None:
        while True:
            threading.Event().wait(WATCHDOG_SECONDS)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
