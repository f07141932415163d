"""Image-embedding throughput and cold text-tower cost of the local CLIP provider.

Uses a model with the real ViT-B/32 architecture and random weights
(bench/vit_b32.py, cached in bench/.cache/), in Immich's layout, through
photolib.models.clip. Prints, on this machine's cores:

* raw ONNX Runtime: images/s of the image tower as shipped, fully optimised by
  ONNX Runtime with the same thread settings, on ready (1, 3, 224, 224) tensors;
* provider: images/s of `embed_images` on decoded photos (preprocessing of the
  next photo overlaps the model), and with JPEG decoding too (a prefetch
  thread decodes the next files, reduced by the decoder to at least twice the
  model's input, then EXIF-oriented), each as a ratio to raw (target >= 0.8);
* cold text tower: a new process embedding one query, first ever (model
  optimised and the optimised copy written), later (optimised copy loaded), and
  a repeated query (query cache: no tower load at all), against a process that
  only imports photolib.

    python bench/bench_clip.py [--count 48] [--width 3000 --height 2000]
    python bench/bench_clip.py --smoke    # 2 small photos, the tiny test model (CI: it runs)

No assertions: run it and report the figures.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import run  # noqa: E402
from bench.vit_b32 import build  # noqa: E402
from photolib.models.clip import ClipEmbedder  # noqa: E402

PHOTOS = Path(__file__).parent / ".cache" / "clip-photos"


def make_photos(count: int, width: int, height: int) -> list[Path]:
    """Camera-sized JPEGs with texture (smooth noise), cached."""
    from PIL import Image

    folder = PHOTOS / f"{width}x{height}"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    paths = []
    for index in range(count):
        path = folder / f"photo_{index:03d}.jpg"
        if not path.exists():
            small = rng.integers(0, 256, size=(height // 16, width // 16, 3), dtype=np.uint8)
            Image.fromarray(small).resize((width, height), Image.Resampling.BILINEAR).save(path, quality=90)
        paths.append(path)
    return paths


def decode(path: Path, at_least: int):
    """Open a JPEG reduced by the decoder (DCT scaling) to no less than `at_least` on the short side, upright."""
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        image.draft("RGB", (at_least, at_least))
        return ImageOps.exif_transpose(image).convert("RGB")


def decode_full(path: Path):
    from PIL import Image, ImageOps

    with Image.open(path) as image:
        return ImageOps.exif_transpose(image).convert("RGB")


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def throughput(folder: Path, paths: list[Path], chunk: int, rounds: int) -> dict:
    """Best of `rounds` alternating rounds of each measure: the machine may be shared."""
    cache_dir = Path(tempfile.mkdtemp(prefix="clip-bench-"))
    try:
        return _throughput(folder, paths, chunk, rounds, cache_dir)
    finally:
        shutil.rmtree(cache_dir, ignore_errors=True)


def _throughput(folder: Path, paths: list[Path], chunk: int, rounds: int, cache_dir: Path) -> dict:
    import onnxruntime as ort

    from photolib.models.runtime import session_options

    embedder = ClipEmbedder(folder, "bench/ViT-B-32-random", cache_dir=cache_dir)
    embedder._load_visual()
    plain = ort.InferenceSession(str(folder / "visual" / "model.onnx"), session_options(embedder.threads),
                                 providers=["CPUExecutionProvider"])  # the model as shipped, fully optimised
    ready = np.random.default_rng(1).standard_normal((1, 3, 224, 224), dtype=np.float32)
    plain.run(None, {"image": ready})
    count = len(paths)
    images = [decode(path, 2 * embedder.preprocess.size) for path in paths]
    embedder.embed_images(images[:2])  # warm up

    def raw() -> float:
        started = time.perf_counter()
        for _ in range(count):
            plain.run(None, {"image": ready})
        return rate(count, time.perf_counter() - started)

    def provider() -> float:
        started = time.perf_counter()
        for start in range(0, count, chunk):
            embedder.embed_images(images[start:start + chunk])
        return rate(count, time.perf_counter() - started)

    def pipeline(decoder) -> float:
        chunks = [paths[start:start + chunk] for start in range(0, count, chunk)]
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="decode") as pool:
            pending = pool.submit(lambda names: [decoder(name) for name in names], chunks[0])
            for index in range(len(chunks)):
                decoded = pending.result()
                if index + 1 < len(chunks):
                    pending = pool.submit(lambda names: [decoder(name) for name in names], chunks[index + 1])
                embedder.embed_images(decoded)
        return rate(count, time.perf_counter() - started)

    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, measure in (("raw_onnxruntime", raw), ("provider_decoded_photos", provider),
                              ("provider_with_draft_decode", lambda: pipeline(lambda p: decode(p, 2 * embedder.preprocess.size))),
                              ("provider_with_small_draft_decode", lambda: pipeline(lambda p: decode(p, embedder.preprocess.size))),
                              ("provider_with_full_decode", lambda: pipeline(decode_full))):
            best[name] = max(best.get(name, 0.0), measure())
    started = time.perf_counter()
    for image in images:
        embedder.preprocess(image)
    best["preprocess_only"] = rate(count, time.perf_counter() - started)
    started = time.perf_counter()
    for path in paths:
        decode(path, 2 * embedder.preprocess.size)
    best["draft_decode_only"] = rate(count, time.perf_counter() - started)
    started = time.perf_counter()
    for path in paths:
        decode_full(path)
    best["full_decode_only"] = rate(count, time.perf_counter() - started)
    return {**best, "threads": embedder.threads}


COLD = """
import sys, time
started = time.perf_counter()
from pathlib import Path
from photolib.models.clip import ClipEmbedder
embedder = ClipEmbedder(Path(sys.argv[1]), "bench/ViT-B-32-random", cache_dir=Path(sys.argv[2]))
built = time.perf_counter()
vector = embedder.embed_texts([sys.argv[3]])
done = time.perf_counter()
print(f"{built - started:.3f} {done - built:.3f} {embedder.timings.get('textual_load', 0):.3f}")
"""
BASELINE = """
import time
started = time.perf_counter()
import photolib.cli, photolib.core.config, numpy
print(f"{time.perf_counter() - started:.3f}")
"""


def cold_text(folder: Path) -> dict:
    cache = Path(tempfile.mkdtemp(prefix="clip-bench-cache-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(script: str, *args: str) -> tuple[float, list[float]]:
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, check=True)
        return time.perf_counter() - started, [float(value) for value in out.stdout.split()]

    try:
        baseline, _ = run(BASELINE)
        first, first_parts = run(COLD, str(folder), str(cache), "a dog running on the beach")
        later, later_parts = run(COLD, str(folder), str(cache), "two cats asleep on a sofa")
        repeated, repeated_parts = run(COLD, str(folder), str(cache), "two cats asleep on a sofa")
        plain, plain_parts = run(COLD.replace("cache_dir=Path(sys.argv[2])", "cache_dir=None"), str(folder),
                                 "(no cache folder)", "a red bicycle")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {
        "process_importing_photolib_s": baseline,
        "first_query_ever_s": first, "first_query_ever_tower_load_s": first_parts[2],
        "new_query_optimized_copy_s": later, "new_query_tower_load_s": later_parts[2], "new_query_embed_s": later_parts[1],
        "new_query_without_optimized_copy_s": plain, "new_query_without_copy_tower_load_s": plain_parts[2],
        "repeated_query_s": repeated, "repeated_query_tower_load_s": repeated_parts[2],
    }


def label_vocabulary(folder: Path, sample: int = 48) -> dict:
    """Per-prompt text-tower time, extrapolated to the shipped vocabulary (embedded once per model, then cached)."""
    from photolib.models.labels import default_vocabulary

    embedder = ClipEmbedder(folder, "bench/ViT-B-32-random")
    prompts = default_vocabulary().prompts()
    embedder.embed_texts(prompts[:2])
    started = time.perf_counter()
    embedder.embed_texts(prompts[2:2 + sample])
    per_prompt = (time.perf_counter() - started) / sample
    return {"text_ms_per_prompt": per_prompt * 1000, "vocabulary_prompts": len(prompts),
            "vocabulary_embedding_s_estimate": per_prompt * len(prompts)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=48)
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=8, help="photos per embed_images call (the stage's batch)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best of each is kept")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--smoke", action="store_true",
                        help="2 photos of 640x480, one round, the tiny test model: the benchmark runs (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        run.smoke_mode()
        args.count, args.width, args.height, args.rounds = 2, 640, 480, 1
    started = time.perf_counter()
    folder = run.tiny_image_model() if args.smoke else build()
    built = time.perf_counter() - started
    paths = make_photos(args.count, args.width, args.height)
    figures = {"model_build_or_load_s": built, "photos": args.count, "size": f"{args.width}x{args.height}",
               **throughput(folder, paths, args.chunk, args.rounds), **cold_text(folder),
               **label_vocabulary(folder, sample=4 if args.smoke else 48)}
    figures["ratio_provider_to_raw"] = figures["provider_decoded_photos"] / figures["raw_onnxruntime"]
    figures["ratio_with_draft_decode_to_raw"] = figures["provider_with_draft_decode"] / figures["raw_onnxruntime"]
    figures["ratio_with_small_draft_decode_to_raw"] = figures["provider_with_small_draft_decode"] / figures["raw_onnxruntime"]
    figures["ratio_with_full_decode_to_raw"] = figures["provider_with_full_decode"] / figures["raw_onnxruntime"]
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    model = "the tiny test model" if args.smoke else "ViT-B/32 (random weights)"
    print(f"{model}, {args.count} JPEGs of {figures['size']}, {figures['threads']} ONNX Runtime threads")
    print(f"  raw ONNX Runtime, ready tensors     {figures['raw_onnxruntime']:7.2f} images/s")
    print(f"  provider on decoded photos          {figures['provider_decoded_photos']:7.2f} images/s"
          f"  ratio {figures['ratio_provider_to_raw']:.2f}")
    print(f"  provider + draft decode to 2x size  {figures['provider_with_draft_decode']:7.2f} images/s"
          f"  ratio {figures['ratio_with_draft_decode_to_raw']:.2f}")
    print(f"  provider + draft decode to 1x size  {figures['provider_with_small_draft_decode']:7.2f} images/s"
          f"  ratio {figures['ratio_with_small_draft_decode_to_raw']:.2f}")
    print(f"  provider + full JPEG decode         {figures['provider_with_full_decode']:7.2f} images/s"
          f"  ratio {figures['ratio_with_full_decode_to_raw']:.2f}")
    print(f"  (alone: preprocess {figures['preprocess_only']:.1f}/s, draft decode {figures['draft_decode_only']:.1f}/s, "
          f"full decode {figures['full_decode_only']:.1f}/s)")
    print("Cold text tower (new process, one query):")
    print(f"  process importing photolib only     {figures['process_importing_photolib_s']:6.2f} s")
    print(f"  first query ever (optimise + save)  {figures['first_query_ever_s']:6.2f} s"
          f"  (tower load {figures['first_query_ever_tower_load_s']:.2f} s)")
    print(f"  new query, optimised copy on disk   {figures['new_query_optimized_copy_s']:6.2f} s"
          f"  (tower load {figures['new_query_tower_load_s']:.2f} s, embed {figures['new_query_embed_s']:.2f} s)")
    print(f"  new query, no optimised copy        {figures['new_query_without_optimized_copy_s']:6.2f} s"
          f"  (tower load {figures['new_query_without_copy_tower_load_s']:.2f} s)")
    print(f"  repeated query (query cache)        {figures['repeated_query_s']:6.2f} s")
    print(f"Label vocabulary: {figures['vocabulary_prompts']} prompts at {figures['text_ms_per_prompt']:.0f} ms each, "
          f"~{figures['vocabulary_embedding_s_estimate']:.0f} s once per model (then cached in the library)")


if __name__ == "__main__":
    main()
