"""What a provider is: the `Vision`, `Embedder`, `ImageEmbedder`, `TextReader`,
`FaceReader` and `Generator` protocols, their settings, the capabilities a backend
declares, and the table of backends by kind.

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

    from photolib.core.errors import PhotolibError
    from photolib.core.records import Description, FoundFace, PhotoForVision, PhotoText


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
    `photolib.providers.base.make_image_embedder(settings)` (a local model, or
    Immich machine-learning servers when `[image] url` is set).

    `embed_each` is what the image stage calls: per image, its vector or the
    error that says why there is none (see "Per-photo results" below).
    `runs_in_workers` (see "Worker processes" below).
    """

    model_name: str
    dimension: int
    family: str
    remote_host: str | None  # where photos and queries are sent, None when local
    runs_in_workers: bool
    input_side: int | None  # the shortest side its images are resized to (the stage decodes no larger); None: unknown

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def embed_each(self, images: Sequence[Image.Image]) -> list[np.ndarray | PhotolibError]: ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


# Per-photo results: `embed_each`, `read_texts` and `find_faces` return, per image and in input order, the
# result or the error that says why there is none. A `photolib.core.errors.ServerUnansweredError` means
# nobody answered (the photo stays pending and is sent again next run); any other `PhotolibError` is that
# photo's failure, with its reason. A `NoServerAnswersError` raised instead (every server stopped
# answering) stops the run; its `results` hold what was answered before.
#
# Worker processes: a pixel model whose `runs_in_workers` is true is sent to the pipeline's worker
# processes (`photolib.pipeline.workers`) and called there on one photo at a time, on every core: it
# pickles small (settings, a recipe that builds the model there once per process, never a loaded
# session). A model behind servers keeps it false: its calls wait on the network, from this process.


@runtime_checkable
class TextReader(Protocol):
    """Reads the confident text of upright photos (OCR); `model_name` is stored with what it read.

    `min_confidence` is the recogniser confidence a kept line reaches. Built by
    `photolib.providers.base.make_text_reader(settings)`.
    """

    model_name: str
    min_confidence: float
    remote_host: str | None
    runs_in_workers: bool

    def read_texts(self, images: Sequence[Image.Image]) -> list[PhotoText | PhotolibError]: ...


@runtime_checkable
class FaceReader(Protocol):
    """Finds faces in upright photos, each with a descriptor in the reader's face space.

    `model_name` is stored with every face and *is* the face space: faces of
    two models are never compared (switching models re-runs the face stage).
    `threshold` is the descriptor distance (L2) within which a face joins a
    person in that space; `dimension` the descriptor size. Built by
    `photolib.providers.base.make_face_reader(settings)`.
    """

    model_name: str
    threshold: float
    dimension: int
    remote_host: str | None
    runs_in_workers: bool

    def find_faces(self, images: Sequence[Image.Image]) -> list[list[FoundFace] | PhotolibError]: ...


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

# The pixel models, by kind: "local" runs on this machine, "immich" on the Immich machine-learning
# servers named by the section's `url` (chosen by whether it is set). Each factory takes the whole
# `Settings`; see `photolib.providers.base.make_image_embedder` and its siblings.
PIXEL_BACKENDS: dict[str, dict[str, str]] = {
    "image": {
        "local": "photolib.models.clip:make_image_embedder",
        "immich": "photolib.providers.immich_ml:ImmichImageEmbedder",
    },
    "ocr": {
        "local": "photolib.models.ocr:LocalTextReader",
        "immich": "photolib.providers.immich_ml:ImmichTextReader",
    },
    "faces": {
        "local": "photolib.models.faces:LocalFaceReader",
        "immich": "photolib.providers.immich_ml:ImmichFaceReader",
    },
}


def provider_names(kind: str) -> list[str]:
    return sorted(BACKENDS[kind])
