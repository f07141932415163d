"""Safe reading of photo files with Pillow: size, EXIF, colours, upload copies.

Every file is untrusted. Whatever its bytes, `read_photo` returns metadata or
raises `UnreadablePhotoError` with a short reason; Pillow's decompression-bomb
limit (twice `Image.MAX_IMAGE_PIXELS`, ~179 MP, where Pillow itself refuses)
is kept and reported as such, while real large photos (a 102 MP medium-format
frame passes Pillow's 89 MP warning level) are read. Colour facts need a
thumbnail, not 12 megapixels: a JPEG's own EXIF preview is used when the file
carries one, else the photo is decoded at reduced size (draft mode). Formats
without draft mode are decoded whole, so those decodes share a pixel budget
across the worker threads.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from photolib.errors import UnreadablePhotoError
from photolib.models import PhotoMetadata
from photolib.vocabulary import COLOUR_NAMES

BASE_EXTENSIONS = frozenset({"jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif"})
HEIF_EXTENSIONS = frozenset({"heic", "heif"})
MAX_TEXT = 200
JPEG_FORMATS = ("JPEG", "MPO")  # MPO: camera JPEGs with extra frames (depth, stereo)
MAX_PREVIEW_BYTES = 1 << 20  # EXIF previews are ~10-60 KB; bigger is not a preview
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
TAG_MAKE, TAG_MODEL, TAG_ORIENTATION, TAG_DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
TAG_DATETIME_ORIGINAL, TAG_LENS_MODEL = 0x9003, 0xA434
FULL_DECODE_BUDGET = 256_000_000  # pixels decoded whole at once by all threads (~1 GB of RGBA)


def _heif_available() -> bool:
    try:
        import pillow_heif  # noqa: F401
    except ImportError:
        return False
    return True


SUPPORTED_EXTENSIONS = BASE_EXTENSIONS | (HEIF_EXTENSIONS if _heif_available() else frozenset())


def file_hash(path: Path) -> str:
    """Content identity: BLAKE2b-128 of the bytes, fast enough to hash every new file."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_photo(path: Path) -> PhotoMetadata:
    """Metadata of a photo file; `UnreadablePhotoError` for anything that is not one."""
    try:
        return _read(Path(path))
    except UnreadablePhotoError:
        raise
    except PermissionError:
        raise UnreadablePhotoError("permission denied") from None
    except FileNotFoundError:
        raise UnreadablePhotoError("file vanished while reading") from None
    except IsADirectoryError:
        raise UnreadablePhotoError("is a folder, not a file") from None
    except MemoryError:
        raise UnreadablePhotoError("image too large to decode") from None
    except Exception as error:  # noqa: BLE001 - any decoder failure on hostile bytes is "corrupt"
        raise UnreadablePhotoError(f"truncated or corrupt image data ({type(error).__name__})") from None


