"""Remote backends against local servers speaking the real OpenAI and Hugging Face protocols.

The real `openai` and `huggingface_hub` clients are pointed at the servers with
base_url; nothing is monkeypatched. The tests check what goes over the wire
and what photolib makes of every kind of answer.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import time
from email.utils import formatdate

import numpy as np
import pytest
from PIL import Image

from photolib.core.errors import ConfigError, MalformedOutputError, ProviderAuthError, ProviderError
from photolib.media.read import read_photo
from photolib.core.records import PhotoForVision
from photolib.providers.base import make_provider
from photolib.core.protocols import ProviderSettings
from photolib.providers.remote_common import QWEN3_QUERY_INSTRUCTION
from tests.support.fake_servers import FakeModelServer, Reply, chat_reply
from tests.support.photos import make_photo

KEY = "sk-test-key-0123456789"
HF_VISION = "/hf-inference/models/Qwen/Qwen3-VL-8B-Instruct"
HF_FLUX = "/hf-inference/models/black-forest-labs/FLUX.1-dev"
HF_BGE = "/hf-inference/models/BAAI/bge-small-en-v1.5/pipeline/feature-extraction"


@pytest.fixture
def server():
    with FakeModelServer(dimension=48) as running:
        yield running


@pytest.fixture
def photo(tmp_path):
    path = make_photo(tmp_path / "big.jpg", size=(3000, 2000))
    return PhotoForVision(path, read_photo(path))


def provider(kind, name, server, path, model=None, **options):
    base = {"openai": "/v1", "huggingface": HF_VISION}[name] if path is None else path
    settings = ProviderSettings(provider=name, model=model, base_url=server.url + base, api_key=KEY,
                                api_key_env="OPENAI_API_KEY" if name == "openai" else "HF_TOKEN",
                                options={"max_retries": 3, "timeout": 5, **options})
    return make_provider(kind, settings)


CHAT_ROUTES = {"openai": "/v1/chat/completions", "huggingface": HF_VISION + "/v1/chat/completions"}


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


def test_photos_go_where_the_client_sends_them(server, photo, monkeypatch):
    """OPENAI_BASE_URL moves the openai client; the host shown must follow it, without credentials in the URL."""
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    settings = ProviderSettings(provider="openai", api_key=KEY, api_key_env="OPENAI_API_KEY", options={"timeout": 5})
    vision = make_provider("vision", settings)
    assert vision.remote_host == server.url.split("//")[1]
    vision.describe(photo)
    assert server.calls("/v1/chat/completions")
    port = server.url.rsplit(":", 1)[1]
    with_login = ProviderSettings(provider="openai", base_url=f"http://alice:s3cret@127.0.0.1:{port}/v1",
                                  api_key=KEY, options={})
    assert make_provider("vision", with_login).remote_host == f"127.0.0.1:{port}"


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


def test_other_400s_fail_the_photo_and_keep_structured_output(server, photo):
    server.script("/v1/chat/completions", Reply(400, {"error": {"message": "image is too large: 20 MB, limit 10 MB"}}))
    vision = provider("vision", "openai", server, None)
    with pytest.raises(ProviderError, match="image is too large"):
        vision.describe(photo)
    assert vision.describe(photo).caption
    assert [("response_format" in r.body) for r in server.calls("/v1/chat/completions")] == [True, True]


def test_429_retry_after_seconds_is_honoured(server, photo):
    server.script("/v1/chat/completions",
                  Reply(429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"}),
                  Reply(503, {"error": {"message": "overloaded"}}))
    assert provider("vision", "openai", server, None).describe(photo).caption
    limited, overloaded, answered = server.calls("/v1/chat/completions")
    assert overloaded.at - limited.at >= 1.0


def test_retry_after_as_an_http_date_is_honoured(server):
    not_before = int(time.time()) + 2
    server.script("/v1/embeddings", Reply(429, {"error": {"message": "later"}}, {"Retry-After": formatdate(not_before, usegmt=True)}))
    assert provider("embedding", "openai", server, None).embed_query("hello").shape == (48,)
    limited, retried = server.calls("/v1/embeddings")
    assert retried.at >= not_before


def test_a_retry_after_beyond_the_cap_fails_with_the_reason(server):
    server.script("/v1/embeddings", Reply(429, {"error": {"message": "quota"}}, {"Retry-After": "3600"}))
    with pytest.raises(ProviderError, match="asked to wait 3600 s") as caught:
        provider("embedding", "openai", server, None).embed_documents(["a"])
    assert "again later" in str(caught.value)
    assert len(server.calls("/v1/embeddings")) == 1


def test_timeout_then_success(server):
    server.script("/v1/embeddings", Reply(delay=1.5))
    embedder = provider("embedding", "openai", server, None, timeout=0.5)
    assert embedder.embed_query("hello").shape == (48,)
    assert len(server.calls("/v1/embeddings")) == 2


def test_persistent_5xx_gives_up_with_a_reason(server):
    server.script("/v1/embeddings", *[Reply(500, {"error": {"message": "down"}})] * 4)
    with pytest.raises(ProviderError, match="gave up after 4 attempts"):
        provider("embedding", "openai", server, None).embed_documents(["a"])


@pytest.mark.parametrize("name, route", [("openai", "/v1/embeddings"), ("huggingface", "/")])
def test_401_stops_with_env_var_name_and_no_key(server, name, route):
    server.script(route, Reply(401, {"error": {"message": f"invalid key {KEY}"}}))
    path = None if name == "openai" else "/"
    with pytest.raises(ProviderAuthError) as caught:
        provider("embedding", name, server, path).embed_documents(["a"])
    message = str(caught.value)
    assert ("OPENAI_API_KEY" if name == "openai" else "HF_TOKEN") in message and KEY not in message
    assert len(server.calls(route)) == 1  # no retries on auth failures


def test_error_text_never_carries_a_piece_of_the_key(server):
    """The key echoed across the 300-character cut, or already cut short by the server, is scrubbed."""
    server.script("/v1/embeddings", Reply(400, {"error": {"message": "MARKER"}}))
    with pytest.raises(ProviderError) as caught:
        provider("embedding", "openai", server, None).embed_documents(["a"])
    offset = str(caught.value).index("MARKER") - len("HTTP 400: ")  # where the server's text starts in the message
    echoes = [f"{'x' * (300 - offset - inside)}{KEY} bad request" for inside in (4, 9, 14, len(KEY) - 1)]
    echoes.append(f"key {KEY[:12]}... was rejected")
    for echo in echoes:
        server.script("/v1/embeddings", Reply(400, {"error": {"message": echo}}))
        with pytest.raises(ProviderError) as caught:
            provider("embedding", "openai", server, None).embed_documents(["a"])
        assert KEY[:8] not in str(caught.value) and KEY[-8:] not in str(caught.value)


def test_connection_failures_say_why(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = make_provider("embedding", ProviderSettings(
        provider="openai", base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, options={"max_retries": 0, "timeout": 2}))
    with pytest.raises(ProviderError) as caught:
        refused.embed_documents(["a"])
    assert "connection refused" in str(caught.value).lower()
    unknown = make_provider("embedding", ProviderSettings(
        provider="openai", base_url="http://photolib-test.invalid/v1", api_key=KEY, options={"max_retries": 0, "timeout": 2}))
    with pytest.raises(ProviderError) as caught:
        unknown.embed_documents(["a"])
    reason = str(caught.value)
    assert "Connection error" in reason and "refused" not in reason.lower()
    assert len(reason.split("Connection error", 1)[1]) > 5  # the resolver's own words follow


def test_html_page_instead_of_json_is_named(server, photo):
    server.script("/v1/chat/completions", Reply(body="<html><body>Bad gateway</body></html>", headers={"Content-Type": "text/html"}))
    with pytest.raises(ProviderError, match="text/html, not JSON"):
        provider("vision", "openai", server, None).describe(photo)


def test_embeddings_are_batched_unit_vectors_of_the_served_dimension(server):
    embedder = provider("embedding", "openai", server, None, batch_size=2)
    vectors = embedder.embed_documents(["a", "b", "c"])
    assert vectors.shape == (3, 48) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert [len(r.body["input"]) for r in server.calls("/v1/embeddings")] == [2, 1]


@pytest.mark.parametrize("name, path", [("openai", None), ("huggingface", "/")])
def test_requested_dimensions_are_sent_and_part_of_the_model_identity(server, name, path):
    embedder = provider("embedding", name, server, path, model="some-model", dimensions=24)
    assert embedder.model_name == "some-model@24"
    assert embedder.embed_documents(["a"]).shape == (1, 24)
    request = server.requests[-1]
    assert request.body["dimensions"] == 24
    assert request.body.get("model", "some-model") == "some-model"  # the API gets the plain model name


def test_hf_embeddings_from_a_tei_endpoint(server):
    """TEI / an Inference Endpoint serves one model at its root: inputs go there, with the key, and no model field."""
    embedder = provider("embedding", "huggingface", server, "/", model="Qwen/Qwen3-Embedding-8B")
    embedder.embed_documents(["a sunny beach"])
    embedder.embed_query("beach")
    document, query = server.calls("/")
    assert document.headers["authorization"] == f"Bearer {KEY}" and document.body == {"inputs": ["a sunny beach"]}
    assert query.body == {"inputs": [QWEN3_QUERY_INSTRUCTION + "beach"]}


def test_hf_embeddings_on_the_router_path_of_another_model(server):
    embedder = provider("embedding", "huggingface", server, HF_BGE, model="BAAI/bge-small-en-v1.5")
    assert embedder.embed_query("beach").shape == (48,)
    request = server.calls(HF_BGE)[-1]
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {"inputs": ["beach"]}  # the Qwen3 instruction is Qwen3's, not the backend's


@pytest.mark.parametrize("name, path, model, options, instructed", [
    ("openai", None, "Qwen/Qwen3-Embedding-8B", {}, True),  # vLLM or the HF router serving Qwen3 the OpenAI way
    ("openai", None, "text-embedding-3-small", {}, False),
    ("huggingface", "/", "Qwen/Qwen3-Embedding-0.6B", {"query_instruction": ""}, False),
    ("huggingface", "/", "intfloat/e5-large-v2", {"query_instruction": "query: "}, True),
])
def test_query_instruction_follows_the_model(server, name, path, model, options, instructed):
    provider("embedding", name, server, path, model=model, **options).embed_query("beach")
    body = server.requests[-1].body
    sent = (body.get("input") or body.get("inputs"))[0]
    expected = options.get("query_instruction", QWEN3_QUERY_INSTRUCTION) + "beach" if instructed else "beach"
    assert sent == expected


@pytest.mark.parametrize("bad", [
    {"object": "list", "data": [{"index": 0, "embedding": [0.1, float("nan")]}]},
    {"object": "list", "data": [{"index": 0, "embedding": [0.1, 0.2]}, {"index": 1, "embedding": [0.3]}]},
    {"object": "list", "data": []},
])
def test_bad_vectors_are_rejected(server, bad):
    server.script("/v1/embeddings", Reply(body=json.dumps(bad)))
    with pytest.raises(ProviderError):
        provider("embedding", "openai", server, None).embed_documents(["a"] * max(1, len(bad["data"])))


@pytest.mark.parametrize("model", [None, "gpt-image-1.5"])
def test_gpt_image_models_get_only_what_openai_takes(server, model):
    """The fake refuses unknown parameters for GPT Image models, like the real API."""
    generator = provider("generation", "openai", server, None, model=model)
    png = generator.generate("a lake", seed=7, width=512, height=512, steps=20, guidance=3.5)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
    request = server.calls("/v1/images/generations")[-1]
    assert request.body == {"model": model or "gpt-image-2", "prompt": "a lake", "size": "512x512", "n": 1}
    assert generator.supports_seed is False


@pytest.mark.parametrize("with_url", [False, True])
def test_other_image_servers_get_seed_steps_and_guidance(server, with_url):
    server.answer_with_url = with_url
    generator = provider("generation", "openai", server, None, model="black-forest-labs/FLUX.1-schnell")
    png = generator.generate("a lake", seed=7, width=768, height=512, steps=4, guidance=0.0)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
    request = server.calls("/v1/images/generations")[-1]
    assert request.body["size"] == "768x512" and request.body["response_format"] == "b64_json"
    assert (request.body["seed"], request.body["num_inference_steps"], request.body["guidance_scale"]) == (7, 4, 0.0)
    assert generator.supports_seed is True


def test_openai_itself_gets_no_extras_whatever_the_model(server, monkeypatch):
    """api.openai.com, reached through the fake acting as an HTTP proxy (no network)."""
    monkeypatch.setenv("HTTP_PROXY", server.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    generator = make_provider("generation", ProviderSettings(
        provider="openai", model="some-future-image-model", base_url="http://api.openai.com/v1", api_key=KEY,
        options={"timeout": 5, "max_retries": 0}))
    generator.generate("a lake", seed=7, steps=20, guidance=3.5)
    request = server.calls("/v1/images/generations")[-1]
    assert request.host == "api.openai.com"
    assert not {"seed", "num_inference_steps", "guidance_scale"} & set(request.body)
    assert generator.supports_seed is False


def test_hf_text_to_image_sends_model_key_and_parameters(server):
    png = provider("generation", "huggingface", server, HF_FLUX).generate(
        "a lake", seed=3, width=768, height=512, steps=20, guidance=3.5)
    assert png.startswith(b"\x89PNG")
    request = server.calls(HF_FLUX)[-1]  # the model is in the path, as on the router
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {"inputs": "a lake", "parameters": {
        "width": 768, "height": 512, "num_inference_steps": 20, "guidance_scale": 3.5, "seed": 3}}


@pytest.mark.parametrize("kind, value, words", [
    ("vision", "bogus", ["is not a Hugging Face inference provider", "auto", "hf-inference"]),
    ("embedding", "cerebras", ["does not offer feature-extraction", "hf-inference"]),
])
def test_an_unknown_inference_provider_is_a_config_error(kind, value, words):
    settings = ProviderSettings(provider="huggingface", api_key="hf_x", options={"inference_provider": value})
    with pytest.raises(ConfigError) as caught:
        make_provider(kind, settings)
    message = str(caught.value)
    assert message.startswith(f"[{kind}] inference_provider = {value!r}") and all(w in message for w in words)


def test_inference_provider_in_an_openai_section_is_a_config_error():
    settings = ProviderSettings(provider="openai", api_key=KEY, options={"inference_provider": "together"})
    with pytest.raises(ConfigError, match=r"\[vision\] inference_provider only applies to provider = \"huggingface\""):
        make_provider("vision", settings)


def test_imagine_prompt_is_cleaned(server, photo):
    server.script("/v1/chat/completions", Reply(body=chat_reply('```\n"A quiet shoreline at dusk, warm tones"\n```')))
    assert provider("vision", "openai", server, None).imagine_prompt(photo) == "A quiet shoreline at dusk, warm tones"
