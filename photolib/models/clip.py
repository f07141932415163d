"""Local CLIP-family image–text models on ONNX Runtime (no torch).

Runs any model folder in the layout Immich publishes (`immich-app/<name>`, see
`photolib.models.registry`): OpenAI CLIP and OpenCLIP (text input `text`),
SigLIP/SigLIP2, and the multilingual M-CLIP models (text inputs `input_ids` +
`attention_mask`). What is fed follows Immich's own loader:

* images: resize per `preprocess_cfg.json` (`resize_mode` "shortest": the
  short side to `size` then a centre crop; "squash": straight to size x size)
  with its `interpolation`, scale to [0, 1], subtract `mean`, divide by `std`,
  NCHW float32. Callers hand images already turned upright by their EXIF
  orientation (`photolib.media.read` does that when it decodes), in any mode; they
  are converted to RGB here.
* texts: whitespace collapsed (and punctuation dropped, lower-cased when the
  config asks for `clean = "canonicalize"`, as SigLIP does), tokenized with
  `textual/tokenizer.json`, padded with the tokenizer config's `pad_token` and
  truncated to `text_cfg.context_length` (77 by default), fed as the integer
  type the graph declares.

Immich exports both towers with a fixed batch of one; a graph with a dynamic
batch gets whole batches. While the model runs on one image, a worker thread
prepares the next (resizing and ONNX Runtime both release the GIL), so
preprocessing hides behind the model.

Costs are paid only when used: the image tower loads on the first image, the
text tower on the first text that is not in the query cache, and text-tower
loads reuse an ONNX Runtime-optimized copy cached on disk.
"""

from __future__ import annotations

import hashlib
import json
import os
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from photolib.models import registry as image_models
from photolib.models import runtime
from photolib.models.runtime import session_options
from photolib.core.errors import ConfigError, ProviderUnavailableError
from photolib.store.query_cache import QueryCache

if TYPE_CHECKING:
    from PIL import Image

    from photolib.core.protocols import ImageEmbedder

OPTIMIZED_FOLDER = "optimized"
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def make_image_embedder(settings: Any) -> ImageEmbedder | None:
    """The configured image–text model, or None when it is off or not installed.

    `settings` is the whole `Settings` (its `image` section is read). Never
    downloads: a model is used only if `[image] model_path` names a folder in
    Immich's layout, or `photolib models pull` put it in the Hugging Face
    cache. A `model_path` that is missing files is a ConfigError naming them.
    Identities: see `photolib.models.registry` (which model a library keeps
    using under a new default: `model_in_use`, applied by the library).
    """
    image = getattr(settings, "image", settings)
    if not image.enabled:
        return None
    if image.model_path is not None:
        folder = Path(image.model_path)
        missing = image_models.missing_files(folder)
        if missing:
            where = f"{image.origin}: " if image.origin else ""
            raise ConfigError(
                f"{where}[image] model_path = {str(folder)!r} lacks {', '.join(missing)}: point it at a folder "
                "in the immich-app layout (e.g. a copy of a pulled model's snapshot folder)"
            )
        identity = image_models.folder_identity(image.model, folder, _user_cache_dir())
    else:
        folder = image_models.installed_folder(image.model)
        if folder is None:
            return None
        identity = image_models.model_identity(image.model)
    return ClipEmbedder(folder, identity, cache_dir=_user_cache_dir())


def _user_cache_dir() -> Path:
    """Per machine, shared by libraries: optimised copies of the towers and recent query vectors."""
    from platformdirs import user_cache_path

    return user_cache_path("photolib") / "image-models"


def optimized_copies_folder() -> Path:
    return _user_cache_dir() / OPTIMIZED_FOLDER


