"""Provider protocols and the one registry that builds them from settings.

The commands never branch on which backend is in use: they ask the registry
for a `Vision`, `Embedder` or `Generator` and call the protocol. A backend is
one module plus one entry in `_BACKENDS`; modules are imported only when
chosen, so start-up stays fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from photolib.core.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np
    from PIL import Image

    from photolib.core.records import Description, PhotoForVision


@dataclass
class ProviderSettings:
    """One `[vision]`, `[embedding]` or `[generation]` config section.

    `api_key` is resolved from the environment variable named by `api_key_env`
    and is never printed, logged or stored; `repr` hides it.
    """

    provider: str
    model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    api_key: str | None = field(default=None, repr=False)
    options: dict[str, Any] = field(default_factory=dict)  # backend-specific keys
    origin: str = ""  # where the section came from (the config file), named in error messages


class Provider:
    """What every backend declares about itself, read by the registry and the commands (never guessed).

    `needs_key`: the backend refuses to start without an API key, unless a
    `base_url` points it at a server that needs none. `remote_host`: where
    photos or texts are sent (`host[:port]`), None when nothing leaves the machine.
    """

    needs_key: ClassVar[bool] = True
    remote_host: str | None = None


@runtime_checkable
class Vision(Protocol):
    """Describes photos. `model_name` and `prompt_version` key cached results.

    `describes_from_path`: the description depends on where the file is
    (folder and file words), not only on its bytes, so a moved or copied
    file is described again instead of taken from the cache.
    """

    model_name: str
    prompt_version: str
    remote_host: str | None  # where photos are sent, None when local
    describes_from_path: bool

    def describe(self, photo: PhotoForVision) -> Description: ...

    def imagine_prompt(self, photo: PhotoForVision) -> str: ...


class VisionProvider(Provider):
    """Base of the vision backends: the capability a `Vision` declares, with its usual value."""

    describes_from_path: ClassVar[bool] = False


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors of shape (n, dimension)."""

    model_name: str

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


@runtime_checkable
class ImageEmbedder(Protocol):
    """An image–text model: pixels and queries land in one space of unit vectors.

    `model_name` is stored with every vector ("immich-app/ViT-B-32__openai");
    `family` ("clip", "siglip") selects the image space's calibrated default
    threshold, because image–text similarities live in another range than
    text–text ones. Images must already be upright (EXIF orientation applied)
    and may be in any mode; both methods return float32 (n, dimension) rows,
    L2-normalised, in input order. Built by
    `photolib.models.clip.make_image_embedder(settings)`.
    """

    model_name: str
    dimension: int
    family: str

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@runtime_checkable
class Generator(Protocol):
    """Makes images from a prompt; returns encoded image bytes (PNG).

    `supports_seed`: the model takes a seed (a repeatable image); without it
    no seed is sent and none is recorded.
    """

    model_name: str
    supports_seed: bool

    def generate(
        self,
        prompt: str,
        *,
        seed: int | None = None,
        width: int | None = None,
        height: int | None = None,
        steps: int | None = None,
        guidance: float | None = None,
    ) -> bytes: ...


# kind -> provider name -> "module:factory"; each factory takes ProviderSettings.
_BACKENDS: dict[str, dict[str, str]] = {
    "vision": {
        "local": "photolib.providers.local:LocalVision",
        "huggingface": "photolib.providers.huggingface:HuggingFaceVision",
        "openai": "photolib.providers.openai_compat:OpenAIVision",
    },
    "embedding": {
        "local": "photolib.models.minilm:MiniLMEmbedder",
        "huggingface": "photolib.providers.huggingface:HuggingFaceEmbedder",
        "openai": "photolib.providers.openai_compat:OpenAIEmbedder",
    },
    "generation": {
        "huggingface": "photolib.providers.huggingface:HuggingFaceGenerator",
        "openai": "photolib.providers.openai_compat:OpenAIGenerator",
    },
}


def provider_names(kind: str) -> list[str]:
    return sorted(_BACKENDS[kind])


def make_provider(kind: str, settings: ProviderSettings) -> Any:
    """Build the configured backend for `kind` ("vision", "embedding", "generation")."""
    backends = _BACKENDS[kind]
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
