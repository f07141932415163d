"""The face stage: faces in each photo (`photolib.models.faces`), grouped into people as they are stored.

What it finds lives in its own tables (`photolib.store.faces`) and makes
`has:faces` true; `photolib people` names the groups. Face data is never
sent anywhere, whatever providers are configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from photolib.pipeline.stage import Outcome, PhotoWork, StageBase, StageContext, outcome_of

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog

FACES_MIN_SIDE = 1200  # shortest side decoded for faces (looked for in a copy of 1600 px at most)


class FaceStage(StageBase):
    """Pixels -> faces (box, score, descriptor), grouped into people as each batch is stored."""

    name = "faces"
    label = "Faces"
    config_section = "faces"
    has_value = "faces"
    needs_pixels = True
    min_side = FACES_MIN_SIDE

    def __init__(self, min_score: float, threshold: float) -> None:
        from photolib.models import faces

        self.min_score = min_score
        self.threshold = threshold
        self.model = faces.DETECTOR

    @classmethod
    def build(cls, context: StageContext) -> "FaceStage | None":
        """None when `[faces] enabled` is false."""
        if not context.settings.faces_enabled:
            return None
        return cls(context.settings.faces_min_score, context.settings.faces_threshold)

    @classmethod
    def findings(cls, catalog: "Catalog") -> dict[str, int]:
        from photolib.store.faces import FaceStore

        return FaceStore(catalog).found()

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        from photolib.models import faces

        return [outcome_of(item, lambda image: faces.find_faces(image, self.min_score), "face detection failed")
                for item in work]

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int]:
        from photolib.models.people import group
        from photolib.store.faces import FaceStore

        store = FaceStore(catalog)
        for outcome in outcomes:
            store.store(outcome.photo_id, self.model, outcome.value)
        store.group_new_faces(self.threshold, group)
        return {"found": sum(1 for o in outcomes if o.value), "faces": sum(len(o.value) for o in outcomes)}
