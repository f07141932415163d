"""Import rate of HEIC and of RAW (through its embedded preview) as ratios to JPEG of the same pixel size.

    python -m bench.bench_formats            # 12 photos of 4000x3000 per format
    python -m bench.bench_formats --count 6 --size 3000x2000
    python -m bench.bench_formats --smoke    # 1 photo of 320x240 (CI: it runs)

For each format the same photos (same pixels, same EXIF) are written once
under bench/.cache/formats/, then imported into a fresh library with the
local providers (`Library.add`: scan, hash, EXIF, colours, local description,
MiniLM embedding), and read alone (hash + `read_photo`, the per-file work of
`add` before any model) and decoded alone (`decode_upright` at 512 px, what a
thumbnail or pixel stage asks for). Figures are photos per second and the
ratio to JPEG (1.0 = as fast as JPEG; below 1 = slower). The DNG is shaped as
cameras write it: a 16-bit sensor image and a full-size preview JPEG.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CACHE = ROOT / "bench" / ".cache" / "formats"
_EMBEDDER: list = []  # the first library's text embedder, lent to the next ones (its load is never timed)


def _scene(size: tuple[int, int], seed: int):
    import numpy as np
    from PIL import Image, ImageFilter

    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (size[1] // 64, size[0] // 64, 3), dtype=np.uint8)
    image = Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(3))
    noise = rng.integers(-12, 12, (size[1], size[0], 3))
    return Image.fromarray(np.clip(np.asarray(image, dtype=np.int16) + noise, 0, 255).astype(np.uint8))


def make_set(count: int, size: tuple[int, int]) -> dict[str, list[Path]]:
    from datetime import datetime

    from tests.support.format_files import exif_of, make_dng

    folder = CACHE / f"{size[0]}x{size[1]}-thumbnailed"  # HEICs with the 320 px thumbnail phones store
    sets: dict[str, list[Path]] = {"jpeg": [], "heic": [], "raw (dng preview)": []}
    for number in range(count):
        paths = (folder / "jpeg" / f"IMG_{number:04d}.jpg", folder / "heic" / f"IMG_{number:04d}.heic",
                 folder / "dng" / f"IMG_{number:04d}.dng")
        if not all(p.exists() for p in paths):
            import pillow_heif

            image = _scene(size, number)
            exif = exif_of(taken_at=datetime(2024, 5, 1, 12, number % 60), make="Canon", model="EOS R6",
                           gps=(38.72, -9.14))
            for path in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
            image.save(paths[0], format="JPEG", quality=90, exif=exif)
            pillow_heif.from_pillow(image).save(str(paths[1]), quality=90, exif=exif, thumbnails=[320])
            make_dng(paths[2], image)
        for name, path in zip(sets, paths):
            sets[name].append(path)
    return sets


def time_add(paths: list[Path]) -> float:
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    with tempfile.TemporaryDirectory() as library_folder:
        library = Library(load_settings(library_path=Path(library_folder)), embedder=next(iter(_EMBEDDER), None))
        library.embedder.embed_query("warm up")
        _EMBEDDER[:] = [library.embedder]
        start = time.perf_counter()
        report = library.add([paths[0].parent])
        elapsed = time.perf_counter() - start
        library.close()
    assert report.new >= len(paths) and not report.failed, report.failed
    return elapsed


def time_each(paths: list[Path], work) -> float:
    start = time.perf_counter()
    for path in paths:
        work(path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--smoke", action="store_true", help="1 photo of 320x240: the benchmark runs (CI)")
    args = parser.parse_args(argv)
    if args.smoke:
        from bench import run

        run.smoke_mode()
        args.count, args.size = 1, "320x240"
    size = tuple(int(part) for part in args.size.lower().split("x"))
    from photolib.media.read import decode_upright, file_hash, read_photo

    sets = make_set(args.count, size)  # type: ignore[arg-type]
    print(f"{args.count} photos of {size[0]}x{size[1]} per format; photos/s and ratio to JPEG")
    print(f"  {'format':<20} {'file MB':>8} {'add':>14} {'read (hash+EXIF)':>22} {'decode 512px':>18}")
    base: dict[str, float] = {}
    for paths in sets.values():  # warm up: imports, geocoder data, LibRaw/libheif loading
        read_photo(paths[0])
        decode_upright(paths[0], 512)
    time_add(sets["jpeg"][:1])
    for name, paths in sets.items():
        megabytes = sum(p.stat().st_size for p in paths) / len(paths) / 1e6
        rates = {
            "add": args.count / time_add(paths),
            "read": args.count / time_each(paths, lambda p: (file_hash(p), read_photo(p))),
            "decode": args.count / time_each(paths, lambda p: decode_upright(p, 512)),
        }
        base = base or rates
        cells = [f"{rates[k]:6.1f} ({rates[k] / base[k]:4.2f}x)" for k in ("add", "read", "decode")]
        print(f"  {name:<20} {megabytes:8.1f} {cells[0]:>14} {cells[1]:>22} {cells[2]:>18}", flush=True)


if __name__ == "__main__":
    main()
