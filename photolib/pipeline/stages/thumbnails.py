"""The thumbnail stage: fills the thumbnail cache (`photolib.media.thumbnails`) from the engine's decode.

A worker process encodes the JPEGs from the decoded upright image the engine
makes once per file for every pixel stage (`EncodeThumbnails`); the stage
writes them into the cache folder as each batch is processed. The cache
folder is its store, the stage state records what was done. A copy of a
photo seen before finds its thumbnails already there (they are keyed by
content hash).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from photolib.media.thumbnails import QUALITY
from photolib.pipeline.stage import Outcome, PhotoWork, StageBase, StageContext

if TYPE_CHECKING:
    from photolib.media.thumbnails import ThumbnailCache


@dataclass(frozen=True)
class EncodeThumbnails:
    """The thumbnail stage's work on one photo, in a worker: JPEG bytes of each size."""

    sizes: tuple[int, ...]
    failure: ClassVar[str] = "cannot make thumbnails"

    def __call__(self, image: Any) -> dict[int, bytes]:
        from photolib.media.thumbnails import encode_sizes

        return encode_sizes(image, self.sizes)


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

    def pixel_job(self) -> EncodeThumbnails:
        return EncodeThumbnails(tuple(self.cache.sizes))

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        outcomes = []
        for item in work:
            digest = item.photo.data.get("hash")
            if not digest:
                outcomes.append(Outcome(item.photo.id, error="no content hash yet"))
                continue
            try:
                if not self.cache.has(digest):  # a copy of a photo seen before: already there
                    self.cache.write(digest, item.made[self.name])
            except OSError as error:
                outcomes.append(Outcome(item.photo.id, error=f"cannot write thumbnail: {error.strerror or error}"))
                continue
            outcomes.append(Outcome(item.photo.id))
        return outcomes

    def store(self, catalog: Any, outcomes: list[Outcome]) -> None:
        """Nothing to add to the catalog: the files are written by `process`."""
