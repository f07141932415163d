"""kill -9 during the OCR and face stages of `add`: the catalog stays consistent, the next `add` finishes.

The pipeline runs every stage on a batch of photos, each stage's batch committed in its own transaction;
the photos' pixel work runs in two worker processes. The kill is aimed at the moment a stage has committed
its first batch and is working on the next one (the workers busy with the photos ahead); the workers must
die with the process that started them, and the next `add` must then do exactly the stage's remaining
backlog. That last `add` runs under the network guard, installed in every Python process it starts (its
workers too): loading and running the OCR and face models opens no socket at all (the models ship in
packages) and logs nothing.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support import stage_photos
from tests.support.photos import make_photo
from tests.reliability.conftest import TRIALS
from tests.reliability.helpers import ROOT, catalog_query, check_catalog, child_env, photolib, run_photolib
from tests.reliability.test_secrets_and_network import GUARD, OFFLINE_SWITCHES

STAGES_ON = {"PHOTOLIB_OCR_ENABLED": "true", "PHOTOLIB_FACES_ENABLED": "true", "PHOTOLIB_ADD_BATCH_SIZE": "4",
             "PHOTOLIB_ADD_WORKERS": "2"}
NO_SOCKET = """
socket.socket.__init__ = refuse("socket.socket")
socket.socketpair = refuse("socketpair")
"""  # not even a socket is made: the workers talk to the run through pipes
MARK = "CRASH_TEST_RUN"  # in the environment of a run and of every process it starts
PHOTOS = 20  # five batches of 4: a kill that lands a batch late still leaves the next run two to do
EVERY = 4  # one photo in four holds text, another one in four a face


def guarded_photolib(tmp_path, library, *args) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`photolib args` with the stages on, in a process whose every way to the network is recorded and
    refused (see test_secrets_and_network); offline switches unset."""
    log = tmp_path / "network.log"
    guard = tmp_path / "guard"  # as sitecustomize, the guard is in every Python process of the run: workers too
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(GUARD.split("sys.argv = ")[0] + NO_SOCKET)
    env = child_env({"NETWORK_GUARD_LOG": str(log), **STAGES_ON})
    env["PYTHONPATH"] = os.pathsep.join([str(guard), env["PYTHONPATH"]])
    for name in OFFLINE_SWITCHES:
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-m", "photolib.cli", "-L", str(library), *args], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=600)
    return result, log.read_text().splitlines() if log.exists() else []


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Small photos: one in four holds text, one in four a face, the rest are plain colours."""
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


def every(seconds: float, check):
    """`check`, asked at most every `seconds` (each ask opens the catalog; the runner polls every few ms)."""
    last = [0.0]

    def throttled() -> bool:
        now = time.monotonic()
        if now - last[0] < seconds:
            return False
        last[0] = now
        return check()

    return throttled


def marked_processes(mark: str) -> list[int]:
    """Processes whose environment holds `mark` (a run and the workers it started), through /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if f"{MARK}={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:  # gone, or not ours to read
                continue
    return found


def gone(mark: str, patience: float = 60.0) -> list[int]:
    """The marked processes still alive after `patience` seconds (a worker's watchdog looks every second)."""
    deadline = time.monotonic() + patience
    while (alive := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


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


def test_kill_during_the_stages_then_add_finishes_the_backlog(tmp_path, pictures):
    """Killed while the pipeline reads text and finds faces (batch by batch, both stages on each batch), twice:
    the third `add` finishes exactly both backlogs."""
    library = tmp_path / "library"
    for number in range(2):
        before = stage_rows(library, "face_scans")
        mark, most = uuid.uuid4().hex, [0]

        def stages_under_way() -> bool:
            most[0] = max(most[0], len(marked_processes(mark)))
            return before < stage_rows(library, "face_scans") < PHOTOS

        run = run_photolib(library, ["add", str(pictures), "--json"], env={**STAGES_ON, MARK: mark},
                           logs=tmp_path / f"logs{number}", kill_when=every(0.05, stages_under_way), timeout=600)
        assert run.killed, f"the run ended before the stages were under way: {run.stderr[-500:]}"
        assert most[0] >= 3  # the run and its two workers (and multiprocessing's resource tracker)
        assert gone(mark) == [], "worker processes outlived the run that started them"
        TRIALS["kill -9 during the OCR and face stages (two workers)"] += 1
        check_catalog(library)
        check_stage_tables(library)
        assert before < stage_rows(library, "face_scans") < PHOTOS
    done_before = {"ocr": stage_rows(library, "photo_text"), "faces": stage_rows(library, "face_scans")}

    finished, attempts = guarded_photolib(tmp_path, library, "add", str(pictures), "--json")
    assert attempts == [], attempts
    assert finished.returncode == 0 and "Traceback" not in finished.stderr, finished.stderr
    assert "RapidOCR" not in finished.stderr and "[INFO]" not in finished.stderr  # its logging is silenced
    TRIALS["guarded OCR and face stages, two workers (no socket opened)"] += 1
    report = json.loads(finished.stdout)
    assert report["stages"]["ocr"]["done"] == PHOTOS - done_before["ocr"]
    assert report["stages"]["faces"]["done"] == PHOTOS - done_before["faces"]
    assert stage_rows(library, "photo_text") == PHOTOS and stage_rows(library, "face_scans") == PHOTOS
    check_catalog(library)
    check_stage_tables(library)
    assert len(catalog_query(library, "SELECT photo_id FROM photo_text WHERE text LIKE '%ACME%'")) == PHOTOS // EVERY
    assert catalog_query(library, "SELECT count(*) FROM faces")[0][0] == PHOTOS // EVERY
    people = json.loads(photolib(library, "people", "--json", env=STAGES_ON).stdout)
    assert [p["faces"] for p in people] == [PHOTOS // EVERY]
    hits = json.loads(photolib(library, "search", "acme", "--json", env=STAGES_ON).stdout)
    assert hits and all(int(h["path"][-7:-4]) % EVERY == 0 for h in hits[:PHOTOS // EVERY])
