"""What a query term is beyond a word: a weight (`2:word`) and an image (a path to a photo file).

rclip lets a query mix weighted text and images, `"2:golden retriever" + ./pool.jpg - fruit`;
photolib's query language does the same within one query string:

* `2:word`, `0.5:"a phrase"`, `2:./pool.jpg`: a number and a colon before a term weight its
  vector (default 1); a weighted free word is a `+` term of that weight;
* a term that is a path to an image file is an image term: it contains a path separator
  (`./pool.jpg`, `~/Pictures/dog.heic`, `/srv/photos/x.png`, `trips/lisbon/1.jpg`) or starts
  with `~`, and ends with a photo file extension; a quoted one may hold spaces. An image
  term is embedded by what it shows (its pixels in the image space, its description in the
  description space), so `beach + ./pool.jpg - ./crowd.jpg` means "beaches like this pool,
  unlike that crowd". Whether the file exists is checked when the query is run, not here.

These are lexical rules only: the parser stays testable as a table of strings.
"""

from __future__ import annotations

import os
import re

from photolib.media.formats import AVIF_EXTENSIONS, HEIF_EXTENSIONS, PILLOW_EXTENSIONS, RAW_EXTENSIONS

IMAGE_EXTENSIONS = PILLOW_EXTENSIONS | AVIF_EXTENSIONS | HEIF_EXTENSIONS | RAW_EXTENSIONS
MAX_WEIGHT = 100.0
_WEIGHT = re.compile(r"(\d+(?:\.\d+)?|\.\d+):")


def split_weight(text: str) -> tuple[float | None, str]:
    """`"2:dog"` -> (2.0, "dog"); `"dog"` -> (None, "dog"). The weight is a plain number and what
    follows it is not a number or a space (so "10:30" stays a time)."""
    match = _WEIGHT.match(text)
    if not match or match.end() == len(text):
        return None, text
    rest = text[match.end():]
    if rest[0].isspace() or rest[0].isdigit():
        return None, text
    return float(match.group(1)), rest


def is_image_path(text: str) -> bool:
    """Whether a term names an image file (see the module doc): lexical, nothing is opened."""
    text = text.strip()
    if not text or "\n" in text:
        return False
    _stem, dot, extension = text.rpartition(".")
    if not dot or extension.lower() not in IMAGE_EXTENSIONS:
        return False
    return "/" in text or (os.sep != "/" and os.sep in text) or text.startswith("~")
