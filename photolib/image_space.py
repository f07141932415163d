"""The image stage: embeds each photo's pixels into the `image` vector space.

The model is the configured `ImageEmbedder` (local CLIP-family models on ONNX
Runtime, `photolib.providers.clip`); without one installed the stage is not
enabled and photolib works on descriptions alone. Vectors are stored with the
model's name and the file's content hash, so a changed file or a new model
puts the photo back in this stage's backlog, and nothing else is redone.
When the model changes, the vectors of the old model are dropped as soon as
the new one stores its first batch: a space never mixes two models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from photolib.errors import ProviderError
from photolib.spaces import Space
from photolib.stages import Outcome, PhotoWork, StageName

if TYPE_CHECKING:
    from photolib.catalog import Catalog
    from photolib.stages import StageContext

MIN_SIDE = 384  # shortest side decoded for the model (CLIP takes 224, SigLIP up to 384; it resizes itself)


class ImageStage:
    """Pixels -> unit vector of the image space, one batch through the model at a time."""

    name = StageName.IMAGE
    needs_pixels = True
    min_side = MIN_SIDE

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.model = embedder.model_name
        self._checked_models = False

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        import numpy as np

        matrix = np.asarray(self.embedder.embed_images([item.image for item in work]), dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != len(work) or not np.isfinite(matrix).all():
            raise ProviderError(f"the image model {self.model} returned unusable vectors")
        return [Outcome(item.photo.id, value=(item.photo.data.get("hash"), matrix[row]))
                for row, item in enumerate(work)]

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> None:
        if not self._checked_models:
            bounds = catalog.embedding_model_bounds(Space.IMAGE)
            if bounds is not None and {bounds[0][0], bounds[1][0]} != {self.model}:
                catalog.delete_embeddings(
                    [pid for pid in catalog.embedded_ids(Space.IMAGE)
                     if pid not in _ids_of_model(catalog, self.model)], Space.IMAGE)
            self._checked_models = True
        catalog.store_vectors(Space.IMAGE, [
            (o.photo_id, self.model, o.value[0], o.value[1].astype("float32").tobytes(), int(o.value[1].shape[0]))
            for o in outcomes])


def _ids_of_model(catalog: "Catalog", model: str) -> set[int]:
    return {row[0] for row in catalog.db.execute(
        "SELECT photo_id FROM embeddings WHERE space = ? AND model = ?", [str(Space.IMAGE), model])}


def make_stage(context: "StageContext") -> ImageStage | None:
    embedder = context.image_embedder()
    return ImageStage(embedder) if embedder is not None else None
