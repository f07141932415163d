"""Backends on Hugging Face Inference (`huggingface_hub.InferenceClient`).

The router's inference providers are used by default (`inference_provider`
passes through, e.g. "hf-inference" or "together"); `base_url` points the same
client at a self-hosted endpoint (TGI, TEI, an Inference Endpoint). Retries
and error classification are photolib's own (`retry.remote_call`).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from photolib.errors import MalformedOutputError
from photolib.prompts import PROMPT_VERSION
from photolib.providers.base import ProviderSettings
from photolib.providers.remote_common import ChatVision, embed_in_batches, host_of, unit_rows
from photolib.providers.retry import remote_call

QWEN3_QUERY_INSTRUCTION = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: "


def _client(settings: ProviderSettings) -> Any:
    """One client; with `base_url` the model travels in each request instead."""
    from huggingface_hub import InferenceClient

    return InferenceClient(
        provider=None if settings.base_url else settings.options.get("inference_provider"),
        base_url=settings.base_url, api_key=settings.api_key,
        timeout=float(settings.options.get("timeout", 60)),
    )


class _HuggingFaceBackend:
    default_model = ""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model_name = settings.model or self.default_model
        self.client = _client(settings)

    def _call(self, fn: Any) -> Any:
        return remote_call(fn, self.settings)

    @property
    def _model_argument(self) -> str | None:
        """Model per call, except for a self-hosted URL that serves exactly one model."""
        return None if self.settings.base_url else self.model_name


class HuggingFaceVision(ChatVision, _HuggingFaceBackend):
    default_model = "Qwen/Qwen3-VL-8B-Instruct"
    prompt_version = PROMPT_VERSION

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.remote_host = host_of(settings.base_url, "router.huggingface.co")
        self.structured = bool(settings.options.get("structured_output", True))

    def _send(self, messages: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
        return self._call(lambda: self.client.chat_completion(
            messages=messages, model=self.model_name, max_tokens=800, **extra))


class HuggingFaceEmbedder(_HuggingFaceBackend):
    default_model = "Qwen/Qwen3-Embedding-8B"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.batch_size = int(settings.options.get("batch_size", 32))
        self.query_instruction = settings.options.get("query_instruction", QWEN3_QUERY_INSTRUCTION)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return embed_in_batches(list(texts), self.batch_size, self._embed_batch)

    def embed_query(self, text: str) -> np.ndarray:
        """Queries carry the model's retrieval instruction; documents do not."""
        return self._embed_batch([self.query_instruction + text])[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        rows = self._call(lambda: self.client.feature_extraction(texts, model=self._model_argument))
        return unit_rows(rows, len(texts))


class HuggingFaceGenerator(_HuggingFaceBackend):
    default_model = "black-forest-labs/FLUX.1-dev"

    def generate(self, prompt: str, *, seed: int | None = None, width: int | None = None,
                 height: int | None = None, steps: int | None = None, guidance: float | None = None) -> bytes:
        image = self._call(lambda: self.client.text_to_image(
            prompt, model=self._model_argument, width=width, height=height, num_inference_steps=steps,
            guidance_scale=guidance, seed=seed))
        try:
            out = io.BytesIO()
            image.save(out, format="PNG")
        except Exception:  # noqa: BLE001
            raise MalformedOutputError("the generator returned data that is not an image") from None
        return out.getvalue()
