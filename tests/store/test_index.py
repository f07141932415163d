"""The derived index: exact while small, IVF when large, same answers, stamped, atomic."""

from __future__ import annotations

import json

import numpy as np
import pytest

import photolib.store.index as index_module
from photolib.store.index import VectorIndex, read_stamp


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
    ivf.save(tmp_path, revision=7)
    stamp = read_stamp(tmp_path)
    assert stamp.kind == "ivf" and stamp.params["nlist"] > 0 and stamp.params["nprobe"] > 0 and stamp.count == 6000
    loaded, _ = VectorIndex.load(tmp_path)
    assert loaded.kind == "ivf" and loaded.base.nprobe == stamp.params["nprobe"]
    assert np.array_equal(loaded.search(queries, 10)[1], found)


def test_saved_stamp_points_at_its_own_data_file(tmp_path):
    index = VectorIndex.empty("m", 32)
    index.add(np.arange(20), clustered(20))
    index.save(tmp_path, revision=1)
    index.add(np.arange(20, 30), clustered(10, seed=1))
    index.save(tmp_path, revision=2)
    stamp = json.loads((tmp_path / "stamp.json").read_text())
    assert stamp["revision"] == 2 and stamp["count"] == 30
    assert sorted(p.name for p in tmp_path.glob("vectors-*")) == [stamp["file"]]


def catalog_vectors(library) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of every vector in the library's catalog: what brute force searches."""
    ids = library.catalog.embedded_ids()
    blobs = library.catalog.vectors_for(ids)
    return np.array(ids), np.vstack([np.frombuffer(blobs[i], dtype=np.float32) for i in ids])


def test_library_switches_to_ivf_when_large_and_keeps_recall(make_library, monkeypatch, tmp_path):
    from tests.support.photos import embedded_photos

    monkeypatch.setattr(index_module, "APPROXIMATE_FROM", 1000)
    library = make_library()
    library.import_embedded(embedded_photos(library.embedder, tmp_path, 3000, spread=0.15), library.embedder.model_name)
    stamp = read_stamp(library.index_folder_of("description"))
    assert stamp.kind == "ivf" and stamp.count == 3000 and stamp.params["nprobe"] < stamp.params["nlist"]
    ids, vectors = catalog_vectors(library)
    rng = np.random.default_rng(5)
    queries = vectors[rng.choice(len(ids), 50, replace=False)] + 0.03 * rng.standard_normal((50, vectors.shape[1]))
    queries = (queries / np.linalg.norm(queries, axis=1, keepdims=True)).astype(np.float32)
    truth = ids[np.argsort(-(queries @ vectors.T), axis=1)[:, :10]]
    index = library.index()
    approximate = index.search(queries, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(truth, approximate)])
    assert 0.75 <= recall < 1.0  # really approximate (some true neighbours are missed), and still good
    exact = index.search(queries, 10, exact=True)[1]
    assert [set(row) for row in exact] == [set(row) for row in truth]


