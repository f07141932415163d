"""The OCR stage: the confident text in each photo, in its own table.

The reader is `photolib.models.ocr` on this machine, or the OCR models of
Immich machine-learning servers with `[ocr] url` (`photolib.providers.immich_ml`);
either way the text is stored with the reader's model name, and changing it
reads the photos again.

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
from photolib.pipeline.pixel_model import PixelModelStage
from photolib.pipeline.stage import Outcome, PhotoWork, StageContext

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog

OCR_MIN_SIDE = 1500  # shortest side decoded for OCR (its text crops are cut from a copy of 2000 px at most)


class OcrStage(PixelModelStage):
    """Pixels -> the confident text of the photo, with its boxes."""

    name = "ocr"
    label = "Text in photos"
    config_section = "ocr"
    has_value = "text"
    needs_pixels = True
    min_side = OCR_MIN_SIDE

    def __init__(self, reader: Any, embedder: Any = None) -> None:
        self.reader = self.pixel_model = reader  # a TextReader: local, or on Immich ML servers ([ocr] url)
        self.min_confidence = reader.min_confidence
        self.embedder = embedder  # the local description embedder, which sees the words; None for a remote one
        self.model = reader.model_name

    @classmethod
    def build(cls, context: StageContext) -> "OcrStage | None":
        """None when `[ocr] enabled` is false."""
        from photolib.providers.base import make_text_reader

        reader = make_text_reader(context.settings)
        if reader is None:
            return None
        local = context.settings.embedding.provider == "local"
        return cls(reader, context.text_embedder() if local else None)

    @classmethod
    def findings(cls, catalog: "Catalog") -> dict[str, int]:
        from photolib.store.text import TextStore

        return {"with_text": TextStore(catalog).count_with_text()}

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        return self.outcomes(work, self.reader.read_texts)

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int]:
        from photolib.store.text import TextStore

        store = TextStore(catalog)
        for outcome in outcomes:
            store.store(outcome.photo_id, self.model, outcome.value, self.min_confidence)
        with_text = [o.photo_id for o in outcomes if o.value.boxes]
        if self.embedder is not None:
            embed_with_text(catalog, self.embedder, with_text)
        return {"found": len(with_text)}
