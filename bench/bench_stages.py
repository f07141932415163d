"""Cost of the OCR and face stages per photo, and the OCR stage's rate on a realistic roll.

Photos are made from scikit-image's sample photos (real textures: a cat, coffee,
a rocket, an astronaut, a cameraman), enlarged to camera size (3000x2000 JPEG),
and from rendered text (a receipt, a shop sign over a photo). Reported:

* OCR seconds per photo without text (decode + gate) and with text (decode +
  gate + full read), and how many no-text photos the gate let through;
* the OCR stage's photos per second on a roll where one photo in ten holds text
  (`enrich.run_ocr`, catalog writes included);
* face seconds per photo: no face, one face, a 24 MP photo with a face.

No assertions: run it and report the figures.

    python bench/bench_stages.py [--roll 40]
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

from tests import stage_photos  # noqa: E402

CAMERA = (3000, 2000)
NO_TEXT = ["chelsea", "coffee", "rocket", "astronaut", "retina", "immunohistochemistry", "camera"]


def camera_photo(name: str, path: Path) -> Path:
    """The sample enlarged to a camera's 3000 px long side (its shape kept: a stretched face is no face)."""
    image = stage_photos.sample(name)
    scale = max(CAMERA) / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
    return stage_photos.save(image, path, quality=88)


def text_photos(folder: Path) -> list[Path]:
    receipt = stage_photos.receipt(folder / "receipt_small.png")
    page = Image.open(receipt).resize((1500, 2000), Image.Resampling.BICUBIC)
    scan = stage_photos.save(page, folder / "receipt_scan.jpg")
    street = Image.open(camera_photo("rocket", folder / "rocket_big.jpg"))
    sign = Image.open(stage_photos.shop_sign(folder / "sign_small.png")).resize((1200, 800))
    street.paste(sign, (900, 300))
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roll", type=int, default=40, help="photos in the one-in-ten roll")
    options = parser.parse_args()
    from photolib.models import faces
    from photolib.media import read as media
    from photolib.models import ocr

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        plain = [camera_photo(name, folder / f"{name}.jpg") for name in NO_TEXT]
        texts = text_photos(folder)

        start = time.perf_counter()
        ocr.read_text(Image.new("RGB", (64, 64)))
        ocr.read_text(Image.open(texts[2]))
        print(f"OCR models loaded and warmed in {time.perf_counter() - start:.2f} s")

        def read(path: Path):
            return ocr.read_text(media.upright_image(path, 2000))

        no_text = [timed(read, path, repeat=3) for path in plain]
        passed = sum(1 for _t, result in no_text if not result.gated)
        print(f"OCR, photo without text (3000 px JPEG): "
              f"{statistics.median(t for t, _r in no_text):.3f} s median, max {max(t for t, _r in no_text):.3f} s; "
              f"gate let {passed} of {len(no_text)} through; kept text: "
              f"{[r.text for _t, r in no_text if r.text] or 'none'}")
        decode = statistics.median(timed(media.upright_image, path, 2000, repeat=3)[0] for path in plain)
        print(f"  of which decoding to 2000 px: {decode:.3f} s")
        with_text = [timed(read, path, repeat=2) for path in texts]
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
        from photolib.store.catalog import Catalog
        from photolib.pipeline.stages.text_and_faces import run_ocr

        catalog = Catalog(folder / "library" / "catalog.db")
        with catalog.transaction():
            ids = [catalog.insert_photo(str(path), str(roll_folder), path.stat().st_size, 0, f"h{n}")
                   for n, path in enumerate(roll)]
        start = time.perf_counter()
        report = run_ocr(catalog, list(zip(ids, map(str, roll))), min_confidence=0.8)
        seconds = time.perf_counter() - start
        print(f"OCR stage on a roll of {len(roll)} camera photos, one in ten with text: {seconds:.1f} s, "
              f"{len(roll) / seconds:.2f} photos/s ({seconds / len(roll):.3f} s a photo), "
              f"{report.found} with text found")
        catalog.close()

        start = time.perf_counter()
        faces.find_faces(stage_photos.astronaut())
        print(f"Face models loaded and warmed in {time.perf_counter() - start:.2f} s")

        def find(path: Path):
            return faces.find_faces(media.upright_image(path, faces.DETECT_SIDE))

        no_face = [timed(find, path, repeat=3)[0] for path in plain if "astronaut" not in path.name]
        print(f"Faces, photo without a face (3000 px JPEG): {statistics.median(no_face):.3f} s median")
        one = stage_photos.save(stage_photos.astronaut(), folder / "portrait.jpg")
        seconds, found = timed(find, one, repeat=3)
        print(f"Faces, 512x512 portrait (upsampled once): {seconds:.3f} s, {len(found)} face")
        seconds, found = timed(find, camera_photo("astronaut", folder / "astronaut_big.jpg"), repeat=3)
        print(f"Faces, 3000x3000 portrait: {seconds:.3f} s, {len(found)} face")
        huge = stage_photos.huge_with_face(folder / "huge.jpg")
        seconds, found = timed(find, huge, repeat=3)
        print(f"Faces, 6000x4000 photo: {seconds:.3f} s, {len(found)} face")


if __name__ == "__main__":
    main()
