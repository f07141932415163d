"""Labels from the pixels: everyday concepts that stand clearly above the rest.

The vocabulary (`photolib/data/labels.txt`, a few hundred concepts: animals,
objects, food, scenes, weather, events, documents, screenshots) is embedded
once per image model with its prompt templates and cached in the library's
cache folder, keyed by the model and the vocabulary file's hash.

The rule, for each photo (CLIP's own zero-shot classification, plus a floor):
  1. cosine similarity of the photo to every concept, softmax over the whole
     vocabulary at CLIP's logit scale (100): each concept's *share*;
  2. a concept is a label when its share is at least 0.2, at least half the
     best concept's share, and its similarity reaches the family's floor
     (0.2 for CLIP, 0.05 for SigLIP, whose similarities run lower);
  3. at most 3 labels, best first.
A photo of nothing in particular spreads its share over many concepts, so no
concept reaches 0.2 and it gets no label; a cat on a sofa can get both.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from photolib.core.files import atomic_file

if TYPE_CHECKING:
    import numpy as np

    from photolib.core.protocols import ImageEmbedder

VOCABULARY_FILE = Path(__file__).parent / "data" / "labels.txt"
LOGIT_SCALE = 100.0
MIN_SHARE = 0.2
RELATIVE_TO_BEST = 0.5
MAX_LABELS = 3
SIMILARITY_FLOOR = {"clip": 0.2, "siglip": 0.05}
_ARTICLE = re.compile(r"^(a|an|the)\s+", re.I)


@dataclass(frozen=True)
class Vocabulary:
    """Concepts as written in prompts, their labels, the templates, and a hash of all of it."""

    phrases: tuple[str, ...]
    templates: tuple[str, ...]
    digest: str

    @property
    def labels(self) -> list[str]:
        return [_ARTICLE.sub("", phrase) for phrase in self.phrases]

    def prompts(self) -> list[str]:
        """Every (concept, template) prompt, concept-major."""
        return [template.format(phrase) for phrase in self.phrases for template in self.templates]


def parse_vocabulary(text: str) -> Vocabulary:
    """Read the labels.txt format: `@template ...` lines, `#` comments, one concept per line."""
    phrases: list[str] = []
    templates: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("@template "):
            templates.append(line[len("@template "):].strip())
        elif line not in phrases:
            phrases.append(line)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    return Vocabulary(tuple(phrases), tuple(templates or ["a photo of {}."]), digest)


@lru_cache(maxsize=1)
def default_vocabulary() -> Vocabulary:
    return parse_vocabulary(VOCABULARY_FILE.read_text(encoding="utf-8"))


def vocabulary_vectors(embedder: ImageEmbedder, cache_dir: Path | None, vocabulary: Vocabulary | None = None) -> np.ndarray:
    """(concepts, dimension) unit vectors: each concept's prompts averaged; cached per model and vocabulary."""
    import numpy as np

    vocabulary = vocabulary or default_vocabulary()
    shape = (len(vocabulary.phrases), embedder.dimension)
    path = None
    if cache_dir is not None:
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", embedder.model_name)
        path = Path(cache_dir) / f"labels-{slug}-{vocabulary.digest}.npy"
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.shape == shape and cached.dtype == np.float32:
                return cached
        except (OSError, ValueError):
            pass
    prompts = embedder.embed_texts(vocabulary.prompts())
    vectors = prompts.reshape(shape[0], len(vocabulary.templates), -1).mean(axis=1)
    vectors = (vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path, fsync=False) as out:
            np.save(out, vectors, allow_pickle=False)
    return vectors


def choose_labels(similarities: np.ndarray, labels: Sequence[str], family: str = "clip") -> list[list[str]]:
    """Apply the module's rule to (photos, concepts) cosine similarities; labels best first."""
    import numpy as np

    similarities = np.atleast_2d(np.asarray(similarities, dtype=np.float64))
    logits = LOGIT_SCALE * similarities
    shares = np.exp(logits - logits.max(axis=1, keepdims=True))
    shares /= shares.sum(axis=1, keepdims=True)
    floor = SIMILARITY_FLOOR.get(family, SIMILARITY_FLOOR["clip"])
    chosen: list[list[str]] = []
    for share, similarity in zip(shares, similarities):
        best = share.max()
        keep = (share >= MIN_SHARE) & (share >= RELATIVE_TO_BEST * best) & (similarity >= floor)
        order = [int(i) for i in np.argsort(-share, kind="stable") if keep[i]][:MAX_LABELS]
        chosen.append([labels[i] for i in order])
    return chosen


def labels_for(embedder: ImageEmbedder, vectors: np.ndarray, cache_dir: Path | None,
               vocabulary: Vocabulary | None = None) -> list[list[str]]:
    """For each photo vector (from `embedder.embed_images`), the labels that stand clearly above the rest."""
    import numpy as np

    vectors = np.atleast_2d(np.asarray(vectors, dtype=np.float32))
    if len(vectors) == 0:
        return []
    vocabulary = vocabulary or default_vocabulary()
    concepts = vocabulary_vectors(embedder, cache_dir, vocabulary)
    return choose_labels(vectors @ concepts.T, vocabulary.labels, getattr(embedder, "family", "clip"))
