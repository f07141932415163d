"""The image stage: embeds each photo's pixels into the `image` vector space.

The model is the configured `ImageEmbedder` (local CLIP-family models on ONNX
Runtime, `photolib.models.clip`, or the same models on Immich machine-learning
servers with `[image] url`: `photolib.pipeline.pixel_model` says how their
answers become states); without one the stage is not enabled and photolib
works on descriptions alone. It runs ahead of the other pixel stages
(`runs_ahead`): every photo is searchable by its pixels before thumbnails,
OCR and faces go over the library; a local model runs in the engine's worker
processes, one photo per core. Vectors are stored with the
model's name and the file's content hash, so a changed file or a new model
puts the photo back in this stage's backlog, and nothing else is redone.
When the model changes, the vectors of the old model are dropped as soon as
the new one stores its first batch: a space never mixes two models.

Labels: the concepts of the shipped vocabulary that stand clearly above the
rest for a photo (`photolib.models.labels`) become tags of the photo, remembered in
`photos.image_labels` as coming from the image model, and, when descriptions
are made locally, the first words of its caption ("Cat. Landscape photo...").
So exact-word search, the description space and album names use them. A
described photo whose text changed this way is re-embedded in the
description space in the same commit; a photo not yet described gets them
when the first pass describes it (`with_labels`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photolib.core.records import Description, text_hash
from photolib.core.spaces import Space
from photolib.pipeline.pixel_model import PixelModelStage
from photolib.pipeline.stage import Outcome, PhotoWork, StageContext

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog

MIN_SIDE = 384  # shortest side decoded for a model whose input size is not known (CLIP takes 224, SigLIP up to 384)


@dataclass
class ImageResult:
    """What the image stage made of one photo."""

    content_hash: str | None
    vector: Any
    labels: list[str]
    description: Description | None = None  # the photo's description with the labels, when it changed
    text_hash: str | None = None
    text_vector: Any = None


class ImageStage(PixelModelStage):
    """Pixels -> unit vector of the image space and labels, one batch through the model at a time."""

    name = "image"
    label = "Image embedding"
    config_section = "image"
    needs_pixels = True
    min_side = MIN_SIDE
    runs_ahead = True
    pixel_call = "embed_each"

    def __init__(self, embedder: Any, text_embedder: Any = None, cache_dir: Path | None = None,
                 label_captions: bool = True, catalog: "Catalog | None" = None, photo_words: bool = False) -> None:
        self.embedder = self.pixel_model = embedder  # local, or on Immich ML servers ([image] url)
        self.text_embedder = text_embedder
        self.catalog = catalog  # read for the user's words and words in photos embedded with the description
        self.photo_words = photo_words
        self.cache_dir = cache_dir  # of the embedded label vocabulary; None: the machine's (every library shares it)
        self.label_captions = label_captions
        self.model = embedder.model_name
        self.min_side = embedder.input_side or MIN_SIDE  # type: ignore[misc] # a 12 MP JPEG at 1/8 for CLIP's 224
        self._checked_models = False

    @classmethod
    def build(cls, context: StageContext) -> "ImageStage | None":
        """None when no image model is installed, or `[image] enabled` is false (no embedder then)."""
        embedder = context.image_embedder()
        if embedder is None:
            return None
        local = context.settings.vision.provider == "local"
        return cls(embedder, context.text_embedder(), label_captions=local,
                   catalog=context.catalog, photo_words=context.settings.embedding.provider == "local")

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        import numpy as np

        from photolib.models.labels import labels_for

        outcomes = self.outcomes(work, self.embedder.embed_each)
        done = {o.photo_id: o.value for o in outcomes if o.error is None}
        failed = [o for o in outcomes if o.error is not None]
        work = [item for item in work if item.photo.id in done]  # the others failed, or wait for a server
        if not work:
            return failed
        matrix = np.vstack([done[item.photo.id] for item in work]).astype(np.float32)
        labels = labels_for(self.embedder, matrix, self.cache_dir)
        results = [ImageResult(item.photo.data.get("hash"), matrix[row], labels[row]) for row, item in enumerate(work)]
        relabelled = []
        for item, result in zip(work, results):
            if item.photo.data.get("vision_model") and result.labels != _stored_labels(item.photo.data):
                result.description = relabel(item.photo.data, result.labels, self.label_captions)
                relabelled.append(result)
        if relabelled and self.text_embedder is not None:
            texts = self._texts({item.photo.id: result for item, result in zip(work, results)
                                 if result.description is not None})
            vectors = np.asarray(self.text_embedder.embed_documents(texts), dtype=np.float32)
            for result, text, vector in zip(relabelled, texts, vectors):
                result.text_hash, result.text_vector = text_hash(text), vector
        return failed + [Outcome(item.photo.id, value=result) for item, result in zip(work, results)]

    def _texts(self, relabelled: dict[int, ImageResult]) -> list[str]:
        """What the description space embeds for each relabelled photo, by the first pass's rule."""
        if self.catalog is None:
            return [result.description.embedding_text() for result in relabelled.values()]
        from photolib.pipeline.description_text import texts_to_embed

        texts = texts_to_embed(self.catalog, {pid: r.description for pid, r in relabelled.items()}, self.photo_words)
        return [texts[pid] for pid in relabelled]

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> None:
        if not self._checked_models:
            bounds = catalog.embedding_model_bounds(Space.IMAGE)
            if bounds is not None and {bounds[0][0], bounds[1][0]} != {self.model}:
                keep = catalog.ids_of_model(Space.IMAGE, self.model)
                catalog.delete_embeddings([pid for pid in catalog.embedded_ids(Space.IMAGE) if pid not in keep],
                                          Space.IMAGE)
            self._checked_models = True
        results = [(o.photo_id, o.value) for o in outcomes]
        catalog.store_vectors(Space.IMAGE, [
            (pid, self.model, r.content_hash, r.vector.astype("float32").tobytes(), int(r.vector.shape[0]))
            for pid, r in results])
        for pid, r in results:
            fields: dict[str, Any] = {"image_labels": json.dumps(r.labels, ensure_ascii=False)}
            if r.description is not None:
                fields.update(tags=json.dumps(r.description.tags, ensure_ascii=False), caption=r.description.caption)
            catalog.update_file(pid, **fields)
        text_model = getattr(self.text_embedder, "model_name", None)
        rows = [(pid, text_model, r.text_hash, r.text_vector.astype("float32").tobytes(), int(r.text_vector.shape[0]))
                for pid, r in results if r.text_vector is not None]
        stored = catalog.embedding_model_bounds(Space.DESCRIPTION)
        if rows and (stored is None or stored[0][0] == text_model):  # never mix models in the description space
            catalog.store_vectors(Space.DESCRIPTION, rows)


def _stored_labels(data: dict[str, Any]) -> list[str]:
    try:
        return list(json.loads(data.get("image_labels") or "[]"))
    except ValueError:
        return []


def relabel(data: dict[str, Any], labels: list[str], label_caption: bool) -> Description:
    """The photo's stored description with its old image labels replaced by `labels`."""
    old = _stored_labels(data)
    tags = data.get("tags")
    tags = json.loads(tags) if isinstance(tags, str) else list(tags or [])
    caption = data.get("caption") or ""
    prefix = _caption_prefix(old)
    if old and prefix and caption.startswith(prefix):
        caption = caption[len(prefix):]
    base = Description([t for t in tags if t not in old], caption, data.get("description") or "")
    return with_labels(base, labels, label_caption)


def with_labels(description: Description, labels: list[str], label_caption: bool) -> Description:
    """A description with image labels as its first tags and (for local descriptions) its caption's first words."""
    if not labels:
        return description
    tags = list(labels) + [t for t in description.tags if t not in labels]
    caption = _caption_prefix(labels) + description.caption if label_caption else description.caption
    return Description(tags, caption, description.description)


def _caption_prefix(labels: list[str]) -> str:
    return (", ".join(labels).capitalize() + ". ") if labels else ""

