"""Raw EXIF blocks with any tag, type and value, including the wrong ones cameras and editors write.

Pillow's writer coerces each known tag to its standard type, so a DateTime stored as a number or an
Orientation stored as text cannot be made with it; this writes the TIFF structure directly.
"""

from __future__ import annotations

import struct
from typing import Any

TYPES = {"BYTE": 1, "ASCII": 2, "SHORT": 3, "LONG": 4, "RATIONAL": 5, "UNDEFINED": 7, "SRATIONAL": 10, "DOUBLE": 12}
EXIF_POINTER, GPS_POINTER = 0x8769, 0x8825


def _payload(kind: str, value: Any) -> tuple[int, bytes]:
    """(count, bytes) of one value."""
    if kind == "ASCII":
        data = (value.encode("utf-8") if isinstance(value, str) else bytes(value)) + b"\0"
        return len(data), data
    if kind in ("BYTE", "UNDEFINED"):
        return len(value), bytes(value)
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if kind in ("RATIONAL", "SRATIONAL"):
        code = "<II" if kind == "RATIONAL" else "<ii"
        return len(values), b"".join(struct.pack(code, *pair) for pair in values)
    code = {"SHORT": "<H", "LONG": "<I", "DOUBLE": "<d"}[kind]
    return len(values), b"".join(struct.pack(code, v) for v in values)


def exif_bytes(ifd0: list[tuple[int, str, Any]], exif: list[tuple[int, str, Any]] = (),
               gps: list[tuple[int, str, Any]] = ()) -> bytes:
    """An `Exif\\0\\0` block (as Pillow's `save(exif=...)` takes) of IFD0 plus optional EXIF and GPS IFDs.

    Entries are (tag, type name, value); the pointers to the EXIF and GPS IFDs are added as needed.
    """
    ifds = [list(ifd0)]
    if exif:
        ifds.append(list(exif))
    if gps:
        ifds.append(list(gps))
    sizes = [2 + 12 * (len(entries) + (1 if n == 0 else 0) * (bool(exif) + bool(gps))) + 4
             for n, entries in enumerate(ifds)]
    offsets = [8]
    for size in sizes[:-1]:
        offsets.append(offsets[-1] + size)
    data_at = offsets[-1] + sizes[-1]
    pointers = []
    if exif:
        pointers.append((EXIF_POINTER, "LONG", offsets[1]))
    if gps:
        pointers.append((GPS_POINTER, "LONG", offsets[1 + bool(exif)]))
    ifds[0] = ifds[0] + pointers
    blocks, data = [], bytearray()
    for entries in ifds:
        block = bytearray(struct.pack("<H", len(entries)))
        for tag, kind, value in sorted(entries, key=lambda entry: entry[0]):
            count, payload = _payload(kind, value)
            if len(payload) <= 4:
                field = payload.ljust(4, b"\0")
            else:
                field = struct.pack("<I", data_at + len(data))
                data += payload + (b"\0" if len(payload) % 2 else b"")
            block += struct.pack("<HHI", tag, TYPES[kind], count) + field
        block += struct.pack("<I", 0)
        blocks.append(bytes(block))
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + b"".join(blocks) + bytes(data)
