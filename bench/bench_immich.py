"""The image stage on Immich machine-learning servers, as ratios to the local image stage.

A library of camera-like JPEGs gets its first pass once; then, on a copy each,
`photolib enrich` runs the image stage (OCR, faces and thumbnails off):

* locally, with the ViT-B/32 architecture (random weights, bench/vit_b32.py;
  the tests' tiny model in a smoke run) on this machine's cores;
* through 1, 2 and 4 test servers that speak Immich's protocol
  (tests/support/immich_server.py, each in its own process), every answer delayed by
  50 ms: servers elsewhere on the network. They run the tests' tiny model, so
  their own compute stands for a fast GPU's, and what is measured is the
  client: decoding, reducing and encoding the JPEGs, the round trips, and how
  well requests in flight hide the latency;
* through 1 server with 1, 2 and 8 requests in flight.

Figures: photos per second, and each as a ratio to the local stage. The load
average is printed beside them (the machine may be shared). No assertions.

    python bench/bench_immich.py [--photos 96] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LATENCY = 0.05  # seconds every server adds to every answer
SERVER_MODEL = "bench-server-clip"
LOCAL_MODEL = "bench-local-clip"


def make_photos(folder: Path, count: int, size: tuple[int, int]) -> Path:
    """Camera-like JPEGs (smooth noise), so decoding costs what a photo's does."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    width, height = size
    for index in range(count):
        small = rng.integers(0, 256, size=(height // 16, width // 16, 3), dtype=np.uint8)
        Image.fromarray(small).resize(size, Image.Resampling.BILINEAR).save(folder / f"photo_{index:03d}.jpg", quality=90)
    return folder


def config_text(image: str) -> str:
    return ("[vision]\nprovider = \"local\"\n[thumbnails]\nenabled = false\n[ocr]\nenabled = false\n"
            f"[faces]\nenabled = false\n[image]\n{image}")


def open_library(root: Path, config: Path):
    from photolib.app.library import Library
    from photolib.core.config import load_settings

    return Library(load_settings(config_path=config, library_path=root, environ={}))


def start_servers(count: int, model: Path) -> list[tuple[subprocess.Popen, str]]:
    """`count` test servers, each in its own process, started together; (process, URL) each."""
    processes = [subprocess.Popen([sys.executable, "-m", "tests.support.immich_server", "--model", f"{SERVER_MODEL}={model}",
                                   "--latency", str(LATENCY)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
                 for _ in range(count)]
    return [(process, process.stdout.readline().strip()) for process in processes]


def stop_servers(servers: list[tuple[subprocess.Popen, str]]) -> None:
    for process, _url in servers:
        process.terminate()
    for process, _url in servers:
        process.wait(timeout=30)


def timed_enrich(base: Path, work: Path, name: str, image_section: str) -> float:
    """Seconds `enrich` takes for the image stage on a copy of the base library. The label vocabulary's
    vectors of the model are made once per model before timing (`work/labels`), and copied in."""
    from photolib.models.labels import vocabulary_vectors

    library_root = work / name
    shutil.copytree(base, library_root)
    config = work / f"{name}.toml"
    config.write_text(config_text(image_section))
    library = open_library(library_root, config)
    try:
        vocabulary_vectors(library.image_embedder, work / "labels")
        shutil.copytree(work / "labels", library_root / "cache", dirs_exist_ok=True)
        started = time.perf_counter()
        reports = library.enrich(jobs=4)
        seconds = time.perf_counter() - started
    finally:
        library.close()
    done = sum(report.done for report in reports if report.name == "image")
    failed = sum(len(report.failed) for report in reports if report.name == "image")
    if failed or not done:
        raise RuntimeError(f"{name}: the image stage did {done} photos and failed {failed}")
    return seconds


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=96)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: a handful of small photos, the tiny model")
    args = parser.parse_args(argv)
    from tests.support.onnx_models import build_tiny_clip

    count, size = (6, (640, 480)) if args.smoke else (args.photos, (2000, 1500))
    work = Path(tempfile.mkdtemp(prefix="photolib-bench-immich-"))
    figures: dict = {"photos": count, "size": f"{size[0]}x{size[1]}", "latency_ms": LATENCY * 1000}
    try:
        tiny = build_tiny_clip(work / "tiny", size=224)
        if args.smoke:
            local_model = tiny
        else:
            from bench.vit_b32 import build

            local_model = build()
        pictures = make_photos(work / "pictures", count, size)
        base = work / "base"
        first = work / "first.toml"
        first.write_text(config_text("enabled = false\n"))
        library = open_library(base, first)
        library.add([pictures])
        library.close()
        print(f"image stage on Immich ML servers: {count} photos of {figures['size']}, {LATENCY * 1000:.0f} ms added "
              f"per answer, {os.cpu_count()} cores", flush=True)
        local = timed_enrich(base, work, "local", f'model = "{LOCAL_MODEL}"\nmodel_path = "{local_model}"\n')
        figures["local"] = count / local
        print(f"  local stage ({'tiny' if args.smoke else 'ViT-B/32'}): {count / local:8.1f} photos/s   [{load()}]",
              flush=True)
        runs = [(servers, 8) for servers in (1, 2, 4)] + [(1, 1), (1, 2)]
        started = start_servers(4, tiny)
        try:
            for servers, in_flight in runs:
                urls = ", ".join(f'"{url}"' for _process, url in started[:servers])
                seconds = timed_enrich(base, work, f"servers-{servers}-{in_flight}",
                                       f'model = "{SERVER_MODEL}"\nurl = [{urls}]\n[ml]\nin_flight = {in_flight}\n')
                rate = count / seconds
                figures[f"servers_{servers}_in_flight_{in_flight}"] = rate
                print(f"  {servers} server{'s' if servers > 1 else ' '} x {in_flight} in flight: {rate:8.1f} photos/s "
                      f"= {rate / figures['local']:5.2f} x local   [{load()}]", flush=True)
        finally:
            stop_servers(started)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


if __name__ == "__main__":
    main()
