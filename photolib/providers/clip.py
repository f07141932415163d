"""Local CLIP-family image–text models on ONNX Runtime (no torch).

Runs any model folder in the layout Immich publishes (`immich-app/<name>`, see
`photolib.image_models`): OpenAI CLIP and OpenCLIP (text input `text`),
SigLIP/SigLIP2, and the multilingual M-CLIP models (text inputs `input_ids` +
`attention_mask`). What is fed follows Immich's own loader:

* images: resize per `preprocess_cfg.json` (`resize_mode` "shortest": the
  short side to `size` then a centre crop; "squash": straight to size x size)
  with its `interpolation`, scale to [0, 1], subtract `mean`, divide by `std`,
  NCHW float32. Callers hand images already turned upright by their EXIF
  orientation (`photolib.media` does that when it decodes), in any mode; they
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
import sqlite3
import string
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from photolib import image_models
from photolib.errors import ConfigError, ProviderUnavailableError

if TYPE_CHECKING:
    from PIL import Image

    from photolib.providers.base import ImageEmbedder

QUERY_CACHE_ROWS = 2000  # recent query vectors kept per machine
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def make_image_embedder(settings: Any) -> ImageEmbedder | None:
    """The configured image–text model, or None when it is off or not installed.

    `settings` is the whole `Settings` (its `image` section is read). Never
    downloads: a model is used only if `[image] model_path` names a folder in
    Immich's layout, or `photolib models pull` put it in the Hugging Face
    cache. A `model_path` that is missing files is a ConfigError naming them.
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
    else:
        folder = image_models.installed_folder(image.model)
        if folder is None:
            return None
    return ClipEmbedder(folder, image_models.model_identity(image.model), cache_dir=_user_cache_dir())


def _user_cache_dir() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("photolib") / "image-models"


class ClipEmbedder:
    """An `ImageEmbedder` over one model folder in Immich's layout."""

    def __init__(self, folder: Path, model_name: str, *, cache_dir: Path | None = None, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.model_name = model_name
        self.config = _read_json(self.folder / image_models.CONFIG_FILE)
        self.preprocess_cfg = _read_json(self.folder / image_models.VISUAL_PREPROCESS)
        self.family = image_models.family_of(model_name, self.config)
        self.threads = threads or max(1, min(os.cpu_count() or 1, 8))
        self.preprocess = Preprocessor(self.preprocess_cfg)
        self._cache_dir = cache_dir
        self._lock = threading.Lock()
        self._visual: _Tower | None = None
        self._textual: _TextTower | None = None
        self._queries = _QueryCache(cache_dir / "queries.sqlite", self._text_fingerprint()) if cache_dir else None
        self.dimension = int(self.config.get("embed_dim") or self._load_visual().output_dimension)
        self.timings: dict[str, float] = {}  # seconds spent loading each tower (for bench and --verbose)

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
                self._visual = _Tower(self.folder / image_models.VISUAL_MODEL, self.threads, optimized_copy=None)
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
        return self._cache_dir / "optimized" / f"{relative.replace('/', '-')}-{digest}.onnx"

    def _text_fingerprint(self) -> str:
        source = self.folder / image_models.TEXTUAL_MODEL
        stat = source.stat()
        return f"{self.model_name}|{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


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


def session_options(threads: int) -> Any:
    """ONNX Runtime options for a small shared CPU: no spinning (it steals the preprocessing thread's core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


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
    """An InferenceSession; with `optimized_copy`, the graph optimised once and reloaded from disk after."""
    import onnxruntime as ort

    options = session_options(threads)
    try:
        if optimized_copy is not None and optimized_copy.is_file():
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            try:
                return ort.InferenceSession(str(optimized_copy), options, providers=["CPUExecutionProvider"])
            except Exception:  # a damaged cache copy: rebuild it from the model
                optimized_copy.unlink(missing_ok=True)
                options = session_options(threads)
        if optimized_copy is not None:
            optimized_copy.parent.mkdir(parents=True, exist_ok=True)
            partial = optimized_copy.with_name(f".{optimized_copy.name}.{os.getpid()}.tmp")
            options.optimized_model_filepath = str(partial)
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            if partial.is_file():
                os.replace(partial, optimized_copy)
            return session
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except ProviderUnavailableError:
        raise
    except Exception as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ProviderUnavailableError(f"cannot load {path} ({reason}): pull the model again or fix [image] model_path") from exc


class _QueryCache:
    """Recent query vectors on disk, so a repeated search never loads the text tower.

    Keyed by the text tower's identity (name, file, size, mtime) and the
    cleaned text; bounded to QUERY_CACHE_ROWS rows, oldest use dropped.
    Failures to read or write the cache are ignored: it is only a cache.
    """

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.model = hashlib.sha256(fingerprint.encode()).hexdigest()[:24]

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=2.0)
        db.execute("CREATE TABLE IF NOT EXISTS queries (model TEXT, text TEXT, vector BLOB, used REAL, "
                   "PRIMARY KEY (model, text))")
        return db

    def get(self, texts: list[str]) -> dict[str, np.ndarray]:
        if len(texts) > 16:  # label vocabularies are cached by photolib.labels, not here
            return {}
        try:
            with self._connect() as db:
                marks = ",".join("?" * len(texts))
                rows = db.execute(f"SELECT text, vector FROM queries WHERE model = ? AND text IN ({marks})",
                                  [self.model, *texts]).fetchall()
                db.execute(f"UPDATE queries SET used = ? WHERE model = ? AND text IN ({marks})",
                           [time.time(), self.model, *texts])
            return {text: np.frombuffer(blob, dtype=np.float32).copy() for text, blob in rows}
        except sqlite3.Error:
            return {}

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        if len(vectors) > 16:
            return
        try:
            with self._connect() as db:
                now = time.time()
                db.executemany("INSERT OR REPLACE INTO queries VALUES (?, ?, ?, ?)",
                               [(self.model, text, np.asarray(v, dtype=np.float32).tobytes(), now) for text, v in vectors.items()])
                db.execute("DELETE FROM queries WHERE rowid IN (SELECT rowid FROM queries ORDER BY used DESC LIMIT -1 OFFSET ?)",
                           (QUERY_CACHE_ROWS,))
        except sqlite3.Error:
            pass


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
