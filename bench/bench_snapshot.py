"""The automatic catalog snapshot against the `add` that triggers it, on a 100 000-photo library.

    python -m bench.bench_snapshot                    # builds the 100 000-photo library (~1 min), then measures
    python -m bench.bench_snapshot --library DIR      # an existing library (bench/run.py builds one)
    python -m bench.bench_snapshot --smoke            # 1 000 photos, adds of 50 (CI: it runs)

Each figure comes from its own process adding 1 000 described and embedded photos
(`Library.import_embedded`, as `bench/run.py` times `add`) and ending the command
(`Library.finish`, what the CLI does after its output):

* add: no snapshot due; the reference (1.00x).
* in the command (before): the snapshot taken at the end of the write, in the
  command, as before it moved to the background: what the user waited.
* background (now, the CLI's way): what the user waits (add + starting the
  detached process), how long that process takes the snapshot, and an `add`
  started right after, while the snapshot is still being taken (it must not wait).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _library(path: str, background: bool, interval: float):
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    settings = load_settings(library_path=Path(path))
    settings.snapshot_interval = interval
    return Library(settings, background_snapshots=background)


ADDED = 1000  # photos each measured `add` imports (a smoke run's are fewer)


def _add(library, tag: str) -> None:
    from bench.run import SMOKE, synthetic_photos

    library.import_embedded(synthetic_photos(50 if SMOKE else ADDED, 3, f"snap-{tag}-{os.getpid()}-{time.time_ns()}"),
                            library.embedder.model_name)


def step(name: str, path: str) -> dict:
    """One measurement, in a fresh process."""
    from photolib.maintenance import snapshot_runner
    from photolib.store import snapshots

    if name == "add":
        library = _library(path, background=True, interval=1e9)
        library.embedder.model_name  # noqa: B018 - settings read before the clock starts
        start = time.perf_counter()
        _add(library, "plain")
        library.finish()
        return {"add_s": time.perf_counter() - start}
    if name == "in_command":
        timings = []
        real_take = snapshots.take

        def timed_take(*args, **kwargs):
            started = time.perf_counter()
            try:
                return real_take(*args, **kwargs)
            finally:
                timings.append(time.perf_counter() - started)

        snapshots.take = timed_take
        library = _library(path, background=False, interval=0.0)
        start = time.perf_counter()
        _add(library, "sync")
        library.finish()
        return {"user_waits_s": time.perf_counter() - start, "snapshot_s": timings[-1]}
    if name == "background":
        library = _library(path, background=True, interval=0.0)
        start = time.perf_counter()
        _add(library, "background")
        library.finish()
        returned = time.perf_counter()
        later = _library(path, background=True, interval=1e9)
        _add(later, "during")  # a command started while the snapshot is being taken
        later.finish()
        later_done = time.perf_counter()
        snapshot_runner.wait(Path(path), 600)
        done = time.perf_counter()
        return {"user_waits_s": returned - start, "snapshot_s": done - returned,
                "later_add_s": later_done - returned, "later_add_overlapped": later_done < done}
    raise ValueError(name)


def run_step(name: str, library: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "bench.bench_snapshot", "--step", name, str(library)],
                          capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode:
        raise RuntimeError(f"step {name} exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(library: Path) -> dict:
    """All figures on `library` (photos are added to it); ratios are to the plain `add`."""
    from bench.run import rounds
    from photolib.maintenance import snapshot_runner

    snapshot_runner.wait(library, 600)
    if rounds(2) > 1:
        run_step("add", library)  # warm the page cache and the index
    adds = [run_step("add", library)["add_s"] for _ in range(rounds(2))]
    add = min(adds)
    before = run_step("in_command", library)
    now = run_step("background", library)
    catalog_mb = (library / "catalog.db").stat().st_size / 1e6
    return {"add_s": add, "catalog_mb": catalog_mb,
            "before_user_waits_s": before["user_waits_s"], "before_snapshot_s": before["snapshot_s"],
            "now_user_waits_s": now["user_waits_s"], "now_snapshot_s": now["snapshot_s"],
            "later_add_s": now["later_add_s"], "later_add_overlapped": now["later_add_overlapped"]}


def report(figures: dict) -> list[tuple[str, float, str]]:
    add = figures["add_s"]
    return [
        ("add 1 000 (no snapshot due)", 1.0, f"{add:.2f} s"),
        ("before: snapshot in the command", figures["before_snapshot_s"] / add, f"{figures['before_snapshot_s']:.2f} s"),
        ("before: user waits (add + snapshot)", figures["before_user_waits_s"] / add,
         f"{figures['before_user_waits_s']:.2f} s"),
        ("now: snapshot, detached low-priority process", figures["now_snapshot_s"] / add,
         f"{figures['now_snapshot_s']:.2f} s for {figures['catalog_mb']:.0f} MB, quick_check included"),
        ("now: user waits (add + start)", figures["now_user_waits_s"] / add, f"{figures['now_user_waits_s']:.2f} s"),
        ("now: next add, during the snapshot", figures["later_add_s"] / add,
         f"{figures['later_add_s']:.2f} s" + ("" if figures["later_add_overlapped"] else " (snapshot done first)")),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", type=Path, help="an existing large library (photos are added to it)")
    parser.add_argument("--count", type=int, default=100_000, help="photos in the library built when none is given")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the benchmark runs (CI), figures say nothing")
    parser.add_argument("--step", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.step:
        print(json.dumps(step(*args.step)))
        return
    if args.smoke:
        from bench import run

        run.smoke_mode()
        args.count = 1_000
    library, made = args.library, None
    if library is None:
        made = Path(tempfile.mkdtemp(prefix="photolib-bench-snapshot-"))
        library = made / "library"
        subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--child", "build", str(args.count),
                        str(library)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        figures = measure(library)
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
    for case, ratio, note in report(figures):
        print(f"  {case:<46} {ratio:>6.2f}x of add   ({note})")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
