"""Labels from the pixels: the shipped vocabulary on the tiny colour models.

The tiny text tower knows a few things of each colour ("strawberry" is red,
"snow" is white, "night" is black) and nothing else, so with the real,
shipped vocabulary a red photo must be labelled "strawberry" and a grey photo
(nothing in particular) must get no label at all.
"""

from __future__ import annotations

import numpy as np
import pytest

from photolib.models.labels import choose_labels, default_vocabulary, labels_for, parse_vocabulary, vocabulary_vectors
from photolib.models.clip import ClipEmbedder
from tests.support.onnx_models import COLOURS, GREY, build_tiny_clip, solid_photo


@pytest.fixture(scope="module")
def embedder(tmp_path_factory):
    return ClipEmbedder(build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny"), "test/tiny-clip")


def test_shipped_vocabulary_covers_everyday_photo_concepts():
    vocabulary = default_vocabulary()
    labels = vocabulary.labels
    assert 250 <= len(labels) <= 600
    for concept in ("cat", "dog", "horse", "cup of coffee", "pizza", "beach", "mountain", "snow", "sunset",
                    "birthday party", "wedding", "receipt", "scanned page", "screenshot", "rocket", "astronaut"):
        assert concept in labels
    assert vocabulary.templates and all("{}" in template for template in vocabulary.templates)


def test_red_photo_is_labelled_strawberry_and_a_grey_photo_gets_nothing(embedder, tmp_path):
    photos = embedder.embed_images([solid_photo(COLOURS["red"]), solid_photo(GREY), solid_photo(COLOURS["white"]),
                                    solid_photo(COLOURS["black"])])
    red, grey, white, black = labels_for(embedder, photos, tmp_path / "cache")
    assert red == ["strawberry"]
    assert grey == []
    assert white == ["snow"]
    assert sorted(black) == ["bridge at night", "cityscape at night", "night sky"]  # three equal shares, all kept


def test_vocabulary_is_embedded_once_per_model_and_cached(embedder, tmp_path):
    vectors = vocabulary_vectors(embedder, tmp_path / "cache")
    cached = list((tmp_path / "cache").glob("labels-test_tiny-clip-*.npy"))
    assert len(cached) == 1 and vectors.shape == (len(default_vocabulary().phrases), embedder.dimension)

    class NoTextTower:
        model_name, dimension, family = embedder.model_name, embedder.dimension, embedder.family

        def embed_texts(self, texts):
            raise AssertionError("the cached vocabulary must not be embedded again")

    photo = embedder.embed_images([solid_photo(COLOURS["red"])])
    assert labels_for(NoTextTower(), photo, tmp_path / "cache") == [["strawberry"]]
    other = parse_vocabulary("@template a photo of {}.\na strawberry\nsnow\n")
    assert labels_for(embedder, photo, tmp_path / "cache", other) == [["strawberry"]]
    assert len(list((tmp_path / "cache").glob("labels-*.npy"))) == 2  # keyed by vocabulary hash too


def test_the_rule_keeps_clear_winners_only():
    labels = ["cat", "sofa", "dog", "tree"]
    clear = [0.31, 0.24, 0.20, 0.19]      # one concept far above the rest
    two = [0.30, 0.298, 0.20, 0.19]       # a cat on a sofa: both
    flat = [0.22, 0.219, 0.218, 0.217] + [0.216] * 20  # nothing stands out
    weak = [0.15, 0.05, 0.04, 0.03]       # clear winner, but below CLIP's similarity floor
    chosen = choose_labels(np.array([clear, two, weak]), labels)
    assert chosen == [["cat"], ["cat", "sofa"], []]
    assert choose_labels(np.array([flat]), labels + [f"x{i}" for i in range(20)]) == [[]]
    assert choose_labels(np.array([weak]), labels, family="siglip") == [["cat"]]
