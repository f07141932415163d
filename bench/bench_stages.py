"""Cost of the OCR and face stages per photo, and the OCR stage's rate on a realistic roll.

Photos are made from scikit-image's sample photos (real textures: a cat, coffee,
a rocket, an astronaut, a cameraman), enlarged to camera size (3000x2000 JPEG),
and from rendered text (a receipt, a shop sign over a photo). Reported:

* OCR seconds per photo without text (decode + gate) and with text (decode +
  gate + full read), and how many no-text photos the gate let through;
* the OCR stage's photos per second on a roll where one photo in ten holds text
  (`photolib enrich` with only OCR on, after an `add` with it off: the stage
  runner's decode, the reads, the catalog writes and the re-embedding of the
  photos with text);
* face seconds per photo: no face, one face, a 24 MP photo with a face.

No assertions: run it and report the figures.

    python bench/bench_stages.py [--roll 40]
    python bench/bench_stages.py --smoke    # 2 samples at 1200x800, a roll of 5, one repeat (CI: it runs)
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

from PIL import Image  # noqa: E402

from tests.support import stage_photos  # noqa: E402

CAMERA = (3000, 2000)
NO_TEXT = ["chelsea", "coffee", "rocket", "astronaut", "retina", "immunohistochemistry", "camera"]


def camera_photo(name: str, path: Path, camera: tuple[int, int] = CAMERA) -> Path:
    """The sample enlarged to a camera's 3000 px long side (its shape kept: a stretched face is no face)."""
    image = stage_photos.sample(name)
    scale = max(camera) / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
    return stage_photos.save(image, path, quality=88)


