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

from photolib.core.errors import UnreadablePhotoError
from photolib.media.formats import (AVIF_EXTENSIONS, HEIF_EXTENSIONS, PILLOW_EXTENSIONS, RAW_EXTENSIONS, extension,
                              missing_package)
from photolib.core.records import PhotoMetadata
from photolib.core.vocabulary import COLOUR_NAMES

MAX_TEXT = 200
JPEG_FORMATS = ("JPEG", "MPO")  # MPO: camera JPEGs with extra frames (depth, stereo)
HEIF_FORMAT = "HEIF"  # what Pillow calls a HEIC/HEIF opened through pi-heif (or pillow-heif)
MAX_PREVIEW_BYTES = 1 << 20  # EXIF previews are ~10-60 KB; bigger is not a preview
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
TAG_MAKE, TAG_MODEL, TAG_ORIENTATION, TAG_DATETIME = 0x010F, 0x0110, 0x0112, 0x0132
TAG_DATETIME_ORIGINAL, TAG_LENS_MODEL = 0x9003, 0xA434
FULL_DECODE_BUDGET = 256_000_000  # pixels decoded whole at once by all threads (~1 GB of RGBA)


SUPPORTED_EXTENSIONS = PILLOW_EXTENSIONS | AVIF_EXTENSIONS | HEIF_EXTENSIONS | RAW_EXTENSIONS


