"""Seeing a whole library: `add` with every pixel stage, on every core (issue 22).

On a camera roll with real photo content (bench/camera_roll.py: scikit-image's
samples at 12 MP with the EXIF preview cameras write; one photo in ten holds
text, one in eight a face), all ratios measured in one run, each pair in
alternating rounds (the machine may be shared: the load average is printed
beside every figure):

* `add` rates, each a new library, as `photolib add` commands: the first pass
  alone (thumbnails, image, OCR, faces off), the default `add` (thumbnails,
  OCR and faces; no image model pulled) and `add` with the image model
  (ViT-B/32, random weights: bench/vit_b32.py); each as a ratio to the
  first pass (targets >= 0.25 and >= 0.2), and the CPU the default one used,
  (user + sys) / wall, of the whole process tree;
* the stages alone (`Library.enrich` after a first-pass-only `add`, in this
  process): CPU use during the stages (target >= 1.7 cores on 2), each
  stage's rate as its progress line shows it (commits after the first), and
  the image stage alone against raw ONNX Runtime on ready tensors, measured
  just before, idle (target >= 0.8);
* OCR and faces per photo, as ratios to decoding that photo (one thread, CPU
  time), and the floors under them: the text detector's and the face
  detector's own cost on ready inputs;
* a `--workers` sweep of `add` with the image model: rate and the peak
  memory of all its processes together (summed proportional set sizes: each
  worker holds its own models; pages they share count once);
* the projected hours for 100 000 photos on this machine: searchable by
  description, by pixels, and fully seen (default, and with the image model).

No assertions: run it and report the figures.

    python bench/bench_throughput.py [--photos 48] [--rounds 3] [--workers 1,2,4]
    python bench/bench_throughput.py --smoke   # 6 photos of 640 px, one round, one worker, no sweep, the tiny model (CI)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from photolib.core.progress import NoProgress  # noqa: E402

FIRST_PASS_ONLY = {"PHOTOLIB_THUMBNAILS_ENABLED": "false", "PHOTOLIB_OCR_ENABLED": "false",
                   "PHOTOLIB_FACES_ENABLED": "false", "PHOTOLIB_IMAGE_ENABLED": "false"}
EVERY_STAGE = {"PHOTOLIB_THUMBNAILS_ENABLED": "true", "PHOTOLIB_OCR_ENABLED": "true", "PHOTOLIB_FACES_ENABLED": "true",
               "PHOTOLIB_IMAGE_ENABLED": "true"}  # (the image stage runs when a model is configured)
DEFAULT_ADD = {**EVERY_STAGE, "PHOTOLIB_IMAGE_ENABLED": "false"}  # a new user's `add`: no image model pulled
RUN_MARK = "PHOTOLIB_BENCH_RUN"  # in the environment of a timed command and of the workers it starts
TARGETS = {"default_ratio": 0.25, "image_ratio": 0.2, "cores": 1.7, "image_to_raw": 0.8}
FIGURES: list[tuple[str, str, str, str]] = []  # (case, figure, target, load) for the closing table


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def report(case: str, figure: str, target: str = "") -> None:
    FIGURES.append((case, figure, target, load()))
    print(f"  {case:<58} {figure:<34} {target:<10} [{load()}]", flush=True)


# -- timed commands ---------------------------------------------------------------------------------

@dataclass
class Measured:
    wall: float
    cpu: float  # user + sys of the command and every process it started
    peak_memory: int  # bytes: the most its processes used together at one moment (summed PSS)
    output: dict = field(default_factory=dict)

    @property
    def cores(self) -> float:
        return self.cpu / self.wall if self.wall else 0.0


def marked_memory(mark: str) -> int:
    """The memory (bytes) of the processes whose environment holds `mark`: their proportional set sizes
    summed (pages they share, such as a memory-mapped model or the libraries, counted once in all)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"{RUN_MARK}={mark}".encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            for line in (entry / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def timed_add(folder: Path, env: dict[str, str], *extra: str, config: Path | None = None) -> Measured:
    """`photolib add folder --json` into a new library, timed, with the CPU and peak RSS of its processes."""
    mark = uuid.uuid4().hex
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as library:
        command = [sys.executable, "-m", "photolib.cli", *(["--config", str(config)] if config else []),
                   "-L", library, "add", str(folder), "--json", *extra]
        environment = {**os.environ, "PYTHONPATH": str(ROOT), **env, RUN_MARK: mark}
        peak, done = [0], threading.Event()

        def sample() -> None:
            while not done.wait(0.1):
                peak[0] = max(peak[0], marked_memory(mark))

        sampler = threading.Thread(target=sample, daemon=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        sampler.start()
        finished = subprocess.run(command, env=environment, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if finished.returncode != 0:
            raise RuntimeError(f"photolib add failed ({finished.returncode}): {finished.stderr[-2000:]}")
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return Measured(wall, cpu, peak[0], json.loads(finished.stdout))


def alternate(cases: dict[str, "callable"], rounds: int) -> dict[str, list[Measured]]:
    """Each case once per round, in turn: load that comes and goes falls on every case alike."""
    measured: dict[str, list[Measured]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            measured[name].append(case())
    return measured


def median_of(runs: list[Measured], key) -> float:
    return statistics.median(key(run) for run in runs)


# -- the stages alone, in this process ----------------------------------------------------------------

class StageClock(NoProgress):
    """A `Progress` that timestamps each committed batch of each stage (its line's advances)."""

    def __init__(self) -> None:
        self.commits: dict[str, list[tuple[float, int]]] = {}

    def line(self, description, total):
        commits = self.commits.setdefault(description.split(":")[0], [])

        class Line(NoProgress):
            def advance(self, count=1, **counters):
                commits.append((time.perf_counter(), count))

        return Line()

    def rate(self, label: str) -> float:
        """Photos a second after the stage's first commit (its start-up and first batch excluded)."""
        commits = self.commits.get(label, [])
        if len(commits) < 2:
            return float("nan")
        return sum(count for _t, count in commits[1:]) / (commits[-1][0] - commits[0][0])


def stages_alone(folder: Path, image_model: Path | None, batch: int, only_image: bool = False,
                 workers: int | None = None) -> dict:
    """`enrich` in this process over a library whose first pass is done: wall, CPU of this process and its
    workers, and each stage's rate."""
    from photolib.app.library import Library
    from photolib.core.config import ImageSettings, load_settings

    with tempfile.TemporaryDirectory(prefix="bench-stages-") as root:
        adding = subprocess.run([sys.executable, "-m", "photolib.cli", "-L", root, "add", str(folder), "--json"],
                                env={**os.environ, "PYTHONPATH": str(ROOT), **FIRST_PASS_ONLY}, capture_output=True,
                                text=True, cwd=ROOT)
        if adding.returncode != 0:
            raise RuntimeError(adding.stderr[-2000:])
        settings = load_settings(library_path=Path(root), environ={})
        settings.batch_size = batch
        settings.workers = workers or settings.workers
        if only_image:
            settings.thumbnails_enabled = settings.ocr_enabled = settings.faces_enabled = False
        settings.image = ImageSettings(model="bench/model", model_path=image_model) if image_model \
            else ImageSettings(enabled=False)
        library = Library(settings)
        library.stages()  # built (models' folders read) before the clock starts, as `add` has them
        clock = StageClock()
        before = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        started = time.perf_counter()
        reports = library.enrich(progress=clock)
        wall = time.perf_counter() - started
        after = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        library.close()
    cpu = sum((a.ru_utime - b.ru_utime) + (a.ru_stime - b.ru_stime) for a, b in zip(after, before))
    failed = [(r.name, r.failed) for r in reports if r.failed]
    if failed:
        raise RuntimeError(f"stages failed: {failed}")
    return {"wall": wall, "cpu": cpu, "rates": {label: clock.rate(label) for label in clock.commits},
            "photos": max((r.done for r in reports), default=0)}


def raw_onnxruntime(model: Path, seconds: float = 4.0) -> float:
    """Images/s of the image tower alone on a ready tensor, one session on every core (as shipped, fully
    optimised, the provider's thread settings)."""
    import numpy as np
    import onnxruntime as ort

    from photolib.models.runtime import session_options
    from photolib.models.runtime import cores

    session = ort.InferenceSession(str(model / "visual" / "model.onnx"), session_options(cores()),
                                   providers=["CPUExecutionProvider"])
    first = session.get_inputs()[0]
    size = int(first.shape[-1]) if isinstance(first.shape[-1], int) else 224
    ready = np.random.default_rng(1).standard_normal((1, 3, size, size), dtype=np.float32)
    if first.type == "tensor(uint8)":
        ready = np.zeros((1, size, size, 3), dtype=np.uint8)
    feed = {first.name: ready}
    session.run(None, feed)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.run(None, feed)
        count += 1
    return count / (time.perf_counter() - started)


# -- OCR and faces per photo --------------------------------------------------------------------------

def per_photo_costs(folder: Path, model: Path) -> list[dict]:
    """`photo_costs` in a process of its own (its models on one thread, as in a worker on two cores)."""
    script = ("import json, sys; from bench.bench_throughput import photo_costs; "
              "print(json.dumps(photo_costs(sys.argv[1], sys.argv[2])))")
    done = subprocess.run([sys.executable, "-c", script, str(folder), str(model)],
                          env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def photo_costs(folder: str, model: str) -> list[dict]:
    """CPU seconds (one thread) to decode each photo for the slow stages, make its thumbnails, read its text
    and find its faces, and to decode it for the image stage and embed it; and the detectors' own cost on
    ready inputs (the floor under each stage)."""
    import numpy as np

    from photolib.media.read import reduced
    from photolib.media.thumbnails import LARGE, SMALL, encode_sizes
    from photolib.models import faces, ocr, runtime
    from photolib.models.clip import ClipEmbedder
    from photolib.pipeline.stages.faces import FACES_MIN_SIDE
    from photolib.pipeline.stages.ocr import OCR_MIN_SIDE
    from photolib.pipeline.workers import decode_for

    runtime.set_threads(1)
    embedder = ClipEmbedder(Path(model), "bench/model", threads=1)
    paths = sorted(Path(folder).glob("*.jpg"))
    side = max(OCR_MIN_SIDE, FACES_MIN_SIDE)
    warm, _ = decode_for(paths[0], side)
    ocr.read_text(warm), faces.find_faces(warm), embedder.embed_images([warm])
    rows = []
    for path in paths:
        start = time.process_time()
        small, _error = decode_for(path, embedder.input_side)
        embedder.embed_images([small])
        seeing = time.process_time() - start
        start = time.process_time()
        image, _error = decode_for(path, side)
        decode = time.process_time() - start
        start = time.process_time()
        encode_sizes(image, (SMALL, LARGE))
        thumbnails = time.process_time() - start
        start = time.process_time()
        image, _error = decode_for(path, side)
        decode = time.process_time() - start
        start = time.process_time()
        text = ocr.read_text(image)
        reading = time.process_time() - start
        start = time.process_time()
        found = faces.find_faces(image)
        finding = time.process_time() - start
        scale = ocr.GATE_SIDE / max(image.size)
        width, height = (round(image.width * scale / 32) * 32, round(image.height * scale / 32) * 32)
        ready = (np.asarray(reduced(image, (width, height)), dtype=np.float32) / 127.5 - 1).transpose(2, 0, 1)[None]
        session = ocr._models().detector
        start = time.process_time()
        session.run(None, {session.get_inputs()[0].name: np.ascontiguousarray(ready)})
        detector = time.process_time() - start
        scale = faces.DETECT_SIDE / max(image.size)
        grey = np.ascontiguousarray(np.asarray(reduced(image.convert("L"), (round(image.width * scale),
                                                                            round(image.height * scale)))))
        start = time.process_time()
        faces._load()[0].run(grey, 0, 0.0)
        hog = time.process_time() - start
        rows.append({"decode": decode, "ocr": reading, "gated": text.gated, "text": bool(text.boxes),
                     "faces": finding, "found": bool(found), "detector": detector, "hog": hog,
                     "thumbnails": thumbnails, "image": seeing})
    return rows


# -- the run ------------------------------------------------------------------------------------------

def measure(folder: Path, model: Path, rounds: int, sweep: list[int], batch: int, smoke: bool = False) -> dict:
    """Every figure of this benchmark (printed as measured, with the load average), as a dict."""
    from photolib.models.runtime import cores

    count = len(list(folder.glob("*.jpg")))
    config = Path(tempfile.mkdtemp(prefix="bench-throughput-config-")) / "config.toml"
    config.write_text(f"[image]\nmodel_path = {json.dumps(str(model))}\n")
    print(f"add throughput: {count} photos ({'640 px' if smoke else '12 MP'}) in {folder}, {cores()} cores, "
          f"image model {'tiny test model' if smoke else 'ViT-B/32 (random weights)'} [{load()}]", flush=True)
    figures: dict = {"photos": count, "cores": cores()}
    workers = 1 if smoke else None  # a smoke run starts no worker process: it shows the code runs, quickly
    extra = {"PHOTOLIB_ADD_WORKERS": "1"} if smoke else {}
    if not smoke:  # the label vocabulary, once per machine; the model's optimised copy; the OS's file cache
        warm = timed_add(folder, EVERY_STAGE, config=config)
        report("warm-up add with the image model (vocabulary embedded once)", f"{warm.wall:.1f} s")

    adds = alternate({"first": lambda: timed_add(folder, FIRST_PASS_ONLY),
                      "default": lambda: timed_add(folder, {**DEFAULT_ADD, **extra}),
                      "image": lambda: timed_add(folder, {**EVERY_STAGE, **extra}, config=config)}, rounds)
    first = figures["first_rate"] = median_of(adds["first"], lambda m: count / m.wall)
    default = figures["default_rate"] = median_of(adds["default"], lambda m: count / m.wall)
    seeing = figures["image_rate"] = median_of(adds["image"], lambda m: count / m.wall)
    figures["default_cores"] = median_of(adds["default"], lambda m: m.cores)
    figures["image_cores"] = median_of(adds["image"], lambda m: m.cores)
    report("add, first pass alone (read, describe, embed)", f"{first:.2f} photos/s")
    report("add, default (thumbnails, OCR, faces)", f"{default:.2f} photos/s = {default / first:.3f}x first",
           f">= {TARGETS['default_ratio']}")
    report("add, with the image model too", f"{seeing:.2f} photos/s = {seeing / first:.3f}x first",
           f">= {TARGETS['image_ratio']}")
    report("add, default: CPU (user+sys)/wall of all its processes", f"{figures['default_cores']:.2f} cores")
    report("add, with the image model: CPU (user+sys)/wall", f"{figures['image_cores']:.2f} cores")

    raw = figures["raw_onnxruntime"] = raw_onnxruntime(model)
    report("image model: raw ONNX Runtime, ready tensors, one session", f"{raw:.2f} images/s")
    image_only = stages_alone(folder, model, batch, only_image=True, workers=workers)
    image_rate = figures["image_stage_rate"] = image_only["rates"].get("Image embedding", float("nan"))
    report("image stage alone (decode, preprocess, model; per commit)",
           f"{image_rate:.2f} photos/s = {image_rate / raw:.2f}x raw", f">= {TARGETS['image_to_raw']}")
    stages = stages_alone(folder, None, batch, workers=workers)
    figures["stages_cores"] = stages["cpu"] / stages["wall"]
    report("stages alone (thumbnails, OCR, faces): CPU (user+sys)/wall",
           f"{figures['stages_cores']:.2f} cores ({stages['wall']:.1f} s)", f">= {TARGETS['cores']}")
    for label, rate in stages["rates"].items():
        report(f"  {label}: rate as its progress line shows it", f"{rate:.2f} photos/s")
    if not smoke:
        with_model = stages_alone(folder, model, batch)
        figures["stages_with_model_cores"] = with_model["cpu"] / with_model["wall"]
        report("stages alone with the image model: CPU (user+sys)/wall",
               f"{figures['stages_with_model_cores']:.2f} cores ({with_model['wall']:.1f} s)", f">= {TARGETS['cores']}")
        for label, rate in with_model["rates"].items():
            report(f"  {label}: rate as its progress line shows it", f"{rate:.2f} photos/s")

    costs = per_photo_costs(folder, model)

    def ratio(rows: list[dict], key: str) -> str:
        if not rows:
            return "(none in the roll)"
        decode = statistics.median(row["decode"] for row in rows)
        value = statistics.median(row[key] for row in rows)
        return f"{value / decode:.2f}x decode ({value * 1000:.0f} ms vs {decode * 1000:.0f} ms, {len(rows)} photos)"

    report("decode for the slow stages (half-scale JPEG), one thread", ratio(costs, "decode"))
    report("OCR, photo stopped at the gate", ratio([r for r in costs if r["gated"]], "ocr"))
    report("OCR, photo past the gate, no text kept", ratio([r for r in costs if not r["gated"] and not r["text"]], "ocr"))
    report("OCR, photo with text", ratio([r for r in costs if r["text"]], "ocr"))
    report("  floor: the text detector's model alone on a ready gate-size tensor", ratio(costs, "detector"))
    report("faces, photo without a face", ratio([r for r in costs if not r["found"]], "faces"))
    report("faces, photo with faces", ratio([r for r in costs if r["found"]], "faces"))
    report("  floor: the face detector alone on a ready grey copy", ratio(costs, "hog"))
    report("thumbnails from the decoded photo", ratio(costs, "thumbnails"))
    report("image stage: decode at the model's size and embed", ratio(costs, "image"))
    slow = sum(row["decode"] + row["thumbnails"] + row["ocr"] + row["faces"] for row in costs)
    seen = sum(row["image"] for row in costs)
    first_wall = count / first
    for key, extra, target in (("default", 0.0, "default_ratio"), ("image", seen, "image_ratio")):
        floor = first_wall / (first_wall + (slow + extra) / cores())
        figures[f"{key}_floor"] = floor
        report(f"floor of the {key} add's ratio: first pass + the stages' CPU one photo at a time, spread over "
               "every core, no start-up", f"{floor:.3f}x first", f">= {TARGETS[target]}")
    if not smoke:  # the same with the stages as they run: every core busy, after their first commit
        busy = {"default": count / min(stages["rates"].values()),
                "image": count / with_model["rates"]["Image embedding"]
                + count / min(rate for label, rate in with_model["rates"].items() if label != "Image embedding")}
        for key, target in (("default", "default_ratio"), ("image", "image_ratio")):
            floor = first_wall / (first_wall + busy[key])
            figures[f"{key}_busy_floor"] = floor
            report(f"floor of the {key} add's ratio: first pass + the stages at their rate with every core "
                   "busy (stages alone, after their first commit: no start-up)", f"{floor:.3f}x first",
                   f">= {TARGETS[target]}")

    for workers in sweep:
        runs = alternate({"sweep": lambda: timed_add(folder, EVERY_STAGE, "--workers", str(workers), config=config)},
                         max(1, rounds - 1))["sweep"]
        figures[f"workers_{workers}"] = {"rate": count / median_of(runs, lambda m: m.wall),
                                         "cores": median_of(runs, lambda m: m.cores),
                                         "memory_gb": max(m.peak_memory for m in runs) / 1e9}
        report(f"add with the image model, --workers {workers}",
               f"{figures[f'workers_{workers}']['rate']:.2f} photos/s, {figures[f'workers_{workers}']['cores']:.2f} "
               f"cores, peak memory {figures[f'workers_{workers}']['memory_gb']:.2f} GB")

    hours = 100_000 / 3600
    pixels = 1 / (1 / first + 1 / image_rate) if image_rate == image_rate else float("nan")
    figures["hours"] = {"description": hours / first, "pixels": hours / pixels, "default": hours / default,
                        "image": hours / seeing}
    report("100 000 photos: searchable by description after", f"{hours / first:.1f} h")
    report("100 000 photos: searchable by pixels after (first pass, image stage)", f"{hours / pixels:.1f} h")
    report("100 000 photos: default add done after", f"{hours / default:.1f} h")
    report("100 000 photos: add with the image model done after", f"{hours / seeing:.1f} h")
    return figures


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=48, help="photos in the camera roll")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the add commands (medians)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts of the sweep (comma-separated)")
    parser.add_argument("--batch", type=int, default=8, help="batch size of the stages-alone runs (rates per commit)")
    parser.add_argument("--smoke", action="store_true",
                        help="6 photos of 640 px, one round, the tiny test image model: the benchmark runs (CI)")
    args = parser.parse_args(argv)
    from bench.camera_roll import roll

    if args.smoke:
        from bench import run

        run.smoke_mode()  # (OCR and faces off in the environment: this benchmark turns them on where it times them)
        folder, model, args.rounds, args.workers, args.batch = roll(6, side=640), run.tiny_image_model(), 1, "", 2
    else:
        from bench.vit_b32 import build

        folder, model = roll(args.photos), build()
    measure(folder, model, args.rounds, [int(value) for value in args.workers.split(",") if value.strip()],
            args.batch, smoke=args.smoke)
    print("\n| case | figure | target | load |\n|---|---|---|---|")
    for case, figure, target, when in FIGURES:
        print(f"| {case.strip()} | {figure} | {target} | {when} |")


if __name__ == "__main__":
    main()
