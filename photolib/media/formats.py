"""Which files are photos, and how the formats Pillow does not read alone are opened.

* JPEG, PNG, WebP, TIFF, BMP, GIF and AVIF: Pillow itself (Pillow >= 11.3
  reads AVIF; `avif_supported` checks the installed build).
* HEIC/HEIF: `pi-heif`, the decode-only build of pillow-heif (no GPL x265
  encoder), a default dependency, registered with Pillow on first use.
* RAW (CR2, CR3, NEF, ARW, RAF, ORF, RW2, DNG, ...): never demosaiced. The
  camera's own full-size or large preview JPEG is what is shown, and the
  metadata comes from the RAW's TIFF structure (or the preview's EXIF). The
  TIFF-based formats and RAF are read here with a few seeks; the others (CR3,
  and ORF/PEF whose preview hides in the maker note) through `rawpy` (LibRaw)'s
  `extract_thumb`.

Nothing here decides what to import: `scan.py` classifies files by these
extension sets, `media.py` decodes.
"""

from __future__ import annotations

import importlib.util
import io
import struct
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from photolib.core.errors import UnreadablePhotoError

PILLOW_EXTENSIONS = frozenset({"jpg", "jpeg", "jpe", "jfif", "png", "webp", "tif", "tiff", "bmp", "gif"})
AVIF_EXTENSIONS = frozenset({"avif"})
HEIF_EXTENSIONS = frozenset({"heic", "heif", "hif"})
RAW_EXTENSIONS = frozenset({"cr2", "cr3", "nef", "nrw", "arw", "raf", "orf", "rw2", "dng", "pef", "srw"})
# The developed file a camera writes beside a RAW of the same name (RAW+JPEG, ProRAW+HEIC).
DEVELOPED_EXTENSIONS = frozenset({"jpg", "jpeg", "heic", "heif", "hif"})
VIDEO_EXTENSIONS = frozenset({
    "mov", "mp4", "m4v", "avi", "mkv", "mts", "m2ts", "3gp", "3g2", "webm", "wmv", "mpg", "mpeg",
    "flv", "insv", "lrv", "vob", "ts", "mxf",
})
SIDECAR_EXTENSIONS = frozenset({"xmp", "aae", "thm", "pp3", "dop", "on1", "cos"})

HEIF_PACKAGE = "pi-heif"
RAW_PACKAGE = "rawpy"
MAX_PREVIEW_BYTES = 128 << 20  # no camera preview is larger; a bigger "preview" is corrupt data
MAX_IFDS = 64
SMALL_PREVIEW = 1000  # px, longest side: below this a TIFF-structure JPEG is a thumbnail; LibRaw may find more
MAKERNOTE_PREVIEWS = frozenset({"pef", "orf"})  # the large preview is in the maker note, out of the IFD walk


def extension(path: str | Path) -> str:
    """The lower-case extension without its dot ("" when there is none)."""
    name = Path(path).name
    return name.rsplit(".", 1)[1].lower() if "." in name.lstrip(".") else ""


@lru_cache(maxsize=1)
def heif_installed() -> bool:
    return importlib.util.find_spec("pi_heif") is not None or importlib.util.find_spec("pillow_heif") is not None


@lru_cache(maxsize=1)
def rawpy_installed() -> bool:
    return importlib.util.find_spec("rawpy") is not None


@lru_cache(maxsize=1)
def avif_supported() -> bool:
    from PIL import features

    return bool(features.check("avif"))


def missing_package(ext: str) -> str | None:
    """What to install for a file type whose reader is missing, or None when it can be read.

    RAW files read without rawpy when they are TIFF-based or RAF, so only the
    others need it.
    """
    if ext in HEIF_EXTENSIONS and not heif_installed():
        return f"{HEIF_PACKAGE} (a photolib dependency: pip install {HEIF_PACKAGE})"
    if ext in AVIF_EXTENSIONS and not avif_supported():
        return "Pillow with AVIF support (pip install -U 'pillow>=11.3')"
    if ext in ("cr3", "orf", "pef") and not rawpy_installed():
        return f"{RAW_PACKAGE} (a photolib dependency: pip install {RAW_PACKAGE})"
    return None


_heif_registered = False


