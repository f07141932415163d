"""Test files in the formats beyond JPEG: HEIC (written with pillow-heif, since the runtime pi-heif
only decodes), AVIF (Pillow), a DNG-shaped RAW with an embedded preview JPEG (tifffile), and
pixel-exact oddities (16-bit, CMYK, animations, multi-page TIFF)."""

from __future__ import annotations

import io
import tempfile
from datetime import datetime
from pathlib import Path

import numpy as np
from PIL import Image

from tests.photos import make_photo


def exif_of(**facts) -> bytes:
    """EXIF bytes as a camera writes them (taken_at, make, model, gps, orientation), via a throwaway JPEG."""
    with tempfile.TemporaryDirectory() as folder:
        with Image.open(make_photo(Path(folder) / "exif.jpg", size=(8, 8), pattern=False, **facts)) as image:
            return image.info["exif"]


def two_colour(size=(96, 64), left=(220, 30, 30), right=(30, 30, 220)) -> Image.Image:
    """Left half one colour, right half another: rotations and crops are visible in the pixels."""
    image = Image.new("RGB", size, left)
    image.paste(right, (size[0] // 2, 0, size[0], size[1]))
    return image


def make_heic(path: Path, image: Image.Image | None = None, **facts) -> Path:
    import pillow_heif

    image = image or two_colour()
    path.parent.mkdir(parents=True, exist_ok=True)
    pillow_heif.from_pillow(image).save(str(path), quality=92, exif=exif_of(**facts))
    return path


def make_avif(path: Path, image: Image.Image | None = None, **facts) -> Path:
    image = image or two_colour()
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="AVIF", quality=92, exif=exif_of(**facts))
    return path


def make_dng(path: Path, preview: Image.Image | None = None, *, make="Canon", model="EOS R6",
             orientation: int = 1, taken_at: datetime | None = datetime(2022, 3, 4, 5, 6, 7)) -> Path:
    """A DNG as cameras and Adobe's converter lay it out: IFD0 a small green thumbnail with the
    camera tags, SubIFD 1 the 16-bit CFA sensor data, SubIFD 2 the large preview JPEG (compression 7,
    YCbCr). tifffile writes the structure; the preview strip is then pointed at the JPEG bytes."""
    import tifffile

    preview = preview or two_colour((300, 200))
    encoded = io.BytesIO()
    preview.save(encoded, format="JPEG", quality=92)
    jpeg = encoded.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    thumb = np.zeros((20, 30, 3), np.uint8)
    thumb[...] = (30, 200, 30)
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (271, "s", 0, make, True), (272, "s", 0, model, True),
            (274, "H", 1, orientation, True)]
    if taken_at:
        tags.append((306, "s", 0, taken_at.strftime("%Y:%m:%d %H:%M:%S"), True))
    sensor = np.random.default_rng(7).integers(0, 4095, (preview.height, preview.width)).astype(np.uint16)
    with tifffile.TiffWriter(path) as writer:
        writer.write(thumb, photometric="rgb", subfiletype=1, subifds=2, extratags=tags)
        writer.write(sensor, photometric=32803, subfiletype=0,
                     extratags=[(33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True)])
        writer.write(np.zeros((preview.height, preview.width, 3), np.uint8), photometric="rgb", subfiletype=1,
                     rowsperstrip=preview.height)
    offset = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(jpeg)
    with tifffile.TiffFile(path, mode="r+b") as tiff:
        page = tiff.pages[0].pages[1]
        page.tags["StripOffsets"].overwrite([offset])
        page.tags["StripByteCounts"].overwrite([len(jpeg)])
        page.tags["Compression"].overwrite(7)
        page.tags["PhotometricInterpretation"].overwrite(6)
    return path
