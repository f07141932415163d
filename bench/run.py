"""photolib benchmark suite: prints a table and writes bench/results.json.

    python bench/run.py            # full suite (1M-photo case included; ~15-25 min)
    python bench/run.py --quick    # smaller sizes, a few minutes
    python bench/run.py --docs     # only rewrite docs/performance.md from bench/results.json
    python -m bench --smoke        # every benchmark of bench/ at tiny sizes, in CI (under two minutes)

Each case reports a figure, its target and pass/fail. Timed work that needs
its own memory figure runs in a child process (peak RSS from getrusage).
Generated photos and vectors are cached under bench/.cache/. A full run also
writes its table into docs/performance.md, between the bench markers.

`--smoke` runs this suite's cases and then every other benchmark module's
`main` with its own `--smoke` (tiny sizes, one round, the tiny test image model
instead of the ViT-B/32 one), prints their figures with "n/a" for every target
(a figure at that size says nothing), writes no results and no docs, and exits
non-zero when any of them raised: a benchmark that breaks fails CI.
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
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench" / ".cache"
RESULTS_FILE = ROOT / "bench" / "results.json"
DOCS_PAGE = ROOT / "docs" / "performance.md"
DOCS_START, DOCS_END = "<!-- bench:start -->", "<!-- bench:end -->"  # the region of DOCS_PAGE this script owns
sys.path.insert(0, str(ROOT))
RESULTS: list[dict] = []
# Set by `--smoke` for this process and, through the environment, for the benchmarks' child processes.
SMOKE = os.environ.get("BENCH_SMOKE") == "1"
PHOTO_SIZE = (4000, 3000)  # the camera photos of the import and thumbnail cases (12 MP)


def record(case: str, figure: float, unit: str, target: str, passed: bool | None, note: str = "") -> None:
    if SMOKE:
        passed = None  # tiny sizes: the figure shows the case runs, not whether it meets its target
    RESULTS.append({"case": case, "figure": round(figure, 4), "unit": unit, "target": target,
                    "pass": passed, "note": note})
    status = "n/a" if passed is None else ("PASS" if passed else "FAIL")
    print(f"  {case:<46} {figure:>10.3f} {unit:<12} target {target:<14} {status} {note}", flush=True)


def photolib_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "photolib.cli", *args]


def median_wall(command: list[str], runs: int = 7) -> float:
    return statistics.median(_timed(command) for _ in range(rounds(runs)))


def rounds(full: int) -> int:
    """How many times a measure is repeated (its median or best is kept): once in a smoke run."""
    return 1 if SMOKE else full


def size_label(size: tuple[int, int]) -> str:
    return "12 MP" if size == (4000, 3000) else f"{size[0]}x{size[1]}"


# -- 1. CLI start ---------------------------------------------------------------

def case_cli_start() -> None:
    base = median_wall([sys.executable, "-c", "import typer, rich"])
    help_time = median_wall(photolib_command("--help"))
    with tempfile.TemporaryDirectory() as empty:
        search_time = median_wall(photolib_command("-L", empty, "search", "sunset"))
    record("cli start: --help / import typer,rich", help_time / base, "ratio", "<= 1.5x", help_time / base <= 1.5,
           f"({help_time * 1000:.0f} ms vs {base * 1000:.0f} ms)")
    record("cli start: search, empty library", search_time / base, "ratio", "(reported)", None,
           f"({search_time * 1000:.0f} ms)")


# -- 2. Import, local providers, 12 MP JPEGs --------------------------------------

def realistic_photos(count: int, camera_preview: bool = True, size: tuple[int, int] = PHOTO_SIZE) -> Path:
    """12-megapixel JPEGs (or `size`) with texture and EXIF, in trip folders; made once and cached.

    Like camera and phone files they carry the 160x120 EXIF preview (IFD1), unless
    `camera_preview` is False (exports, edited files): those need a draft decode.
    """
    from datetime import datetime, timedelta

    from PIL import Image

    from tests.support.photos import exif_with_preview, make_photo

    pixels = "12mp" if size == (4000, 3000) else f"{size[0]}x{size[1]}"
    folder = CACHE / (f"photos-{pixels}-{count}" + ("-preview" if camera_preview else ""))
    done = folder / ".complete"
    if done.exists():
        return folder
    trips = [("Lisbon beach holiday", (38.71, -9.14)), ("Tokyo winter trip", (35.68, 139.69)),
             ("Alps hiking", (45.92, 6.87)), ("Rome food tour", (41.90, 12.50)), ("Garden at home", (51.5, -0.12))]
    for i in range(count):
        name, gps = trips[i % len(trips)]
        path = make_photo(folder / name / f"IMG_{i:05d}.jpg", size=size, color=(90 + i % 120, 120, 160),
                          taken_at=datetime(2023, 1, 1) + timedelta(hours=i * 5), gps=gps, make="Canon",
                          model="Canon EOS R6", quality=90)
        with Image.open(path) as image:  # add real texture so files are 12 MP-sized, not flat colour
            exif = image.info.get("exif")
            noisy = Image.blend(image.convert("RGB"), Image.effect_noise(size, 60).convert("RGB"), 0.35)
        noisy.save(path, quality=90, exif=exif_with_preview(exif, noisy) if camera_preview else exif)
    done.touch()
    return folder


def case_import_local(count: int, size: tuple[int, int] = PHOTO_SIZE) -> None:
    """First run into a new library (median of three new libraries), then an unchanged re-run."""
    label = size_label(size)
    for camera_preview in (True, False):
        folder = realistic_photos(count, camera_preview, size)
        size_mb = sum(p.stat().st_size for p in folder.rglob("*.jpg")) / count / 1e6
        firsts = []
        for _ in range(rounds(3) if camera_preview else 1):
            with tempfile.TemporaryDirectory() as library:
                firsts.append(_timed(photolib_command("-L", library, "add", str(folder), "--json")))
                if camera_preview:
                    again = _timed(photolib_command("-L", library, "add", str(folder), "--json"))
        first = statistics.median(firsts)
        if camera_preview:
            record(f"import, local, {label} JPEG: first run", count / first, "photos/s", ">= 40", count / first >= 40,
                   f"({count} photos, {size_mb:.1f} MB each, with EXIF preview; median of {len(firsts)})")
            record("import, local: unchanged re-run", count / again, "photos/s", "(reported)", None)
        else:
            record(f"import, local, {label} JPEG without EXIF preview", count / first, "photos/s", "(reported)", None,
                   "(draft-mode decode of every file)")


def _timed(command: list[str]) -> float:
    """Wall time of `command`, which must succeed: a failing command is no figure (its stderr says why)."""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return elapsed


# -- 3. Re-scan of an unchanged tree -------------------------------------------------

def case_rescan(count: int) -> None:
    import numpy as np

    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.core.config import load_settings
    from photolib.app.library import Library
    from photolib.core.records import Description

    with tempfile.TemporaryDirectory() as work:
        tree = Path(work) / "tree"
        records = []
        rng = np.random.default_rng(0)
        for i in range(count):
            path = tree / f"folder{i // 1000:03d}" / f"IMG_{i:06d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\xff\xd8 not decoded by a rescan")
            stat = path.stat()
            vector = rng.standard_normal(384).astype(np.float32)
            records.append(EmbeddedPhoto(str(path), Description(["x"], "x", ""), vector / np.linalg.norm(vector),
                                         size=stat.st_size, mtime_ns=stat.st_mtime_ns, hash=f"h{i}"))
        library = Library(load_settings(library_path=Path(work) / "library"))
        library.import_embedded(records, library.embedder.model_name)
        library.close()
        elapsed = _timed(photolib_command("-L", str(Path(work) / "library"), "add", str(tree), "--json"))
    record(f"re-scan, unchanged tree of {count:,} files", elapsed, "s", "<= 10 s", elapsed <= 10)


# -- 4. Local embedder -------------------------------------------------------------

def case_embedder(count: int) -> None:
    from bench.bench_embedder import captions as make_captions
    from photolib.core.protocols import ProviderSettings
    from photolib.models.minilm import MiniLMEmbedder

    captions = make_captions(count)
    model = MiniLMEmbedder(ProviderSettings(provider="local"))
    model.embed_documents(captions[:64])
    rates = []
    for _ in range(rounds(3)):  # median of three: one run of ~7 s is at the mercy of the machine's other load
        start = time.perf_counter()
        model.embed_documents(captions)
        rates.append(count / (time.perf_counter() - start))
    batched = statistics.median(rates)
    singles = captions[:8 if SMOKE else 300]
    start = time.perf_counter()
    for caption in singles:
        model.embed_query(caption)
    single = len(singles) / (time.perf_counter() - start)
    record("local embedder, batched", batched, "sentences/s", ">= 300", batched >= 300, f"({count} captions)")
    record("local embedder, one by one", single, "sentences/s", "(reported)", None)


# -- 5. Search at scale (child process per size) -------------------------------------

def base_vectors():
    """Real MiniLM embeddings of generated captions: the centres synthetic photos scatter around
    (4 000 of them; 64 in a smoke run)."""
    import numpy as np

    count = 64 if SMOKE else 4000
    path = CACHE / ("caption-vectors.npy" if count == 4000 else f"caption-vectors-{count}.npy")
    if not path.exists():
        from bench.bench_embedder import captions as make_captions
        from photolib.core.protocols import ProviderSettings
        from photolib.models.minilm import MiniLMEmbedder

        CACHE.mkdir(parents=True, exist_ok=True)
        vectors = MiniLMEmbedder(ProviderSettings(provider="local")).embed_documents(make_captions(count))
        np.save(path, vectors)
    return np.load(path)


def synthetic_photos(count: int, seed: int, prefix: str):
    """MiniLM-shaped unit vectors: a caption embedding plus noise, renormalised, generated lazily."""
    import numpy as np

    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.core.records import Description

    centres = base_vectors()
    rng = np.random.default_rng(seed)
    for start in range(0, count, 10_000):
        n = min(10_000, count - start)
        chosen = rng.integers(0, len(centres), n)
        vectors = centres[chosen] + rng.standard_normal((n, centres.shape[1])).astype(np.float32) * 0.02
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        for i in range(n):
            yield EmbeddedPhoto(f"/synthetic/{prefix}/{start + i:07d}.jpg",
                                Description([], f"synthetic photo {start + i}", ""), vectors[i])


def child_build(count: int, library_path: str) -> dict:
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    library = Library(load_settings(library_path=Path(library_path)))
    start = time.perf_counter()
    library.import_embedded(synthetic_photos(count, 1, "base"), library.embedder.model_name)
    return {"build_s": time.perf_counter() - start}


def child_query(count: int, library_path: str) -> dict:
    """Search-only process: the index is memory-mapped, as `photolib search` does."""
    import numpy as np

    from photolib.core.config import load_settings
    from photolib.app.library import Library

    library = Library(load_settings(library_path=Path(library_path)))
    library.embedder.embed_query("warm up")
    embeds, searches = (2, 20) if SMOKE else (20, 200)
    embed_start = time.perf_counter()
    for _ in range(embeds):
        library.embedder.embed_query("sunset over the sea")
    embed_ms = (time.perf_counter() - embed_start) / embeds * 1000
    index = library.index()
    centres = base_vectors()
    rng = np.random.default_rng(7)
    queries = (centres[rng.integers(0, len(centres), searches)]
               + rng.standard_normal((searches, centres.shape[1])).astype(np.float32) * 0.05)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    latencies = []
    for query in queries:
        t0 = time.perf_counter()
        index.search(query, 10)
        latencies.append(time.perf_counter() - t0)
    _, found = index.search(queries, 10)
    _, truth = index.search(queries, 10, exact=True)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth)]))
    return {"kind": index.kind, "p50_ms": float(np.median(latencies) * 1000),
            "p99_ms": float(np.percentile(latencies, 99) * 1000), "recall": recall, "embed_ms": embed_ms}


def child_add(count: int, library_path: str) -> dict:
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    library = Library(load_settings(library_path=Path(library_path)))
    model = library.embedder.model_name
    start = time.perf_counter()
    library.import_embedded(synthetic_photos(1000, 2, f"extra-{os.getpid()}"), model)
    return {"add_1000_s": time.perf_counter() - start}


CHILDREN = {"build": child_build, "query": child_query, "add": child_add}


def run_child(step: str, count: int, library: Path) -> dict:
    done = subprocess.run([sys.executable, __file__, "--child", step, str(count), str(library)],
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"child {step} exited with {done.returncode}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def case_search(count: int, keep: Path | None = None) -> None:
    library = keep or Path(tempfile.mkdtemp(prefix=f"photolib-bench-{count}-"))
    build = run_child("build", count, library)
    result = run_child("query", count, library)
    large = count >= 1_000_000
    target = {100_000: 5.0, 1_000_000: 10.0}.get(count)
    label = f"search {count:,} ({result['kind']})"
    record(f"{label}: p50", result["p50_ms"], "ms", f"<= {target} ms" if target else "(reported)",
           result["p50_ms"] <= target if target else None, f"(+{result['embed_ms']:.1f} ms to embed the query)")
    record(f"{label}: p99", result["p99_ms"], "ms", "(reported)", None)
    record(f"{label}: recall@10", result["recall"], "", ">= 0.95" if large else "(reported)",
           result["recall"] >= 0.95 if large else None)
    record(f"{label}: peak RSS, search process", result["peak_rss_gb"], "GB", "<= 2.5 GB" if large else "(reported)",
           result["peak_rss_gb"] <= 2.5 if large else None)
    record(f"{label}: build (catalog + index)", build["build_s"], "s", "(reported)", None,
           f"(peak RSS {build['peak_rss_gb']:.2f} GB)")
    if large:
        os.sync()  # the build's gigabytes still being written back would be billed to the add's fsync
        for run in ("first", "second"):
            added = run_child("add", count, library)
            record(f"add 1 000 to the {count:,} library ({run})", added["add_1000_s"], "s", "<= 5 s",
                   added["add_1000_s"] <= 5, f"(peak RSS {added['peak_rss_gb']:.2f} GB)")
    if keep is None:
        subprocess.run(["rm", "-rf", str(library)], check=False)


# -- 6. Cold CLI search ----------------------------------------------------------------

def case_cold_cli(library: Path, count: int) -> None:
    elapsed = median_wall(photolib_command("-L", str(library), "search", "sunset over the sea"), runs=5)
    record(f"cold CLI search, {count:,} library", elapsed, "s", "<= 1.5 s", elapsed <= 1.5)


# -- 6b. Automatic catalog snapshot ------------------------------------------------------

def case_snapshot(library: Path, count: int) -> None:
    """The day's first change also takes the snapshot: in a detached low-priority process after the command
    (bench/bench_snapshot.py); each figure as a ratio of the `add` of 1 000 that triggered it."""
    from bench.bench_snapshot import measure, report

    for case, ratio, note in report(measure(library)):
        record(f"snapshot, {count:,} library: {case}", ratio, "x of add", "(reported)", None, f"({note})")


# -- 7. Remote import with 300 ms latency --------------------------------------------------

def case_remote(count: int) -> None:
    from tests.support.fake_servers import FakeModelServer
    from tests.support.photos import make_photo

    with tempfile.TemporaryDirectory() as work, FakeModelServer(dimension=256) as server:
        server.latency = 0.3
        for i in range(count):
            make_photo(Path(work) / "photos" / f"p{i:04d}.jpg", size=(800, 600), color=(i % 255, 90, 120))
        config = Path(work) / "config.toml"
        config.write_text(f'[vision]\nprovider = "openai"\nbase_url = "{server.url}/v1"\n'
                          f'[embedding]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nmodel = "bench"\n')
        command = photolib_command("--config", str(config), "-L", f"{work}/library", "add", f"{work}/photos", "--json")
        elapsed = _timed(command)
        before = len(server.requests)
        _timed(command)
        calls = len(server.requests) - before
    record("remote import, 300 ms latency, default --jobs", count / elapsed, "photos/s", ">= 20", count / elapsed >= 20,
           f"({count} photos)")
    record("remote import: calls on immediate re-add", calls, "calls", "0", calls == 0)


def tiny_image_model() -> Path:
    """The tiny test model of tests/support/onnx_models.py at CLIP's input size, in Immich's layout: what a smoke
    run uses instead of the ViT-B/32 one (whose build takes a minute); its cost is negligible."""
    from tests.support.onnx_models import build_tiny_clip

    folder = CACHE / "tiny-clip-224"
    if (folder / "textual" / "tokenizer_config.json").is_file():  # written last
        return folder
    return build_tiny_clip(folder, size=224)


def case_clip(count: int) -> None:
    """The local image model (ViT-B/32 architecture, random weights): throughput and cold text tower."""
    from bench.bench_clip import build, cold_text, make_photos, throughput

    folder = tiny_image_model() if SMOKE else build()
    photos = make_photos(count, 640, 480) if SMOKE else make_photos(count, 3000, 2000)
    figures = throughput(folder, photos, chunk=8, rounds=rounds(2))
    raw = figures["raw_onnxruntime"]
    ratio = figures["provider_with_draft_decode"] / raw
    record(f"image model: {'tiny test model' if SMOKE else 'ViT-B/32'} raw onnxruntime", raw, "images/s",
           "(reported)", None)
    record("image model: decode+preprocess+model / raw", ratio, "ratio", ">= 0.8", ratio >= 0.8,
           f"({figures['provider_with_draft_decode']:.1f} images/s, {'640x480' if SMOKE else '6 MP'} JPEGs)")
    cold = cold_text(folder)
    record("image model: cold text tower + first query", cold["new_query_optimized_copy_s"], "s", "(reported)", None,
           f"(tower load {cold['new_query_tower_load_s']:.2f} s; process alone "
           f"{cold['process_importing_photolib_s']:.2f} s; repeated query {cold['repeated_query_s']:.2f} s)")


def case_throughput(photos: int) -> None:
    """`add` with every pixel stage on a camera roll (bench/bench_throughput.py): the ratios of issue 22."""
    from bench.bench_throughput import TARGETS, measure
    from bench.camera_roll import roll
    from bench.vit_b32 import build

    figures = measure(roll(photos), build(), rounds(3), [1, 2], batch=8)
    for key, case, target in (("default_rate", "add, default (thumbnails, OCR, faces) / first pass", "default_ratio"),
                              ("image_rate", "add with the image model too / first pass", "image_ratio")):
        ratio = figures[key] / figures["first_rate"]
        record(case, ratio, "ratio", f">= {TARGETS[target]}", ratio >= TARGETS[target],
               f"({figures[key]:.2f} vs {figures['first_rate']:.2f} photos/s, {photos} 12 MP photos; floor from the "
               f"stages' CPU per photo {figures[key.replace('_rate', '_floor')]:.3f}x)")
    record("pixel stages alone: CPU (user+sys)/wall", figures["stages_cores"], "cores", f">= {TARGETS['cores']}",
           figures["stages_cores"] >= TARGETS["cores"], f"(on {figures['cores']} cores)")
    ratio = figures["image_stage_rate"] / figures["raw_onnxruntime"]
    record("image stage / raw ONNX Runtime", ratio, "ratio", f">= {TARGETS['image_to_raw']}",
           ratio >= TARGETS["image_to_raw"], f"({figures['image_stage_rate']:.2f} vs {figures['raw_onnxruntime']:.2f}/s)")
    record("100 000 photos, add with the image model", figures["hours"]["image"], "h", "(reported)", None,
           f"(searchable by pixels after {figures['hours']['pixels']:.1f} h)")


# -- The docs' table ---------------------------------------------------------------------

def results_table(results: dict) -> str:
    """The Markdown table of a results.json: one row per case, as `docs/performance.md` shows it."""
    rows = [f"Written by `python -m bench` from its results ({results['mode']} run, {results['cores']} cores).",
            "", "| case | figure | target | |", "|---|---|---|---|"]
    for case in results["results"]:
        figure = f"{case['figure']:.4g}"
        figure = f"{figure}x" if case["unit"] == "ratio" else f"{figure} {case['unit']}".rstrip()
        if case["note"]:
            figure += f" {case['note']}"
        status = {True: "pass", False: "**FAIL**", None: ""}[case["pass"]]
        target = "reported" if case["target"] == "(reported)" else case["target"]
        rows.append(f"| {_cell(case['case'])} | {_cell(figure)} | {_cell(target)} | {status} |")
    return "\n".join(rows) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def write_docs(results: dict, page: Path = DOCS_PAGE) -> None:
    """Replace what stands between the bench markers of `page` with the table of `results`."""
    text = page.read_text(encoding="utf-8")
    start, end = text.find(DOCS_START), text.find(DOCS_END)
    if start < 0 or end < start:
        raise SystemExit(f"{page}: no {DOCS_START} ... {DOCS_END} region to write the table into")
    start += len(DOCS_START)
    page.write_text(text[:start] + "\n" + results_table(results) + text[end:], encoding="utf-8")
    print(f"wrote the table into {page}")


SIZES = {
    "full": {"embedder": 2000, "import": 500, "photo_size": PHOTO_SIZE, "rescan": 100_000, "thumbnails": 12,
             "gallery": 10_000, "search": [10_000], "kept": 100_000, "million": True, "remote": 200, "clip": 48,
             "throughput": 48},
    "quick": {"embedder": 2000, "import": 60, "photo_size": PHOTO_SIZE, "rescan": 20_000, "thumbnails": 4,
              "gallery": 2_000, "search": [10_000], "kept": 100_000, "million": False, "remote": 60, "clip": 16,
              "throughput": 24},
    "smoke": {"embedder": 32, "import": 2, "photo_size": (640, 480), "rescan": 300, "thumbnails": 2,
              "gallery": 200, "search": [], "kept": 1_000, "million": False, "remote": 4, "clip": 2,
              "throughput": 0},  # bench_throughput's own --smoke runs it
}


def smoke_mode() -> None:
    """Tiny sizes and one round from here on, in this process and in the benchmarks' child processes.

    The OCR and face stages (on by default) are turned off for every library opened from here on
    (through the environment `load_settings` reads): loading their models and reading each photo
    would be most of a smoke run's time; bench_stages turns OCR on for the library it times.
    """
    global SMOKE
    SMOKE = True
    os.environ.update(BENCH_SMOKE="1", PHOTOLIB_OCR_ENABLED="false", PHOTOLIB_FACES_ENABLED="false")


def suite(mode: str, run_case) -> None:
    """Every case of this suite at the sizes of `mode`, each through `run_case(name, function, *args)`."""
    from bench.bench_gallery import case_gallery, case_thumbnail_cost

    sizes = SIZES[mode]
    run_case("cli start", case_cli_start)
    run_case("local embedder", case_embedder, sizes["embedder"])
    run_case("import, local", case_import_local, sizes["import"], sizes["photo_size"])
    run_case("re-scan", case_rescan, sizes["rescan"])
    run_case("thumbnails", case_thumbnail_cost, sizes["thumbnails"], record, sizes["photo_size"])
    run_case("gallery", case_gallery, sizes["gallery"], record)
    for count in sizes["search"]:
        run_case(f"search {count:,}", case_search, count)
    keep = Path(tempfile.mkdtemp(prefix=f"photolib-bench-{sizes['kept']}-"))
    try:
        run_case(f"search {sizes['kept']:,}", case_search, sizes["kept"], keep)
        run_case("cold CLI search", case_cold_cli, keep, sizes["kept"])
        run_case("snapshot", case_snapshot, keep, sizes["kept"])
    finally:
        subprocess.run(["rm", "-rf", str(keep)], check=False)
    if sizes["million"]:
        run_case("search 1,000,000", case_search, 1_000_000)
    run_case("remote import", case_remote, sizes["remote"])
    run_case("image model", case_clip, sizes["clip"])
    if sizes["throughput"]:
        run_case("add throughput", case_throughput, sizes["throughput"])


def benchmark_modules() -> list[str]:
    """Every benchmark module of bench/ besides this suite (vit_b32 builds a model, camera_roll makes photos:
    they measure nothing)."""
    return sorted(path.stem for path in Path(__file__).parent.glob("*.py")
                  if path.stem not in ("__init__", "__main__", "run", "vit_b32", "camera_roll"))


def smoke() -> int:
    """This suite's cases, then each benchmark module's `main(["--smoke"])`; the number of them that raised."""
    import importlib

    smoke_mode()
    failed: list[str] = []

    def run_case(name: str, function, *args) -> None:
        print(f"-- {name}", flush=True)
        started = time.perf_counter()
        try:
            function(*args)
        except SystemExit as error:  # a module's argparse, or its main ending the process
            if error.code not in (0, None):
                traceback.print_exc()
                failed.append(name)
        except Exception:  # noqa: BLE001 - every benchmark runs and each broken one is named
            traceback.print_exc()
            failed.append(name)
        print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)

    started = time.perf_counter()
    print(f"photolib benchmarks (smoke: tiny sizes, targets n/a), {os.cpu_count()} cores")
    suite("smoke", run_case)
    for module in benchmark_modules():
        run_case(f"bench.{module}", lambda name=module: importlib.import_module(f"bench.{name}").main(["--smoke"]))
    print(f"smoke run: {time.perf_counter() - started:.0f} s; "
          + (f"{len(failed)} failed: {', '.join(failed)}" if failed else "every benchmark ran"), flush=True)
    return len(failed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (no 1M case)")
    parser.add_argument("--docs", action="store_true",
                        help="measure nothing: rewrite docs/performance.md's table from bench/results.json")
    parser.add_argument("--smoke", action="store_true",
                        help="every benchmark of bench/ at tiny sizes (CI): figures, no targets, no results file")
    parser.add_argument("--child", nargs=3, metavar=("STEP", "COUNT", "LIBRARY"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        step, count, library = args.child
        result = CHILDREN[step](int(count), library)
        result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        print(json.dumps(result))
        return
    if args.docs:
        if not RESULTS_FILE.exists():
            raise SystemExit(f"{RESULTS_FILE} does not exist: run `python -m bench` first")
        write_docs(json.loads(RESULTS_FILE.read_text(encoding="utf-8")))
        return
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    if args.smoke:
        sys.exit(1 if smoke() else 0)
    mode = "quick" if args.quick else "full"
    print(f"photolib benchmarks ({mode}), {os.cpu_count()} cores")
    suite(mode, lambda _name, function, *arguments: function(*arguments))
    results = {"mode": mode, "cores": os.cpu_count(), "results": RESULTS}
    RESULTS_FILE.write_text(json.dumps(results, indent=2))
    print(f"wrote {RESULTS_FILE}")
    if args.quick:
        print(f"{DOCS_PAGE} keeps the full run's table (a quick run's smaller sizes would not match its cases); "
              "`python -m bench --docs` writes this one there anyway")
    else:
        write_docs(results)


if __name__ == "__main__":
    main()