def file_hash(path: Path) -> str:
    """Content identity: BLAKE2b-128 of the bytes, fast enough to hash every new file."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def read_photo(path: Path) -> PhotoMetadata:
    """Metadata of a photo file; `UnreadablePhotoError` for anything that is not one."""
    with _one_line_reasons():
        return _read(Path(path))


@contextmanager
def _one_line_reasons() -> Iterator[None]:
    """Any failure to read a file becomes an `UnreadablePhotoError` with a short reason."""
    try:
        yield
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
    if path.stat().st_size == 0:
        raise UnreadablePhotoError("empty file (0 bytes)")
    ext = extension(path)
    needed = missing_package(ext)
    if needed:
        raise UnreadablePhotoError(f".{ext} files need {needed}")
    if ext in HEIF_EXTENSIONS:
        from photolib.media.formats import register_heif

        register_heif()
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


class _Source:
    """An opened photo: the image to decode (a RAW's preview), the EXIF that describes it, its format name."""

    def __init__(self, image: Any, exif: Any, format_name: str, raw: bool) -> None:
        self.image, self.exif, self.format, self.raw = image, exif, format_name, raw

    def __enter__(self) -> "_Source":
        return self

    def __exit__(self, *_: Any) -> None:
        self.image.close()


def _open_source(path: Path) -> _Source:
    """Every decode starts here, so every pixel user (colours, uploads, thumbnails, embeddings, OCR,
    faces) sees the same pixels: a RAW's embedded preview, the first frame or page of an animation
    or multi-page file, HEIC through pi-heif."""
    if extension(path) in RAW_EXTENSIONS:
        from photolib.media.formats import open_raw

        if path.stat().st_size == 0:
            raise UnreadablePhotoError("empty file (0 bytes)")
        image, exif, name = open_raw(path)
        return _Source(image, exif, name, raw=True)
    image = _open_image(path)
    return _Source(image, _safe_exif(image), image.format or "", raw=False)


def _read(path: Path) -> PhotoMetadata:
    with _open_source(path) as source:
        image = source.image
        width, height = image.size
        pixels = width * height
        limit = bomb_limit()
        if limit and pixels > limit:
            raise UnreadablePhotoError(f"decompression bomb: {pixels:,} pixels exceeds the safety limit")
        jpeg = image.format in JPEG_FORMATS
        exif = source.exif
        user, xmp_warning = _user_words(image)
        thumbnail = _camera_preview(image, exif, path) if jpeg and not source.raw else None
        if image.format == HEIF_FORMAT:
            thumbnail = _heif_preview(path)
        if thumbnail is None:
            if jpeg:
                image.draft("RGB", (256, 256))
            with _full_decodes.hold(pixels if not jpeg else 0):
                try:
                    image.load()
                except OSError as error:
                    raise UnreadablePhotoError(f"truncated or corrupt image data ({error})") from None
                thumbnail = _thumbnail(image)
                image.close()  # free the full-size pixels before another decode takes the budget
    orientation = _orientation(exif)
    rotated = orientation in (5, 6, 7, 8)
    metadata = PhotoMetadata(
        width=width, height=height, format=source.format, orientation=orientation,
        oriented_width=height if rotated else width, oriented_height=width if rotated else height,
        user=user, xmp_warning=xmp_warning, **_exif_fields(exif),
    )
    _colour_facts(thumbnail, metadata)
    metadata.phash = _perceptual_hash(thumbnail, orientation)
    return metadata


def decode_upright(path: Path, min_side: int | None = None, *, longest: int | None = None) -> Any:
    """The photo as an upright 8-bit RGB PIL image: the one decode every pixel user shares.

    A RAW gives its embedded preview, an animation its first frame, a multi-page
    TIFF its first page; 16-bit images are scaled (not clipped) to 8 bits, CMYK
    is converted through its ICC profile when it has one, transparency is laid
    on white, and the EXIF orientation is applied (HEIC comes upright from
    libheif). With `min_side`, a JPEG (or RAW preview) may be decoded at reduced
    size, never below `min_side` pixels on its shorter side; with `longest`, never
    below `longest` pixels on its longer side. Raises `UnreadablePhotoError` for
    anything that is not a readable photo.
    """
    path = Path(path)
    with _one_line_reasons(), _open_source(path) as source:
        image = source.image
        if (min_side or longest) and image.format == HEIF_FORMAT:
            from photolib.media.heif import embedded_thumbnail

            small = embedded_thumbnail(path, min_side, longest)  # upright: libheif turns it
            if small is not None:
                return to_rgb(small)
        if (min_side or longest) and image.format in JPEG_FORMATS:
            image.draft("RGB", _draft_box(image.size, min_side, longest))
        with _full_decodes.hold(0 if image.format in JPEG_FORMATS else image.width * image.height):
            image.load()
            rgb = to_rgb(image)
        orientation = _orientation(source.exif)
    return upright(rgb, orientation)


def _draft_box(size: tuple[int, int], min_side: int | None, longest: int | None) -> tuple[int, int]:
    """The smallest size a reduced JPEG decode may return: Pillow picks the largest DCT scale
    (1/2, 1/4, 1/8) whose result is at least this box on both sides."""
    width, height = size
    box = (min_side or 1, min_side or 1)
    if longest and max(width, height):
        scale = longest / max(width, height)
        box = (max(box[0], int(width * scale)), max(box[1], int(height * scale)))
    return box


TRANSPOSE_FOR_ORIENTATION = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
                             6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}


def upright(image: Any, orientation: int) -> Any:
    """`image` turned as EXIF `orientation` says (the same transposes as `ImageOps.exif_transpose`)."""
    from PIL import Image

    name = TRANSPOSE_FOR_ORIENTATION.get(orientation)
    return image.transpose(getattr(Image.Transpose, name)) if name else image


