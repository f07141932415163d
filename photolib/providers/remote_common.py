"""What the remote vision and embedding backends share, whatever the client."""

from __future__ import annotations

import base64
from typing import Any, Callable
from urllib.parse import urlparse

import numpy as np

from photolib.core.errors import MalformedOutputError, ProviderError
from photolib.core.records import Description, PhotoForVision
from photolib.providers.prompts import DESCRIBE_PROMPT, DESCRIPTION_JSON_SCHEMA, IMAGINE_PROMPT, clean_prompt_text, parse_description
from photolib.core.protocols import Provider, ProviderSettings, VisionProvider


QWEN3_QUERY_INSTRUCTION = "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: "
_STRUCTURED_OUTPUT_WORDS = ("response_format", "json_schema", "json schema", "structured output", "guided_json",
                            "grammar")


def host_of(base_url: Any) -> str | None:
    """`host[:port]` of a URL, without any `user:password@` it carries."""
    if not base_url:
        return None
    parsed = urlparse(str(base_url))
    host = parsed.hostname
    if not host:
        return str(base_url).rsplit("@", 1)[-1].split("/", 1)[0] or None
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parsed.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host


def default_query_instruction(model: str) -> str:
    """The retrieval instruction a model was trained with for queries ("" when it needs none)."""
    return QWEN3_QUERY_INSTRUCTION if "qwen3-embedding" in model.lower() else ""


def query_instruction(model: str, options: dict[str, Any]) -> str:
    """`query_instruction` from the config when set (even to ""), else the model's own."""
    configured = options.get("query_instruction")
    return default_query_instruction(model) if configured is None else str(configured)


def embedding_identity(model: str, options: dict[str, Any]) -> str:
    """The name stored with each vector: the model, plus the requested size when `dimensions` is set.

    Vectors of `text-embedding-3-small` at 1024 and at 256 dimensions are not
    comparable, so they must not share a name in the catalog.
    """
    dimensions = options.get("dimensions")
    return f"{model}@{int(dimensions)}" if dimensions else model


def image_data_url(photo: PhotoForVision, options: dict[str, Any]) -> str:
    """The photo as an inline data URL: downscaled, upright, never uploaded anywhere else."""
    from photolib.media.read import encode_for_upload

    jpeg = encode_for_upload(photo.path, int(options.get("max_side", 1024)))
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def vision_messages(prompt: str, data_url: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [
        {"type": "text", "text": prompt},
        {"type": "image_url", "image_url": {"url": data_url}},
    ]}]


def unit_rows(rows: Any, expected: int) -> np.ndarray:
    """Validate an embedding response: right count, one dimension, finite; then L2-normalise."""
    try:
        matrix = np.asarray(rows, dtype=np.float32)
    except (TypeError, ValueError):
        raise ProviderError("the embedding response is not a list of vectors of one dimension") from None
    if matrix.ndim == 3:  # token-level features: mean-pool them
        matrix = matrix.mean(axis=1)
    if matrix.ndim == 1 and expected == 1:
        matrix = matrix[None, :]
    if matrix.ndim != 2 or matrix.shape[0] != expected or matrix.shape[1] == 0:
        raise ProviderError(f"expected {expected} embedding vectors, got an array of shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ProviderError("the embedding response contains NaN or infinite values")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ProviderError("the embedding response contains an all-zero vector")
    return matrix / norms


def embed_in_batches(texts: list[str], batch_size: int, embed_batch: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Embed in API-sized batches; every batch must agree on the dimension."""
    parts = [embed_batch(texts[i:i + batch_size]) for i in range(0, len(texts), batch_size)]
    dimensions = {part.shape[1] for part in parts}
    if len(dimensions) > 1:
        raise ProviderError(f"the embedding model answered with mixed dimensions {sorted(dimensions)}")
    return np.vstack(parts).astype(np.float32)


class RemoteEmbedder(Provider):
    """An embedder behind an HTTP API; subclasses only send one batch (`_request`).

    `model_name`, the name stored with each vector, carries the requested
    size when `dimensions` is set (see `embedding_identity`); queries carry the
    model's retrieval instruction, documents do not.
    """

    default_model = ""
    default_batch_size = 32

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.model = settings.model or self.default_model
        self.model_name = embedding_identity(self.model, settings.options)
        self.dimensions = int(settings.options["dimensions"]) if settings.options.get("dimensions") else None
        self.batch_size = int(settings.options.get("batch_size", self.default_batch_size))
        self.query_instruction = query_instruction(self.model, settings.options)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return embed_in_batches(list(texts), self.batch_size, self._embed_batch)

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed_batch([self.query_instruction + text])[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return unit_rows(self._request(texts), len(texts))

    def _request(self, texts: list[str]) -> Any:
        """The endpoint's vectors for `texts` (any nesting `unit_rows` accepts)."""
        raise NotImplementedError


class ChatVision(VisionProvider):
    """Describe and imagine-prompt over any chat API; subclasses only send one request.

    Structured output (`response_format`) is asked for first; an endpoint that
    refuses it with a 4xx gets the plain prompt from then on.
    """

    settings: Any
    structured: bool

    def _send(self, messages: list[dict[str, Any]], extra: dict[str, Any]) -> Any:
        raise NotImplementedError

    def describe(self, photo: PhotoForVision) -> Description:
        messages = vision_messages(DESCRIBE_PROMPT, image_data_url(photo, self.settings.options))
        return parse_description(self._chat(messages, self.structured))

    def imagine_prompt(self, photo: PhotoForVision) -> str:
        messages = vision_messages(IMAGINE_PROMPT, image_data_url(photo, self.settings.options))
        return clean_prompt_text(self._chat(messages, False))

    def _chat(self, messages: list[dict[str, Any]], structured: bool) -> str:
        extra = {"response_format": {"type": "json_schema", "json_schema": {
            "name": "photo_description", "schema": DESCRIPTION_JSON_SCHEMA, "strict": True}}} if structured else {}
        try:
            response = self._send(messages, extra)
        except ProviderError as error:
            if structured and refuses_structured_output(error):
                self.structured = False
                return self._chat(messages, False)
            raise
        return message_text(response)


def refuses_structured_output(error: ProviderError) -> bool:
    """A 400/422 about `response_format` itself, not about the photo or the prompt (e.g. an oversized image)."""
    lowered = str(error).lower()
    return error.status in (400, 422) and any(word in lowered for word in _STRUCTURED_OUTPUT_WORDS)


def message_text(response: Any) -> str:
    if isinstance(response, (str, bytes)):
        raise ProviderError(f"the chat endpoint answered with {not_json(response)}: check base_url")
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise MalformedOutputError("the chat response has no message", raw=str(response)[:2000]) from None
    if not isinstance(content, str) or not content.strip():
        raise MalformedOutputError("the model returned an empty message", raw=str(content or ""))
    return content


def not_json(body: Any, content_type: str | None = None) -> str:
    """How to name a body that should have been JSON: "text/html, not JSON"."""
    if not content_type:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        content_type = "text/html" if text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")) else "text"
    return f"{content_type.split(';')[0].strip()}, not JSON"
