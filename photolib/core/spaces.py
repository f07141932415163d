"""Vector spaces: the named sets of vectors a library holds side by side.

`description` is made by the text embedder over each photo's tags, caption
and description (its input hash is the hash of that text); `image` by an
image-text model over the pixels (its input hash is the file's content hash),
whose text tower embeds queries into the same space. Each space has its own
index under `index/<space>/` and its own calibrated thresholds: text-to-text
and text-to-image similarities live in different ranges (see README,
"Distances").
"""

from __future__ import annotations

from enum import StrEnum


class Space(StrEnum):
    DESCRIPTION = "description"
    IMAGE = "image"


SPACES = tuple(Space)
