"""A damaged catalog, damaged the way it happens: recognised, reported by `doctor`, salvaged by `doctor --repair`.

The library: two trips added for real (one snapshot is taken then), then 300 photos imported with their
descriptions and vectors, and albums saved (after the snapshot: only the damaged file holds them).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.conftest import STAGES_OFF
from tests.support.photos import make_trip

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
IMPORTED = 300
REAL = 6
ALBUMS = ["Lisbon Tiles — May 2023", "Lauterbrunnen Alps Hike — Aug 2023"]  # the two trips (the scans are apart)


def cli(library: Path, *args: str):
    """Run a command, then wait for the snapshot it may have left to a background process."""
    from photolib.maintenance.snapshot_runner import wait

    # STAGES_OFF: the module's template is built before the autouse fixture turns OCR and faces off
    result = CliRunner().invoke(app, ["--library", str(library), *[str(a) for a in args]], env=STAGES_OFF)
    assert wait(library, 60), "a background snapshot did not finish in 60 s"
    return result


def cli_json(library: Path, *args: str):
    result = cli(library, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.core.config import load_settings
    from photolib.app.library import Library
    from photolib.core.records import Description

    root = tmp_path_factory.mktemp("damage")
    pictures = root / "pics"
    make_trip(pictures, "Lisbon tiles", 3, start=datetime(2023, 5, 2, 10), gps=(38.71, -9.14), color=(30, 90, 200))
    make_trip(pictures, "Alps hike", 3, start=datetime(2023, 8, 9, 8), gps=(46.5, 8.0), color=(40, 160, 60))
    library = root / "library"
    assert cli(library, "add", pictures).exit_code == 0
    assert len(list((library / "snapshots").glob("catalog-*.db"))) == 1
    rng = np.random.default_rng(3)
    photos = []
    for i in range(IMPORTED):
        vector = rng.standard_normal(384).astype(np.float32)
        photos.append(EmbeddedPhoto(f"/archive/roll {i // 50}/{i:04d}.jpg",
                                    Description(["archive", f"roll {i // 50}"], f"archive scan {i}",
                                                f"An old film scan, number {i}, from roll {i // 50}. " * 4),
                                    vector / np.linalg.norm(vector)))
    lib = Library(load_settings(library_path=library))
    try:
        assert lib.import_embedded(photos, MODEL) == IMPORTED
    finally:
        lib.close()
    saved = cli(library, "albums", "--save")
    assert saved.exit_code == 0, saved.output
    assert len(list((library / "snapshots").glob("catalog-*.db"))) == 1  # one a day: no second snapshot
    return library


@pytest.fixture
def library(template, tmp_path) -> Path:
    copy = tmp_path / "library"
    shutil.copytree(template, copy)
    return copy


def album_names(library: Path) -> list[str]:
    return [album["name"] for album in cli_json(library, "albums", "list")]


def overwrite_middle(catalog: Path, seed: int = 5) -> None:
    """4 KB of random bytes over a page in the middle of the file (a bad sector, a bad sync)."""
    size = catalog.stat().st_size
    offset = (size // 2) // 4096 * 4096
    with open(catalog, "r+b") as handle:
        handle.seek(offset)
        handle.write(random.Random(seed).randbytes(4096))


def quick_check(catalog: Path) -> str:
    connection = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    try:
        return connection.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as error:
        return str(error)
    finally:
        connection.close()


def test_a_healthy_library_reports_integrity_and_its_snapshot(library, template):
    assert album_names(library) == ALBUMS
    doctor = cli_json(library, "doctor")
    assert doctor["integrity"] == ["ok"] and doctor["damaged"] is False
    assert doctor["photos"] == IMPORTED + REAL
    [snapshot] = cli_json(library, "stats")["snapshots"]
    assert snapshot["photos"] == REAL and snapshot["name"].startswith("catalog-")
    assert "snapshots" in cli(library, "stats").stdout
    assert "The catalog opens and passes" in cli(library, "doctor", "--repair").output


def test_bytes_overwritten_in_the_middle_are_recognised_and_salvaged(library):
    before_names = album_names(library)
    catalog = library / "catalog.db"
    original_size = catalog.stat().st_size
    overwrite_middle(catalog)
    assert quick_check(catalog) != "ok"  # the random bytes really hit the catalog's data
    listed = cli(library, "list", "--json")
    doctor = cli(library, "doctor")
    assert doctor.exit_code == 1
    for output in (doctor.output,) + ((listed.output,) if listed.exit_code else ()):
        assert "is a damaged photolib catalog" in output and "photolib doctor --repair" in output
        assert "restore --snapshot" in output and "not a photolib catalog" not in output
    assert "integrity_check" in doctor.output
    repaired = cli(library, "doctor", "--repair", "--json")
    assert repaired.exit_code == 0, repaired.output
    report = json.loads(repaired.stdout)
    assert report["needed"] and report["snapshot"] and not report["nothing_recovered"]
    kept = Path(report["kept_aside"])
    assert kept.is_file() and kept.stat().st_size == original_size  # the damaged file, kept as it was
    assert report["photos"] >= REAL + IMPORTED - 20  # a 4 KB page holds a few rows at most
    assert report["albums"] == before_names
    doctor = cli_json(library, "doctor")
    assert doctor["integrity"] == ["ok"] and doctor["photos"] == report["photos"]
    assert album_names(library) == before_names
    hits = cli_json(library, "search", "archive film scan")
    assert hits and doctor["index_vectors"] == doctor["catalog_vectors"]
    described = cli_json(library, "list", "--status", "ok")
    assert len(described) == report["photos"] - report["to_describe"] - report["to_embed"]


def test_a_truncated_catalog_is_damaged_and_repair_says_what_it_kept(library):
    catalog = library / "catalog.db"
    with open(catalog, "r+b") as handle:
        handle.truncate(catalog.stat().st_size // 3)
    result = cli(library, "search", "lisbon")
    assert result.exit_code == 1 and "is a damaged photolib catalog (it is truncated" in result.output
    report = json.loads(cli(library, "doctor", "--repair", "--json").stdout)
    assert report["photos"] >= REAL  # at least the snapshot's
    assert cli_json(library, "doctor")["integrity"] == ["ok"]
    assert len(cli_json(library, "list")) == report["photos"]


def test_a_zero_length_catalog_in_a_library_with_snapshots(library):
    (library / "catalog.db").write_bytes(b"")
    result = cli(library, "list")
    assert result.exit_code == 1 and "is a damaged photolib catalog (the file is empty" in result.output
    report = json.loads(cli(library, "doctor", "--repair", "--json").stdout)
    assert report["photos"] == REAL and report["photos_from_snapshot_only"] == REAL
    assert {Path(p["path"]).parent.name for p in cli_json(library, "list")} == {"Lisbon tiles", "Alps hike"}


def test_nothing_recoverable_offers_add_of_the_original_folders(library, template):
    shutil.rmtree(library / "snapshots")
    shutil.rmtree(library / "index")
    (library / "catalog.db").write_bytes(os.urandom(100_000))
    result = cli(library, "list")
    assert result.exit_code == 2 and "is not a photolib catalog" in result.output  # nothing shows it was a library
    (library / "snapshots").mkdir()
    result = cli(library, "list")
    assert result.exit_code == 1 and "is a damaged photolib catalog" in result.output
    repaired = cli(library, "doctor", "--repair")
    assert repaired.exit_code == 0 and "Nothing could be recovered" in repaired.output
    assert "photolib add" in repaired.output
    assert cli_json(library, "stats")["photos"] == 0
    assert len(list((library / "aside").glob("catalog-*-damaged.db"))) == 1


def test_a_stale_wal_from_another_copy_is_left_out(library, tmp_path, template):
    before_names = album_names(library)
    other = tmp_path / "other"
    shutil.copytree(template, other)
    writer = sqlite3.connect(str(other / "catalog.db"), isolation_level=None)
    writer.execute("VACUUM")  # the other copy's file went its own way (pages laid out anew) ...
    writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    writer.execute("PRAGMA wal_autocheckpoint=0")  # ... then its last changes stayed in its -wal
    writer.execute("UPDATE photos SET caption = 'changed on the other machine ' || id")
    writer.execute("DELETE FROM albums")
    shutil.copyfile(str(other / "catalog.db") + "-wal", str(library / "catalog.db") + "-wal")
    writer.close()
    result = cli(library, "list", "--json")
    assert "is a damaged photolib catalog" in result.output
    report = json.loads(cli(library, "doctor", "--repair", "--json").stdout)
    assert report["wal_left_out"] and report["photos"] == REAL + IMPORTED
    assert not any("other machine" in (p["caption"] or "") for p in cli_json(library, "list"))
    assert album_names(library) == before_names == ALBUMS


def test_a_catalog_from_a_newer_photolib(library):
    connection = sqlite3.connect(str(library / "catalog.db"))
    connection.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    connection.commit()
    connection.close()
    result = cli(library, "list")
    assert result.exit_code == 1 and "was written by a newer photolib" in result.output
    assert "pip install -U photolib" in result.output


def test_another_programs_database_is_not_taken_over(tmp_path):
    folder = tmp_path / "lib"
    folder.mkdir()
    connection = sqlite3.connect(str(folder / "catalog.db"))
    connection.execute("CREATE TABLE recipes (name TEXT)")
    connection.commit()
    connection.close()
    result = cli(folder, "list")
    assert result.exit_code == 2 and "is not a photolib catalog (an SQLite database of another program)" in result.output
    tables = sqlite3.connect(str(folder / "catalog.db")).execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("recipes",)]


def test_restore_a_snapshot_by_day(library):
    (library / "catalog.db").write_bytes(b"")
    [snapshot] = json.loads(cli(library, "doctor", "--json").stdout)["snapshots"]
    day = snapshot["taken_at"][:10]
    result = cli(library, "restore", "--snapshot", day)
    assert result.exit_code == 0, result.output
    assert f"Restored {REAL} photos" in result.output and "kept at" in result.output
    assert len(cli_json(library, "list")) == REAL
    assert cli(library, "restore", "--snapshot", "1999-01-01").exit_code == 2
