"""Two writers at once, and readers during writes: no corruption, no lost photos, clear messages."""

from __future__ import annotations

import json
import time
from datetime import datetime

from tests.photos import make_trip
from tests.reliability.conftest import TRIALS
from tests.reliability.helpers import check_catalog, photolib, start_photolib


def pictures_in(tmp_path, n=12):
    root = tmp_path / "pics"
    make_trip(root, "Canal boats", n, start=datetime(2021, 9, 9, 10), gps=(52.37, 4.89), color=(30, 100, 160))
    return root


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


def test_second_writer_gives_up_with_a_clear_message(tmp_path):
    pictures = pictures_in(tmp_path, 20)
    library = tmp_path / "library"
    first = start_photolib(library, "add", str(pictures))
    time.sleep(1.0)
    second = photolib(library, "add", str(pictures), env={"PHOTOLIB_LIBRARY_LOCK_TIMEOUT": "0.1"})
    first.communicate()
    if second.returncode != 0:  # the first was still writing
        assert "another photolib process is writing" in second.stderr and "Traceback" not in second.stderr
    assert check_catalog(library) == {"ok": 20}


def test_search_while_add_runs(tmp_path):
    pictures = pictures_in(tmp_path, 20)
    library = tmp_path / "library"
    assert photolib(library, "add", str(pictures / "Canal boats" / "photo_000.jpg")).returncode == 0
    writer = start_photolib(library, "add", str(pictures))
    searches = 0
    while writer.poll() is None and searches < 10:
        result = photolib(library, "search", "canal", "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)
        searches += 1
    writer.communicate()
    assert writer.returncode == 0 and check_catalog(library) == {"ok": 20}
    TRIALS["searches during add"] += searches
