"""Backends on Hugging Face Inference (`huggingface_hub.InferenceClient`).

The router's inference providers are used by default (`inference_provider`
passes through, e.g. "hf-inference" or "together"); `base_url` points the same
client at a self-hosted endpoint (TGI, TEI, an Inference Endpoint), which the
client posts to directly (chat adds `/v1/chat/completions`). Retries and error
classification are photolib's own (`retry.remote_call`).

With a `base_url`, the only credential sent is the key named by `api_key_env`:
huggingface_hub's own fallback to the token saved by `hf auth login` (or
`HF_TOKEN`) is switched off, so a stored Hugging Face token never reaches a
host the user runs or rents elsewhere.
"""

from __future__ import annotations

from typing import Any

from photolib.core.errors import ConfigError
from photolib.media.read import png_bytes
from photolib.providers.prompts import PROMPT_VERSION
from photolib.core.protocols import Provider, ProviderSettings
from photolib.providers.remote_common import ChatVision, RemoteEmbedder, host_of
from photolib.providers.retry import remote_call

ROUTER_HOST = "router.huggingface.co"


def _client(settings: ProviderSettings, task: str) -> Any:
    """One client; with `base_url` the model travels in each request instead."""
    from huggingface_hub import InferenceClient

    provider = _inference_provider(settings, task)
    headers: dict[str, Any] = {}
    if settings.base_url and not settings.api_key:
        headers["authorization"] = None  # overrides, and so drops, the token huggingface_hub would find itself
    return InferenceClient(
        provider=None if settings.base_url else provider,
        base_url=settings.base_url, api_key=settings.api_key, headers=headers,
        timeout=float(settings.options.get("timeout", 60)),
    )


def _inference_provider(settings: ProviderSettings, task: str) -> str | None:
    """`inference_provider` checked against what the installed huggingface_hub offers for `task`."""
    name = settings.options.get("inference_provider")
    if name is None or name == "auto":
        return name
    from huggingface_hub.inference._providers import PROVIDERS

    offering = sorted(provider for provider, tasks in PROVIDERS.items() if task in tasks)
    if name not in PROVIDERS:
        raise ConfigError(f"inference_provider = {name!r} is not a Hugging Face inference provider; "
                          f"use \"auto\" or one of: {', '.join(offering)}")
    if name not in offering:
        raise ConfigError(f"inference_provider = {name!r} does not offer {task}; "
                          f"use \"auto\" or one of: {', '.join(offering)}")
    return name


class _HuggingFaceBackend(Provider):
    default_model = ""
    task = ""

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model_name = settings.model or self.default_model
        self.client = _client(settings, self.task)
        self.remote_host = host_of(settings.base_url) or ROUTER_HOST

    def _call(self, fn: Any) -> Any:
        return remote_call(fn, self.settings)

    @property
    def _model_argument(self) -> str | None:
        """Model per call, except for a self-hosted URL that serves exactly one model."""
        return None if self.settings.base_url else self.model_name


class HuggingFaceVision(ChatVision, _HuggingFaceBackend):
    default_model = "Qwen/Qwen3-VL-8B-Instruct"
    task = "conversational"
    prompt_version = PROMPT_VERSION

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.structured = bool(settings.options.get("structured_output", True))

    def _send(self, messages: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
        return self._call(lambda: self.client.chat_completion(
            messages=messages, model=self.model_name, max_tokens=800, **extra))


class HuggingFaceEmbedder(RemoteEmbedder):
    default_model = "Qwen/Qwen3-Embedding-8B"
    default_batch_size = 32

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.client = _client(settings, "feature-extraction")
        self.remote_host = host_of(settings.base_url) or ROUTER_HOST

    def _request(self, texts: list[str]) -> Any:
        model = None if self.settings.base_url else self.model  # a self-hosted URL serves exactly one model
        return remote_call(lambda: self.client.feature_extraction(texts, model=model, dimensions=self.dimensions),
                           self.settings)


class HuggingFaceGenerator(_HuggingFaceBackend):
    default_model = "black-forest-labs/FLUX.1-dev"
    task = "text-to-image"
    supports_seed = True

    def generate(self, prompt: str, *, seed: int | None = None, width: int | None = None,
                 height: int | None = None, steps: int | None = None, guidance: float | None = None) -> bytes:
        image = self._call(lambda: self.client.text_to_image(
            prompt, model=self._model_argument, width=width, height=height, num_inference_steps=steps,
            guidance_scale=guidance, seed=seed))
        return png_bytes(image)
