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

from tests.support.photos import make_photo


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


def make_heic(path: Path, image: Image.Image | None = None, *, thumbnails: tuple[int, ...] = (), **facts) -> Path:
    """A HEIC as phones write it: the EXIF, and `thumbnails` (longest sides) beside the photo."""
    import pillow_heif

    image = image or two_colour()
    path.parent.mkdir(parents=True, exist_ok=True)
    pillow_heif.from_pillow(image).save(str(path), quality=92, exif=exif_of(**facts), thumbnails=list(thumbnails))
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


def _jpeg_with_exif(preview: Image.Image, **facts) -> bytes:
    encoded = io.BytesIO()
    preview.save(encoded, format="JPEG", quality=92, exif=exif_of(**facts) if facts else b"")
    return encoded.getvalue()


def make_raf(path: Path, preview: Image.Image | None = None, **facts) -> Path:
    """A Fujifilm RAF as its header lays it out: magic, version, camera id and name, then at byte 84
    the offset and length of the embedded preview JPEG (which carries the EXIF); sensor data after."""
    import struct

    jpeg = _jpeg_with_exif(preview or two_colour((300, 200)), **facts)
    header = b"FUJIFILMCCD-RAW 0201FF383501" + b"X-T4".ljust(32, b"\0")
    header = header.ljust(84, b"\0")
    offset = 160
    data = header + struct.pack(">II", offset, len(jpeg))
    data = data.ljust(offset, b"\0") + jpeg + bytes(range(256)) * 64  # then "sensor data"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_rw2(path: Path, preview: Image.Image | None = None, **facts) -> Path:
    """A Panasonic RW2: a TIFF-like file with magic 0x55 whose IFD0 holds the camera tags and the
    preview JPEG as one UNDEFINED value (tag 0x002E, JpgFromRaw)."""
    import struct

    jpeg = _jpeg_with_exif(preview or two_colour((300, 200)), **facts)
    make, model = b"Panasonic\0", b"DC-G9\0"
    entries = 4
    ifd_size = 2 + 12 * entries + 4
    make_at = 8 + ifd_size
    model_at = make_at + len(make)
    jpeg_at = model_at + len(model)
    ifd = struct.pack("<H", entries)
    ifd += struct.pack("<HHII", 0x002E, 7, len(jpeg), jpeg_at)
    ifd += struct.pack("<HHII", 0x010F, 2, len(make), make_at)
    ifd += struct.pack("<HHII", 0x0110, 2, len(model), model_at)
    ifd += struct.pack("<HHIHH", 0x0112, 3, 1, 1, 0)
    ifd += struct.pack("<I", 0)
    data = b"IIU\0" + struct.pack("<I", 8) + ifd + make + model + jpeg + bytes(range(256)) * 64
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_cr3_without_preview(path: Path) -> Path:
    """A file that starts like a Canon CR3 (ISO media, brand crx) but holds no preview any reader can find."""
    import struct

    box = struct.pack(">I", 24) + b"ftypcrx " + struct.pack(">I", 1) + b"crx isom"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(box + bytes(range(256)) * 40)
    return path


def cmyk_profile() -> bytes:
    """A small but real ICC v2 CMYK printer profile (AToB0 as a 2-point lut16 to Lab) whose colours
    differ plainly from the naive (1-C)(1-K) formula, so a decoder that ignores it is caught."""
    import itertools
    import struct

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    def padded(data: bytes) -> bytes:
        return data + b"\0" * (-len(data) % 4)

    text = b"photolib test CMYK\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(8) + bytes(3) + bytes(67)
    copyright_ = b"text" + bytes(4) + b"none\0"
    white = b"XYZ " + bytes(4) + s15(0.9642) + s15(1.0) + s15(0.8249)
    lut = b"mft2" + bytes(4) + bytes([4, 3, 2, 0]) + b"".join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    lut += struct.pack(">HH", 2, 2) + struct.pack(">HH", 0, 0xFFFF) * 4
    for c, m, y, k in itertools.product((0, 1), repeat=4):  # first channel slowest, as the ICC grid is laid out
        lightness = 94 * (1 - k) * (1 - 0.3 * (c + m + y) / 3) + 3
        a, b = 55 * m - 35 * c + 18, 65 * y - 40 * c - 10 * m + 25  # a warm cast the formula does not have
        lut += struct.pack(">HHH", round(lightness / 100 * 0xFF00), round((a + 128) * 256), round((b + 128) * 256))
    lut += struct.pack(">HH", 0, 0xFFFF) * 3
    tags = [(b"desc", desc), (b"cprt", copyright_), (b"wtpt", white), (b"A2B0", lut)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += padded(data)
    header = struct.pack(">I", offset + len(body)) + bytes(4) + bytes([2, 0x10, 0, 0]) + b"prtrCMYKLab "
    header += bytes(12) + b"acsp" + bytes(28) + s15(0.9642) + s15(1.0) + s15(0.8249)
    return header.ljust(128, b"\0") + struct.pack(">I", len(tags)) + table + body