def reduced(image: Any, size: tuple[int, int]) -> Any:
    """`image` scaled down to `size` by area averaging: whole pixel blocks first, then each target
    pixel the mean of the source area it covers (Pillow's box filter; what OpenCV calls INTER_AREA).
    For a reduction that is what a bilinear or bicubic filter converges to, at about half the cost of
    Pillow's bilinear (its support widens with the scale): 2000 -> 1024 px costs ~16 ms, not ~30.
    Never scales up."""
    from PIL import Image

    width, height = size
    if width >= image.width and height >= image.height:
        return image
    factor = min(image.width // max(1, width), image.height // max(1, height))
    if factor >= 2:
        image = image.reduce(factor)
    return image.resize((width, height), Image.Resampling.BOX) if image.size != (width, height) else image


def reduced_by(image: Any, scale: float) -> Any:
    """`image` scaled down by `scale` on both sides (`reduced`); itself when `scale` is 1 or more."""
    if scale >= 1.0:
        return image
    return reduced(image, (max(1, round(image.width * scale)), max(1, round(image.height * scale))))


def to_rgb(image: Any) -> Any:
    """8-bit RGB of any Pillow mode, converted as a viewer would.

    Pillow's own `convert("RGB")` clips 16-bit greys (`I;16`) at 255, so those
    are scaled by 1/257 instead; CMYK goes through its embedded ICC profile
    when there is one (else Pillow's (1-C)(1-K) formula); alpha is composited
    over white rather than dropped (transparent pixels are often black).
    """
    from PIL import Image

    mode = image.mode
    if mode.startswith("I;16") or mode == "I" or mode == "F":
        import numpy as np

        values = np.asarray(image, dtype=np.float64)
        if mode == "F" and values.size and np.nanmax(values) <= 1.0:
            values = values * 255.0
        elif mode.startswith("I;16") or (values.size and values.max() > 255):
            values = values / 257.0
        grey = np.clip(np.nan_to_num(values) + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if "A" in mode or mode in ("P", "PA") and "transparency" in image.info or mode == "RGBa":
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")  # always a new image: the caller may close the decoded one


def _cmyk_to_rgb(image: Any) -> Any:
    profile = image.info.get("icc_profile")
    if profile:
        try:
            from PIL import ImageCms

            source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
        except Exception:  # noqa: BLE001 - a broken profile falls back to the plain formula
            pass
    return image.convert("RGB")


def _user_words(image: Any) -> tuple[Any, str | None]:
    """Keywords, caption, title, rating embedded by the user's other tools (XMP, IPTC)."""
    from photolib.media.xmp import read_embedded

    try:
        return read_embedded(image)
    except Exception as error:  # noqa: BLE001 - the user's words are extra: never cost the photo
        from photolib.core.records import UserMetadata

        return UserMetadata(), f"embedded metadata ignored ({type(error).__name__})"


def _perceptual_hash(thumbnail: Any, orientation: int) -> str | None:
    from photolib.media.phash import perceptual_hash

    try:
        return perceptual_hash(thumbnail, orientation)
    except Exception:  # noqa: BLE001 - a hash is a convenience, never a failed photo
        return None


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


def _heif_preview(path: Path) -> Any | None:
    """The thumbnail a HEIC carries (`photolib.media.heif`), reduced as `_thumbnail` does, or None."""
    from photolib.media.heif import embedded_thumbnail

    preview = embedded_thumbnail(path, longest=64)
    return _thumbnail(preview) if preview is not None else None


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

    frame = to_rgb(image)
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


def upright_image(path: Path, max_side: int) -> Any:
    """The decoded photo, upright, as 8-bit RGB, at most `max_side` pixels: the input of the pixel
    stages (OCR, faces). The same decode as every other pixel user (`decode_upright`: a RAW's
    preview, a first frame, 16-bit and CMYK converted); `UnreadablePhotoError` if it cannot be decoded."""
    from PIL import Image

    image = decode_upright(Path(path), longest=max_side)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR)
    return image


def encode_for_upload(path: Path, max_side: int = 1024) -> bytes:
    """A JPEG copy for a remote vision model: upright, at most `max_side` pixels, no metadata."""
    from PIL import Image

    picture = decode_upright(Path(path), max_side)
    picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def png_bytes(image: Any) -> bytes:
    """A generated image (encoded bytes of any format Pillow reads, or a PIL image) as PNG bytes.

    The one PNG writer: generators and `imagine` use it, so an answer that
    is not an image fails the same way everywhere.
    """
    from PIL import Image

    from photolib.core.errors import MalformedOutputError

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
