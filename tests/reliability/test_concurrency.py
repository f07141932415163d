"""Two writers at once, and readers during writes: no corruption, no lost photos, clear messages.

Overlap is made certain, not left to timing: the first writer is paused (SIGSTOP) while it holds the
library's write lock, the other commands run against it, then it is resumed (SIGCONT).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from contextlib import contextmanager
from datetime import datetime

from tests.support.photos import make_trip
from tests.reliability.conftest import TRIALS
from tests.reliability.helpers import (ROOT, catalog_query, check_catalog, child_env, holds_write_lock, photolib,
                                       photolib_argv, start_photolib)

LOCKED = "another photolib process is writing"


def pictures_in(tmp_path, n=12):
    root = tmp_path / "pics"
    make_trip(root, "Canal boats", n, start=datetime(2021, 9, 9, 10), gps=(52.37, 4.89), color=(30, 100, 160))
    return root


@contextmanager
def paused_while_writing(library, *args, env=None, ok_before_pause=0):
    """Start `photolib args`, wait until it holds the write lock (and has `ok_before_pause` photos ok),
    pause it there, and resume it on leaving the block. Yields the process."""
    writer = start_photolib(library, *args, env=env)
    lock = os.path.realpath(library / ".lock")
    try:
        deadline = time.monotonic() + 60
        while not (holds_write_lock(writer.pid, lock) and ok_photos(library) >= ok_before_pause):
            assert writer.poll() is None, f"the writer ended before it could be paused: {writer.communicate()}"
            assert time.monotonic() < deadline, "the writer never took the lock"
            time.sleep(0.002)
        writer.send_signal(signal.SIGSTOP)
        try:
            yield writer
        finally:
            writer.send_signal(signal.SIGCONT)
    except BaseException:
        writer.kill()
        writer.communicate()
        raise


def ok_photos(library) -> int:
    rows = catalog_query(library, "SELECT count(*) FROM photos WHERE status = 'ok'")
    return rows[0][0] if rows else 0


def test_two_adds_at_once_both_finish_without_duplicates(tmp_path):
    pictures = pictures_in(tmp_path)
    library = tmp_path / "library"
    env = {"PHOTOLIB_LIBRARY_LOCK_TIMEOUT": "120"}
    first = start_photolib(library, "add", str(pictures), "--json", env=env)
    second = start_photolib(library, "add", str(pictures), "--json", env=env)
    reports = [json.loads(p.communicate()[0]) for p in (first, second)]
    assert first.returncode == second.returncode == 0
    assert sorted(r["new"] for r in reports) == [0, 12]
    assert check_catalog(library) == {"ok": 12}
    TRIALS["concurrent add pairs"] += 1


def test_second_writer_waits_or_gives_up_with_a_clear_message(tmp_path):
    """While one `add` writes: a second with a short lock timeout stops with the message and writes
    nothing; a third with a long one waits, then finds every photo already imported."""
    pictures = pictures_in(tmp_path, 12)
    library = tmp_path / "library"
    with paused_while_writing(library, "add", str(pictures), "--json",
                              env={"PHOTOLIB_ADD_BATCH_SIZE": "2"}, ok_before_pause=2) as first:
        before = catalog_query(library, "SELECT id, status FROM photos ORDER BY id")
        loser = photolib(library, "add", str(pictures), "--json", env={"PHOTOLIB_LIBRARY_LOCK_TIMEOUT": "0.2"})
        assert loser.returncode == 1, loser.stderr
        assert LOCKED in loser.stderr and "Traceback" not in loser.stderr + loser.stdout
        assert loser.stdout == ""
        assert catalog_query(library, "SELECT id, status FROM photos ORDER BY id") == before
        waiter_err = tmp_path / "waiter.err"
        with open(waiter_err, "w") as err:
            waiter = subprocess.Popen(photolib_argv(library, "add", str(pictures), "--json"), stdout=subprocess.PIPE,
                                      stderr=err, text=True, cwd=ROOT,
                                      env=child_env({"PHOTOLIB_LIBRARY_LOCK_TIMEOUT": "120"}))
        deadline = time.monotonic() + 60
        while LOCKED not in waiter_err.read_text().lower():  # it says it waits, and why
            assert waiter.poll() is None, waiter_err.read_text()
            assert time.monotonic() < deadline, "the second writer never said it was waiting"
            time.sleep(0.01)
    first_report = json.loads(first.communicate(timeout=120)[0])
    waiter_out = waiter.communicate(timeout=120)[0]
    assert first.returncode == 0 and first_report["new"] == 12
    assert waiter.returncode == 0 and "Traceback" not in waiter_err.read_text(), waiter_err.read_text()
    waiter_report = json.loads(waiter_out)
    assert waiter_report["new"] == 0 and waiter_report["unchanged"] == 12 and waiter_report["vision_calls"] == 0
    assert check_catalog(library) == {"ok": 12}
    TRIALS["second writers turned away"] += 1
    TRIALS["second writers that waited"] += 1


def test_search_while_add_runs(tmp_path):
    pictures = pictures_in(tmp_path, 12)
    library = tmp_path / "library"
    searches = []

    def search():
        result = photolib(library, "search", "canal", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout), "a search during add found nothing"
        assert "Traceback" not in result.stderr
        searches.append(result)

    during = 0
    with paused_while_writing(library, "add", str(pictures), env={"PHOTOLIB_ADD_BATCH_SIZE": "2"},
                              ok_before_pause=3) as writer:
        search()  # the writer is paused mid-import, holding the lock, with batches committed
        during += writer.poll() is None
    while writer.poll() is None and len(searches) < 3:
        search()
        during += writer.poll() is None
    writer.communicate()
    assert writer.returncode == 0 and check_catalog(library) == {"ok": 12}
    assert during > 0, "no search ran while the add was running"
    TRIALS["searches during add"] += during
