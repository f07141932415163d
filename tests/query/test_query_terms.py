"""Weights and image terms in the query language (rclip's `"2:golden retriever" + ./pool.jpg - fruit`),
and the calibration curves that make each part's similarity a relevance."""

from __future__ import annotations

import pytest

from photolib.query.filters import QueryError
from photolib.query.parser import explain, parse, with_absolute_images
from photolib.search.calibration import PHOTO_TO_PHOTO, TEXT_TO_PHOTO, TEXT_TO_TEXT, calibration


def terms(query):
    parsed = parse(query)
    return (parsed.text, [(t.text, t.weight, t.image) for t in parsed.positive],
            [(t.text, t.weight, t.image) for t in parsed.negative], parsed.phrases)


@pytest.mark.parametrize("query, expected", [
    ('"2:golden retriever" + ./pool.jpg - fruit',
     ("", [("golden retriever", 2.0, False), ("./pool.jpg", 1.0, True)], [("fruit", 1.0, False)], [])),
    ('beach 2:"golden hour"', ("beach", [("golden hour", 2.0, False)], [], [])),
    ("beach -./crowd.jpg year:2020", ("beach", [], [("./crowd.jpg", 1.0, True)], [])),
    ("-2:fruit 0.5:~/x.heic", ("", [("~/x.heic", 0.5, True)], [("fruit", 2.0, False)], [])),
    ('"./my trip/a b.jpg" sunset', ("sunset", [("./my trip/a b.jpg", 1.0, True)], [], [])),
    ("meeting at 10:30", ("meeting at 10:30", [], [], [])),  # a time, not a weight
    ("photo.jpg", ("photo.jpg", [], [], [])),  # a word: no path separator
    ('"exact phrase" x', ("exact phrase x", [], [], ["exact phrase"])),
])
def test_weights_and_image_terms_parse(query, expected):
    assert terms(query) == expected


@pytest.mark.parametrize("query, message", [
    ("2:year:2019", "filters cannot be weighted"),
    ("0:dog", "above 0"),
    ("200:dog", "at most 100"),
    ("dog +", "needs a term after it"),
    ("NOT ./x.jpg", "push a photo"),
    ("-2:OR", "cannot be signed or weighted"),
])
def test_malformed_terms_say_what_to_write(query, message):
    with pytest.raises(QueryError, match=message):
        parse(query)


def test_explain_names_image_terms_and_weights():
    lines = dict(explain(parse("beach 2:sunset ./pool.jpg -./crowd.jpg")))
    assert lines["like photo"] == "'./pool.jpg' (vector weight +1)"
    assert lines["unlike photo"] == "'./crowd.jpg' (vector weight -1)"
    assert lines["more of"] == "'sunset' (vector weight +2)"


def test_image_paths_become_absolute_for_a_smart_album(tmp_path):
    query = 'beach + ./pool.jpg -2:../x.png "./a b/c.jpg" year:2020'
    assert with_absolute_images(query, str(tmp_path / "here")) == (
        f'beach + {tmp_path}/here/pool.jpg -2:{tmp_path}/x.png "{tmp_path}/here/a b/c.jpg" year:2020')
    assert parse(with_absolute_images(query, str(tmp_path))).as_dict()["text"] == "beach"


@pytest.mark.parametrize("family, comparison, edge, match", [
    ("text", TEXT_TO_TEXT, 0.25, 0.55),  # the description threshold 1.5; a paraphrase-level match
    ("clip", TEXT_TO_PHOTO, 0.22, 0.30),  # CLIP's threshold 1.56; a good CLIP match
    ("clip", PHOTO_TO_PHOTO, 0.70, 0.90),  # similar's threshold 0.6; the same scene
])
def test_each_curve_is_pinned_at_its_threshold_and_a_clear_match(family, comparison, edge, match):
    curve = calibration(family, comparison)
    assert curve.relevance_of_cosine(edge) == pytest.approx(0.1)
    assert curve.relevance_of_cosine(match) == pytest.approx(0.9)
    assert curve.relevance(2 - 2 * edge) == pytest.approx(0.1)
    assert curve.distance_at(0.1) == pytest.approx(2 - 2 * edge)


def test_siglip_uses_its_own_sigmoid_and_unknown_families_clips():
    siglip = calibration("siglip", TEXT_TO_PHOTO)
    assert siglip.width == pytest.approx(1 / 112)  # SigLIP's learned temperature
    assert siglip.relevance_of_cosine(0.08) == pytest.approx(0.1)  # its threshold 1.84
    assert siglip.relevance_of_cosine(0.15) > 0.99 > calibration("clip", TEXT_TO_PHOTO).relevance_of_cosine(0.15)
    assert calibration("mystery", TEXT_TO_PHOTO) == calibration("clip", TEXT_TO_PHOTO)
