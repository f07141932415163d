"""A small deterministic image-text model for tests of the image space (no ONNX, no weights).

Its image tower maps a photo's mean colour to a direction (soft closeness to a
few named colours) and its text tower maps colour words to the same
directions, so "red" finds red photos the way a CLIP model finds cats.
"""

from __future__ import annotations

import numpy as np

COLOURS = {"red": (220, 30, 30), "green": (30, 180, 40), "blue": (30, 60, 220), "yellow": (235, 220, 40),
           "white": (245, 245, 245), "black": (15, 15, 15)}
OTHER = len(COLOURS)  # a last direction for words that name no colour


class ColourImageEmbedder:
    family = "clip"
    dimension = len(COLOURS) + 1

    def __init__(self, model_name: str = "test/colour-clip") -> None:
        self.model_name = model_name
        self.images_embedded = 0
        self.texts_embedded = 0

    def embed_images(self, images) -> np.ndarray:
        palette = np.array(list(COLOURS.values()), dtype=np.float32)
        rows = []
        for image in images:
            mean = np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)
            closeness = np.exp(-((palette - mean) ** 2).sum(axis=1) / (2 * 60.0 ** 2))
            rows.append(np.append(closeness, 0.05))
        self.images_embedded += len(rows)
        return _unit(np.array(rows, dtype=np.float32))

    def embed_texts(self, texts) -> np.ndarray:
        rows = []
        for text in texts:
            row = np.zeros(self.dimension, dtype=np.float32)
            for word in text.lower().split():
                if word in COLOURS:
                    row[list(COLOURS).index(word)] = 1.0
            if not row.any():
                row[OTHER] = 1.0
            rows.append(row)
        self.texts_embedded += len(rows)
        return _unit(np.array(rows, dtype=np.float32))


def _unit(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
