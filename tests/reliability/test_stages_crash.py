"""kill -9 during the OCR and face stages of `add`: the catalog stays consistent, the next `add` finishes.

Each stage commits a batch of photos per transaction. The kill is aimed at the
moment a stage has committed its first batch and is working on the next one;
the next `add` must then do exactly the stage's remaining backlog.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests import stage_photos
from tests.photos import make_photo
from tests.reliability.conftest import TRIALS
from tests.reliability.helpers import catalog_query, check_catalog, photolib, run_photolib

STAGES_ON = {"PHOTOLIB_OCR_ENABLED": "true", "PHOTOLIB_FACES_ENABLED": "true"}
PHOTOS = 24  # two batches of 16
EVERY = 6  # one photo in six holds text, another one in six a face


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Small photos: one in six holds text, one in six a face, the rest are plain colours."""
    root = tmp_path_factory.mktemp("stages") / "pics"
    astronaut = stage_photos.astronaut().resize((256, 256))
    for number in range(PHOTOS):
        path = root / f"photo_{number:03d}.jpg"
        if number % EVERY == 0:
            stage_photos.shop_sign(path, size=(320, 214))
        elif number % EVERY == 1:
            stage_photos.save(astronaut.rotate(number % 3 * 2), path)
        else:
            make_photo(path, size=(160, 120), color=(20 + number * 5, 120, 200 - number * 4))
    return root


def stage_rows(library, table: str) -> int:
    rows = catalog_query(library, f"SELECT count(*) FROM sqlite_master WHERE name = '{table}'")
    return catalog_query(library, f"SELECT count(*) FROM {table}")[0][0] if rows and rows[0][0] else 0


def check_stage_tables(library) -> None:
    """Text index in step with the text, every stored face grouped into an existing person, no orphans."""
    connection = sqlite3.connect(str(library / "catalog.db"))
    try:
        with_text = connection.execute("SELECT count(*) FROM photo_text WHERE text <> ''").fetchone()[0]
        indexed = connection.execute("SELECT count(*) FROM photo_text_fts").fetchone()[0]
        assert with_text == indexed
        assert connection.execute("SELECT count(*) FROM faces WHERE person_id IS NULL OR person_id NOT IN "
                                  "(SELECT id FROM people)").fetchone()[0] == 0
        for table in ("photo_text", "faces", "face_scans"):
            assert connection.execute(f"SELECT count(*) FROM {table} WHERE photo_id NOT IN "
                                      "(SELECT id FROM photos)").fetchone()[0] == 0
    finally:
        connection.close()


def test_kill_during_each_stage_then_add_finishes_the_backlog(tmp_path, pictures):
    """Killed while reading text, then killed while finding faces: the third `add` finishes both."""
    library = tmp_path / "library"
    for number, (table, stage) in enumerate([("photo_text", "ocr"), ("face_scans", "faces")]):
        before = stage_rows(library, table)
        run = run_photolib(library, ["add", str(pictures), "--json"], env=STAGES_ON, logs=tmp_path / f"logs{number}",
                           kill_when=lambda: before < stage_rows(library, table) < PHOTOS, timeout=600)
        assert run.killed, f"the run ended before the {stage} stage was under way: {run.stderr[-500:]}"
        TRIALS[f"kill -9 during the {stage} stage"] += 1
        check_catalog(library)
        check_stage_tables(library)
        assert before < stage_rows(library, table) < PHOTOS
    done_before = {"ocr": stage_rows(library, "photo_text"), "faces": stage_rows(library, "face_scans")}
    assert done_before["ocr"] == PHOTOS

    finished = photolib(library, "add", str(pictures), "--json", env=STAGES_ON, timeout=600)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert "ocr" not in report["stages"]
    assert report["stages"]["faces"]["done"] == PHOTOS - done_before["faces"]
    assert stage_rows(library, "photo_text") == PHOTOS and stage_rows(library, "face_scans") == PHOTOS
    check_catalog(library)
    check_stage_tables(library)
    assert len(catalog_query(library, "SELECT photo_id FROM photo_text WHERE text LIKE '%ACME%'")) == PHOTOS // EVERY
    assert catalog_query(library, "SELECT count(*) FROM faces")[0][0] == PHOTOS // EVERY
    people = json.loads(photolib(library, "people", "--json", env=STAGES_ON).stdout)
    assert [p["faces"] for p in people] == [PHOTOS // EVERY]
