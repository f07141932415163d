"""The thumbnail cache: small upright JPEGs of every photo, keyed by content hash.

Two sizes per photo: `small` (256 px, for tables, grids and terminal
previews) and `large` (at most 1024 px, for a photo's own page). They live in
the library's `thumbnails/` folder as `<hash[:2]>/<hash>-<size>.jpg`, so a
moved, renamed or copied file finds its thumbnails without any work, and a
file whose bytes change gets new ones.

Writes are atomic (a temporary file in the same folder, then a rename), so a
crash leaves either the whole thumbnail or none; an empty file (what a power
cut can leave behind a rename) counts as missing and is made again. The cache
is derived data: `prune`/`remove` drop thumbnails no photo uses, and a
missing one is rebuilt from the original whenever a page or a preview needs
it (`ThumbnailCache.ensure`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from photolib.core.files import atomic_write
from photolib.core.layout import THUMBNAIL_FOLDER  # noqa: F401 - re-exported: where the cache lives in a library

if TYPE_CHECKING:
    from PIL import Image

SMALL, LARGE = 256, 1024
QUALITY = 80
SUFFIX = ".jpg"
TEMP_PREFIX = ".tmp-"


@dataclass
class CacheUsage:
    files: int
    bytes: int
    hashes: int

    def as_dict(self) -> dict[str, int]:
        return {"files": self.files, "bytes": self.bytes, "photos": self.hashes}


class ThumbnailCache:
    """Thumbnails of a library, one folder, keyed by content hash; safe to share between threads."""

    def __init__(self, folder: Path, small: int = SMALL, large: int = LARGE) -> None:
        self.folder = Path(folder)
        self.small = small
        self.large = large  # 0: no large thumbnails

    @property
    def sizes(self) -> tuple[int, ...]:
        return (self.small, self.large) if self.large else (self.small,)

    def path(self, digest: str, size: int | None = None) -> Path:
        """Where the thumbnail of `digest` at `size` (default: small) is, whether it exists or not."""
        return self.folder / digest[:2] / f"{digest}-{size or self.small}{SUFFIX}"

    def has(self, digest: str | None) -> bool:
        if not digest:
            return False
        for size in self.sizes:
            try:
                if self.path(digest, size).stat().st_size == 0:
                    return False
            except OSError:
                return False
        return True

    def make_from_image(self, digest: str, image: "Image.Image") -> None:
        """Write every size from an upright RGB image (the caller's image is not changed)."""
        self.write(digest, encode_sizes(image, self.sizes))

    def write(self, digest: str, encoded: dict[int, bytes]) -> None:
        """Write thumbnails made by `encode_sizes` (size -> JPEG bytes)."""
        for size, data in encoded.items():
            self._write(self.path(digest, size), data)

    def make_from_file(self, digest: str, path: Path) -> None:
        """Decode `path` (at a reduced scale when the format allows), upright, and write every size."""
        self.make_from_image(digest, decode_upright(Path(path), longest=max(self.sizes)))

    def ensure(self, digest: str | None, path: str | Path) -> bool:
        """Make the thumbnails of a photo if they are missing; False when its file cannot be read."""
        if not digest:
            return False
        if self.has(digest):
            return True
        try:
            self.make_from_file(digest, Path(path))
        except Exception:  # noqa: BLE001 - an unreadable original only means no thumbnail
            return False
        return True

    def _write(self, target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(target, data, fsync=False, file_mode=0o600, prefix=TEMP_PREFIX, suffix=SUFFIX)

    # -- upkeep -----------------------------------------------------------------

    def _files(self) -> Iterator[Path]:
        if not self.folder.is_dir():
            return
        for shard in self.folder.iterdir():
            if shard.is_dir():
                yield from shard.iterdir()

    def drop(self, digests: Iterable[str]) -> int:
        """Delete the thumbnails of these hashes; returns the files removed."""
        removed = 0
        for digest in set(digests):
            if not digest:
                continue
            for size in self.sizes:
                try:
                    self.path(digest, size).unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed

    def drop_unused(self, in_use: set[str]) -> int:
        """Delete every thumbnail whose hash no photo has, and temporary files left by a crash."""
        removed = 0
        for file in list(self._files()):
            digest = file.name.split("-", 1)[0]
            if file.name.startswith(TEMP_PREFIX) or digest not in in_use:
                file.unlink(missing_ok=True)
                removed += 1
        return removed

    def usage(self) -> CacheUsage:
        files = size = 0
        hashes = set()
        for file in self._files():
            if file.name.startswith(TEMP_PREFIX):
                continue
            try:
                size += file.stat().st_size
            except OSError:
                continue
            files += 1
            hashes.add(file.name.split("-", 1)[0])
        return CacheUsage(files, size, len(hashes))


def encode_sizes(image: "Image.Image", sizes: Iterable[int]) -> dict[int, bytes]:
    """JPEG bytes of an upright RGB image at each size (longest side), each made from the next larger one
    (by area averaging: `photolib.media.read.reduced`)."""
    from photolib.media.read import reduced_by

    frame, encoded = image, {}
    for size in sorted(sizes, reverse=True):  # each size from the previous one: cheaper
        frame = reduced_by(frame, size / max(frame.size))
        buffer = io.BytesIO()
        frame.save(buffer, format="JPEG", quality=QUALITY)
        encoded[size] = buffer.getvalue()
    return encoded


def decode_upright(path: Path, longest: int) -> "Image.Image":
    """The photo as an upright RGB image whose longest side is at least ~3/4 of `longest`.

    The one decode every pixel user shares (`media.decode_upright`: a RAW's
    embedded preview, an animation's first frame, 16-bit and CMYK converted as
    a viewer would). JPEGs are decoded at the smallest DCT scale (1/2, 1/4, 1/8)
    that keeps that much; a 12 MP frame is decoded at 1/4 (1000 px), four times
    cheaper than at 1/2. Other formats are decoded whole within the shared pixel budget.
    """
    from photolib.media import read as media

    return media.decode_upright(Path(path), longest=max(1, longest * 3 // 4))
