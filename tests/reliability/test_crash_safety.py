"""kill -9 at random moments: the catalog stays intact and the next command finishes the job."""

from __future__ import annotations

import json
import random
import signal
import time
from datetime import datetime

import pytest

from tests.photos import make_trip
from tests.reliability.conftest import TRIALS
from tests.reliability.helpers import check_catalog, photolib, start_photolib, stats

TRIALS_PER_COMMAND = 4
PHOTOS = 24


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash") / "pics"
    for n, (name, gps) in enumerate([("Harbour", (53.55, 9.99)), ("Forest", (48.0, 8.2)), ("Desert", (31.6, -8.0))]):
        make_trip(root, name, PHOTOS // 3, start=datetime(2022, 3 + n, 1, 10), gps=gps, color=(40 + 60 * n, 120, 90))
    return root


def kill_at_random(library, args, rng, low=0.4, high=2.5):
    process = start_photolib(library, *args)
    time.sleep(rng.uniform(low, high))
    process.send_signal(signal.SIGKILL)
    process.wait()


def assert_recovers(library, pictures):
    check_catalog(library)
    result = photolib(library, "add", str(pictures), "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    counts = check_catalog(library)
    assert counts.get("ok") == PHOTOS and not counts.get("pending") and not counts.get("failed")
    info = stats(library)
    assert info["index_vectors"] == info["catalog_vectors"] == PHOTOS and info["problems"] == []


def test_kill_during_add(tmp_path, pictures):
    rng = random.Random(1)
    library = tmp_path / "library"
    for _ in range(TRIALS_PER_COMMAND):
        kill_at_random(library, ["add", str(pictures)], rng, 0.4, 2.0)
        check_catalog(library)
        TRIALS["kill -9 during add"] += 1
    assert_recovers(library, pictures)


@pytest.mark.parametrize("command", [["reindex"], ["reindex", "--reembed"], ["albums", "--save"], ["prune"]])
def test_kill_during_other_writers(tmp_path, pictures, command):
    rng = random.Random(2)
    library = tmp_path / "library"
    assert photolib(library, "add", str(pictures)).returncode == 0
    for _ in range(TRIALS_PER_COMMAND):
        kill_at_random(library, command, rng, 0.2, 1.2)
        check_catalog(library)
        search = photolib(library, "search", "harbour", "--json")
        assert search.returncode == 0, search.stderr
        assert json.loads(search.stdout), "search must still answer after a crash"
        TRIALS[f"kill -9 during {' '.join(command)}"] += 1
    assert_recovers(library, pictures)


@pytest.mark.slow
def test_kill_during_add_many_times(tmp_path, pictures):
    rng = random.Random(3)
    library = tmp_path / "library"
    for _ in range(40):
        kill_at_random(library, ["add", str(pictures)], rng, 0.2, 3.0)
        check_catalog(library)
        TRIALS["kill -9 during add (slow)"] += 1
    assert_recovers(library, pictures)