def _exact_answers(ids: np.ndarray, vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    truth = VectorIndex.empty("m", vectors.shape[1])
    truth.add(ids, vectors)
    return truth.search(queries, k)[1]


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_small_changes_are_saved_as_a_delta_beside_the_untouched_base(tmp_path, kind):
    vectors = clustered(2000, seed=1)
    ids = np.arange(2000)
    if kind == "ivf":
        index = VectorIndex.approximate("m", 32, vectors, 2000)
    else:
        index = VectorIndex.empty("m", 32)
    index.add(ids, vectors)
    index.save(tmp_path, revision=1)
    base_file = read_stamp(tmp_path).file
    base_bytes = (tmp_path / base_file).read_bytes()

    loaded, _ = VectorIndex.load(tmp_path)  # memory-mapped: changes must not be written into it
    fresh = clustered(30, seed=2)
    loaded.add(np.arange(5000, 5030), fresh)  # new photos
    changed = clustered(10, seed=4)
    loaded.add(np.arange(0, 10), changed)  # changed photos: same ids, new vectors
    assert loaded.remove(np.array([20, 21, 22, 5000, 99999])) == 4  # forgotten photos, one unknown id
    loaded.save(tmp_path, revision=2)

    stamp = read_stamp(tmp_path)
    assert stamp.file == base_file and stamp.delta and stamp.count == 2000 + 30 - 4
    assert (tmp_path / base_file).read_bytes() == base_bytes
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "stamp.json") == sorted([base_file, stamp.delta])

    final_ids = np.concatenate([np.arange(23, 2000), np.arange(5001, 5030), np.arange(0, 10), [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]])
    final_vectors = np.vstack([vectors[23:], fresh[1:], changed, vectors[10:20]])
    reloaded, _ = VectorIndex.load(tmp_path)
    assert reloaded.count == len(final_ids) == stamp.count
    queries = np.vstack([fresh, changed, vectors[:40]])
    found = reloaded.search(queries, 10, exact=True)[1]
    assert np.array_equal(np.sort(found, axis=1), np.sort(_exact_answers(final_ids, final_vectors, queries, 10), axis=1))
    assert not np.isin(found, [20, 21, 22, 5000]).any()
    distances, nearest = reloaded.search(changed[3], 1)
    assert nearest[0][0] == 3 and distances[0][0] == pytest.approx(0.0, abs=1e-5)  # the replaced vector, not the old one


def test_large_changes_are_merged_into_a_new_base(tmp_path):
    vectors = clustered(320, seed=3)
    index = VectorIndex.empty("m", 32)
    index.add(np.arange(300), vectors[:300])
    index.save(tmp_path, revision=1)
    first = read_stamp(tmp_path).file
    loaded, _ = VectorIndex.load(tmp_path)
    loaded.add(np.arange(300, 320), vectors[300:])  # 20 * 16 > 300: too large for a delta
    loaded.save(tmp_path, revision=2)
    stamp = read_stamp(tmp_path)
    assert stamp.file != first and stamp.delta == "" and stamp.count == 320
    assert sorted(p.name for p in tmp_path.glob("*") if p.name != "stamp.json") == [stamp.file]
    reloaded, _ = VectorIndex.load(tmp_path)
    assert reloaded.search(vectors[310], 1)[1][0][0] == 310


def test_a_stamp_naming_a_missing_delta_is_not_served(tmp_path):
    index = VectorIndex.empty("m", 32)
    index.add(np.arange(100), clustered(100))
    index.save(tmp_path, revision=1)
    loaded, _ = VectorIndex.load(tmp_path)
    loaded.add(np.array([500]), clustered(1, seed=9))
    loaded.save(tmp_path, revision=2)
    (tmp_path / read_stamp(tmp_path).delta).unlink()
    assert VectorIndex.load(tmp_path) is None


def test_search_restricted_to_ids_on_flat_ivf_and_a_saved_base_with_delta(tmp_path):
    """An id selector keeps only the selected photos and finds their own nearest (a narrow filter)."""
    vectors = clustered(6000, seed=3)
    ids = np.arange(1, 6001)
    selected = np.sort(np.random.default_rng(1).choice(ids, 60, replace=False))
    queries = vectors[:20]
    truth = np.argsort(-(vectors[selected - 1] @ queries.T), axis=0)[:5].T  # positions in `selected`
    flat = VectorIndex.empty("m", 32)
    flat.add(ids, vectors)
    ivf = VectorIndex.approximate("m", 32, vectors[::3], 6000)
    ivf.add(ids, vectors)
    ivf.save(tmp_path, revision=1)
    loaded, _ = VectorIndex.load(tmp_path)
    loaded.add(np.array([9001]), vectors[:1])  # a delta, searched with the same selector
    for index in (flat, ivf, loaded):
        _, found = index.search(queries, 5, ids=selected)
        assert set(found.ravel()) <= set(selected)
        recall = np.mean([len(set(f) & set(selected[t])) / 5 for f, t in zip(found, truth)])
        assert recall >= 0.9
    _, with_delta = loaded.search(queries[:1], 3, ids=np.array([9001, int(selected[0])]))
    assert 9001 in with_delta[0]
