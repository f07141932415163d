"""The face stage: faces in each photo, grouped into people as they are stored.

The reader is dlib on this machine (`photolib.models.faces`), or the face
models of Immich machine-learning servers with `[faces] url` (`buffalo_l`,
`photolib.providers.immich_ml`): then a reduced JPEG of each photo is sent
there, and the faces that come back are stored here like local ones. The
reader's model is the face space: faces are grouped only with faces of the
same model, switching models runs the stage again, and named people keep their
names (`photolib.store.faces`). What it finds lives in its own tables and makes
`has:faces` true; `photolib people` names the groups. Face data (boxes,
descriptors, people) is never sent anywhere, whatever providers are configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from photolib.pipeline.pixel_model import PixelModelStage
from photolib.pipeline.stage import Outcome, PhotoWork, StageContext

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog

FACES_MIN_SIDE = 1200  # shortest side decoded for faces (looked for in a copy of 1600 px at most)


class FaceStage(PixelModelStage):
    """Pixels -> faces (box, score, descriptor), grouped into people as each batch is stored."""

    name = "faces"
    label = "Faces"
    config_section = "faces"
    has_value = "faces"
    needs_pixels = True
    min_side = FACES_MIN_SIDE

    def __init__(self, reader: Any) -> None:
        self.reader = self.pixel_model = reader  # a FaceReader: local dlib, or on Immich ML servers ([faces] url)
        self.threshold = reader.threshold
        self.model = reader.model_name  # also the face space: faces of two models are never compared

    @classmethod
    def build(cls, context: StageContext) -> "FaceStage | None":
        """None when `[faces] enabled` is false."""
        from photolib.providers.base import make_face_reader

        reader = make_face_reader(context.settings)
        return None if reader is None else cls(reader)

    @classmethod
    def findings(cls, catalog: "Catalog") -> dict[str, int]:
        from photolib.store.faces import FaceStore

        return FaceStore(catalog).found()

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        return self.outcomes(work, self.reader.find_faces)

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int]:
        from photolib.models.people import group
        from photolib.store.faces import FaceStore

        store = FaceStore(catalog)
        for outcome in outcomes:
            store.store(outcome.photo_id, self.model, outcome.value)
        store.group_new_faces(self.threshold, group, self.model)
        return {"found": sum(1 for o in outcomes if o.value), "faces": sum(len(o.value) for o in outcomes)}
