"""Building providers from settings: the one place a backend is chosen.

The commands never branch on which backend is in use: they ask for a `Vision`,
`Embedder` or `Generator` (protocols in `photolib.core.protocols`) and call the
protocol. A backend is one module plus one entry in `BACKENDS`; modules are
imported only when chosen, so start-up stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from photolib.core.errors import ConfigError
from photolib.core.protocols import (BACKENDS, PIXEL_BACKENDS, Embedder, FaceReader, Generator, ImageEmbedder,
                                     ProviderSettings, TextReader, Vision)


def make_provider(kind: str, settings: ProviderSettings) -> Any:
    """Build the configured backend for `kind` ("vision", "embedding", "generation")."""
    backends = BACKENDS[kind]
    target = backends.get(settings.provider)
    where = f"{settings.origin}: " if settings.origin else ""
    if target is None:
        known = ", ".join(sorted(backends)) or "none"
        raise ConfigError(
            f"{where}[{kind}] provider = {settings.provider!r} is not known; use one of: {known}"
        )
    module_name, factory_name = target.split(":")
    factory = getattr(importlib.import_module(module_name), factory_name)
    if factory.needs_key and not settings.api_key and not settings.base_url:
        raise ConfigError(
            f"{where}[{kind}] provider = {settings.provider!r} needs an API key: set the environment variable "
            f"{settings.api_key_env or 'named by api_key_env'} (or set [{kind}] base_url to a server that needs none)"
        )
    if settings.options.get("inference_provider") is not None and settings.provider != "huggingface":
        raise ConfigError(
            f"{where}[{kind}] inference_provider only applies to provider = \"huggingface\", not {settings.provider!r}: "
            "remove it"
        )
    try:
        return factory(settings)
    except ConfigError as error:  # a backend's own check of its options: say which section
        raise ConfigError(f"{where}[{kind}] {error}") from None


def pixel_backend(kind: str, settings: Any) -> str:
    """"immich" when the stage's `url` (or `[ml] url`) names servers, else "local"."""
    return "immich" if settings.servers(kind).urls else "local"


def make_pixel_model(kind: str, settings: Any) -> Any:
    """The model of the "image", "ocr" or "faces" stage as `settings` want it (None when the section is
    off): local, or on the Immich machine-learning servers of its url. Only the chosen backend's module
    is imported; building one opens no socket."""
    enabled = {"image": settings.image.enabled, "ocr": settings.ocr_enabled, "faces": settings.faces_enabled}[kind]
    if not enabled:
        return None
    module_name, factory_name = PIXEL_BACKENDS[kind][pixel_backend(kind, settings)].split(":")
    return getattr(importlib.import_module(module_name), factory_name)(settings)


def make_image_embedder(settings: Any) -> ImageEmbedder | None:
    """The image space's model: on the servers of `[image] url`, else the local model when one is
    installed (None when none is, or `[image] enabled` is false)."""
    return make_pixel_model("image", settings)


def make_text_reader(settings: Any) -> TextReader | None:
    return make_pixel_model("ocr", settings)


def make_face_reader(settings: Any) -> FaceReader | None:
    return make_pixel_model("faces", settings)


class Providers:
    """The configured vision, embedder and generator, each built on first use (or given, by tests
    and other programs): what commands receive instead of building providers themselves."""

    def __init__(self, settings: Any, *, vision: Any = None, embedder: Any = None, generator: Any = None) -> None:
        self.settings = settings
        self._vision, self._embedder, self._generator = vision, embedder, generator
        self._imagine_vision: Vision | None = None

    @property
    def vision(self) -> Vision:
        if self._vision is None:
            self._vision = make_provider("vision", self.settings.vision)
        return self._vision

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = make_provider("embedding", self.settings.embedding)
        return self._embedder

    @property
    def imagine_vision(self) -> Vision:
        """The vision provider that writes `imagine` prompts: [imagine] when it sets anything, else [vision]."""
        if getattr(self.settings, "imagine", None) is None:
            return self.vision
        if self._imagine_vision is None:
            self._imagine_vision = make_provider("vision", self.settings.imagine)
        return self._imagine_vision

    @property
    def generator(self) -> Generator:
        if self._generator is None:
            from photolib.core.errors import GeneratorNotConfiguredError

            if self.settings.generation is None:
                raise GeneratorNotConfiguredError(
                    "no image generator is configured: set [generation] provider = \"huggingface\" (with HF_TOKEN) "
                    "or \"openai\" (with OPENAI_API_KEY) in the config file, or PHOTOLIB_GENERATION_PROVIDER"
                )
            self._generator = make_provider("generation", self.settings.generation)
        return self._generator

    def model_name(self, kind: str) -> str | None:
        """The model of the `kind` provider ("vision", "embedding", "generation"), None if it cannot be built."""
        try:
            return {"vision": lambda: self.vision, "embedding": lambda: self.embedder,
                    "generation": lambda: self.generator}[kind]().model_name
        except Exception:  # noqa: BLE001 - a provider that cannot be built is reported by the commands that need it
            return None