def _open_image(path: Path) -> Any:
    from PIL import Image, ImageFile, UnidentifiedImageError

    ImageFile.LOAD_TRUNCATED_IMAGES = False
    if path.suffix.lower().lstrip(".") in HEIF_EXTENSIONS and _heif_available():
        import pillow_heif

        pillow_heif.register_heif_opener()
    if path.stat().st_size == 0:
        raise UnreadablePhotoError("empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(path)
    except UnidentifiedImageError:
        raise UnreadablePhotoError("not an image (unrecognised format)") from None
    except Image.DecompressionBombError as error:
        raise UnreadablePhotoError(f"decompression bomb: {_pixels(error)} exceeds the safety limit") from None


def bomb_limit() -> int | None:
    """Pixels above which Pillow refuses an image (it only warns between 1x and 2x MAX_IMAGE_PIXELS)."""
    from PIL import Image

    return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else None


class PixelBudget:
    """Whole-image decodes in flight share a budget of pixels: sixteen parallel reads of
    100 MP PNGs would otherwise need 16 x 400 MB at once. An image larger than the whole
    budget waits until it has the budget to itself."""

    def __init__(self, pixels: int) -> None:
        self.total = pixels
        self.available = pixels
        self._changed = threading.Condition()

    @contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        pixels = min(pixels, self.total)
        with self._changed:
            self._changed.wait_for(lambda: self.available >= pixels)
            self.available -= pixels
        try:
            yield
        finally:
            with self._changed:
                self.available += pixels
                self._changed.notify_all()


_full_decodes = PixelBudget(FULL_DECODE_BUDGET)


def _pixels(error: Exception) -> str:
    import re

    found = re.search(r"(\d+) pixels", str(error))
    return f"{int(found.group(1)):,} pixels" if found else "image size"


def _read(path: Path) -> PhotoMetadata:
    with _open_image(path) as image:
        width, height = image.size
        pixels = width * height
        limit = bomb_limit()
        if limit and pixels > limit:
            raise UnreadablePhotoError(f"decompression bomb: {pixels:,} pixels exceeds the safety limit")
        image_format = image.format or ""
        exif = _safe_exif(image)
        thumbnail = _camera_preview(image, exif, path) if image_format in JPEG_FORMATS else None
        if thumbnail is None:
            if image_format in JPEG_FORMATS:
                image.draft("RGB", (256, 256))
            with _full_decodes.hold(pixels if image_format not in JPEG_FORMATS else 0):
                try:
                    image.load()
                except OSError as error:
                    raise UnreadablePhotoError(f"truncated or corrupt image data ({error})") from None
                thumbnail = _thumbnail(image)
                image.close()  # free the full-size pixels before another decode takes the budget
    orientation = _orientation(exif)
    rotated = orientation in (5, 6, 7, 8)
    metadata = PhotoMetadata(
        width=width, height=height, format=image_format, orientation=orientation,
        oriented_width=height if rotated else width, oriented_height=width if rotated else height,
        **_exif_fields(exif),
    )
    _colour_facts(thumbnail, metadata)
    return metadata


def _camera_preview(image: Any, exif: Any, path: Path) -> Any | None:
    """The camera's own small JPEG preview (EXIF IFD1) as a colour thumbnail, or None.

    Even a draft-mode decode must entropy-decode every byte of a 12 MP JPEG
    (~80 ms on a 6 MB file here); the preview every camera and phone stores
    costs about 1 ms. It is trusted only when the file ends with the JPEG
    end-of-image marker (a cut-short file gets the full decode, which reports
    it); a letterboxed preview is cropped to the photo's shape.
    """
    from PIL import ExifTags, Image

    try:
        ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)
        offset, length = int(ifd1.get(0x0201, 0)), int(ifd1.get(0x0202, 0))
        raw = image.info.get("exif") or b""
        start = offset + (6 if raw.startswith(b"Exif\x00\x00") else 0)
        if not 0 < length <= MAX_PREVIEW_BYTES or start + length > len(raw) or not _ends_with_end_marker(path):
            return None
        with Image.open(io.BytesIO(raw[start : start + length])) as preview:
            if preview.format != "JPEG" or min(preview.size) < 16 or preview.width * preview.height > 2_000_000:
                return None
            preview.load()
            frame = preview.convert("RGB")
    except Exception:  # noqa: BLE001 - a broken preview only means the slower full decode
        return None
    frame = _crop_to_shape(frame, image.size)
    frame.thumbnail((64, 64), Image.Resampling.BILINEAR)
    return frame


def _ends_with_end_marker(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64))
        return handle.read().rstrip(b"\x00").endswith(b"\xff\xd9")


