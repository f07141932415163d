"""The derived index: exact while small, IVF when large, same answers, stamped, atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest

import photolib.index as index_module
from photolib.index import VectorIndex, read_stamp


def clustered(n: int, d: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((50, d))
    points = centres[rng.integers(0, 50, n)] + 0.3 * rng.standard_normal((n, d))
    return (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)


def test_distances_are_squared_l2_on_unit_vectors():
    vectors = clustered(10)
    index = VectorIndex.empty("m", 32)
    index.add(np.arange(10), vectors)
    distances, ids = index.search(vectors[3], 3)
    assert ids[0][0] == 3 and distances[0][0] == pytest.approx(0.0, abs=1e-5)
    expected = np.sum((vectors[3] - vectors[ids[0][1]]) ** 2)
    assert distances[0][1] == pytest.approx(expected, abs=1e-4)


def test_add_replaces_and_remove_forgets():
    vectors = clustered(5)
    index = VectorIndex.empty("m", 32)
    index.add(np.arange(5), vectors)
    index.add(np.array([2]), vectors[4:5])
    assert index.count == 5
    index.remove(np.array([0, 1]))
    assert index.count == 3 and 0 not in index.search(vectors[0], 3)[1][0]


def test_ivf_agrees_with_exact_and_is_stamped(tmp_path):
    vectors = clustered(6000)
    ids = np.arange(100, 6100)
    exact = VectorIndex.empty("m", 32)
    exact.add(ids, vectors)
    ivf = VectorIndex.approximate("m", 32, vectors[::3], 6000)
    ivf.add(ids, vectors)
    queries = vectors[:50]
    _, truth = exact.search(queries, 10)
    _, found = ivf.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, found)])
    assert recall >= 0.95
    _, forced = ivf.search(queries, 10, exact=True)
    assert np.array_equal(np.sort(forced, axis=1), np.sort(truth, axis=1))
    ivf.save(tmp_path, generation=7)
    stamp = read_stamp(tmp_path)
    assert stamp.kind == "ivf" and stamp.params["nlist"] > 0 and stamp.params["nprobe"] > 0 and stamp.count == 6000
    loaded, _ = VectorIndex.load(tmp_path, read_only=True)
    assert loaded.kind == "ivf" and loaded.index.nprobe == stamp.params["nprobe"]
    assert np.array_equal(loaded.search(queries, 10)[1], found)


def test_saved_stamp_points_at_its_own_data_file(tmp_path):
    index = VectorIndex.empty("m", 32)
    index.add(np.arange(20), clustered(20))
    index.save(tmp_path, generation=1)
    index.add(np.arange(20, 30), clustered(10, seed=1))
    index.save(tmp_path, generation=2)
    stamp = json.loads((tmp_path / "stamp.json").read_text())
    assert stamp["generation"] == 2 and stamp["count"] == 30
    assert sorted(p.name for p in tmp_path.glob("vectors-*")) == [stamp["file"]]


def test_library_switches_to_ivf_when_large(make_library, monkeypatch, tmp_path):
    from datetime import datetime

    from tests.photos import make_trip

    monkeypatch.setattr(index_module, "APPROXIMATE_FROM", 8)
    library = make_library()
    make_trip(tmp_path / "p", "Lake walk", 5, start=datetime(2020, 5, 1, 9), gps=(46.2, 6.1), color=(30, 90, 160))
    make_trip(tmp_path / "p", "City night", 5, start=datetime(2021, 1, 2, 22), gps=(40.4, -3.7), color=(20, 20, 20))
    library.add([tmp_path / "p"])
    stamp = read_stamp(library.index_folder)
    assert stamp.kind == "ivf" and stamp.count == 10
    approximate = [h.id for h in library.search("lake walk", limit=5)]
    exact = [h.id for h in library.search("lake walk", limit=5, exact=True)]
    assert set(approximate) == set(exact)
