"""Test photo factory: realistic small photos with EXIF, written with Pillow."""

from __future__ import annotations

import io
import random
import struct
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw

EXIF_IFD, GPS_IFD = 0x8769, 0x8825


def _dms(value: float) -> tuple:
    value = abs(value)
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return (Fraction(degrees), Fraction(minutes), Fraction(seconds).limit_denominator(10000))


def make_photo(path, *, size=(640, 480), color=(200, 120, 40), taken_at: datetime | None = None,
               make: str | None = None, model: str | None = None, lens: str | None = None,
               gps: tuple[float, float] | None = None, orientation: int | None = None,
               fmt: str | None = None, pattern: bool = True, quality: int = 85,
               camera_preview: bool = False, image: Image.Image | None = None) -> Path:
    """A photo file; `image` (a PIL image) is saved instead of the coloured canvas when given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pattern = pattern and image is None
    image = image.convert("RGB") if image is not None else Image.new("RGB", size, color)
    if pattern:
        rng = random.Random(str(path) + str(color) + str(taken_at))
        draw = ImageDraw.Draw(image)
        for _ in range(6):
            x, y = rng.randrange(size[0]), rng.randrange(size[1])
            shade = tuple(max(0, min(255, c + rng.randint(-40, 40))) for c in color)
            draw.ellipse([x, y, x + size[0] // 5, y + size[1] // 5], fill=shade)
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if orientation:
        exif[0x0112] = orientation
    if taken_at:
        exif[0x0132] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
        exif.get_ifd(EXIF_IFD)[0x9003] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
    if lens:
        exif.get_ifd(EXIF_IFD)[0xA434] = lens
    if gps:
        gps_ifd = exif.get_ifd(GPS_IFD)
        gps_ifd[1] = "N" if gps[0] >= 0 else "S"
        gps_ifd[2] = _dms(gps[0])
        gps_ifd[3] = "E" if gps[1] >= 0 else "W"
        gps_ifd[4] = _dms(gps[1])
    fmt = fmt or {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "tif": "TIFF",
                  "tiff": "TIFF", "bmp": "BMP", "gif": "GIF"}.get(path.suffix.lower().lstrip("."), "JPEG")
    options = {"exif": exif.tobytes()} if fmt in ("JPEG", "PNG", "WEBP", "TIFF") else {}
    if camera_preview and fmt == "JPEG":
        options["exif"] = exif_with_preview(options["exif"], image)
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = quality
    image.save(path, format=fmt, **options)
    return path


def exif_with_preview(exif: bytes, image: Image.Image, size=(160, 120)) -> bytes:
    """EXIF bytes plus the small JPEG preview cameras store in IFD1 (Pillow does not write IFD1),
    letterboxed to 160x120 as cameras do."""
    fitted = image.convert("RGB")
    fitted.thumbnail(size)
    canvas = Image.new("RGB", size)
    canvas.paste(fitted, ((size[0] - fitted.width) // 2, (size[1] - fitted.height) // 2))
    preview = io.BytesIO()
    canvas.save(preview, format="JPEG", quality=80)
    thumbnail = preview.getvalue()
    head, tiff = exif[:6], bytearray(exif[6:])
    order = ">" if tiff[:2] == b"MM" else "<"
    ifd0 = struct.unpack(order + "I", tiff[4:8])[0]
    entries = struct.unpack(order + "H", tiff[ifd0:ifd0 + 2])[0]
    if len(tiff) % 2:
        tiff += b"\0"
    ifd1 = len(tiff)
    struct.pack_into(order + "I", tiff, ifd0 + 2 + 12 * entries, ifd1)  # IFD0's "next IFD"
    data = ifd1 + 2 + 3 * 12 + 4
    tiff += struct.pack(order + "H", 3)
    tiff += struct.pack(order + "HHIHH", 0x0103, 3, 1, 6, 0)  # Compression: JPEG
    tiff += struct.pack(order + "HHII", 0x0201, 4, 1, data)  # JPEGInterchangeFormat
    tiff += struct.pack(order + "HHII", 0x0202, 4, 1, len(thumbnail))  # ...Length
    tiff += struct.pack(order + "I", 0) + thumbnail
    return head + bytes(tiff)


def make_trip(root, name: str, n: int, *, start: datetime, gps: tuple[float, float], color,
              make: str = "Canon", model: str = "Canon EOS R6") -> list[Path]:
    folder = Path(root) / name
    return [
        make_photo(folder / f"photo_{i:03d}.jpg", taken_at=start + timedelta(minutes=37 * i),
                   gps=(gps[0] + 0.001 * i, gps[1] + 0.001 * i), color=color, make=make, model=model,
                   lens="RF24-105mm F4 L IS USM")
        for i in range(n)
    ]


SCENES = ("a walk by the lake", "a dog on a beach", "snow on mountains", "ramen in a bar", "a red car in the city",
          "birthday cake with candles", "a cathedral at night", "sunflowers in a field", "a crowded train station",
          "children playing football", "a sailing boat at sea", "autumn leaves in a park")


def embedded_photos(embedder, root, count: int, seed: int = 0, spread: float = 0.04):
    """`count` EmbeddedPhotos whose vectors lie scattered around the embeddings of a dozen scenes: a library
    big enough for an approximate index, without reading or describing a single file."""
    import numpy as np

    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.core.records import Description

    rng = np.random.default_rng(seed)
    centres = embedder.embed_documents(list(SCENES))
    for i in range(count):
        vector = centres[i % len(SCENES)] + spread * rng.standard_normal(centres.shape[1]).astype(np.float32)
        yield EmbeddedPhoto(str(root / f"{i}.jpg"), Description([], f"photo {i}", ""),
                            (vector / np.linalg.norm(vector)).astype(np.float32))
