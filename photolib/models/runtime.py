"""How many threads the model runtimes of this process may use: one setting for all of them.

The pipeline runs the pixel stages in worker processes, one per core by
default (`photolib.pipeline.workers`), so each runtime inside a worker must
stay on its share of the cores: ONNX Runtime's intra-op pool (the OCR
models, the image model), OpenCV's pool (the OCR's resizing and warping)
and any BLAS/OpenMP pool a library brings. dlib needs no setting: the wheel
is built without BLAS and runs its detector and descriptor on the calling
thread (and holds the GIL while it does, which is why the stages run in
processes rather than threads).

`set_threads(n)` is called once, before any model loads; models read
`threads()` when they build their sessions. Unset, a runtime may use every
core (a single process: `photolib search`, tests, benchmarks).
"""

from __future__ import annotations

import os
from typing import Any

_threads: int | None = None
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def set_threads(count: int) -> None:
    """Every model runtime of this process uses at most `count` threads from now on."""
    global _threads
    _threads = max(1, int(count))
    for name in THREAD_VARIABLES:
        os.environ[name] = str(_threads)
    try:
        import cv2

        cv2.setNumThreads(_threads)
    except ImportError:  # OpenCV comes with rapidocr; without it there is nothing to set
        pass


def threads() -> int:
    """The threads a model runtime may use in this process: the share set for it, else every core."""
    return _threads or cores()


def session_options(threads: int) -> Any:
    """ONNX Runtime options for a small shared CPU: `threads` intra-op threads, no spinning (a spinning
    pool steals the core another thread or worker needs), every graph optimisation."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options
