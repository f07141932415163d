"""The image, OCR and face stages on Immich machine-learning servers, as a user runs them.

The test server (tests/support/immich_server.py) speaks Immich's protocol, runs the tiny CLIP model for `clip`
and makes up OCR lines and faces for coloured photos.
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.support.immich_server import ImmichMLServer, Reply
from tests.support.onnx_models import COLOURS, build_tiny_clip
from tests.support.photos import make_trip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("tiny") / "tiny-clip")


@pytest.fixture
def stages_on(monkeypatch):
    monkeypatch.setenv("PHOTOLIB_OCR_ENABLED", "true")
    monkeypatch.setenv("PHOTOLIB_FACES_ENABLED", "true")


@pytest.fixture
def pictures(tmp_path):
    root = tmp_path / "pics"
    make_trip(root, "Red", 2, start=datetime(2021, 5, 1, 10), gps=(48.2, 16.4), color=COLOURS["red"])
    make_trip(root, "Blue", 2, start=datetime(2021, 6, 1, 10), gps=(43.3, 5.4), color=COLOURS["blue"])
    make_trip(root, "Grey", 1, start=datetime(2021, 7, 1, 10), gps=(52.5, 13.4), color=(128, 128, 128))
    return root


def write_config(tmp_path, text: str):
    config = tmp_path / "config.toml"
    config.write_text(text)
    return config


def photolib(config, library, *args):
    result = CliRunner().invoke(app, ["--config", str(config), "--library", str(library), *args])
    assert "Traceback" not in result.output, result.output
    return result


def server_config(tmp_path, *urls: str, extra: str = ""):
    listed = ", ".join(f'"{url}"' for url in urls)
    return write_config(tmp_path, f'[ml]\nurl = [{listed}]\nmax_retries = 1\n{extra}[image]\nmodel = "tiny-clip"\n')


def catalog(library, sql: str, params=()):
    import sqlite3

    with sqlite3.connect(library / "catalog.db") as db:
        return db.execute(sql, params).fetchall()


def states(library, stage: str) -> dict[str, int]:
    rows = catalog(library, "SELECT status, count(*) FROM stage_state WHERE stage = ? GROUP BY status", (stage,))
    return dict(rows)


def test_add_runs_the_pixel_stages_on_the_servers(tmp_path, tiny, pictures, stages_on):
    library = tmp_path / "library"
    with ImmichMLServer({"tiny-clip": tiny}) as first, ImmichMLServer({"tiny-clip": tiny}) as second:
        config = server_config(tmp_path, first.url, second.url)
        added = photolib(config, library, "add", str(pictures), "--json")
        found = photolib(config, library, "search", "strawberry", "--json")
        texts = photolib(config, library, "search", "has:text", "--json")
        people = photolib(config, library, "people", "--json")
        tasks = {next(iter(p.entries)) for p in first.predictions + second.predictions}
        queries = [p.text for p in first.predictions + second.predictions if p.text]
    assert added.exit_code == 0, added.output
    report = json.loads(added.stdout)
    assert report["stages"]["image"]["done"] == 5 and report["stages"]["image"]["model"] == "immich-app/tiny-clip"
    assert report["stages"]["ocr"]["model"] == "immich-app/PP-OCRv5_mobile/rules-1"
    assert report["stages"]["faces"]["model"] == "immich-app/buffalo_l"
    assert first.predictions and second.predictions  # spread over both
    assert tasks == {"clip", "ocr", "facial-recognition"} and "strawberry" in queries
    red = [hit["path"] for hit in json.loads(found.stdout)]
    assert red and all("/Red/" in path for path in red[:2])
    assert {hit["path"].split("/")[-2] for hit in json.loads(texts.stdout)} == {"Red"}  # "STOP HERE" was read
    groups = sorted((p["faces"], p["photos"]) for p in json.loads(people.stdout))
    assert groups == [(2, 2), (2, 2)]  # red and blue: one person each; grey has no face
    dimensions = {row[0] for row in catalog(library, "SELECT length(descriptor) / 4 FROM faces")}
    assert dimensions == {512}


def test_a_library_moves_between_server_and_local_model_without_embedding_again(tmp_path, tiny, pictures,
                                                                                 monkeypatch):
    """A server running immich-app/tiny-clip and the same model pulled here share one identity (a
    `model_path` folder would not: its identity carries its files' fingerprint, issue 23)."""
    import shutil

    library = tmp_path / "library"
    with ImmichMLServer({"tiny-clip": tiny}) as server:
        assert photolib(server_config(tmp_path, server.url), library, "add", str(pictures)).exit_code == 0
        sent = len(server.predictions)
    repo = tmp_path / "hub" / "models--immich-app--tiny-clip"  # as `photolib models pull` leaves it
    shutil.copytree(tiny, repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    local = write_config(tmp_path, '[image]\nmodel = "tiny-clip"\n')
    enriched = photolib(local, library, "enrich", "--json")
    assert enriched.exit_code == 0, enriched.output
    image = json.loads(enriched.stdout)["image"]
    assert image["done"] == 0 and image["model"] == "immich-app/tiny-clip"  # same identity: nothing embedded again
    assert sent >= 5
    found = photolib(local, library, "search", "ocean", "--json")  # the local text tower, the server's vectors
    assert [hit["path"].split("/")[-2] for hit in json.loads(found.stdout)][:2] == ["Blue", "Blue"]


def test_no_server_answering_stops_with_one_line_and_enrich_finishes_what_waited(tmp_path, tiny, pictures):
    library = tmp_path / "library"
    server = ImmichMLServer({"tiny-clip": tiny})
    url = server.url
    server.stop()
    config = server_config(tmp_path, url)
    added = photolib(config, library, "add", str(pictures))
    assert added.exit_code != 0
    lines = [line for line in added.output.splitlines() if "error" in line.lower()]
    assert len(lines) == 1 and url in lines[0] and "photolib enrich" in lines[0], added.output
    described = photolib(config, library, "list", "--json")
    assert len(json.loads(described.stdout)) == 5  # the first pass is kept: searchable by description
    assert states(library, "image").get("failed", 0) == 0  # nothing failed: the photos wait
    with ImmichMLServer({"tiny-clip": tiny}) as again:
        config = server_config(tmp_path, again.url)
        enriched = photolib(config, library, "enrich", "--json")
    assert enriched.exit_code == 0, enriched.output
    image = json.loads(enriched.stdout)["image"]
    assert image["done"] == 5 and states(library, "image") == {"done": 5}


def test_a_bad_answer_fails_that_photo_with_the_reason(tmp_path, tiny, pictures):
    library = tmp_path / "library"
    with ImmichMLServer({"tiny-clip": tiny}) as server:
        # the first request asks for a query's vector (the model's size: tiny-clip is not a model photolib knows)
        server.script(None, Reply(200, {"clip": "[1, 2, 3]", "imageHeight": 1, "imageWidth": 1}))
        config = server_config(tmp_path, server.url, extra="in_flight = 1\n")
        added = photolib(config, library, "add", str(pictures), "--json")
    report = json.loads(added.stdout)
    assert report["stages"]["image"]["done"] == 4 and report["stages"]["image"]["failed"] == 1
    reason = report["stages"]["image"]["failures"][0]["reason"]
    assert "a vector of 3 numbers, not 8" in reason
    assert states(library, "image") == {"done": 4, "failed": 1}


def test_switching_face_models_keeps_the_names_the_user_gave(tmp_path, tiny, pictures, stages_on, make_library):
    """Faces found locally (dlib space) and named; then [faces] url: the face stage runs again in
    buffalo_l's space, and the named person keeps the faces found where theirs were."""
    from photolib.core.records import FoundFace
    from photolib.models.faces import DETECTOR
    from photolib.store.faces import FaceStore

    library = tmp_path / "library"
    local = write_config(tmp_path, "[ocr]\nenabled = false\n")
    assert photolib(local, library, "add", str(pictures)).exit_code == 0  # dlib finds no face in these
    red = [row[0] for row in catalog(library, "SELECT id FROM photos WHERE path LIKE '%/Red/%' ORDER BY id")]
    blue = [row[0] for row in catalog(library, "SELECT id FROM photos WHERE path LIKE '%/Blue/%' ORDER BY id")]
    opened = make_library(path=library)
    faces = FaceStore(opened.catalog)
    rng = np.random.default_rng(3)
    with opened.catalog.transaction():
        for pid in red + blue:  # as a dlib run would have stored them: 128-d, where the server finds its face
            faces.store(pid, DETECTOR, [FoundFace((0.31, 0.2, 0.69, 0.7), 0.9, rng.standard_normal(128) * 0.01
                                                  + (1.0 if pid in red else -1.0))])
        from photolib.models.people import group

        faces.group_new_faces(0.6, group, DETECTOR)
    opened.close()
    assert photolib(local, library, "people", "name", str(_person_of(library, red[0])), "Ada").exit_code == 0
    with ImmichMLServer({"tiny-clip": tiny}) as server:
        config = write_config(tmp_path, f'[ocr]\nenabled = false\n[faces]\nurl = "{server.url}"\n')
        enriched = photolib(config, library, "enrich", "--json")
        recluster = photolib(config, library, "people", "recluster", "--json")
    assert enriched.exit_code == 0, enriched.output
    face_stage = json.loads(enriched.stdout)["faces"]
    assert face_stage["done"] == 5 and face_stage["model"] == "immich-app/buffalo_l"
    people = {p["name"]: (p["faces"], p["photos"]) for p in json.loads(recluster.stdout)}
    assert people == {"Ada": (2, 2), None: (2, 2)}
    assert {row[0] for row in catalog(library, "SELECT detector FROM faces")} == {"immich-app/buffalo_l"}


def _person_of(library, photo_id: int) -> int:
    return catalog(library, "SELECT person_id FROM faces WHERE photo_id = ?", (photo_id,))[0][0]
