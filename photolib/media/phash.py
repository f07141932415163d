"""Perceptual hashes: 64 bits that stay nearly the same when a photo is resized,
recompressed, slightly cropped or rotated, so near copies are found by
comparing bits instead of pixels.

The hash is the classic DCT hash (pHash): the upright photo in grey at 32x32,
its 8x8 lowest frequencies, one bit per coefficient above their median. It is
computed from the small thumbnail `media.read_photo` already makes, so it costs
well under a millisecond per photo.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

HASH_BITS = 64
SIDE = 32
LOW = 8

# EXIF orientation -> the PIL transpose that makes the photo upright (as ImageOps.exif_transpose does).
_UPRIGHT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
            6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}


@lru_cache(maxsize=1)
def _dct_matrix() -> Any:
    import numpy as np

    n = np.arange(SIDE)
    matrix = np.cos(np.pi * (2 * n[None, :] + 1) * n[:, None] / (2 * SIDE))
    matrix[0] *= 1 / np.sqrt(2)
    return (matrix * np.sqrt(2 / SIDE)).astype(np.float64)


def perceptual_hash(thumbnail: Any, orientation: int = 1) -> str:
    """16 hex digits of the upright photo's DCT hash."""
    import numpy as np
    from PIL import Image

    frame = thumbnail
    if orientation in _UPRIGHT:
        frame = frame.transpose(getattr(Image.Transpose, _UPRIGHT[orientation]))
    grey = np.asarray(frame.convert("L").resize((SIDE, SIDE), Image.Resampling.BILINEAR), dtype=np.float64)
    dct = _dct_matrix() @ grey @ _dct_matrix().T
    low = dct[:LOW, :LOW].flatten()
    bits = low > np.median(low[1:])
    return f"{int(''.join('1' if b else '0' for b in bits), 2):016x}"


def hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def as_codes(hashes: list[str]) -> Any:
    """(n, 8) uint8 codes for FAISS binary indexes, big-endian like the hex digits."""
    import numpy as np

    return np.frombuffer(b"".join(bytes.fromhex(h) for h in hashes), dtype=np.uint8).reshape(len(hashes), 8)
