"""The staged add and the image space: what turning on an image model costs.

    python -m bench.bench_image_space [--model FOLDER] [--photos N]
    python -m bench.bench_image_space --smoke    # 4 small photos, the tiny model, one round (CI: it runs)

* first pass rate: photos per second until every photo is searchable by
  description (read, describe, embed the description and commit), with the
  image stage on (it runs after the first pass, in the same `add`) as a ratio
  to the same import with no image model. Target >= 0.9.
* image stage rate: photos per second of the image stage itself (reported).
* cold search: a fresh `photolib search` process with the image model on (it
  loads the text tower and searches both spaces) as a ratio to the same
  search with no image model. Target <= 2x.

FOLDER is a model in Immich's layout: by default the bench model with the real
ViT-B/32 architecture and random weights under bench/.cache/ when it is there
(see bench/README or `bench/run.py`), else the tiny test model of
tests/support/onnx_models.py (whose cost is negligible: then the figures show the
pipeline's own overhead only).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
sys.path.insert(0, str(ROOT))
_EMBEDDER: list = []  # the first library's text embedder, lent to the next ones (its load is never timed)


def default_model() -> Path:
    for candidate in sorted(CACHE.glob("*ViT-B-32*")) if CACHE.exists() else []:
        if (candidate / "visual" / "model.onnx").is_file():
            return candidate
    from bench.run import tiny_image_model

    return tiny_image_model()


def camera_roll(folder: Path, count: int, size: tuple[int, int] = (1600, 1200)) -> Path:
    from tests.support.photos import make_photo

    if not folder.exists():
        for number in range(count):
            colour = ((number * 53) % 256, (number * 97) % 256, (number * 151) % 256)
            make_photo(folder / "DCIM" / "100CANON" / f"IMG_{number:04d}.JPG", color=colour, size=size)
    return folder / "DCIM"


class FirstPassClock:
    """A Progress that notes when the first enrichment stage line appears: the first pass is over."""

    def __init__(self) -> None:
        self.first_line_at: float | None = None

    def start(self, total, description) -> None:
        pass

    def advance(self, count=1, **counters) -> None:
        pass

    def finish(self) -> None:
        pass

    def line(self, description, total):
        if self.first_line_at is None:
            self.first_line_at = time.perf_counter()
        return self


def timed_add(photos: Path, library: Path, model: Path | None) -> tuple[float, float, int]:
    """(first pass seconds, whole add seconds, photos) of one `add` in this process."""
    from photolib.core.config import ImageSettings, load_settings
    from photolib.app.library import Library

    settings = load_settings(library_path=library)
    settings.image = ImageSettings(enabled=model is not None, model="bench/vit-b-32", model_path=model)
    # The image stage alone: the other pipeline stages (on by default) would be timed with it.
    settings.ocr_enabled = settings.faces_enabled = settings.thumbnails_enabled = False
    library_object = Library(settings, embedder=next(iter(_EMBEDDER), None))
    library_object.embedder.embed_query("warm up")  # both runs load the text embedder before the clock starts
    _EMBEDDER[:] = [library_object.embedder]
    clock = FirstPassClock()
    start = time.perf_counter()
    report = library_object.add([photos], progress=clock)
    end = time.perf_counter()
    library_object.close()
    first = (clock.first_line_at or end) - start
    return first, end - start, report.new


def cold_search(library: Path, config: Path, runs: int = 5) -> float:
    from bench.run import rounds

    times = []
    for _ in range(rounds(runs)):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "photolib.cli", "--config", str(config), "-L", str(library),
                        "search", "a cat on a sofa"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       cwd=ROOT, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> None:
    from bench import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="image model folder in Immich's layout")
    parser.add_argument("--photos", type=int, default=48)
    parser.add_argument("--smoke", action="store_true",
                        help="4 small photos, the tiny model, one round: the benchmark runs (CI), figures say nothing")
    options = parser.parse_args(argv)
    if options.smoke:
        run.smoke_mode()
        model, photos = run.tiny_image_model(), camera_roll(CACHE / "roll-4-320x240", 4, (320, 240))
    else:
        model = options.model or default_model()
        photos = camera_roll(CACHE / f"roll-{options.photos}", options.photos)
    work = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    try:
        runs = {"off": [], "on": []}
        for round_number in range(run.rounds(2)):  # alternated, best of two: the machine's load varies
            for name, folder in (("off", None), ("on", model)):
                shutil.rmtree(work / name, ignore_errors=True)
                runs[name].append(timed_add(photos, work / name, folder))
        off_first, off_total, count = min(runs["off"])
        on_first, on_total, _ = min(runs["on"])
        stage = on_total - on_first
        print(f"model: {model}")
        print(f"first pass, image stage off: {count / off_first:8.2f} photos/s ({off_first:.1f} s)")
        print(f"first pass, image stage on:  {count / on_first:8.2f} photos/s ({on_first:.1f} s)"
              f"   ratio {off_first / on_first:.2f} (target >= 0.9)")
        print(f"image stage:                 {count / stage:8.2f} photos/s ({stage:.1f} s)" if stage > 0 else "")
        off_config, on_config = work / "off.toml", work / "on.toml"
        off_config.write_text("[image]\nenabled = false\n")
        on_config.write_text(f'[image]\nmodel = "bench/vit-b-32"\nmodel_path = "{model}"\n')
        off_search = cold_search(work / "off", off_config)
        on_search = cold_search(work / "on", on_config)
        print(f"cold search, image model off: {off_search * 1000:7.0f} ms")
        print(f"cold search, image model on:  {on_search * 1000:7.0f} ms   ratio {on_search / off_search:.2f} "
              "(target <= 2)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
