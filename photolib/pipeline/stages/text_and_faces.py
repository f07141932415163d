"""The OCR and face stages of the enrichment pipeline (`photolib.pipeline.engine`).

A photo is searchable by its description first; these stages make it better
later, in the same `add` run or in `photolib enrich`. The pipeline keeps
their per-photo state (done / failed with a reason / pending, and the model
that did it), commits each batch in one transaction, shows one progress line
per stage, and hands them the image it decoded once for every pixel stage.
What they find lives in their own tables (`catalog_text`, `catalog_faces`).

When the OCR stage finds words in a photo whose description is embedded by
the local embedder, the photo is embedded again with its words, in the same
commit, so a search for "invoice" finds the scanned receipt by meaning as
well as by word. Face data is never sent anywhere, whatever providers are
configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from photolib.core.errors import PhotolibError
from photolib.pipeline.engine import Outcome, PhotoWork, StageName

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog
    from photolib.pipeline.engine import StageContext

OCR_MIN_SIDE = 1500  # shortest side decoded for OCR (its text crops are cut from a copy of 2000 px at most)
FACES_MIN_SIDE = 1200  # shortest side decoded for faces (looked for in a copy of 1600 px at most)


class OcrStage:
    """Pixels -> the confident text of the photo, with its boxes (`photolib.models.ocr`)."""

    name = StageName.OCR
    needs_pixels = True
    min_side = OCR_MIN_SIDE

    def __init__(self, min_confidence: float, embedder: Any = None) -> None:
        from photolib.models import ocr

        self.min_confidence = min_confidence
        self.embedder = embedder  # the local description embedder, which sees the words; None for a remote one
        self.model = ocr.model_name()

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        from photolib.models import ocr

        return [_each(item, lambda image: ocr.read_text(image, self.min_confidence), "OCR failed") for item in work]

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int]:
        from photolib.store.text import TextStore

        store = TextStore(catalog)
        for outcome in outcomes:
            store.store(outcome.photo_id, self.model, outcome.value, self.min_confidence)
        with_text = [o.photo_id for o in outcomes if o.value.boxes]
        if self.embedder is not None:
            embed_with_text(catalog, self.embedder, with_text)
        return {"found": len(with_text)}


class FaceStage:
    """Pixels -> faces (box, score, descriptor), grouped into people as each batch is stored."""

    name = StageName.FACES
    needs_pixels = True
    min_side = FACES_MIN_SIDE

    def __init__(self, min_score: float, threshold: float) -> None:
        from photolib.models import faces

        self.min_score = min_score
        self.threshold = threshold
        self.model = faces.DETECTOR

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        from photolib.models import faces

        return [_each(item, lambda image: faces.find_faces(image, self.min_score), "face detection failed")
                for item in work]

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int]:
        from photolib.models.people import group
        from photolib.store.faces import FaceStore

        store = FaceStore(catalog)
        for outcome in outcomes:
            store.store(outcome.photo_id, self.model, outcome.value)
        store.group_new_faces(self.threshold, group)
        return {"found": sum(1 for o in outcomes if o.value), "faces": sum(len(o.value) for o in outcomes)}


def make_ocr_stage(context: "StageContext") -> OcrStage | None:
    if not context.settings.ocr_enabled:
        return None
    local = context.settings.embedding.provider == "local"
    return OcrStage(context.settings.ocr_min_confidence, context.text_embedder() if local else None)


def make_face_stage(context: "StageContext") -> FaceStage | None:
    if not context.settings.faces_enabled:
        return None
    return FaceStage(context.settings.faces_min_score, context.settings.faces_threshold)


def texts_to_embed(catalog: "Catalog", photos: dict[int, Any], photo_words: bool) -> dict[int, str]:
    """The text each described photo's description vector is made from: the user's words, its
    description (`photos`: id -> `Description`), then (with `photo_words`, i.e. a local embedder)
    the words found in it. One rule for the first pass, the OCR stage and the image stage's labels."""
    from photolib.store.text import TextStore
    from photolib.core.records import with_photo_text

    ids = list(photos)
    user = {pid: meta.words() for pid, meta in catalog.user_metadata(ids).items()}
    words = TextStore(catalog).texts_for(ids) if photo_words else {}
    return {pid: with_photo_text(description.embedding_text(user.get(pid, "")), words.get(pid))
            for pid, description in photos.items()}


def embed_with_text(catalog: "Catalog", embedder: Any, photo_ids: Sequence[int]) -> int:
    """Embed described photos again with the words found in them, where the stored vector was made from
    other text (or another model); returns how many vectors were written. Writes in the caller's
    transaction when there is one."""
    import numpy as np

    from photolib.pipeline.importer import text_hash
    from photolib.core.records import Description

    if not photo_ids:
        return 0
    photos = catalog.get_many(list(photo_ids))
    texts = texts_to_embed(catalog, {pid: Description(photo.tags, photo.data.get("caption") or "",
                                                      photo.data.get("description") or "")
                                     for pid, photo in photos.items() if photo.data.get("vision_model")}, True)
    stored = catalog.embedding_states(list(texts), embedder.model_name)
    stale = [pid for pid, text in texts.items() if pid in stored and stored[pid][0] != text_hash(text)]
    if not stale:
        return 0
    matrix = np.asarray(embedder.embed_documents([texts[pid] for pid in stale]), dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != stored[stale[0]][1]:
        raise PhotolibError(f"the embedder {embedder.model_name} answered with vectors of another size: "
                            "run `photolib reindex --reembed`")
    with catalog.transaction():
        catalog.store_embeddings([(pid, embedder.model_name, text_hash(texts[pid]), matrix[i].tobytes(),
                                   matrix.shape[1]) for i, pid in enumerate(stale)])
    return len(stale)


def _each(item: PhotoWork, work: Callable[[Any], Any], failure: str) -> Outcome:
    """The photo's outcome: one odd photo is that photo's failure, never its batch's."""
    try:
        return Outcome(item.photo.id, value=work(item.image))
    except PhotolibError as error:
        return Outcome(item.photo.id, error=str(error))
    except Exception as error:  # noqa: BLE001 - a decoder or model failure on one photo is that photo's
        return Outcome(item.photo.id, error=f"{failure} ({type(error).__name__}: {error})")
