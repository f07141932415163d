"""A camera roll with real photo content: scikit-image's sample photos at camera size.

Each photo is one of scikit-image's samples (a cat, coffee, a rocket, the
astronaut, textures such as brick, gravel, grass and coins...) enlarged to
12 MP (its shape kept: a stretched face is no face) with a little sensor
grain, saved as a camera saves it: JPEG quality 90, the EXIF date and camera,
and the 160x120 preview (IFD1). About one photo in ten holds text (a receipt
scan, a shop sign over a street, a poster on a brick wall), and a few hold a
face (the astronaut; the LFW faces pasted on a wall). Rolls are made once and
cached in bench/.cache/.

    roll(40)             # folder of 40 photos (12 MP)
    roll(6, side=640)    # tiny, for `python -m bench --smoke`
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.stage_photos import SCENE_TEXTS  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
MEGAPIXELS = 12.0
# No text, no face: real textures, the kind an OCR detector sees letters in.
PLAIN = ["chelsea", "coffee", "rocket", "retina", "immunohistochemistry", "brick", "gravel", "grass", "coins",
         "hubble_deep_field", "moon", "clock", "cell", "colorwheel"]
TEXT = list(SCENE_TEXTS)  # one photo in ten
FACES = ["astronaut", "people"]  # a few: one in eight


def roll(count: int, side: int | None = None) -> Path:
    """A folder of `count` camera JPEGs (12 MP, or `side` pixels on the long side), made once and cached."""
    folder = CACHE / f"roll-{count}-{side or '12mp'}"
    done = folder.with_name(folder.name + ".complete")  # beside it: `add` would count a hidden file in it
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for number, kind in enumerate(contents(count)):
        path = folder / f"IMG_{number:04d}.jpg"
        camera_save(picture(kind, side, seed=number), path, datetime(2024, 5, 1, 9) + timedelta(minutes=7 * number))
    done.touch()
    return folder


def contents(count: int) -> list[str]:
    """What each photo of a roll of `count` shows: one in ten text, one in eight a face, the rest plain."""
    kinds = []
    for number in range(count):
        if number % 10 == 3:
            kinds.append(TEXT[number // 10 % len(TEXT)])
        elif number % 8 == 5:
            kinds.append(FACES[number // 8 % len(FACES)])
        else:
            kinds.append(PLAIN[number % len(PLAIN)])
    return kinds


def picture(kind: str, side: int | None = None, seed: int = 0):
    """The photo of one kind (`tests.stage_photos.scene`), at camera size (12 MP) or `side` pixels on
    the long side (`seed`: its grain)."""
    from tests.support import stage_photos

    return at_size(stage_photos.scene(kind), side, seed)


def at_size(image, side: int | None, seed: int = 0):
    """Enlarged (bicubic) to 12 MP, or to `side` on the long side, with a little grain, as sensors add."""
    import numpy as np
    from PIL import Image

    if side is None:
        scale = (MEGAPIXELS * 1e6 / (image.width * image.height)) ** 0.5
    else:
        scale = side / max(image.size)
    size = (round(image.width * scale), round(image.height * scale))
    big = np.asarray(image.convert("RGB").resize(size, Image.Resampling.BICUBIC), dtype=np.int16)
    grain = np.random.default_rng(seed).normal(0, 4, big.shape[:2] + (1,)).astype(np.int16)
    return Image.fromarray(np.clip(big + grain, 0, 255).astype(np.uint8))


def camera_save(image, path: Path, taken_at: datetime) -> Path:
    """JPEG quality 90 with the EXIF a camera writes: date, make and model, the 160x120 preview."""
    from PIL import Image

    from tests.support.photos import EXIF_IFD, exif_with_preview

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS R6"
    exif[0x0132] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    exif.get_ifd(EXIF_IFD)[0x9003] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    image.save(path, quality=90, exif=exif_with_preview(exif.tobytes(), image))
    return path


if __name__ == "__main__":
    print(roll(int(sys.argv[1]) if len(sys.argv) > 1 else 40))
