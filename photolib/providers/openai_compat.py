"""Backends for any OpenAI-compatible endpoint: OpenAI, vLLM, Ollama, LM Studio, the HF router.

The `openai` client is built with `max_retries=0`: retries, backoff and error
classification are photolib's own (`retry.remote_call`), identical for every
backend. Photos go inline as data URLs to the configured `base_url` only.

OpenAI itself rejects parameters a model does not take, so image requests
are shaped by where they go: GPT Image models get no `response_format` (they
always answer base64), and the non-OpenAI extras `seed`, `num_inference_steps`
and `guidance_scale` go only to other servers (a `base_url` that is not
api.openai.com, serving a model that is not a GPT Image model).
"""

from __future__ import annotations

import base64
import io
from typing import Any
from urllib.parse import urlparse

import numpy as np

from photolib.errors import MalformedOutputError, ProviderError
from photolib.prompts import PROMPT_VERSION
from photolib.providers.base import ProviderSettings
from photolib.providers.remote_common import (
    ChatVision, embed_in_batches, embedding_identity, host_of, not_json, query_instruction, unit_rows,
)
from photolib.providers.retry import remote_call

OPENAI_HOST = "api.openai.com"


def _client(settings: ProviderSettings) -> Any:
    from openai import OpenAI

    return OpenAI(api_key=settings.api_key or "not-needed", base_url=settings.base_url,
                  max_retries=0, timeout=float(settings.options.get("timeout", 60)))


def _parsed(raw: Any) -> Any:
    """The parsed body of a raw response; a 200 that is not JSON (a proxy's HTML page) is an error saying so."""
    value = raw.parse()
    if isinstance(value, (str, bytes)):
        raise ProviderError(f"the endpoint answered with {not_json(value, raw.headers.get('content-type'))}: "
                            "check base_url")
    return value


def _is_openai(client: Any) -> bool:
    """Requests go to OpenAI itself (the client's effective base URL, OPENAI_BASE_URL included)."""
    return (urlparse(str(client.base_url)).hostname or "").lower() == OPENAI_HOST


class OpenAIVision(ChatVision):
    prompt_version = PROMPT_VERSION

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model_name = settings.model or "gpt-4o-mini"
        self.client = _client(settings)
        self.remote_host = host_of(self.client.base_url)
        self.structured = bool(settings.options.get("structured_output", True))

    def _send(self, messages: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
        return remote_call(lambda: _parsed(self.client.chat.completions.with_raw_response.create(
            model=self.model_name, messages=messages, **extra)), self.settings)


class OpenAIEmbedder:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model = settings.model or "text-embedding-3-small"
        self.model_name = embedding_identity(self.model, settings.options)
        self.client = _client(settings)
        self.batch_size = int(settings.options.get("batch_size", 64))
        self.query_instruction = query_instruction(self.model, settings.options)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return embed_in_batches(list(texts), self.batch_size, self._embed_batch)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed_batch([self.query_instruction + text])[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        extra = {"dimensions": int(self.settings.options["dimensions"])} if self.settings.options.get("dimensions") else {}
        response = remote_call(lambda: _parsed(self.client.embeddings.with_raw_response.create(
            model=self.model, input=texts, encoding_format="float", **extra)), self.settings)
        try:
            rows = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        except (AttributeError, TypeError):
            raise ProviderError("the embedding response has no data list") from None
        return unit_rows(rows, len(texts))


class OpenAIGenerator:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model_name = settings.model or "gpt-image-2"
        self.client = _client(settings)
        gpt_image = self.model_name.lower().startswith(("gpt-image", "chatgpt-image"))
        self.sends_response_format = not gpt_image
        self.supports_seed = not gpt_image and not _is_openai(self.client)

    def generate(self, prompt: str, *, seed: int | None = None, width: int | None = None,
                 height: int | None = None, steps: int | None = None, guidance: float | None = None) -> bytes:
        options: dict[str, Any] = {}
        if self.sends_response_format:
            options["response_format"] = "b64_json"
        if self.supports_seed:
            extra_body = {k: v for k, v in {"seed": seed, "num_inference_steps": steps,
                                            "guidance_scale": guidance}.items() if v is not None}
            if extra_body:
                options["extra_body"] = extra_body
        size = f"{width or 1024}x{height or 1024}"
        response = remote_call(lambda: _parsed(self.client.images.with_raw_response.generate(
            model=self.model_name, prompt=prompt, size=size, n=1, **options)), self.settings)
        try:
            item = response.data[0]
        except (AttributeError, IndexError, TypeError):
            raise MalformedOutputError("the image response has no data", raw=str(response)[:2000]) from None
        if getattr(item, "b64_json", None):
            try:
                return _png(base64.b64decode(item.b64_json))
            except ValueError:
                raise MalformedOutputError("the image response's b64_json is not base64") from None
        if getattr(item, "url", None):
            return _png(self._download(item.url))
        raise MalformedOutputError("the image response has neither b64_json nor url", raw=str(item)[:2000])

    def _download(self, url: str) -> bytes:
        """The provider's own URL for the image, fetched with the client's HTTP stack."""
        def fetch() -> bytes:
            response = self.client._client.get(url)
            response.raise_for_status()
            return response.content

        return remote_call(fetch, self.settings)


def _png(data: bytes) -> bytes:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            out = io.BytesIO()
            image.save(out, format="PNG")
            return out.getvalue()
    except Exception:  # noqa: BLE001
        raise MalformedOutputError("the generator returned data that is not an image") from None
