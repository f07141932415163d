"""Text in photos: the real OCR models (shipped in the rapidocr wheel) on photos the tests render."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from photolib.models import ocr
from photolib.cli import app
from tests.support import stage_photos
from tests.conftest import STAGES_ON

OCR_ONLY = {**STAGES_ON, "PHOTOLIB_FACES_ENABLED": "false"}


def test_reads_a_rendered_receipt(tmp_path):
    image = stage_photos.receipt(tmp_path / "r.png")
    from PIL import Image

    result = ocr.read_text(Image.open(image))
    assert not result.gated
    assert "INVOICE 2023-117" in result.text
    assert "42.50" in result.text
    first = result.boxes[0]
    assert first.confidence >= 0.8
    left, top, right, bottom = first.box
    assert 0.0 <= left < right <= 1.0 and 0.0 <= top < bottom <= 0.2  # the heading, near the top, in 0-1


def test_reads_words_on_a_textured_background(tmp_path):
    from PIL import Image

    result = ocr.read_text(Image.open(stage_photos.text_on_texture(tmp_path / "poster.jpg")))
    assert "GARDEN PARTY" in result.text.upper()


@pytest.mark.parametrize("name", ["chelsea", "astronaut", "coffee"])
def test_photos_without_text_get_none(name):
    """A cat, a portrait and a cup of coffee hold no words (the coffee reads as "8" at 0.95 without the rules)."""
    result = ocr.read_text(stage_photos.sample(name))
    assert result.boxes == [] and result.text == ""


def test_a_plain_photo_stops_at_the_gate():
    from PIL import Image

    assert ocr.read_text(Image.new("RGB", (800, 600), (120, 160, 90))).gated


@pytest.mark.parametrize("kind", sorted(stage_photos.SCENE_TEXTS))
def test_text_scenes_read_the_same_text_as_before_the_gate(kind):
    """Before the gate judged the detector's boxes (and the detector's input was 960 px), these read so."""
    assert ocr.read_text(stage_photos.camera_copy(stage_photos.scene(kind))).text == stage_photos.SCENE_TEXTS[kind]


@pytest.mark.parametrize("kind", stage_photos.TEXTURES)
def test_textures_are_turned_away_at_the_gate(kind):
    """Retina, cells, coins, a clock, brick, gravel, grass: the detector finds text-like regions in most of
    them, but as blobs or one box over the whole frame, not lines; none reaches recognition."""
    result = ocr.read_text(stage_photos.camera_copy(stage_photos.scene(kind)))
    assert result.gated and result.boxes == []


@pytest.mark.parametrize(("shape", "counts"), [((400, 40), True), ((40, 400), True), ((300, 260), False),
                                                ((900, 500), False)])
def test_a_text_like_box_is_a_line_of_modest_size(shape, counts):
    """A line either way round counts; a blob, or a box over most of the photo, does not."""
    width, height = shape
    quad = [(0, 0), (width, 0), (width, height), (0, height)]
    assert ocr.text_like(quad, 0.8, 1000, 1000) is counts
    assert not ocr.text_like(quad, ocr.BOX_SCORE - 0.01, 1000, 1000)


def test_what_is_kept():
    assert ocr.worth_keeping("ACME") and ocr.worth_keeping("42.50") and ocr.worth_keeping("東京")
    assert not ocr.worth_keeping("8") and not ocr.worth_keeping("0") and not ocr.worth_keeping("ab")
    assert not ocr.worth_keeping("-.-")


# -- through the library -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def text_library(tmp_path_factory, embedder):
    """One library: a receipt, a shop sign, a poster, a cat and a plain photo, added with OCR on.

    Built through the Library with the session's embedder (the CLI is driven where output is checked).
    """
    from photolib.core.config import load_settings
    from photolib.app.library import Library
    from tests.support.photos import make_photo

    root = tmp_path_factory.mktemp("ocr")
    pictures = root / "pics"
    stage_photos.receipt(pictures / "scan_0001.jpg")
    stage_photos.shop_sign(pictures / "street corner.jpg")
    stage_photos.text_on_texture(pictures / "poster.jpg")
    stage_photos.save(stage_photos.sample("chelsea"), pictures / "cat.jpg")
    make_photo(pictures / "meadow.jpg", color=(90, 160, 60))
    (root / "config.toml").write_text("[faces]\nenabled = false\n")
    settings = load_settings(config_path=root / "config.toml", library_path=root / "library", environ={})
    library = Library(settings, embedder=embedder)
    report = library.add([pictures])
    yield library, pictures, report.as_dict()
    library.close()


def run(library, *args):
    return CliRunner().invoke(app, ["-L", str(library.root), *args], env=OCR_ONLY, catch_exceptions=False)


def search(library, query: str) -> list[str]:
    return [hit.path for hit in library.search(query)]


def test_add_reports_the_ocr_stage(text_library):
    _library, _pictures, report = text_library
    assert report["stages"]["ocr"]["done"] == 5
    assert report["stages"]["ocr"]["found"] == 3  # receipt, sign, poster


def test_search_finds_words_in_photos(text_library):
    library, pictures, _report = text_library
    hits = json.loads(run(library, "search", "invoice", "--json").stdout)
    assert hits and hits[0]["path"] == str(pictures / "scan_0001.jpg")
    assert search(library, "acme")[0] == str(pictures / "street corner.jpg")
    assert search(library, "garden party")[0] == str(pictures / "poster.jpg")


def test_search_finds_part_of_a_word(text_library):
    library, pictures, _report = text_library
    assert search(library, "baker")[0] == str(pictures / "street corner.jpg")
    assert search(library, "voic")[0] == str(pictures / "scan_0001.jpg")
    assert library.text_store.photo_ids_matching("zebra") == []


def test_the_description_embedding_sees_the_words(text_library):
    """With the local embedder, the vector of the receipt was made from its description and its words."""
    from photolib.pipeline.importer import text_hash
    from photolib.core.records import Description, with_photo_text

    library, pictures, _report = text_library
    photo = library.resolve(str(pictures / "scan_0001.jpg"))
    stored_hash = library.catalog.embedding_states([photo.id], library.embedder.model_name)[photo.id][0]
    words = library.text_store.texts_for([photo.id])[photo.id]
    base = Description(photo.tags, photo.data["caption"], photo.data["description"]).embedding_text()
    assert "INVOICE" in words and stored_hash == text_hash(with_photo_text(base, words))


def test_show_and_list_have_the_text(text_library):
    library, pictures, _report = text_library
    listed = json.loads(run(library, "list", "--has-text", "--json").stdout)
    assert sorted(p["path"] for p in listed) == sorted(
        str(pictures / name) for name in ("scan_0001.jpg", "street corner.jpg", "poster.jpg"))
    receipt_id = next(p["id"] for p in listed if p["path"].endswith("scan_0001.jpg"))
    details = json.loads(run(library, "show", str(receipt_id), "--json").stdout)
    assert "INVOICE 2023-117" in details["text"]
    assert details["text_boxes"] and all(len(box["box"]) == 4 and all(0 <= v <= 1 for v in box["box"])
                                         for box in details["text_boxes"])
    shown = run(library, "show", str(receipt_id)).stdout
    assert "text in photo" in shown and "INVOICE 2023-117" in shown
    cat = next(p for p in json.loads(run(library, "list", "--json").stdout) if p["path"].endswith("cat.jpg"))
    assert json.loads(run(library, "show", str(cat["id"]), "--json").stdout)["text"] == ""


def test_a_second_add_reads_nothing_again(text_library):
    library, pictures, _report = text_library
    assert library.add([pictures]).stage("ocr").done == 0


def test_ocr_can_be_turned_off(tmp_path, make_library):
    stage_photos.receipt(tmp_path / "pics" / "scan.jpg")
    library = make_library(settings={"ocr_enabled": False, "faces_enabled": False})
    report = library.add([tmp_path / "pics"])
    assert report.stage("ocr") is None
    assert library.text_store.photo_ids_with_text() == []


def test_changed_bytes_are_read_again(tmp_path, make_library):
    photo = stage_photos.receipt(tmp_path / "pics" / "scan.jpg")
    library = make_library(settings={"ocr_enabled": True, "faces_enabled": False})
    library.add([tmp_path / "pics"])
    assert library.text_store.photo_ids_matching("invoice")
    stage_photos.shop_sign(photo)
    report = library.add([tmp_path / "pics"])
    assert report.stage("ocr").done == 1
    assert library.text_store.photo_ids_matching("invoice") == []
    assert library.text_store.photo_ids_matching("acme")
    library.remove(str(photo))
    assert library.text_store.photo_ids_matching("acme") == []
    assert library.catalog.db.execute("SELECT count(*) FROM photo_text_fts").fetchone()[0] == 0


@pytest.fixture(scope="module")
def rapidocr_engine():
    """RapidOCR itself, on the same shipped models: what `photolib.models.ppocr` ports must agree with."""
    import logging

    from rapidocr import RapidOCR

    engine = RapidOCR()
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine


@pytest.mark.parametrize("kind", sorted(stage_photos.SCENE_TEXTS))
def test_the_port_finds_and_reads_what_rapidocr_does(kind, rapidocr_engine):
    """photolib runs the PP-OCR models without importing RapidOCR in its workers (`models.ppocr`): on each
    text scene, its detector boxes, scores and readings are RapidOCR's own, within rounding."""
    import numpy as np
    from rapidocr.ch_ppocr_rec import TextRecInput

    # 1024x736: RapidOCR feeds the detector an image whose short side is 736 in multiples of 32, the port one
    # rounded to 32: at this size both feed it the very same pixels.
    pixels = np.asarray(stage_photos.camera_copy(stage_photos.scene(kind)).resize((1024, 736)))[:, :, ::-1]  # BGR
    models = ocr._models()
    ours = models.detect(pixels)
    theirs = rapidocr_engine._load_det_model()(pixels)
    assert len(ours) == len(theirs.boxes) >= 1
    for (quad, _score), their_quad in zip(ours, theirs.boxes):  # both in reading order
        assert np.abs(quad - their_quad).max() <= 1.0
    # RapidOCR puts its boxes in reading order but leaves their scores in the order it found them: compare
    # the scores as a set.
    assert np.allclose(sorted(score for _quad, score in ours), sorted(theirs.scores), atol=0.005)
    crops = [models.straighten(pixels, quad) for quad, _score in ours]
    their_readings = rapidocr_engine._load_rec_model()(TextRecInput(img=crops))
    for (text, confidence), their_text, their_confidence in zip(models.recognise(crops), their_readings.txts,
                                                                their_readings.scores):
        assert text == their_text
        assert abs(confidence - their_confidence) <= 0.01
