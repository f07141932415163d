"""The OCR stage: the confident text in each photo (`photolib.models.ocr`), in its own table.

A photo is searchable by its description first; this stage makes it better
later, in the same `add` run or in `photolib enrich`. What it reads lives in
`photo_text` (`photolib.store.text`) and makes `has:text` true. When it finds
words in a photo whose description is embedded by the local embedder, the
photo is embedded again with its words, in the same commit, so a search for
"invoice" finds the scanned receipt by meaning as well as by word.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from photolib.pipeline.description_text import embed_with_text
from photolib.pipeline.stage import Outcome, PhotoWork, StageBase, StageContext, outcome_of

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog

OCR_MIN_SIDE = 1500  # shortest side decoded for OCR (its text crops are cut from a copy of 2000 px at most)


class OcrStage(StageBase):
    """Pixels -> the confident text of the photo, with its boxes."""

    name = "ocr"
    label = "Text in photos"
    config_section = "ocr"
    has_value = "text"
    needs_pixels = True
    min_side = OCR_MIN_SIDE

    def __init__(self, min_confidence: float, embedder: Any = None) -> None:
        from photolib.models import ocr

        self.min_confidence = min_confidence
        self.embedder = embedder  # the local description embedder, which sees the words; None for a remote one
        self.model = ocr.model_name()

    @classmethod
    def build(cls, context: StageContext) -> "OcrStage | None":
        """None when `[ocr] enabled` is false."""
        if not context.settings.ocr_enabled:
            return None
        local = context.settings.embedding.provider == "local"
        return cls(context.settings.ocr_min_confidence, context.text_embedder() if local else None)

    @classmethod
    def findings(cls, catalog: "Catalog") -> dict[str, int]:
        from photolib.store.text import TextStore

        return {"with_text": TextStore(catalog).count_with_text()}

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        from photolib.models import ocr

        return [outcome_of(item, lambda image: ocr.read_text(image, self.min_confidence), "OCR failed")
                for item in work]

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int]:
        from photolib.store.text import TextStore

        store = TextStore(catalog)
        for outcome in outcomes:
            store.store(outcome.photo_id, self.model, outcome.value, self.min_confidence)
        with_text = [o.photo_id for o in outcomes if o.value.boxes]
        if self.embedder is not None:
            embed_with_text(catalog, self.embedder, with_text)
        return {"found": len(with_text)}