def _crop_to_shape(frame: Any, size: tuple[int, int]) -> Any:
    """Cut the black bars of a preview whose shape differs from the photo's (3:2 photo, 4:3 preview)."""
    width, height = frame.size
    wanted = size[0] / size[1]
    if abs(width / height - wanted) < 0.03 * wanted:
        return frame
    if width / height > wanted:
        keep = max(1, round(height * wanted))
        return frame.crop(((width - keep) // 2, 0, (width - keep) // 2 + keep, height))
    keep = max(1, round(width / wanted))
    return frame.crop((0, (height - keep) // 2, width, (height - keep) // 2 + keep))


def _safe_exif(image: Any) -> Any:
    try:
        return image.getexif()
    except Exception:  # noqa: BLE001 - broken EXIF must not cost the photo
        from PIL import Image

        return Image.Exif()


def _orientation(exif: Any) -> int:
    value = exif.get(TAG_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _exif_fields(exif: Any) -> dict[str, Any]:
    sub = _sub_ifd(exif, EXIF_IFD)
    gps = _sub_ifd(exif, GPS_IFD)
    lat, lon = _gps_position(gps)
    return {
        "taken_at": _exif_date(sub.get(TAG_DATETIME_ORIGINAL)) or _exif_date(exif.get(TAG_DATETIME)),
        "camera_make": _text(exif.get(TAG_MAKE)),
        "camera_model": _text(exif.get(TAG_MODEL)),
        "lens": _text(sub.get(TAG_LENS_MODEL)),
        "gps_lat": lat,
        "gps_lon": lon,
    }


def _sub_ifd(exif: Any, tag: int) -> dict:
    try:
        return dict(exif.get_ifd(tag))
    except Exception:  # noqa: BLE001
        return {}


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(ch for ch in value.replace("\x00", "") if ch.isprintable()).strip()
    return cleaned[:MAX_TEXT] or None


def _exif_date(value: Any) -> datetime | None:
    text = _text(value)
    if not text:
        return None
    for pattern in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M", "%Y:%m:%d"):
        try:
            taken = datetime.strptime(text[:19], pattern)
        except ValueError:
            continue
        return taken if 1826 <= taken.year <= datetime.now().year + 1 else None
    return None


def _gps_position(gps: dict) -> tuple[float | None, float | None]:
    try:
        lat = _degrees(gps.get(2), gps.get(1), "S")
        lon = _degrees(gps.get(4), gps.get(3), "W")
    except (TypeError, ValueError, ZeroDivisionError, IndexError, OverflowError):
        return None, None
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None, None
    return round(lat, 7), round(lon, 7)


def _degrees(dms: Any, ref: Any, negative: str) -> float | None:
    if dms is None:
        return None
    if isinstance(dms, (int, float)):
        value = float(dms)
    else:
        parts = [float(part) for part in dms][:3]
        value = parts[0] + (parts[1] if len(parts) > 1 else 0) / 60 + (parts[2] if len(parts) > 2 else 0) / 3600
    if value != value:  # NaN
        return None
    return -value if _text(ref) == negative else value


def _thumbnail(image: Any) -> Any:
    from PIL import Image

    frame = image.convert("RGB")
    frame.thumbnail((64, 64), Image.Resampling.BILINEAR)
    return frame


def _colour_facts(thumbnail: Any, metadata: PhotoMetadata) -> None:
    """Brightness, grey-ness and the names of the colours covering at least 15% of the photo."""
    import numpy as np

    pixels = np.asarray(thumbnail, dtype=np.float32).reshape(-1, 3)
    if pixels.size == 0:
        return
    luminance = pixels @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    metadata.brightness = round(float(luminance.mean()) / 255.0, 3)
    spread = pixels.max(axis=1) - pixels.min(axis=1)
    metadata.grayscale = bool(np.percentile(spread, 95) < 12)
    names = list(COLOUR_NAMES)
    palette = np.array(list(COLOUR_NAMES.values()), dtype=np.float32)
    nearest = ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    counts = np.bincount(nearest, minlength=len(names)) / len(nearest)
    order = np.argsort(-counts)
    metadata.dominant_colors = [names[i] for i in order[:3] if counts[i] >= 0.15]


def encode_for_upload(path: Path, max_side: int = 1024) -> bytes:
    """A JPEG copy for a remote vision model: upright, at most `max_side` pixels, no metadata."""
    from PIL import Image, ImageOps

    with _open_image(Path(path)) as image:
        if image.format == "JPEG":
            image.draft("RGB", (max_side, max_side))
        with _full_decodes.hold(0 if image.format == "JPEG" else image.width * image.height):
            upright = ImageOps.exif_transpose(image).convert("RGB")
            upright.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    upright.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def png_bytes(image: Any) -> bytes:
    """A generated image (encoded bytes of any format Pillow reads, or a PIL image) as PNG bytes.

    The one PNG writer: generators and `imagine` use it, so an answer that
    is not an image fails the same way everywhere.
    """
    from PIL import Image

    from photolib.errors import MalformedOutputError

    try:
        if isinstance(image, (bytes, bytearray)):
            with Image.open(io.BytesIO(image)) as decoded:
                decoded.load()
                return _encode_png(decoded)
        return _encode_png(image)
    except Exception as error:  # noqa: BLE001 - any decoder failure means a bad answer
        raise MalformedOutputError(f"the generator returned data that is not an image ({error})") from None


def _encode_png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
