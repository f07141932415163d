"""Albums over a realistic library: named trips plus a camera roll of loose phone photos."""

from __future__ import annotations

import os
import random
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import STAGES_OFF
from tests.support.photos import make_photo, make_trip

PHONE = {"make": "Apple", "model": "iPhone 13"}
TRIPS = {
    "2023 Lisbon beach holiday": (datetime(2023, 7, 14, 10, 0), (38.7223, -9.1393), (40, 120, 220)),
    "2019 Rome city break": (datetime(2019, 4, 10, 9, 0), (41.9028, 12.4964), (150, 150, 150)),
    "Kyoto temples": (datetime(2021, 11, 5, 10, 0), (35.0116, 135.7681), (200, 40, 30)),
    "Wedding Anna and Tom": (datetime(2022, 6, 18, 14, 0), (51.5074, -0.1278), (250, 250, 250)),
    "Ski week Zermatt": (datetime(2023, 2, 12, 9, 0), (46.0237, 7.7521), (240, 240, 245)),
    "Iceland road trip": (datetime(2020, 8, 1, 9, 0), (64.1466, -21.9426), (120, 120, 120)),
    "New York": (datetime(2023, 10, 1, 11, 0), (40.7128, -74.0060), (130, 130, 140)),
}
PER_TRIP, LOOSE = 12, 30
LONDON_HOME = (51.55, -0.04)


@pytest.fixture(scope="module")
def library_folder(tmp_path_factory) -> Path:
    """Seven trips of twelve photos, all from one phone, and a camera roll of 30 everyday
    photos around home, spread over four years."""
    root = tmp_path_factory.mktemp("albums") / "Pictures"
    for name, (start, gps, color) in TRIPS.items():
        make_trip(root, name, PER_TRIP, start=start, gps=gps, color=color, **PHONE)
    rng = random.Random(7)
    for i in range(LOOSE):
        taken = datetime(2019, 1, 1, rng.randrange(24)) + timedelta(days=rng.randrange(4 * 365))
        gps = (LONDON_HOME[0] + rng.uniform(-0.03, 0.03), LONDON_HOME[1] + rng.uniform(-0.03, 0.03))
        color = tuple(rng.randrange(256) for _ in range(3))
        make_photo(root / "Camera Roll" / f"IMG_{1000 + i}.jpg", taken_at=taken, gps=gps, color=color, **PHONE)
    return root


@pytest.fixture(scope="module")
def imported(library_folder, embedder, tmp_path_factory) -> Path:
    """The library imported once for the module (the tests only read it), with user dirs isolated
    as conftest does for each test."""
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    home, path = tmp_path_factory.mktemp("home"), tmp_path_factory.mktemp("library")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
            patch.setenv(name, str(home))
        for name in [n for n in os.environ if n.startswith("PHOTOLIB_")]:
            patch.delenv(name)
        for name, value in STAGES_OFF.items():  # albums read no OCR or faces: 114 photos would cost ~2 min
            patch.setenv(name, value)
        library = Library(load_settings(library_path=path), embedder=embedder)
        report = library.add([library_folder])
        library.close()
    assert report.new == PER_TRIP * len(TRIPS) + LOOSE and not report.failed
    return path


@pytest.fixture
def library(make_library, imported):
    return make_library(path=imported)


def folders_of(library, album_set):
    """Each album as the set of folders its photos come from, plus the singletons' folders."""
    photos = library.catalog.get_many(library.catalog.embedded_ids())
    folder = {pid: Path(photo.path).parent.name for pid, photo in photos.items()}
    return [{folder[pid] for pid in album.photo_ids} for album in album_set.albums], folder


def assert_partition(library, album_set):
    every = [pid for album in album_set.albums for pid in album.photo_ids] + album_set.singletons
    assert sorted(every) == sorted(library.catalog.embedded_ids())


def assert_each_trip_is_one_album(library, album_set):
    albums, folder = folders_of(library, album_set)
    for trip in TRIPS:
        trip_ids = {pid for pid, name in folder.items() if name == trip}
        holding = [set(a.photo_ids) for a in album_set.albums if set(a.photo_ids) & trip_ids]
        assert holding == [trip_ids], f"{trip}: expected one album of its {PER_TRIP} photos, got {holding}"


def test_each_trip_is_its_own_album_and_the_camera_roll_glues_nothing(library):
    result = library.albums()
    assert_partition(library, result)
    assert_each_trip_is_one_album(library, result)
    names = {album.name for album in result.albums}
    assert "Lisbon Beach Holiday — Jul 2023" in names  # the README's example name


def test_the_same_library_gives_the_same_albums(library, make_library, imported):
    first = library.albums()
    again = make_library(path=imported).albums()
    assert [(a.name, a.photo_ids) for a in first.albums] == [(a.name, a.photo_ids) for a in again.albums]
    assert first.singletons == again.singletons


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 42])
def test_a_seed_varies_the_order_but_still_gives_a_valid_partition(library, seed):
    result = library.albums(seed=seed)
    assert_partition(library, result)
    assert_each_trip_is_one_album(library, result)
    assert [a.photo_ids for a in library.albums(seed=seed).albums] == [a.photo_ids for a in result.albums]


def test_every_album_member_is_within_the_threshold_of_one_photo(library):
    threshold = 0.02  # tighter than a trip's spread: trips break up, nothing is lost
    result = library.albums(threshold=threshold, min_size=1)
    assert_partition(library, result)
    blobs = library.catalog.vectors_for(library.catalog.embedded_ids())
    assert len(result.albums) > len(TRIPS) + 1
    for album in result.albums:
        vectors = np.vstack([np.frombuffer(blobs[pid], dtype=np.float32) for pid in album.photo_ids])
        distances = 2 - 2 * vectors @ vectors.T
        assert distances.max(axis=1).min() <= threshold + 1e-5, album.name


def test_small_groups_are_singletons_never_dropped(library):
    result = library.albums(min_size=PER_TRIP + 1)  # larger than any trip
    assert_partition(library, result)
    _, folder = folders_of(library, result)
    assert not any(folder[pid] in TRIPS for album in result.albums for pid in album.photo_ids)
    assert sum(folder[pid] in TRIPS for pid in result.singletons) == PER_TRIP * len(TRIPS)