def register_heif() -> None:
    """Teach Pillow to open HEIC/HEIF (once per process); pi-heif first, pillow-heif if that is what exists."""
    global _heif_registered
    if _heif_registered:
        return
    try:
        import pi_heif as heif
    except ImportError:
        try:
            import pillow_heif as heif  # type: ignore[no-redef]
        except ImportError:
            raise UnreadablePhotoError(f"HEIC/HEIF needs {HEIF_PACKAGE}: pip install {HEIF_PACKAGE}") from None
    heif.register_heif_opener()
    _heif_registered = True


# -- RAW ---------------------------------------------------------------------------------------------


@dataclass
class RawPreview:
    """The embedded preview of a RAW file and the metadata that goes with it."""

    jpeg: bytes | None  # the preview as JPEG bytes, or None when LibRaw gave a bitmap
    bitmap: Any = None  # a PIL image (LibRaw bitmap previews)
    format: str = "RAW"  # "CR2", "NEF", ...
    exif: Any = None  # PIL.Image.Exif from the RAW itself, or None to use the preview's own
    raw_size: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)


def raw_preview(path: Path) -> RawPreview:
    """The largest embedded JPEG preview of a RAW file, with the RAW's own EXIF.

    Raises `UnreadablePhotoError` when the file has no preview photolib can use
    (photolib shows RAW files through their preview and does not demosaic).
    """
    path = Path(path)
    ext = extension(path)
    name = ext.upper() or "RAW"
    with open(path, "rb") as handle:
        head = handle.read(16)
        if head.startswith(b"FUJIFILMCCD-RAW"):
            return RawPreview(_raf_preview(handle), format=name)
        if head[:2] in (b"II", b"MM"):
            endian = "<" if head[:2] == b"II" else ">"
            found = _tiff_jpegs(handle, endian)
            exif = _tiff_exif(handle, endian, struct.unpack(endian + "I", head[4:8])[0])
            size = jpeg_size(found[:1 << 18]) if found else None
            if found and (ext not in MAKERNOTE_PREVIEWS or max(size or (0, 0)) >= SMALL_PREVIEW
                          or not rawpy_installed()):
                return RawPreview(found, format=name, exif=exif)
            if found:  # only a thumbnail in the TIFF structure: the large preview hides in the maker note (PEF)
                try:
                    preview = _rawpy_preview(path, name)
                except UnreadablePhotoError:
                    return RawPreview(found, format=name, exif=exif)
                preview.exif = exif
                return preview
            if ext not in MAKERNOTE_PREVIEWS and not rawpy_installed():
                raise UnreadablePhotoError(f"no embedded preview found in this {name} file "
                                           "(photolib shows RAW files through their preview and does not demosaic)")
            preview = _rawpy_preview(path, name)
            preview.exif = exif
            return preview
        exif = _cr3_exif(handle) if head[4:12] == b"ftypcrx " else None
    preview = _rawpy_preview(path, name)
    preview.exif = exif
    return preview


def _raf_preview(handle: Any) -> bytes:
    handle.seek(84)
    offset, length = struct.unpack(">II", handle.read(8))
    data = _read_at(handle, offset, length)
    if not data.startswith(b"\xff\xd8"):
        raise UnreadablePhotoError("RAF file without an embedded JPEG preview")
    return data


def _read_at(handle: Any, offset: int, length: int) -> bytes:
    if length <= 0 or length > MAX_PREVIEW_BYTES:
        return b""
    handle.seek(offset)
    return handle.read(length)


_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
TAG_SUBIFDS, TAG_COMPRESSION, TAG_PHOTOMETRIC = 330, 259, 262
TAG_STRIP_OFFSETS, TAG_STRIP_BYTES, TAG_JPEG_OFFSET, TAG_JPEG_BYTES = 273, 279, 513, 514
TAG_RW2_JPEG = 0x002E  # Panasonic JpgFromRaw: the preview JPEG stored as one UNDEFINED value
RAW_PHOTOMETRICS = (32803, 34892)  # CFA, LinearRaw: sensor data, even when JPEG-compressed (lossless)


