"""The query language in every vector space: filters select photos before each space ranks them
(the id selector on each space's index), and the fused ranking keeps its 0-100 score."""

from __future__ import annotations

import pytest

from tests.pipeline.test_image_space import RED, camera_roll, seeing_library, tiny_model  # noqa: F401 (fixtures)


def _names(hits):
    return {hit.path.rsplit("/", 1)[-1] for hit in hits}


@pytest.fixture
def roll(seeing_library, camera_roll):  # noqa: F811
    library = seeing_library()
    library.add([camera_roll])
    return library


@pytest.mark.parametrize("selector", [False, True])
def test_filters_apply_in_every_space(roll, monkeypatch, selector):
    if selector:  # as on a large library: each space's index searched with an id selector
        import photolib.search.finder

        monkeypatch.setattr(photolib.search.finder.Finder, "_nearest_then_filtered", lambda *args: None)
        monkeypatch.setattr(photolib.search.finder, "SMALL_SELECTION", 0)
    assert _names(roll.search("strawberry", space="image")) == RED
    assert _names(roll.search("strawberry -path:*IMG_0001*", space="image")) == RED - {"IMG_0001.JPG"}
    assert _names(roll.search("strawberry path:*IMG_000[1-3]*", space="image")) == {"IMG_0001.JPG", "IMG_0003.JPG"}
    fused = roll.search("strawberry -path:*IMG_0001*")
    assert fused and "IMG_0001.JPG" not in _names(fused)
    assert _names(fused[:2]) == RED - {"IMG_0001.JPG"}
    assert all(set(hit.distances) == {"description", "image"} and hit.fusion for hit in fused)


def test_fused_hits_keep_a_score_and_a_filter_only_query_embeds_nothing(roll, monkeypatch):
    fused = roll.search("strawberry")
    assert _names(fused[:3]) == RED
    assert all(hit.score is not None and 0 <= hit.score <= 100 for hit in fused)
    assert all(hit.as_dict()["score"] == hit.score for hit in fused)

    def refuse(*args, **kwargs):
        raise AssertionError("a filter-only query embedded something")

    monkeypatch.setattr(type(roll.image_embedder), "embed_texts", refuse)
    monkeypatch.setattr(type(roll.embedder), "embed_query", refuse)
    listed = roll.search("path:*IMG_000[45]*")
    assert _names(listed) == {"IMG_0004.JPG", "IMG_0005.JPG"} and all(h.score is None for h in listed)
