"""What a provider is: the `Vision`, `Embedder`, `ImageEmbedder` and `Generator`
protocols, their settings, the capabilities a backend declares, and the table of
backends by kind.

These live in `core` because settings (`photolib.core.config`) validate provider
names against the table and the model runners (`photolib.models`) implement the
protocols; building a backend from settings is `photolib.providers.base.make_provider`.
The table names modules by string, so nothing here imports a backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

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

    `runs_in_workers`: the model can be sent to the pipeline's worker
    processes (it pickles as a recipe that builds it there, once per
    process), so the image stage embeds on every core; False keeps
    `embed_images` in this process (a model behind a server: its calls wait
    on the network).
    """

    model_name: str
    dimension: int
    family: str
    runs_in_workers: bool

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
BACKENDS: dict[str, dict[str, str]] = {
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
    return sorted(BACKENDS[kind])