def _ifd(handle: Any, offset: int, endian: str) -> tuple[dict[int, tuple[int, int, bytes]], int]:
    """Entries of one IFD as tag -> (type, count, 4 value/offset bytes), and the next IFD's offset."""
    handle.seek(offset)
    raw = handle.read(2)
    if len(raw) < 2:
        return {}, 0
    (count,) = struct.unpack(endian + "H", raw)
    body = handle.read(12 * count + 4)
    if len(body) < 12 * count + 4 or count > 1000:
        return {}, 0
    entries = {}
    for index in range(count):
        tag, kind, number = struct.unpack(endian + "HHI", body[12 * index:12 * index + 8])
        entries[tag] = (kind, number, body[12 * index + 8:12 * index + 12])
    (following,) = struct.unpack(endian + "I", body[-4:])
    return entries, following


def _numbers(handle: Any, entry: tuple[int, int, bytes], endian: str, most: int = 64) -> list[int]:
    kind, count, value = entry
    width = _TYPE_SIZES.get(kind, 0)
    if kind not in (3, 4, 13) or count == 0:
        return []
    count = min(count, most)
    if width * count <= 4:
        data = value
    else:
        handle.seek(struct.unpack(endian + "I", value)[0])
        data = handle.read(width * count)
    letter = "H" if kind == 3 else "I"
    if len(data) < width * count:
        return []
    return list(struct.unpack(endian + letter * count, data[:width * count]))


def _tiff_jpegs(handle: Any, endian: str) -> bytes | None:
    """The largest lossy JPEG stored anywhere in a TIFF-based RAW (IFD chain and SubIFDs)."""
    handle.seek(4)
    (first,) = struct.unpack(endian + "I", handle.read(4))
    queue, seen, candidates = [first], set(), []
    while queue and len(seen) < MAX_IFDS:
        offset = queue.pop(0)
        if offset in seen or offset < 8:
            continue
        seen.add(offset)
        entries, following = _ifd(handle, offset, endian)
        if not entries:
            continue
        queue.append(following)
        if TAG_SUBIFDS in entries:
            queue.extend(_numbers(handle, entries[TAG_SUBIFDS], endian))
        candidates.extend(_jpeg_spans(handle, entries, endian))
    best, best_area = None, 0
    for start, length in candidates:
        handle.seek(start)
        size = jpeg_size(handle.read(min(length, 1 << 18)))
        if size and size[0] * size[1] > best_area:
            best, best_area = (start, length), size[0] * size[1]
    return _read_at(handle, *best) if best else None


def _jpeg_spans(handle: Any, entries: dict, endian: str) -> list[tuple[int, int]]:
    spans = []
    if TAG_JPEG_OFFSET in entries and TAG_JPEG_BYTES in entries:
        starts, lengths = _numbers(handle, entries[TAG_JPEG_OFFSET], endian), _numbers(handle, entries[TAG_JPEG_BYTES], endian)
        if starts and lengths:
            spans.append((starts[0], lengths[0]))
    if TAG_RW2_JPEG in entries and entries[TAG_RW2_JPEG][0] == 7 and entries[TAG_RW2_JPEG][1] > 4:
        spans.append((struct.unpack(endian + "I", entries[TAG_RW2_JPEG][2])[0], entries[TAG_RW2_JPEG][1]))
    compression = _numbers(handle, entries[TAG_COMPRESSION], endian)[:1] if TAG_COMPRESSION in entries else []
    photometric = _numbers(handle, entries[TAG_PHOTOMETRIC], endian)[:1] if TAG_PHOTOMETRIC in entries else []
    if compression and compression[0] in (6, 7) and not (photometric and photometric[0] in RAW_PHOTOMETRICS):
        starts = _numbers(handle, entries.get(TAG_STRIP_OFFSETS, (0, 0, b"")), endian, most=2)
        lengths = _numbers(handle, entries.get(TAG_STRIP_BYTES, (0, 0, b"")), endian, most=2)
        if len(starts) == 1 and len(lengths) == 1:
            spans.append((starts[0], lengths[0]))
    return spans


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a baseline or progressive JPEG; None for lossless (raw sensor data) or non-JPEG."""
    if not data.startswith(b"\xff\xd8"):
        return None
    index = 2
    while index + 9 < len(data):
        if data[index] != 0xFF:
            return None
        marker = data[index + 1]
        if marker == 0xFF:
            index += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            index += 2
            continue
        (length,) = struct.unpack(">H", data[index + 2:index + 4])
        if marker in (0xC0, 0xC1, 0xC2):
            height, width = struct.unpack(">HH", data[index + 5:index + 9])
            return (width, height) if width and height else None
        if 0xC3 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # lossless, hierarchical or arithmetic: sensor data, not a preview
        index += 2 + length
    return None


def _tiff_exif(handle: Any, endian: str, first: int) -> Any:
    """The RAW's IFD0 with its EXIF and GPS sub-IFDs (read now, while the file is open)."""
    from PIL import Image

    exif = Image.Exif()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF; broken EXIF is just absent here
            exif.endian = endian
            exif.load_from_fp(handle, first)
            for tag in (0x8769, 0x8825):
                exif.get_ifd(tag)
    except Exception:  # noqa: BLE001 - broken RAW EXIF costs the metadata, not the photo
        return None
    return exif if len(exif) else None


