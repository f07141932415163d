"""Perceptual hashes and `duplicates` at scale: prints figures beside their baselines.

    python -m bench.bench_duplicates            # 1 000 000-photo catalog
    python -m bench.bench_duplicates --quick    # 100 000
    python -m bench.bench_duplicates --smoke    # 2 000, small photos (CI: it runs)

1. The hash's cost per photo, as a ratio of the read stage that makes the
   thumbnail it is computed from (`media.read_photo` on 12 MP camera JPEGs).
2. `duplicates` on a catalog of a million photos whose perceptual hashes are
   random, with planted near copies (1-3 bits apart, always found; 4-12 bits,
   found when they share a 16-bit quarter) and exact copies: the time, and the
   fraction of planted pairs found. Comparing every pair would be 5e11 hash
   comparisons; multi-index hashing looks at a few per photo.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from bench import run
from bench.run import realistic_photos, record


def case_hash_cost(count: int = 60, size: tuple[int, int] = (4000, 3000)) -> None:
    from PIL import Image

    from photolib.media import read as media
    from photolib.media.phash import perceptual_hash

    files = sorted(realistic_photos(count, size=size).rglob("*.jpg"))[:count]
    start = time.perf_counter()
    for path in files:
        media.read_photo(path)
    read_ms = (time.perf_counter() - start) / len(files) * 1000
    thumbnails = []
    for path in files[:20]:
        with Image.open(path) as image:
            image.draft("RGB", (128, 128))
            frame = image.convert("RGB")
            frame.thumbnail((64, 64))
            thumbnails.append(frame)
    start = time.perf_counter()
    for _ in range(10):
        for frame in thumbnails:
            perceptual_hash(frame, 6)
    hash_ms = (time.perf_counter() - start) / (10 * len(thumbnails)) * 1000
    record("perceptual hash / read stage", hash_ms / read_ms, "ratio", "(reported)", None,
           f"({hash_ms:.3f} ms vs {read_ms:.2f} ms to read a {run.size_label(size)} JPEG)")


def build_catalog(path: Path, count: int, seed: int = 5) -> dict:
    """A catalog of `count` photos with random hashes and planted copies; returns what was planted."""
    import numpy as np

    from photolib.store.catalog import Catalog

    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 1 << 63, size=count, dtype=np.int64).astype(np.uint64)
    near_close = rng.choice(count // 2, size=count // 1000, replace=False)
    near_far = rng.choice(np.arange(count // 2, count - 1), size=count // 1000, replace=False)
    for group, flips in ((near_close, (1, 3)), (near_far, (4, 12))):
        for i in group:
            bits = rng.choice(64, size=rng.integers(flips[0], flips[1] + 1), replace=False)
            codes[i + 1] = codes[i] ^ np.uint64(sum(1 << int(b) for b in bits))
    exact = rng.choice(count - 1, size=count // 2000, replace=False)
    catalog = Catalog(path)
    rows = ({"path": f"/synthetic/{i:07d}.jpg", "source_root": "/synthetic", "hash": f"h{i:07d}", "size": 1000 + i % 977,
             "mtime_ns": 0, "status": "ok", "tags": "[]", "width": 4000, "height": 3000,
             "phash": f"{int(codes[i]):016x}"} for i in range(count))
    with catalog.transaction():
        catalog.db["photos"].insert_all(rows, batch_size=20_000)
        catalog.db.conn.executemany("UPDATE photos SET hash = ? WHERE id = ?",
                                    [(f"h{int(i):07d}", int(i) + 2) for i in exact])
    catalog.close()
    return {"close": [(int(i) + 1, int(i) + 2) for i in near_close], "far": [(int(i) + 1, int(i) + 2) for i in near_far],
            "exact": len(exact)}


def case_duplicates(count: int) -> None:
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    with tempfile.TemporaryDirectory() as folder:
        library_path = Path(folder)
        start = time.perf_counter()
        planted = build_catalog(library_path / "catalog.db", count)
        build_s = time.perf_counter() - start
        library = Library(load_settings(library_path=library_path))
        start = time.perf_counter()
        groups = library.duplicates()
        seconds = time.perf_counter() - start
        together = {}
        for number, group in enumerate(groups):
            for photo in group.photos:
                together.setdefault(photo.id, set()).add(number)

        def found(pairs):
            return sum(1 for a, b in pairs if together.get(a, set()) & together.get(b, set())) / max(1, len(pairs))

        library.close()
    record(f"duplicates, {count:,} photos", seconds, "s", "(reported)", None,
           f"(catalog built in {build_s:.0f} s; all pairs would be {count * (count - 1) // 2:.1e} comparisons)")
    record("  planted near copies 1-3 bits apart found", found(planted["close"]), "", "1.0", found(planted["close"]) == 1.0)
    record("  planted near copies 4-12 bits apart found", found(planted["far"]), "", "(reported)", None)
    record("  exact-copy groups", sum(1 for g in groups if g.kind == "exact"), "groups", f"{planted['exact']}",
           sum(1 for g in groups if g.kind == "exact") == planted["exact"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: the benchmark runs (CI), figures say nothing")
    args = parser.parse_args(argv)
    if args.smoke:
        run.smoke_mode()
        case_hash_cost(2, (640, 480))
        case_duplicates(2_000)
        return
    case_hash_cost()
    case_duplicates(100_000 if args.quick else 1_000_000)


if __name__ == "__main__":
    main()
