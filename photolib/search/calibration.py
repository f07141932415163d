"""From a space's similarity to a 0-1 relevance, per model family: what makes spaces comparable.

A cosine means different things in different spaces. CLIP puts a good text-to-photo match
near 0.3 and an unrelated photo near 0.15-0.2; SigLIP, trained with a sigmoid, puts both
lower; MiniLM puts related sentences at 0.5-0.8; two photos of one scene sit near 0.8 in
CLIP's image space. Comparing raw cosines (or ranks alone) across spaces lets a space with
nothing to say outvote one that knows. So each space's similarity goes through a logistic
curve of its model family and of what is compared (text to photo, text to text, photo to
photo) before spaces are combined:

    relevance(cos) = 1 / (1 + exp(-(cos - midpoint) / width))

Every curve is fixed by two anchors: the family's default threshold (the edge of what the
space keeps, the calibrated distances of `photolib.core.config`) is relevance
`EDGE_RELEVANCE` (0.1), and a clear match of that family is `MATCH_RELEVANCE` (0.9). SigLIP
needs no anchor of ours for its slope: it was trained to output `sigmoid(t * cos + b)`,
the probability that text and photo belong together, with a learned temperature t of about
112 (exp 4.72); its bias b is the anchor at the edge. `EDGE` and `MATCH` below hold the
numbers and where they come from; docs/search.md shows the curves.

So a hit's relevance is as good as its model's cosine ranges are typical, which is what a
threshold already assumed; and a threshold distance and a relevance convert both ways
(`Calibration.relevance`, `Calibration.distance_at`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from photolib.core.config import DEFAULT_THRESHOLD, IMAGE_THRESHOLDS

if TYPE_CHECKING:
    import numpy as np

EDGE_RELEVANCE = 0.1  # relevance at a family's default threshold: the edge of what it keeps
MATCH_RELEVANCE = 0.9  # relevance of a clear match of that family
TEXT_TO_PHOTO, TEXT_TO_TEXT, PHOTO_TO_PHOTO = "text-photo", "text-text", "photo-photo"

# (family, comparison) -> cosine at the family's default threshold (the calibrated distances of
# `photolib.core.config`, cos = 1 - d/2), and the cosine of a clear match. CLIP text->photo: threshold 1.56
# (cos 0.22), a good match ~0.30 (ViT-B/32 on everyday photos: ~0.28-0.35). Text->text (MiniLM, and the
# other text embedders until measured): threshold 1.5 (cos 0.25, the seed service's), a paraphrase-level
# match ~0.55. Photo->photo (`similar`, either image family): threshold 0.6 (cos 0.7), the same scene ~0.9.
# Description vectors of two photos compare as text->text.
EDGE: dict[tuple[str, str], float] = {
    (family, TEXT_TO_PHOTO): 1.0 - thresholds[0] / 2.0 for family, thresholds in IMAGE_THRESHOLDS.items()
} | {
    (family, PHOTO_TO_PHOTO): 1.0 - thresholds[1] / 2.0 for family, thresholds in IMAGE_THRESHOLDS.items()
} | {("text", TEXT_TO_TEXT): 1.0 - DEFAULT_THRESHOLD / 2.0}
MATCH: dict[tuple[str, str], float] = {
    ("clip", TEXT_TO_PHOTO): 0.30,
    ("text", TEXT_TO_TEXT): 0.55,
    ("clip", PHOTO_TO_PHOTO): 0.90, ("siglip", PHOTO_TO_PHOTO): 0.90,
}
SIGLIP_TEMPERATURE = 112.0  # SigLIP's learned logit scale, exp(4.72)


@dataclass(frozen=True)
class Calibration:
    """One logistic curve from cosine similarity to relevance."""

    family: str
    comparison: str
    midpoint: float  # cosine at relevance 0.5
    width: float  # cosine per unit of log-odds

    @classmethod
    def anchored(cls, family: str, comparison: str, edge: float, match: float) -> "Calibration":
        """The curve through (edge, EDGE_RELEVANCE) and (match, MATCH_RELEVANCE)."""
        low, high = _logit(EDGE_RELEVANCE), _logit(MATCH_RELEVANCE)
        width = (match - edge) / (high - low)
        return cls(family, comparison, edge - low * width, width)

    @classmethod
    def sigmoid(cls, family: str, comparison: str, temperature: float, edge: float) -> "Calibration":
        """SigLIP's own `sigmoid(t * cos + b)`, with b set so `edge` is at EDGE_RELEVANCE."""
        width = 1.0 / temperature
        return cls(family, comparison, edge - _logit(EDGE_RELEVANCE) * width, width)

    def relevance_of_cosine(self, cosine: float) -> float:
        z = (cosine - self.midpoint) / self.width
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0

    def relevance_of_cosines(self, cosines: "np.ndarray") -> "np.ndarray":
        """`relevance_of_cosine` over an array, at once."""
        import numpy as np

        z = np.clip((np.asarray(cosines, dtype=np.float64) - self.midpoint) / self.width, -60.0, 60.0)
        return 1.0 / (1.0 + np.exp(-z))

    def relevance(self, distance: float | None) -> float | None:
        """0-1 for a squared L2 distance between unit vectors (None stays None)."""
        if distance is None:
            return None
        return self.relevance_of_cosine(1.0 - distance / 2.0)

    def distance_at(self, relevance: float) -> float:
        """The distance whose relevance is `relevance` (0 < relevance < 1): a score as a threshold."""
        cosine = self.midpoint + self.width * _logit(min(max(relevance, 1e-9), 1 - 1e-9))
        return max(0.0, min(4.0, 2.0 - 2.0 * cosine))

    def describe(self) -> str:
        """"clip text-photo: 50 at cos 0.260" — for --explain."""
        return f"{self.family} {self.comparison}: 50 at cos {self.midpoint:.3f}"


def calibration(family: str | None, comparison: str) -> Calibration:
    """The curve of a model family ("clip", "siglip", "text"; unknown image families are CLIP's)
    for a comparison (`TEXT_TO_PHOTO`, `TEXT_TO_TEXT`, `PHOTO_TO_PHOTO`)."""
    if comparison == TEXT_TO_TEXT:
        family = "text"
    elif family not in ("clip", "siglip"):
        family = "clip"
    key = (family, comparison)
    if key == ("siglip", TEXT_TO_PHOTO):
        return Calibration.sigmoid(family, comparison, SIGLIP_TEMPERATURE, EDGE[key])
    return Calibration.anchored(family, comparison, EDGE[key], MATCH[key])


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))