def _cr3_exif(handle: Any) -> Any:
    """Canon CR3 keeps IFD0 (CMT1), the EXIF IFD (CMT2) and GPS (CMT4) as small TIFF blobs in its header."""
    from PIL import Image

    handle.seek(0)
    head = handle.read(1 << 18)
    blobs = {}
    for name in (b"CMT1", b"CMT2", b"CMT4"):
        at = head.find(name)
        if at >= 4:
            (size,) = struct.unpack(">I", head[at - 4:at])
            blobs[name] = head[at + 4:at - 4 + size]
    if b"CMT1" not in blobs:
        return None
    try:
        exif = Image.Exif()
        exif.load(blobs[b"CMT1"])
        for name, tag in ((b"CMT2", 0x8769), (b"CMT4", 0x8825)):
            if name in blobs:
                sub = Image.Exif()
                sub.load(blobs[name])
                exif._ifds[tag] = dict(sub)  # Pillow's cache of sub-IFDs: what get_ifd returns
    except Exception:  # noqa: BLE001
        return None
    return exif


def _rawpy_preview(path: Path, name: str) -> RawPreview:
    try:
        import rawpy
    except ImportError:
        raise UnreadablePhotoError(f"{name} files need {RAW_PACKAGE}: pip install {RAW_PACKAGE}") from None
    try:
        with rawpy.imread(str(path)) as raw:
            thumb = raw.extract_thumb()
            raw_size = (int(raw.sizes.width), int(raw.sizes.height))
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
        raise UnreadablePhotoError(f"this {name} file carries no embedded preview photolib can show "
                                   "(RAW files are shown through their preview, not demosaiced)") from None
    except rawpy.LibRawFileUnsupportedError:
        raise UnreadablePhotoError(f"not a {name} file LibRaw can read (unsupported or corrupt RAW)") from None
    except rawpy.LibRawError as error:
        raise UnreadablePhotoError(f"corrupt {name} file ({type(error).__name__})") from None
    if thumb.format == rawpy.ThumbFormat.JPEG:
        return RawPreview(bytes(thumb.data), format=name, raw_size=raw_size)
    from PIL import Image

    return RawPreview(None, bitmap=Image.fromarray(thumb.data), format=name, raw_size=raw_size)


def open_raw(path: Path) -> tuple[Any, Any, str]:
    """(preview image not yet decoded, EXIF to use, format name) for a RAW file."""
    from PIL import Image

    preview = raw_preview(path)
    image = Image.open(io.BytesIO(preview.jpeg)) if preview.jpeg is not None else preview.bitmap
    exif = preview.exif
    if exif is None or not len(exif):
        exif = image.getexif()
    elif preview.jpeg is not None:
        _fill_from_preview(exif, image)
    return image, exif, preview.format


def _fill_from_preview(exif: Any, preview: Any) -> None:
    """Some RAW files keep only the camera tags in their own IFD0 and the date, exposure and GPS in
    the preview JPEG's EXIF (Panasonic RW2 can): sub-IFDs and tags the RAW lacks come from the preview."""
    try:
        shown = preview.getexif()
        for tag in (0x8769, 0x8825):  # EXIF (dates, lens), GPS
            if not exif.get_ifd(tag) and shown.get_ifd(tag):
                exif._ifds[tag] = dict(shown.get_ifd(tag))  # Pillow's cache of sub-IFDs: what get_ifd returns
        for tag, value in shown.items():
            if tag not in exif and tag not in (0x8769, 0x8825):
                exif[tag] = value
    except Exception:  # noqa: BLE001 - a broken preview EXIF costs those facts, not the photo
        pass
