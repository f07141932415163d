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
from typing import Any
from urllib.parse import urlparse

from photolib.core.errors import MalformedOutputError, ProviderError
from photolib.media.read import png_bytes
from photolib.providers.prompts import PROMPT_VERSION
from photolib.core.protocols import Provider, ProviderSettings
from photolib.providers.remote_common import ChatVision, RemoteEmbedder, host_of, not_json
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


class OpenAIEmbedder(RemoteEmbedder):
    default_model = "text-embedding-3-small"
    default_batch_size = 64

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.client = _client(settings)
        self.remote_host = host_of(self.client.base_url)

    def _request(self, texts: list[str]) -> Any:
        extra = {"dimensions": self.dimensions} if self.dimensions else {}
        response = remote_call(lambda: _parsed(self.client.embeddings.with_raw_response.create(
            model=self.model, input=texts, encoding_format="float", **extra)), self.settings)
        try:
            return [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        except (AttributeError, TypeError):
            raise ProviderError("the embedding response has no data list") from None


class OpenAIGenerator(Provider):
    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model_name = settings.model or "gpt-image-2"
        self.client = _client(settings)
        self.remote_host = host_of(self.client.base_url)
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
                return png_bytes(base64.b64decode(item.b64_json))
            except ValueError:
                raise MalformedOutputError("the image response's b64_json is not base64") from None
        if getattr(item, "url", None):
            return png_bytes(self._download(item.url))
        raise MalformedOutputError("the image response has neither b64_json nor url", raw=str(item)[:2000])

    def _download(self, url: str) -> bytes:
        """The provider's own URL for the image, fetched with the client's HTTP stack."""
        def fetch() -> bytes:
            response = self.client._client.get(url)
            response.raise_for_status()
            return response.content

        return remote_call(fetch, self.settings)
