"""The thumbnail a HEIC/HEIF file carries, decoded instead of the whole photo where it is large enough.

A phone's HEIC holds, beside the photo (a grid of HEVC tiles, ~0.3-0.5 s of
decoding for 12 MP), a small HEVC-coded thumbnail (320x240 on iPhones),
linked to the photo by a `thmb` reference. What sees a photo at that size
(the first pass's colour and perceptual-hash thumbnail, 64 px; the image
model, 224 px) can decode that instead, in a few milliseconds, as the JPEG
path uses the EXIF preview.

pi-heif (the decode-only libheif binding photolib uses) lists a file's
thumbnail sizes but cannot decode one. libheif decodes whatever item the
file names primary, so `embedded_thumbnail` reads the file's boxes (ISO BMFF:
`meta` > `pitm`, `iref`, `iprp`), picks the smallest thumbnail of the primary
image that is large enough, and hands libheif a copy of the file's bytes in
which `pitm` names that thumbnail and its `thmb` reference is renamed to a
type libheif ignores (the same lengths: nothing else moves). libheif applies
the thumbnail's own rotation and mirroring, so it comes upright. Anything
unexpected (a cut-short file, a box that does not add up, no thumbnail) gives
None: the caller decodes the photo as before, and reports what is wrong with it.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any, Iterator

IGNORED_REFERENCE = b"xthm"  # what a used `thmb` reference becomes: a type libheif does not know


class _Malformed(Exception):
    """The file's boxes do not add up: decode the photo itself."""


def embedded_thumbnail(path: Path, min_side: int | None = None, longest: int | None = None) -> Any | None:
    """The smallest thumbnail of the HEIC/HEIF at `path` whose shorter side is at least `min_side` and
    longer side at least `longest` (either may be None), as a PIL image, upright; or None."""
    try:
        data = Path(path).read_bytes()
        chosen = _choose(data, min_side or 1, longest or 1)
        if chosen is None:
            return None
        from PIL import Image

        from photolib.media.formats import register_heif

        register_heif()
        image = Image.open(io.BytesIO(_as_primary(data, *chosen)))
        image.load()
        return image
    except Exception:  # noqa: BLE001 - a thumbnail that cannot be had only means the full decode
        return None


def _choose(data: bytes, min_side: int, longest: int) -> tuple[int, dict[str, tuple[int, int, int]], int] | None:
    """(thumbnail item id, the `meta` box's children, offset of its `thmb` reference) or None."""
    top = {kind: span for kind, *span in _boxes(data, 0, len(data))}  # walks every box: a cut file fails here
    if "meta" not in top:
        return None
    start, end, _at = top["meta"]
    meta = {kind: span for kind, *span in _boxes(data, start + 4, end)}  # a full box: version and flags first
    if not {"pitm", "iref", "iprp"} <= meta.keys():
        return None
    primary = _item_id(data, meta["pitm"][0] + 4, data[meta["pitm"][0]])
    candidates = []
    sizes = _sizes(data, meta["iprp"])
    for kind, item, targets, at in _references(data, meta["iref"]):
        if kind == b"thmb" and primary in targets and item in sizes:
            width, height = sizes[item]
            if min(width, height) >= min_side and max(width, height) >= longest:
                candidates.append((width * height, item, at))
    if not candidates:
        return None
    _pixels, item, at = min(candidates)
    return item, meta, at


def _as_primary(data: bytes, item: int, meta: dict[str, tuple[int, int, int]], reference_at: int) -> bytes:
    """The file's bytes with `pitm` naming `item` and its `thmb` reference renamed."""
    patched = bytearray(data)
    start = meta["pitm"][0]
    width = 2 if data[start] == 0 else 4
    if item >= 1 << (8 * width):
        raise _Malformed("the thumbnail's id does not fit in pitm")
    patched[start + 4:start + 4 + width] = item.to_bytes(width, "big")
    patched[reference_at + 4:reference_at + 8] = IGNORED_REFERENCE
    return bytes(patched)


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[str, int, int, int]]:
    """(type, payload start, box end, box start) of each box in data[start:end]."""
    at = start
    while at < end:
        if at + 8 > end:
            raise _Malformed("a box header runs past its parent")
        size, kind = struct.unpack(">I4s", data[at:at + 8])
        header = 8
        if size == 1:
            if at + 16 > end:
                raise _Malformed("a box header runs past its parent")
            size, header = struct.unpack(">Q", data[at + 8:at + 16])[0], 16
        elif size == 0:
            size = end - at
        if size < header or at + size > end:
            raise _Malformed(f"box {kind!r} runs past its parent (the file may be cut short)")
        yield kind.decode("latin-1"), at + header, at + size, at
        at += size


def _item_id(data: bytes, at: int, version: int) -> int:
    width = 2 if version == 0 else 4
    return int.from_bytes(data[at:at + width], "big")


def _references(data: bytes, iref: tuple[int, int, int]) -> Iterator[tuple[bytes, int, list[int], int]]:
    """(type, from item, to items, box start) of each reference in `iref`."""
    start, end, _at = iref
    version = data[start]
    width = 2 if version == 0 else 4
    for kind, payload, box_end, at in _boxes(data, start + 4, end):
        if payload + width + 2 > box_end:
            raise _Malformed("a short reference")
        item = _item_id(data, payload, version)
        count = int.from_bytes(data[payload + width:payload + width + 2], "big")
        first = payload + width + 2
        if first + count * width > box_end:
            raise _Malformed("a short reference")
        targets = [_item_id(data, first + index * width, version) for index in range(count)]
        yield kind.encode("latin-1"), item, targets, at


def _sizes(data: bytes, iprp: tuple[int, int, int]) -> dict[int, tuple[int, int]]:
    """Each item's width and height (its `ispe` property) from `iprp` (`ipco` properties, `ipma` links)."""
    start, end, _at = iprp
    parts = {kind: span for kind, *span in _boxes(data, start, end)}
    if "ipco" not in parts or "ipma" not in parts:
        return {}
    properties = [(kind, payload, box_end) for kind, payload, box_end, _at in _boxes(data, *parts["ipco"][:2])]
    payload, box_end, _at = parts["ipma"]
    version, flags = data[payload], int.from_bytes(data[payload + 1:payload + 4], "big")
    at = payload + 4
    count = int.from_bytes(data[at:at + 4], "big")
    at += 4
    sizes = {}
    for _ in range(count):
        width = 2 if version < 1 else 4
        item = int.from_bytes(data[at:at + width], "big")
        at += width
        links = data[at]
        at += 1
        for _ in range(links):
            if flags & 1:
                index = int.from_bytes(data[at:at + 2], "big") & 0x7FFF
                at += 2
            else:
                index = data[at] & 0x7F
                at += 1
            if 0 < index <= len(properties) and properties[index - 1][0] == "ispe":
                _kind, first, last = properties[index - 1]
                if first + 12 <= last:
                    sizes[item] = struct.unpack(">II", data[first + 4:first + 12])  # after version and flags
        if at > box_end:
            raise _Malformed("ipma runs past its box")
    return sizes
