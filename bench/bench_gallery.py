"""Benchmarks of what is shown of photos: the thumbnail stage and the gallery.

    python -m bench.bench_gallery            # 12 photos, 10 000-photo gallery
    python -m bench.bench_gallery --quick    # 4 photos, 2 000-photo gallery
    python -m bench.bench_gallery --smoke    # 2 small photos, 200-photo gallery (CI: it runs)

* Thumbnail cost per 12 MP photo, against the read stage (`media.read_photo`:
  EXIF, colours) on the same files, with and without the camera's EXIF preview.
* Time to write `photolib gallery` for a library of 10 000 photos (saved
  albums of 100, thumbnails already in the cache: the pages, links and copies).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _per_photo(function, files: list[Path]) -> float:
    times = []
    for path in files:
        start = time.perf_counter()
        function(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def case_thumbnail_cost(count: int, record, size: tuple[int, int] = (4000, 3000)) -> None:
    from bench.run import realistic_photos, size_label
    from photolib.media import read as media
    from photolib.media.thumbnails import ThumbnailCache

    for preview in (True, False):
        folder = realistic_photos(count, camera_preview=preview, size=size)
        files = sorted(folder.rglob("*.jpg"))[:count]
        with tempfile.TemporaryDirectory() as cache_dir:
            cache = ThumbnailCache(Path(cache_dir))
            read = _per_photo(media.read_photo, files)
            thumbs = _per_photo(lambda path: cache.make_from_file("0" * 32, path), files)
            small = ThumbnailCache(Path(cache_dir), large=0)
            small_only = _per_photo(lambda path: small.make_from_file("1" * 32, path), files)
        label = "with EXIF preview" if preview else "no EXIF preview"
        record(f"thumbnails 256+1024 / read, {size_label(size)}, {label}", thumbs / read, "ratio", "(reported)", None,
               f"({thumbs * 1000:.0f} ms vs read {read * 1000:.0f} ms; 256 px only {small_only * 1000:.0f} ms)")


def case_gallery(count: int, record) -> None:
    import os

    import numpy as np
    from PIL import Image

    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.core.config import load_settings
    from photolib.app.library import Library
    from photolib.render.gallery import write_gallery
    from photolib.core.records import Description

    with tempfile.TemporaryDirectory() as work:
        library = Library(load_settings(library_path=Path(work) / "library"), embedder=object())
        rng = np.random.default_rng(3)
        vectors = rng.standard_normal((count, 32)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        photos = [EmbeddedPhoto(f"/photos/trip {i // 100:03d}/IMG_{i:05d} <&>.jpg",
                                Description(["beach", "sea"], f"photo {i} on a beach", "A long description. " * 4),
                                vectors[i], hash=f"{i:032x}", taken_at=f"2020-01-{1 + i % 28:02d}T10:00:00")
                  for i in range(count)]
        library.import_embedded(photos, "bench-model")
        with library.catalog.transaction():
            library.catalog.replace_albums([(f"Trip {n}", list(range(n * 100 + 1, n * 100 + 101)))
                                            for n in range(count // 100)], 1.5, None)
        sample = Path(work) / "sample.jpg"
        Image.new("RGB", (256, 192), (90, 120, 200)).save(sample)
        cache = library.thumbnails
        for photo in photos:
            for size in cache.sizes:
                target = cache.path(photo.hash, size)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(sample, target)
        start = time.perf_counter()
        report = write_gallery(Path(work) / "site", library.gallery_input())
        first = time.perf_counter() - start
        start = time.perf_counter()
        write_gallery(Path(work) / "site", library.gallery_input())
        again = time.perf_counter() - start
        index_size = (Path(work) / "site" / "index.html").stat().st_size
        library.close()
    record(f"gallery of {count} photos: write / rewrite", first, "s", "(reported)", None,
           f"(rewrite {again:.2f} s; {report.albums} albums; index.html {index_size / 1e6:.1f} MB)")


def main(argv: list[str] | None = None) -> None:
    from bench import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the benchmark runs (CI), figures say nothing")
    args = parser.parse_args(argv)
    if args.smoke:
        run.smoke_mode()
        case_thumbnail_cost(2, run.record, (640, 480))
        case_gallery(200, run.record)
        return
    case_thumbnail_cost(4 if args.quick else 12, run.record)
    case_gallery(2_000 if args.quick else 10_000, run.record)


if __name__ == "__main__":
    main()
