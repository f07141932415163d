"""The fast paths that keep large libraries quick give the same answers as the slow ones.

Behaviour only: timings live in bench/, never in tests.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
from typer.testing import CliRunner

import photolib.store.index as index_module
from photolib.cli import app
from photolib.store.index import read_stamp
from photolib.media.read import read_photo
from tests.support.photos import exif_with_preview, make_photo, make_trip


def test_camera_preview_gives_the_facts_of_the_full_photo(tmp_path):
    shot = dict(size=(900, 600), color=(40, 90, 200), taken_at=datetime(2022, 6, 1, 12), gps=(45.9, 6.8), make="Canon")
    decoded = read_photo(make_photo(tmp_path / "plain.jpg", **shot))
    previewed = read_photo(make_photo(tmp_path / "camera.jpg", camera_preview=True, **shot))
    assert previewed.dominant_colors == decoded.dominant_colors == ["blue"]
    assert abs(previewed.brightness - decoded.brightness) < 0.02  # letterbox bars cropped away
    assert (previewed.width, previewed.height, previewed.gps_lat, previewed.taken_at) == (900, 600, 45.9, decoded.taken_at)


def test_preview_is_used_instead_of_decoding_the_photo(tmp_path):
    from PIL import Image

    path = make_photo(tmp_path / "x.jpg", size=(800, 600), color=(30, 60, 200), make="Canon")
    with Image.open(path) as image:
        exif = image.info["exif"]
        pixels = image.copy()
    pixels.save(path, exif=exif_with_preview(exif, Image.new("RGB", (800, 600), (220, 40, 40))))
    assert read_photo(path).dominant_colors == ["red"]  # the (deliberately different) preview was read


def test_cut_short_file_with_preview_is_still_reported(tmp_path, library_path):
    good = make_photo(tmp_path / "p" / "good.jpg", size=(800, 600), camera_preview=True)
    (tmp_path / "p" / "cut.jpg").write_bytes(good.read_bytes()[: good.stat().st_size * 3 // 4])
    result = CliRunner().invoke(app, ["-L", str(library_path), "add", str(tmp_path / "p"), "--json"])
    failures = {f["path"].rsplit("/", 1)[1]: f["reason"] for f in json.loads(result.stdout)["failures"]}
    assert list(failures) == ["cut.jpg"] and "truncated" in failures["cut.jpg"]


def _two_trips(root):
    make_trip(root, "Lake walk", 6, start=datetime(2020, 5, 1, 9), gps=(46.2, 6.1), color=(30, 90, 160))
    make_trip(root, "City night", 6, start=datetime(2021, 1, 2, 22), gps=(40.4, -3.7), color=(20, 20, 20))


def test_search_exact_flag_on_an_approximate_library(make_library, monkeypatch, tmp_path, library_path):
    from tests.support.photos import embedded_photos
    from tests.store.test_index import catalog_vectors

    monkeypatch.setattr(index_module, "APPROXIMATE_FROM", 1000)
    library = make_library()
    library.import_embedded(embedded_photos(library.embedder, tmp_path, 3000, spread=0.15), library.embedder.model_name)
    stamp = read_stamp(library_path / "index" / "description")
    assert stamp.kind == "ivf" and stamp.params["nprobe"] < stamp.params["nlist"]
    ids, vectors = catalog_vectors(library)
    truth = list(ids[np.argsort(-(vectors @ library.embedder.embed_query("a walk by the lake")))[:20]])
    runner = CliRunner()
    ask = ["-L", str(library_path), "search", "a walk by the lake", "--json", "--limit", "20", "--threshold", "4"]
    exact = [hit["id"] for hit in json.loads(runner.invoke(app, [*ask, "--exact"]).stdout)]
    approximate = [hit["id"] for hit in json.loads(runner.invoke(app, ask).stdout)]
    assert exact == truth
    assert len(set(approximate) & set(truth)) >= 16  # recall@20 of the approximate index


def test_reindex_switches_kind_with_the_size_threshold(make_library, monkeypatch, tmp_path):
    monkeypatch.setattr(index_module, "APPROXIMATE_FROM", 8)
    _two_trips(tmp_path / "p")
    library = make_library()
    library.add([tmp_path / "p"])
    stamp = read_stamp(library.index_folder_of("description"))
    assert stamp.kind == "ivf" and stamp.params["nlist"] >= 1 and stamp.params["nprobe"] >= 1
    monkeypatch.setattr(index_module, "APPROXIMATE_FROM", 1000)
    library.reindex()
    stamp = read_stamp(library.index_folder_of("description"))
    assert stamp.kind == "flat" and stamp.count == 12
    assert "Lake walk" in library.search("lake walk")[0].path


def test_bulk_import_grows_an_approximate_index_without_rebuilding(make_library, monkeypatch, tmp_path):
    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.core.records import Description

    monkeypatch.setattr(index_module, "APPROXIMATE_FROM", 200)
    library = make_library()
    model = library.embedder.model_name
    rng = np.random.default_rng(3)
    centres = library.embedder.embed_documents(["a dog on a beach", "snow on mountains", "ramen in a bar", "a red car"])

    def photos(start, count):
        for i in range(start, start + count):
            vector = centres[i % 4] + 0.05 * rng.standard_normal(centres.shape[1]).astype(np.float32)
            yield EmbeddedPhoto(str(tmp_path / f"{i}.jpg"), Description([], f"photo {i}", ""), vector / np.linalg.norm(vector))

    library.import_embedded(photos(0, 300), model)
    first = read_stamp(library.index_folder_of("description"))
    assert first.kind == "ivf" and first.count == 300
    library.import_embedded(photos(300, 50), model)
    second = read_stamp(library.index_folder_of("description"))
    assert second.kind == "ivf" and second.count == 350 and second.params == first.params
    query = library.embedder.embed_query("snow on mountains")
    index = library.index()
    assert index.search(query, 5)[1][0][0] == index.search(query, 5, exact=True)[1][0][0]


def test_adding_to_a_large_library_writes_only_the_changes(make_library, tmp_path):
    """A few new photos leave the big base file alone; a new process, and a reindex, see the same library."""
    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.core.records import Description

    library = make_library()
    rng = np.random.default_rng(5)
    centres = library.embedder.embed_documents(["a dog on a beach", "snow on mountains", "ramen in a bar"])
    noisy = centres[rng.integers(0, 3, 400)] + 0.05 * rng.standard_normal((400, centres.shape[1])).astype(np.float32)
    library.import_embedded((EmbeddedPhoto(f"/old/{i}.jpg", Description([], f"old photo {i}", ""), v / np.linalg.norm(v))
                             for i, v in enumerate(noisy)), library.embedder.model_name)
    base = read_stamp(library.index_folder_of("description")).file

    _two_trips(tmp_path / "p")
    assert make_library().add([tmp_path / "p"]).new == 12
    stamp = read_stamp(library.index_folder_of("description"))
    assert stamp.file == base and stamp.delta and stamp.count == 412
    lake = [h for h in make_library().search("lake walk") if "Lake walk" in h.path]
    assert len(lake) == 6
    make_library().remove(lake[0].path)

    searched = [h.id for h in make_library().search("lake walk", limit=20)]
    assert lake[0].id not in searched and lake[1].id in searched
    assert make_library().stats()["problems"] == []
    rebuilt = make_library()
    rebuilt.reindex()
    assert not read_stamp(library.index_folder_of("description")).delta
    assert [h.id for h in rebuilt.search("lake walk", limit=20)] == searched
