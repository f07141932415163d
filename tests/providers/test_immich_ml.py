"""The Immich machine-learning client against a local server that speaks Immich's protocol.

Image and query vectors come from the tests' tiny CLIP model run by the server; OCR and faces are
made up by the server in the documented shape (tests/support/immich_server.py).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from photolib.core.config import load_settings
from photolib.core.errors import (MalformedOutputError, NoServerAnswersError, ProviderError,
                                  ServerUnansweredError)
from tests.support.immich_server import ImmichMLServer, Reply, face_embedding
from tests.support.onnx_models import COLOURS, build_tiny_clip, solid_photo


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("tiny") / "tiny-clip")


def settings(tmp_path, text: str):
    config = tmp_path / "config.toml"
    config.write_text(text)
    return load_settings(config, tmp_path / "library", environ={})


def embedder(tmp_path, *urls, extra: str = "", retries: int = 1):
    from photolib.providers.base import make_image_embedder

    listed = ", ".join(f'"{url}"' for url in urls)
    return make_image_embedder(settings(tmp_path, f'[ml]\nurl = [{listed}]\nmax_retries = {retries}\n{extra}'
                                                  '[image]\nmodel = "tiny-clip"\n'))


def photos(*names: str, size=(640, 480)):
    return [solid_photo(COLOURS[name], size) for name in names]


# -- configuration -----------------------------------------------------------------------------------


def test_a_stage_url_wins_over_ml_url_and_an_empty_one_keeps_the_stage_local(tmp_path):
    loaded = settings(tmp_path, '[ml]\nurl = ["http://gpu:3003", "http://cpu:3003/"]\nin_flight = 3\n'
                                '[ocr]\nurl = ""\n[faces]\nurl = "http://faces:3003"\n')
    assert loaded.servers("image").urls == ("http://gpu:3003", "http://cpu:3003")
    assert loaded.servers("ocr").urls == ()
    assert loaded.servers("faces").urls == ("http://faces:3003",)
    assert loaded.servers("image").in_flight == 3 and loaded.servers("faces").in_flight == 3
    assert "[ml] url" in loaded.servers("image").origin and "[faces] url" in loaded.servers("faces").origin
    local = settings(tmp_path, "")
    assert [local.servers(section).urls for section in ("image", "ocr", "faces")] == [(), (), ()]


@pytest.mark.parametrize("text, fragment", [
    ('[image]\nurl = "gpu:3003"\n', "[image] url: 'gpu:3003' is not a URL"),
    ('[ml]\nurl = 3003\n', "[ml] url = 3003 must be a URL or a list of URLs"),
    ('[ml]\nin_flight = 0\n', "[ml] in_flight = 0 must be at least 1"),
])
def test_bad_server_settings_name_the_key(tmp_path, text, fragment):
    from photolib.core.errors import ConfigError

    with pytest.raises(ConfigError, match=".*") as raised:
        settings(tmp_path, text)
    assert fragment in str(raised.value)


def test_the_environment_takes_several_urls(tmp_path):
    config = tmp_path / "empty.toml"
    config.write_text("")
    loaded = load_settings(config, tmp_path / "library", environ={"PHOTOLIB_ML_URL": "http://a:1, http://b:2"})
    assert loaded.servers("ocr").urls == ("http://a:1", "http://b:2")


def test_without_a_url_the_local_models_are_chosen(tmp_path):
    from photolib.providers.base import make_face_reader, make_text_reader

    local = settings(tmp_path, "")
    assert make_text_reader(local).remote_host is None and make_face_reader(local).remote_host is None
    assert make_face_reader(local).model_name.startswith("dlib")


# -- image vectors -------------------------------------------------------------------------------------


def test_server_vectors_carry_the_local_models_identity_and_values(tmp_path, tiny):
    from photolib.models.clip import ClipEmbedder

    images = photos("red", "blue", "green")
    with ImmichMLServer({"tiny-clip": tiny}) as server:
        remote = embedder(tmp_path, server.url)
        vectors = remote.embed_images(images)
        queries = remote.embed_texts(["red", "a photo of the ocean"])
    local = ClipEmbedder(tiny, "immich-app/tiny-clip")
    assert remote.model_name == local.model_name == "immich-app/tiny-clip"
    assert remote.remote_host == server.url.split("//")[1]
    assert np.allclose(vectors, local.embed_images(images), atol=1e-3)
    assert np.allclose(queries, local.embed_texts(["red", "a photo of the ocean"]), atol=1e-5)
    assert remote.dimension == local.dimension == vectors.shape[1]
    assert {json.dumps(p.entries) for p in server.predictions if p.text} == {'{"clip": {"textual": {"modelName": "tiny-clip"}}}'}


def test_what_is_sent_is_a_reduced_upright_jpeg_without_metadata(tmp_path, tiny):
    from PIL import Image

    from photolib.providers.base import make_face_reader, make_text_reader

    camera = Image.new("RGB", (3000, 2000), COLOURS["red"])
    with ImmichMLServer({"tiny-clip": tiny}) as server:
        url = server.url
        embedder(tmp_path, url).embed_each([camera])
        both = settings(tmp_path, f'[ml]\nurl = "{url}"\n')
        make_text_reader(both).read_texts([camera])
        make_face_reader(both).find_faces([camera])
    sent = {next(iter(p.entries)): p for p in server.predictions}
    assert set(sent) == {"clip", "ocr", "facial-recognition"}
    assert sent["clip"].image_size == (576, 384)  # shortest side 384: what CLIP needs, not the 6 MP original
    assert sent["ocr"].image_size == sent["facial-recognition"].image_size == (1440, 960)  # Immich's preview size
    assert {p.image_format for p in sent.values()} == {"JPEG"}
    assert {p.image_exif for p in sent.values()} == {b""}
    assert {p.image_filename for p in sent.values()} == {"blob"}
    assert all(p.headers["content-type"].startswith("multipart/form-data") for p in server.predictions)
    assert sent["ocr"].entries == {"ocr": {
        "detection": {"modelName": "PP-OCRv5_mobile", "options": {"minScore": 0.5, "maxResolution": 736}},
        "recognition": {"modelName": "PP-OCRv5_mobile", "options": {"minScore": 0.8}}}}
    assert sent["facial-recognition"].entries == {"facial-recognition": {
        "detection": {"modelName": "buffalo_l", "options": {"minScore": 0.7}}, "recognition": {"modelName": "buffalo_l"}}}


def test_requests_spread_over_servers_with_at_most_in_flight_each(tmp_path, tiny):
    with ImmichMLServer({"tiny-clip": tiny}) as first, ImmichMLServer({"tiny-clip": tiny}) as second:
        first.latency = second.latency = 0.2
        remote = embedder(tmp_path, first.url, second.url, extra="in_flight = 3\n")
        results = remote.embed_each(photos(*(["red", "blue"] * 8)))
        assert remote.serving() == (2, 2)
    assert len(results) == 16 and all(isinstance(r, np.ndarray) for r in results)
    images = [p for p in first.predictions + second.predictions if p.image_format]
    assert len(images) == 16  # and one query: the size of a model photolib does not know
    assert first.predictions and second.predictions
    assert 1 < max(first.most_active, second.most_active) and max(first.most_active, second.most_active) <= 3


def test_an_unanswered_request_is_retried_and_a_server_that_stops_answering_is_set_aside(tmp_path, tiny):
    with ImmichMLServer({"tiny-clip": tiny}) as first, ImmichMLServer({"tiny-clip": tiny}) as second:
        first.script(Reply(503, {"detail": "busy"}))
        remote = embedder(tmp_path, first.url, extra="")
        assert isinstance(remote.embed_each(photos("red"))[0], np.ndarray)  # busy, then an answer
        assert remote.serving() == (1, 1)  # busy is an answer: not set aside
        first.script(Reply(drop=True))
        remote = embedder(tmp_path, first.url, second.url, extra="in_flight = 1\n")
        results = remote.embed_each(photos(*(["red"] * 6)))
        assert all(isinstance(r, np.ndarray) for r in results)
        assert remote.serving() == (1, 2)  # the one that dropped a connection serves nothing for a while
        first.stop()
        remote.pool.servers[0].set_aside_until = 0.01  # due to be tried again: it is, and stays aside
        results = remote.embed_each(photos("red", "blue"))
        assert all(isinstance(r, np.ndarray) for r in results) and remote.serving() == (1, 2)
        assert "connection refused" in remote.pool.servers[0].last_error


def test_a_set_aside_server_that_answers_again_serves_again(tmp_path, tiny):
    with ImmichMLServer({"tiny-clip": tiny}) as server:
        server.script(Reply(drop=True))
        remote = embedder(tmp_path, server.url, extra="in_flight = 1\n", retries=3)
        assert isinstance(remote.embed_each(photos("red"))[0], np.ndarray)  # the retry waited for its trial
        assert remote.serving() == (1, 1) and remote.pool.servers[0].answered >= 1


def test_nobody_answering_leaves_photos_unanswered_and_stops_with_one_line(tmp_path, tiny):
    server = ImmichMLServer({"tiny-clip": tiny})
    url = server.url
    server.stop()
    remote = embedder(tmp_path, url)
    with pytest.raises(NoServerAnswersError) as raised:
        remote.embed_each(photos("red", "blue"))
    stop = raised.value
    assert len(stop.results) == 2 and all(isinstance(r, ServerUnansweredError) for r in stop.results)
    assert isinstance(remote.stopped(), NoServerAnswersError)
    message = str(stop)
    assert url in message and "connection refused" in message and "photolib enrich" in message
    assert "\n" not in message and "[ml] url" in message
    with pytest.raises(NoServerAnswersError):
        remote.check()
    with pytest.raises(NoServerAnswersError):  # a query says so in one line too
        remote.embed_texts(["red"])


@pytest.mark.parametrize("reply, reason", [
    (Reply(500, "Internal Server Error"), "answered HTTP 500: Internal Server Error"),
    (Reply(422, {"detail": "Invalid request format."}), "answered HTTP 422: Invalid request format."),
    (Reply(200, "not json {"), "not JSON"),
    (Reply(200, {"clip": "[0.1, 0.2]", "imageHeight": 1, "imageWidth": 1}), "a vector of 2 numbers, not 8"),
    (Reply(200, {"clip": "[NaN, 1, 1, 1, 1, 1, 1, 1]"}), "not finite"),
    (Reply(200, {"imageHeight": 1, "imageWidth": 1}), 'no "clip" field'),
    (Reply(200, {"clip": "[0, 0, 0, 0, 0, 0, 0, 0]"}), "vector of zeros"),
])
def test_a_bad_answer_fails_that_photo_with_the_reason(tmp_path, tiny, reply, reason):
    with ImmichMLServer({"tiny-clip": tiny}) as server:
        remote = embedder(tmp_path, server.url, extra="in_flight = 1\n")
        remote.embed_each(photos("blue"))  # learns nothing new: the tiny model's size is known from its answer
        server.script(reply)
        first, second = remote.embed_each(photos("red", "green"))
    assert isinstance(first, ProviderError) and not isinstance(first, ServerUnansweredError)
    assert reason in str(first)
    assert isinstance(second, np.ndarray)


def test_an_unknown_model_is_the_servers_error(tmp_path, tiny):
    from photolib.providers.base import make_image_embedder

    with ImmichMLServer({"tiny-clip": tiny}) as server:
        remote = make_image_embedder(settings(tmp_path, f'[image]\nurl = "{server.url}"\nmodel = "ViT-B-32__openai"\n'))
        assert remote.model_name == "immich-app/ViT-B-32__openai" and remote.dimension == 512  # from the registry
        result = remote.embed_each(photos("red"))[0]
    assert isinstance(result, ProviderError) and "HTTP 500" in str(result)


# -- OCR and faces --------------------------------------------------------------------------------------


def test_server_ocr_keeps_confident_words_in_unit_boxes_under_its_model_identity(tmp_path):
    from photolib.providers.base import make_text_reader

    with ImmichMLServer() as server:
        reader = make_text_reader(settings(tmp_path, f'[ocr]\nurl = "{server.url}"\nmin_confidence = 0.5\n'))
        red, grey = reader.read_texts([*photos("red"), solid_photo((128, 128, 128), (300, 200))])
    assert reader.model_name == "immich-app/PP-OCRv5_mobile/rules-1"
    assert [(box.text, box.confidence, box.box) for box in red.boxes] == [("STOP HERE", 0.97, (0.1, 0.1, 0.8, 0.2))]
    assert grey.boxes == []  # "x" is no word; "faint words" (0.4) is below min_confidence, so the server drops it
    assert server.predictions[0].entries["ocr"]["recognition"]["options"] == {"minScore": 0.5}


@pytest.mark.parametrize("answer, reason", [
    ({"ocr": {"text": ["A B C"], "box": [0.1] * 7, "boxScore": [1], "textScore": [1]}}, "7 box numbers for 1 lines"),
    ({"ocr": {"text": ["ABC"], "box": [0.1] * 8}}, "lacks text or textScore"),
    ({"text": []}, 'no "ocr" object'),
])
def test_a_bad_ocr_answer_fails_that_photo(tmp_path, answer, reason):
    from photolib.providers.base import make_text_reader

    with ImmichMLServer() as server:
        server.script(Reply(200, answer))
        result = make_text_reader(settings(tmp_path, f'[ocr]\nurl = "{server.url}"\n')).read_texts(photos("red"))[0]
    assert isinstance(result, MalformedOutputError) and reason in str(result)


def test_server_faces_are_unit_vectors_in_their_own_space_with_boxes_of_the_photo(tmp_path):
    from photolib.providers.base import make_face_reader

    with ImmichMLServer() as server:
        reader = make_face_reader(settings(tmp_path, f'[faces]\nurl = "{server.url}"\n'))
        red, grey = reader.find_faces([*photos("red", size=(3000, 2000)), solid_photo((128, 128, 128))])
    assert (reader.model_name, reader.dimension, reader.threshold) == ("immich-app/buffalo_l", 512, 1.0)
    assert grey == [] and len(red) == 1
    face = red[0]
    assert face.box == (0.3, 0.2, 0.7, 0.7) and face.score == pytest.approx(0.92)
    expected = np.asarray(face_embedding("red"), dtype=np.float32)
    assert np.allclose(face.descriptor, expected / np.linalg.norm(expected), atol=1e-6)


def test_a_face_embedding_of_the_wrong_size_fails_that_photo(tmp_path):
    from photolib.providers.base import make_face_reader

    with ImmichMLServer() as server:
        server.script(Reply(200, {"facial-recognition": [{"boundingBox": {"x1": 1, "y1": 1, "x2": 5, "y2": 5},
                                                          "embedding": "[1, 2, 3]", "score": 0.9}],
                                  "imageWidth": 10, "imageHeight": 10}))
        result = make_face_reader(settings(tmp_path, f'[faces]\nurl = "{server.url}"\n')).find_faces(photos("red"))[0]
    assert isinstance(result, MalformedOutputError) and "3 numbers, not 512" in str(result)


def test_the_test_server_parses_multipart_as_immich_does(tiny):
    """The server is strict where FastAPI is: no entries is 422, an image sent as a string is 422."""
    import httpx2

    with ImmichMLServer({"tiny-clip": tiny}) as server:
        assert httpx2.get(server.url + "/ping").text == "pong"
        missing = httpx2.post(server.url + "/predict", files={"text": (None, "red")})
        as_string = httpx2.post(server.url + "/predict", files={"entries": (None, '{"clip": {"visual": {"modelName": '
                                                                                  '"tiny-clip"}}}'), "image": (None, "x")})
        neither = httpx2.post(server.url + "/predict", files={"entries": (None, '{"clip": {}}')})
        out = io.BytesIO()
        solid_photo(COLOURS["red"]).save(out, format="PNG")
        good = httpx2.post(server.url + "/predict", files={
            "entries": (None, '{"clip": {"visual": {"modelName": "tiny-clip"}}}'), "image": ("blob", out.getvalue())})
    assert (missing.status_code, as_string.status_code, neither.status_code) == (422, 422, 400)
    assert good.status_code == 200 and isinstance(good.json()["clip"], str)
    assert (good.json()["imageWidth"], good.json()["imageHeight"]) == (64, 48)
