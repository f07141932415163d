"""The thumbnail stage: fills the thumbnail cache (`photolib.media.thumbnails`) from the engine's decode.

It gets the decoded upright image the engine makes once per file for every
pixel stage and writes the cache's files; the cache folder is its store, the
stage state records what was done. A copy of a photo seen before finds its
thumbnails already there (they are keyed by content hash).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from photolib.media.thumbnails import QUALITY
from photolib.pipeline.stage import Outcome, PhotoWork, StageBase, StageContext

if TYPE_CHECKING:
    from photolib.media.thumbnails import ThumbnailCache


class ThumbnailStage(StageBase):
    """Upright JPEG thumbnails of every size the cache keeps, written as files."""

    name = "thumbnails"
    label = "Thumbnails"
    config_section = "thumbnails"
    needs_pixels = True

    def __init__(self, cache: "ThumbnailCache") -> None:
        self.cache = cache
        self.model = f"jpeg-q{QUALITY}-{'-'.join(map(str, cache.sizes))}"
        self.min_side = max(cache.sizes) * 3 // 4  # type: ignore[misc] # the short side of a 4:3 frame at the largest size

    @classmethod
    def build(cls, context: StageContext) -> "ThumbnailStage | None":
        """None when `[thumbnails] enabled` is false (or the library keeps no cache)."""
        if not context.settings.thumbnails_enabled or context.thumbnails is None:
            return None
        return cls(context.thumbnails())

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        outcomes = []
        for item in work:
            digest = item.photo.data.get("hash")
            if not digest:
                outcomes.append(Outcome(item.photo.id, error="no content hash yet"))
                continue
            try:
                if not self.cache.has(digest):  # a copy of a photo seen before: already there
                    self.cache.make_from_image(digest, item.image)
            except OSError as error:
                outcomes.append(Outcome(item.photo.id, error=f"cannot write thumbnail: {error.strerror or error}"))
                continue
            outcomes.append(Outcome(item.photo.id))
        return outcomes

    def store(self, catalog: Any, outcomes: list[Outcome]) -> None:
        """Nothing to add to the catalog: the files are written by `process`."""
