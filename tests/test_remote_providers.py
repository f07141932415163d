"""Remote backends against local servers speaking the real OpenAI and Hugging Face protocols.

The real `openai` and `huggingface_hub` clients are pointed at the servers with
base_url; nothing is monkeypatched. The tests check what goes over the wire
and what photolib makes of every kind of answer.
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from photolib.errors import MalformedOutputError, ProviderAuthError, ProviderError
from photolib.media import read_photo
from photolib.models import PhotoForVision
from photolib.providers.base import ProviderSettings, make_provider
from tests.fake_servers import FakeModelServer, Reply, chat_reply
from tests.photos import make_photo

KEY = "sk-test-key-0123456789"


@pytest.fixture
def server():
    with FakeModelServer(dimension=48) as running:
        yield running


@pytest.fixture
def photo(tmp_path):
    path = make_photo(tmp_path / "big.jpg", size=(3000, 2000))
    return PhotoForVision(path, read_photo(path))


def provider(kind, name, server, path, **options):
    base = {"openai": "/v1", "huggingface": "/hf"}[name] if path is None else path
    settings = ProviderSettings(provider=name, base_url=server.url + base, api_key=KEY,
                                api_key_env="OPENAI_API_KEY" if name == "openai" else "HF_TOKEN",
                                options={"max_retries": 3, "timeout": 5, **options})
    return make_provider(kind, settings)


CHAT_ROUTES = {"openai": "/v1/chat/completions", "huggingface": "/hf/v1/chat/completions"}


@pytest.mark.parametrize("name", ["openai", "huggingface"])
def test_vision_sends_the_photo_inline_with_model_and_key(server, photo, name):
    vision = provider("vision", name, server, None)
    description = vision.describe(photo)
    assert description.caption == "Two people walking on a beach at sunset"
    request = server.calls(CHAT_ROUTES[name])[-1]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == vision.model_name
    parts = request.body["messages"][0]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    assert url.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as sent:
        assert sent.format == "JPEG" and max(sent.size) <= 1024
    assert request.body["response_format"]["type"] in ("json_schema", "json_object")  # HF client may rewrite it
    assert vision.remote_host == server.url.split("//")[1]


@pytest.mark.parametrize("content", [
    "```json\n" + json.dumps({"tags": ["Dog"], "caption": "A dog", "description": "A dog."}) + "\n```",
    "Here you go: " + json.dumps({"tags": ["Dog"], "caption": "A dog", "description": "A dog."}) + " Enjoy!",
])
def test_fenced_and_prose_wrapped_answers(server, photo, content):
    server.chat_content = content
    assert provider("vision", "openai", server, None).describe(photo).tags == ["dog"]


def test_malformed_answer_keeps_the_raw_text(server, photo):
    server.chat_content = "I am unable to help with that."
    with pytest.raises(MalformedOutputError) as caught:
        provider("vision", "openai", server, None).describe(photo)
    assert caught.value.raw == "I am unable to help with that."


def test_structured_output_refused_falls_back_to_plain_prompt(server, photo):
    server.script("/v1/chat/completions", Reply(400, {"error": {"message": "response_format not supported"}}))
    vision = provider("vision", "openai", server, None)
    assert vision.describe(photo).caption
    first, second = server.calls("/v1/chat/completions")
    assert "response_format" in first.body and "response_format" not in second.body
    vision.describe(photo)
    assert "response_format" not in server.calls("/v1/chat/completions")[-1].body


def test_429_with_retry_after_then_success(server, photo):
    server.script("/v1/chat/completions",
                  Reply(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0.2"}),
                  Reply(503, {"error": {"message": "overloaded"}}))
    assert provider("vision", "openai", server, None).describe(photo).caption
    assert len(server.calls("/v1/chat/completions")) == 3


def test_timeout_then_success(server):
    server.script("/v1/embeddings", Reply(delay=1.5))
    embedder = provider("embedding", "openai", server, None, timeout=0.5)
    assert embedder.embed_query("hello").shape == (48,)
    assert len(server.calls("/v1/embeddings")) == 2


def test_persistent_5xx_gives_up_with_a_reason(server):
    server.script("/v1/embeddings", *[Reply(500, {"error": {"message": "down"}})] * 4)
    with pytest.raises(ProviderError, match="gave up after 4 attempts"):
        provider("embedding", "openai", server, None).embed_documents(["a"])


@pytest.mark.parametrize("name, route", [("openai", "/v1/embeddings"), ("huggingface", "/hf/embed")])
def test_401_stops_with_env_var_name_and_no_key(server, name, route):
    server.script(route, Reply(401, {"error": {"message": f"invalid key {KEY}"}}))
    path = None if name == "openai" else "/hf/embed"
    with pytest.raises(ProviderAuthError) as caught:
        provider("embedding", name, server, path).embed_documents(["a"])
    message = str(caught.value)
    assert ("OPENAI_API_KEY" if name == "openai" else "HF_TOKEN") in message and KEY not in message
    assert len(server.calls(route)) == 1  # no retries on auth failures


def test_embeddings_are_batched_unit_vectors_of_the_served_dimension(server):
    embedder = provider("embedding", "openai", server, None, batch_size=2)
    vectors = embedder.embed_documents(["a", "b", "c"])
    assert vectors.shape == (3, 48) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [len(r.body["input"]) for r in server.calls("/v1/embeddings")] == [2, 1]


def test_hf_query_instruction_for_queries_only(server):
    embedder = provider("embedding", "huggingface", server, "/hf/embed")
    embedder.embed_documents(["a sunny beach"])
    embedder.embed_query("beach")
    document, query = server.calls("/hf/embed")
    assert document.body["inputs"] == ["a sunny beach"]
    assert query.body["inputs"][0].startswith("Instruct: Given a web search query") and query.body["inputs"][0].endswith("beach")


@pytest.mark.parametrize("bad", [
    {"object": "list", "data": [{"index": 0, "embedding": [0.1, float("nan")]}]},
    {"object": "list", "data": [{"index": 0, "embedding": [0.1, 0.2]}, {"index": 1, "embedding": [0.3]}]},
    {"object": "list", "data": []},
])
def test_bad_vectors_are_rejected(server, bad):
    server.script("/v1/embeddings", Reply(body=json.dumps(bad).replace("NaN", "NaN")))
    with pytest.raises(ProviderError):
        provider("embedding", "openai", server, None).embed_documents(["a"] * max(1, len(bad["data"])))


@pytest.mark.parametrize("with_url", [False, True])
def test_openai_images_b64_or_url_give_png(server, with_url):
    server.answer_with_url = with_url
    png = provider("generation", "openai", server, None).generate("a lake", seed=7, width=512, height=512)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
    request = server.calls("/v1/images/generations")[-1]
    assert request.body["size"] == "512x512" and request.body["seed"] == 7


def test_hf_text_to_image_sends_parameters(server):
    png = provider("generation", "huggingface", server, "/hf/image").generate(
        "a lake", seed=3, width=768, height=512, steps=20, guidance=3.5)
    assert png.startswith(b"\x89PNG")
    parameters = server.calls("/hf/image")[-1].body["parameters"]
    assert parameters == {"width": 768, "height": 512, "num_inference_steps": 20, "guidance_scale": 3.5, "seed": 3}


def test_imagine_prompt_is_cleaned(server, photo):
    server.script("/v1/chat/completions", Reply(body=chat_reply('```\n"A quiet shoreline at dusk, warm tones"\n```')))
    assert provider("vision", "openai", server, None).imagine_prompt(photo) == "A quiet shoreline at dusk, warm tones"