def text_photos(folder: Path, camera: tuple[int, int] = CAMERA) -> list[Path]:
    receipt = stage_photos.receipt(folder / "receipt_small.png")
    page = Image.open(receipt).resize((1500, 2000), Image.Resampling.BICUBIC)
    scan = stage_photos.save(page, folder / "receipt_scan.jpg")
    street = Image.open(camera_photo("rocket", folder / "rocket_big.jpg", camera))
    width, height = street.size  # 3000x2000: a 1200x800 sign at (900, 300); as much of a smaller photo
    sign = Image.open(stage_photos.shop_sign(folder / "sign_small.png")).resize((width * 2 // 5, height * 2 // 5))
    street.paste(sign, (width * 3 // 10, height * 3 // 20))
    shop = stage_photos.save(street, folder / "shop.jpg", quality=88)
    poster = stage_photos.text_on_texture(folder / "poster.jpg")
    return [scan, shop, poster]


def timed(function, *args, repeat: int = 1):
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def ocr_stage_rate(folder: Path, roll: list[Path]) -> tuple[float, int]:
    """Seconds of `photolib enrich` with only the OCR stage on over `roll` (added with every stage off
    first, so only that stage's backlog is timed), and how many photos it found text in."""
    from photolib.app.library import Library
    from photolib.core.config import ImageSettings, load_settings

    def library(ocr: bool, embedder=None) -> Library:
        settings = load_settings(library_path=folder / "library")
        settings.ocr_enabled, settings.faces_enabled, settings.thumbnails_enabled = ocr, False, False
        settings.image = ImageSettings(enabled=False)
        return Library(settings, embedder=embedder)

    adding = library(ocr=False)
    adding.add([roll[0].parent])
    adding.close()
    enriching = library(ocr=True, embedder=adding.embedder)  # loaded already: its load is not the stage's cost
    enriching.embedder.embed_query("warm up")
    start = time.perf_counter()
    report = next(stage for stage in enriching.enrich() if stage.name == "ocr")
    seconds = time.perf_counter() - start
    enriching.close()
    assert report.done == len(roll) and not report.failed, report.as_dict()
    return seconds, report.counts.get("found", 0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roll", type=int, default=40, help="photos in the one-in-ten roll")
    parser.add_argument("--smoke", action="store_true",
                        help="2 samples at 1200x800, a roll of 5, one repeat: the benchmark runs (CI)")
    options = parser.parse_args(argv)
    from photolib.media import read as media
    from photolib.models import faces, ocr

    camera, no_text, repeat = CAMERA, NO_TEXT, 3
    if options.smoke:
        from bench import run

        run.smoke_mode()
        camera, no_text, repeat, options.roll = (1200, 800), NO_TEXT[:2], 1, 5
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        plain = [camera_photo(name, folder / f"{name}.jpg", camera) for name in no_text]
        texts = text_photos(folder, camera)

        start = time.perf_counter()
        ocr.read_text(Image.new("RGB", (64, 64)))
        ocr.read_text(Image.open(texts[2]))
        print(f"OCR models loaded and warmed in {time.perf_counter() - start:.2f} s")

        def read(path: Path):
            return ocr.read_text(media.upright_image(path, 2000))

        no_text_reads = [timed(read, path, repeat=repeat) for path in plain]
        passed = sum(1 for _t, result in no_text_reads if not result.gated)
        print(f"OCR, photo without text ({max(camera)} px JPEG): "
              f"{statistics.median(t for t, _r in no_text_reads):.3f} s median, "
              f"max {max(t for t, _r in no_text_reads):.3f} s; "
              f"gate let {passed} of {len(no_text_reads)} through; kept text: "
              f"{[r.text for _t, r in no_text_reads if r.text] or 'none'}")
        decode = statistics.median(timed(media.upright_image, path, 2000, repeat=repeat)[0] for path in plain)
        print(f"  of which decoding to 2000 px: {decode:.3f} s")
        with_text = [timed(read, path, repeat=min(2, repeat)) for path in texts]
        for path, (seconds, result) in zip(texts, with_text):
            print(f"OCR, photo with text ({path.name}, {Image.open(path).size[0]}x{Image.open(path).size[1]}): "
                  f"{seconds:.3f} s, read {result.text!r}")

        roll_folder = folder / "roll"
        roll = []
        for number in range(options.roll):
            source = texts[number // 10 % len(texts)] if number % 10 == 0 else plain[number % len(plain)]
            target = roll_folder / f"IMG_{number:04d}{source.suffix}"
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(source.read_bytes())
            roll.append(target)
        seconds, found = ocr_stage_rate(folder, roll)
        print(f"OCR stage on a roll of {len(roll)} camera photos, one in ten with text: {seconds:.1f} s, "
              f"{len(roll) / seconds:.2f} photos/s ({seconds / len(roll):.3f} s a photo), "
              f"{found} with text found")

        start = time.perf_counter()
        faces.find_faces(stage_photos.astronaut())
        print(f"Face models loaded and warmed in {time.perf_counter() - start:.2f} s")

        def find(path: Path):
            return faces.find_faces(media.upright_image(path, faces.DETECT_SIDE))

        no_face = [timed(find, path, repeat=repeat)[0] for path in plain if "astronaut" not in path.name]
        print(f"Faces, photo without a face ({max(camera)} px JPEG): {statistics.median(no_face):.3f} s median")
        one = stage_photos.save(stage_photos.astronaut(), folder / "portrait.jpg")
        seconds, found_faces = timed(find, one, repeat=repeat)
        print(f"Faces, 512x512 portrait (upsampled once): {seconds:.3f} s, {len(found_faces)} face")
        seconds, found_faces = timed(find, camera_photo("astronaut", folder / "astronaut_big.jpg", camera), repeat=repeat)
        print(f"Faces, {max(camera)}x{max(camera)} portrait: {seconds:.3f} s, {len(found_faces)} face")
        huge = stage_photos.huge_with_face(folder / "huge.jpg")
        seconds, found_faces = timed(find, huge, repeat=repeat)
        print(f"Faces, 6000x4000 photo: {seconds:.3f} s, {len(found_faces)} face")


if __name__ == "__main__":
    main()