class ClipEmbedder:
    """An `ImageEmbedder` over one model folder in Immich's layout."""

    remote_host = None  # nothing leaves the machine
    runs_in_workers = True  # pickles as a recipe: the image stage embeds on every core

    def __init__(self, folder: Path, model_name: str, *, cache_dir: Path | None = None, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.model_name = model_name
        self.config = _read_json(self.folder / image_models.CONFIG_FILE)
        self.preprocess_cfg = _read_json(self.folder / image_models.VISUAL_PREPROCESS)
        self.family = image_models.family_of(model_name, self.config)
        self.threads = threads or max(1, min(runtime.threads(), 8))
        self.preprocess = Preprocessor(self.preprocess_cfg)
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._visual: _Tower | None = None
        self._textual: _TextTower | None = None
        self.timings: dict[str, float] = {}  # seconds spent loading each tower (for bench and --verbose)
        self._queries = QueryCache(cache_dir / "queries.sqlite", self._text_fingerprint()) if cache_dir else None
        self.dimension = int(self.config.get("embed_dim") or self._load_visual().output_dimension)

    @property
    def input_side(self) -> int:
        """The side the model's input is resized to (its short side, then cropped or squashed square)."""
        return self.preprocess.size

    def __reduce__(self) -> tuple[Any, ...]:
        """Sent to a worker process (`photolib.pipeline.workers`) as the recipe that builds it there, once
        per process, on that process's share of the cores: never its loaded sessions."""
        return (_built_from, (ClipRecipe(self.folder, self.model_name, self._cache_dir),))

    # -- images ---------------------------------------------------------------

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Unit vectors (n, dimension) for upright images; preprocessing of the next overlaps the model."""
        if not images:
            return np.zeros((0, self.dimension), dtype=np.float32)
        tower = self._load_visual()
        step = tower.batch or 8
        chunks = [images[start:start + step] for start in range(0, len(images), step)]
        prepare = (lambda chunk: np.stack([self.preprocess.uint8(image) for image in chunk])) if tower.takes_uint8 \
            else (lambda chunk: np.stack([self.preprocess(image) for image in chunk]))
        rows = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-preprocess") as pool:
            pending = pool.submit(prepare, chunks[0])
            for index in range(len(chunks)):
                ready = pending.result()
                if index + 1 < len(chunks):
                    pending = pool.submit(prepare, chunks[index + 1])
                rows.append(tower.run(ready))
        return _unit(np.concatenate(rows))

    def embed_each(self, images: Sequence[Image.Image]) -> list[Any]:
        """Per image its unit vector, or the `PhotolibError` saying why there is none: one odd image fails
        alone (the batch is embedded again one by one)."""
        from photolib.core.errors import PhotolibError, ProviderError

        try:
            return list(self._checked(self.embed_images(images), len(images)))
        except Exception:  # noqa: BLE001 - one odd image must not fail its whole batch: one by one
            results: list[Any] = []
            for image in images:
                try:
                    results.append(self._checked(self.embed_images([image]), 1)[0])
                except PhotolibError as error:
                    results.append(error)
                except Exception as error:  # noqa: BLE001 - recorded as this photo's failure, with the reason
                    results.append(ProviderError(f"the image model failed on it: {error}"))
            return results

    def _checked(self, matrix: np.ndarray, count: int) -> np.ndarray:
        from photolib.core.errors import ProviderError

        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or len(matrix) != count or not np.isfinite(matrix).all():
            raise ProviderError(f"the image model {self.model_name} returned unusable vectors")
        return matrix

    def embed_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """Unit vectors for already-preprocessed tensors (n, 3, S, S): the raw model, for benchmarks."""
        tower = self._load_visual()
        step = tower.batch or 8
        return _unit(np.concatenate([tower.run(pixels[start:start + step]) for start in range(0, len(pixels), step)]))

    # -- texts ----------------------------------------------------------------

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors (n, dimension) for search queries or label prompts, in the image space."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        cleaned = [self._clean(text) for text in texts]
        found = self._queries.get(cleaned) if self._queries else {}
        todo = sorted({text for text in cleaned if text not in found})
        if todo:
            tower = self._load_textual()
            vectors = _unit(np.concatenate([tower.run_text(text) for text in todo]))
            fresh = dict(zip(todo, vectors))
            if self._queries:
                self._queries.put(fresh)
            found.update(fresh)
        return np.stack([found[text] for text in cleaned]).astype(np.float32)

    def _clean(self, text: str) -> str:
        text = " ".join(str(text).split())
        kwargs = self.config.get("text_cfg", {}).get("tokenizer_kwargs") or {}
        if kwargs.get("clean") == "canonicalize":
            text = text.translate(_PUNCTUATION).lower()
        return text

    # -- loading --------------------------------------------------------------

    def _load_visual(self) -> _Tower:
        with self._lock:
            if self._visual is None:
                started = time.perf_counter()
                copy = self._optimized_copy_path(image_models.VISUAL_MODEL)
                self._visual = _Tower(self.folder / image_models.VISUAL_MODEL, self.threads, copy)
                self.timings["visual_load"] = time.perf_counter() - started
            return self._visual

    def _load_textual(self) -> _TextTower:
        with self._lock:
            if self._textual is None:
                started = time.perf_counter()
                copy = self._optimized_copy_path(image_models.TEXTUAL_MODEL)
                self._textual = _TextTower(self.folder, self.config, self.threads, copy)
                self.timings["textual_load"] = time.perf_counter() - started
            return self._textual

    def _optimized_copy_path(self, relative: str) -> Path | None:
        if self._cache_dir is None:
            return None
        import onnxruntime

        source = self.folder / relative
        stamp = f"{source.resolve()}|{source.stat().st_size}|{source.stat().st_mtime_ns}|{onnxruntime.__version__}"
        digest = hashlib.sha256(stamp.encode()).hexdigest()[:16]
        return self._cache_dir / OPTIMIZED_FOLDER / f"{relative.replace('/', '-')}-{digest}" / "model.onnx"

    def _text_fingerprint(self) -> str:
        source = self.folder / image_models.TEXTUAL_MODEL
        try:
            stat = source.stat()
        except OSError:
            raise ProviderUnavailableError(f"{source} is missing: pull the model again or fix [image] model_path") from None
        return f"{self.model_name}|{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


@dataclass(frozen=True)
class ClipRecipe:
    """What a worker process needs to build the same `ClipEmbedder`: its folder, its name and the cache of
    optimised copies."""

    folder: Path
    model_name: str
    cache_dir: Path | None


_built: dict[ClipRecipe, ClipEmbedder] = {}
_built_lock = threading.Lock()


def _built_from(recipe: ClipRecipe) -> ClipEmbedder:
    """The `ClipEmbedder` of a recipe, built once per process."""
    with _built_lock:
        if recipe not in _built:
            _built[recipe] = ClipEmbedder(recipe.folder, recipe.model_name, cache_dir=recipe.cache_dir)
        return _built[recipe]


class Preprocessor:
    """`preprocess_cfg.json` applied to one upright image: float32 (3, size, size)."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        from PIL import Image

        size = cfg["size"]
        self.size = int(size[0] if isinstance(size, list) else size)
        resampling = {method.name.lower(): method for method in Image.Resampling}
        interpolation = str(cfg.get("interpolation", "bicubic")).lower()
        if interpolation not in resampling:
            raise ProviderUnavailableError(f"preprocess_cfg.json: unknown interpolation {interpolation!r}")
        self.resample = resampling[interpolation]
        self.resize_mode = cfg.get("resize_mode", "shortest")  # open_clip's default for older configs
        if self.resize_mode not in ("shortest", "squash"):
            raise ProviderUnavailableError(f"preprocess_cfg.json: unsupported resize_mode {self.resize_mode!r}")
        mean = np.asarray(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)), dtype=np.float32)
        std = np.asarray(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)), dtype=np.float32)
        self.scale = (1.0 / (255.0 * std)).astype(np.float32)
        self.offset = (mean / std).astype(np.float32)

    def resized(self, image: Image.Image) -> Image.Image:
        """Resize and crop exactly as Immich's OpenClipVisualEncoder does."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        size = self.size
        if self.resize_mode == "squash":
            return image.resize((size, size), resample=self.resample)
        width, height = image.size
        if width < height:
            image = image.resize((size, int(height / width * size)), resample=self.resample)
        else:
            image = image.resize((int(width / height * size), size), resample=self.resample)
        left = int(image.width / 2 - size / 2)
        top = int(image.height / 2 - size / 2)
        return image.crop((left, top, left + size, top + size))

    def uint8(self, image: Image.Image) -> np.ndarray:
        """(size, size, 3) uint8, for graphs that normalise inside."""
        return np.asarray(self.resized(image), dtype=np.uint8)

    def __call__(self, image: Image.Image) -> np.ndarray:
        pixels = np.asarray(self.resized(image), dtype=np.float32)
        pixels *= self.scale
        pixels -= self.offset
        return np.ascontiguousarray(pixels.transpose(2, 0, 1))


class _Tower:
    """One ONNX graph and what its first input expects."""

    def __init__(self, path: Path, threads: int, optimized_copy: Path | None) -> None:
        self.session = _open_session(path, threads, optimized_copy)
        first = self.session.get_inputs()[0]
        self.input_name = first.name
        self.takes_uint8 = first.type == "tensor(uint8)"
        batch = first.shape[0] if first.shape else None
        self.batch = batch if isinstance(batch, int) and batch > 0 else None  # None: dynamic
        output = self.session.get_outputs()[0]
        last = output.shape[-1] if output.shape else None
        self._dimension = last if isinstance(last, int) else None

    @property
    def output_dimension(self) -> int:
        if self._dimension is None:
            raise ProviderUnavailableError("the image model does not declare its output size; add embed_dim to config.json")
        return self._dimension

    def run(self, batch: np.ndarray) -> np.ndarray:
        output = self.session.run(None, {self.input_name: batch})[0]
        return np.asarray(output, dtype=np.float32).reshape(len(batch), -1)


class _TextTower:
    """The text graph plus its tokenizer, padded and truncated as Immich does."""

    def __init__(self, folder: Path, config: dict[str, Any], threads: int, optimized_copy: Path | None) -> None:
        from tokenizers import Tokenizer

        self.context_length = int(config.get("text_cfg", {}).get("context_length", 77))
        tokenizer_cfg = _read_json(folder / image_models.TOKENIZER_CONFIG)
        pad_token = tokenizer_cfg.get("pad_token")
        if isinstance(pad_token, dict):  # some configs store an AddedToken
            pad_token = pad_token.get("content")
        try:
            self.tokenizer = Tokenizer.from_file(str(folder / image_models.TOKENIZER))
        except Exception as exc:
            raise ProviderUnavailableError(f"cannot read {folder / image_models.TOKENIZER} ({exc}): pull the model again") from exc
        pad_id = self.tokenizer.token_to_id(pad_token) if pad_token else None
        if pad_id is None:
            raise ProviderUnavailableError(f"{folder / image_models.TOKENIZER_CONFIG}: pad_token {pad_token!r} is not in the tokenizer")
        self.tokenizer.enable_padding(length=self.context_length, pad_token=pad_token, pad_id=pad_id)
        self.tokenizer.enable_truncation(max_length=self.context_length)
        self.session = _open_session(folder / image_models.TEXTUAL_MODEL, threads, optimized_copy)
        inputs = {node.name: node for node in self.session.get_inputs()}
        self.multilingual = "input_ids" in inputs  # M-CLIP: input_ids + attention_mask
        first = inputs["input_ids"] if self.multilingual else self.session.get_inputs()[0]
        self.input_name = first.name
        self.dtype = np.int64 if first.type == "tensor(int64)" else np.int32

    def run_text(self, text: str) -> np.ndarray:
        encoding = self.tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=self.dtype)
        if self.multilingual:
            feed = {"input_ids": ids, "attention_mask": np.asarray([encoding.attention_mask], dtype=self.dtype)}
        else:
            feed = {self.input_name: ids}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float32).reshape(1, -1)


def _open_session(path: Path, threads: int, optimized_copy: Path | None) -> Any:
    """An InferenceSession; with `optimized_copy`, from an optimised copy whose weights sit in one external
    file (memory-mapped on load: ~4x faster than parsing the weights out of the protobuf), made on first use."""
    import onnxruntime as ort

    try:
        if optimized_copy is not None:
            if not optimized_copy.is_file():
                _write_optimized_copy(path, optimized_copy)
            options = session_options(threads)
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            try:
                return ort.InferenceSession(str(optimized_copy), options, providers=["CPUExecutionProvider"])
            except Exception:  # a damaged copy: drop it, use the model itself; the next load rebuilds it
                import shutil

                shutil.rmtree(optimized_copy.parent, ignore_errors=True)
        return ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    except ProviderUnavailableError:
        raise
    except Exception as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ProviderUnavailableError(f"cannot load {path} ({reason}): pull the model again or fix [image] model_path") from exc


def _write_optimized_copy(path: Path, destination: Path) -> None:
    """Optimise `path` once and save it with external weights, into a folder renamed into place whole."""
    import shutil

    import onnxruntime as ort

    partial = destination.parent.with_name(f".{destination.parent.name}.{os.getpid()}.tmp")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        options = session_options(1)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        options.optimized_model_filepath = str(partial / destination.name)
        options.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                         destination.name + ".data")
        options.add_session_config_entry("session.optimized_model_external_initializers_min_size_in_bytes", "64")
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        try:
            os.rename(partial, destination.parent)
        except OSError:  # another process made it first
            pass
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProviderUnavailableError(f"{path} is missing: pull the model again or fix [image] model_path") from None
    except (OSError, ValueError) as exc:
        raise ProviderUnavailableError(f"cannot read {path} ({exc}): pull the model again") from None


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
