"""Backends for any OpenAI-compatible endpoint: OpenAI, vLLM, Ollama, LM Studio, the HF router.

The `openai` client is built with `max_retries=0`: retries, backoff and error
classification are photolib's own (`retry.remote_call`), identical for every
backend. Photos go inline as data URLs to the configured `base_url` only.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from photolib.errors import MalformedOutputError, ProviderError
from photolib.prompts import PROMPT_VERSION
from photolib.providers.base import ProviderSettings
from photolib.providers.remote_common import ChatVision, embed_in_batches, host_of, unit_rows
from photolib.providers.retry import remote_call


def _client(settings: ProviderSettings) -> Any:
    from openai import OpenAI

    return OpenAI(api_key=settings.api_key or "not-needed", base_url=settings.base_url,
                  max_retries=0, timeout=float(settings.options.get("timeout", 60)))


class OpenAIVision(ChatVision):
    prompt_version = PROMPT_VERSION

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model_name = settings.model or "gpt-4o-mini"
        self.remote_host = host_of(settings.base_url, "api.openai.com")
        self.client = _client(settings)
        self.structured = bool(settings.options.get("structured_output", True))

    def _send(self, messages: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
        return remote_call(lambda: self.client.chat.completions.create(
            model=self.model_name, messages=messages, **extra), self.settings)


class OpenAIEmbedder:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model_name = settings.model or "text-embedding-3-small"
        self.client = _client(settings)
        self.batch_size = int(settings.options.get("batch_size", 64))
        self.query_instruction = settings.options.get("query_instruction", "")

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return embed_in_batches(list(texts), self.batch_size, self._embed_batch)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed_batch([self.query_instruction + text])[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        extra = {"dimensions": int(self.settings.options["dimensions"])} if self.settings.options.get("dimensions") else {}
        response = remote_call(lambda: self.client.embeddings.create(
            model=self.model_name, input=texts, encoding_format="float", **extra), self.settings)
        try:
            rows = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        except (AttributeError, TypeError):
            raise ProviderError("the embedding response has no data list") from None
        return unit_rows(rows, len(texts))


class OpenAIGenerator:
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model_name = settings.model or "gpt-image-1"
        self.client = _client(settings)

    def generate(self, prompt: str, *, seed: int | None = None, width: int | None = None,
                 height: int | None = None, steps: int | None = None, guidance: float | None = None) -> bytes:
        extra_body = {k: v for k, v in {"seed": seed, "num_inference_steps": steps,
                                        "guidance_scale": guidance}.items() if v is not None}
        size = f"{width or 1024}x{height or 1024}"
        response = remote_call(lambda: self.client.images.generate(
            model=self.model_name, prompt=prompt, size=size, n=1, response_format="b64_json",
            extra_body=extra_body or None), self.settings)
        try:
            item = response.data[0]
        except (AttributeError, IndexError, TypeError):
            raise MalformedOutputError("the image response has no data", raw=str(response)[:2000]) from None
        if getattr(item, "b64_json", None):
            return _png(base64.b64decode(item.b64_json))
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
