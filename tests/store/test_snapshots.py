"""Automatic catalog snapshots: one per interval after a change, rotated, written atomically, never touched else."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from typer.testing import CliRunner

from photolib.cli import app
from photolib.maintenance.snapshot_runner import wait
from photolib.store.snapshots import list_snapshots, take
from tests.support.photos import make_photo, make_trip


def cli(library: Path, *args, config: Path | None = None, env: dict | None = None):
    """Run a command, then wait for the snapshot it may have left to a background process."""
    flags = ["--config", str(config)] if config else []
    result = CliRunner().invoke(app, [*flags, "--library", str(library), *[str(a) for a in args]], env=env)
    assert wait(library, 60), "a background snapshot did not finish in 60 s"
    return result


def fingerprint(library: Path) -> dict[str, tuple]:
    """Every file in the snapshots folder: its bytes and modification time."""
    return {p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted((library / "snapshots").iterdir())}


def test_healthy_commands_never_touch_the_snapshot(tmp_path):
    pictures = tmp_path / "pics"
    make_trip(pictures, "Harbour", 3, start=datetime(2022, 6, 1, 9), gps=(53.5, 9.9), color=(30, 90, 200))
    library = tmp_path / "library"
    assert cli(library, "add", pictures).exit_code == 0
    first = fingerprint(library)
    assert len(first) == 1 and not (library / "index" / "snapshots").exists()
    make_photo(pictures / "Harbour" / "late.jpg", color=(200, 40, 40))
    for command in (["add", pictures], ["search", "harbour"], ["list"], ["stats"], ["doctor"], ["albums", "--save"],
                    ["albums", "list"], ["remove", pictures / "Harbour" / "late.jpg"], ["prune"], ["reindex"],
                    ["backup", tmp_path / "backup"]):
        result = cli(library, *command)
        assert result.exit_code == 0, (command, result.output)
        assert fingerprint(library) == first, f"{command} touched the snapshots"
    stats = json.loads(cli(library, "stats", "--json").stdout)
    assert [s["name"] for s in stats["snapshots"]] == list(first)
    assert stats["snapshots"][0]["photos"] == 3


def test_one_snapshot_per_interval_after_a_change_and_keep_rotates(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[library]\nsnapshot_interval = 0\nsnapshot_keep = 2\n")
    pictures = tmp_path / "pics"
    library = tmp_path / "library"
    names = []
    for n in range(3):
        make_photo(pictures / f"p{n}.jpg", color=(40 * n, 90, 120))
        assert cli(library, "add", pictures, config=config).exit_code == 0
        names.append(list_snapshots(library)[0].name)
        time.sleep(1.05)  # snapshot names are to the second
    kept = [s.name for s in list_snapshots(library)]
    assert kept == [names[2], names[1]]  # newest first; the oldest rotated out
    unchanged = cli(library, "add", pictures, config=config)  # changes nothing: no snapshot
    assert unchanged.exit_code == 0 and [s.name for s in list_snapshots(library)] == kept
    counts = [json.loads(cli(library, "stats", "--json", config=config).stdout)["snapshots"][i]["photos"] for i in (0, 1)]
    assert counts == [3, 2]
    off = tmp_path / "off.toml"
    off.write_text("[library]\nsnapshot_interval = 0\nsnapshot_keep = 0\n")
    make_photo(pictures / "p9.jpg", color=(1, 2, 3))
    time.sleep(1.05)
    assert cli(library, "add", pictures, config=off).exit_code == 0
    assert [s.name for s in list_snapshots(library)] == kept  # keep = 0: no snapshots taken


def test_a_snapshot_killed_halfway_leaves_the_old_set(tmp_path):
    library = tmp_path / "library"
    library.mkdir()
    connection = sqlite3.connect(str(library / "catalog.db"))
    connection.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY)")
    connection.commit()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for day in range(4):
        take(connection, library, keep=3, now=start + timedelta(days=day))
    assert [s.taken_at.day for s in list_snapshots(library)] == [4, 3, 2]
    partial = library / "snapshots" / ".partial-999-catalog-20260105T000000Z.db"
    partial.write_bytes(b"SQLite format 3\x00 half written")  # what a kill -9 in the middle leaves
    assert len(list_snapshots(library)) == 3  # not listed, never restored
    take(connection, library, keep=3, now=start + timedelta(days=5))
    assert not partial.exists()  # cleaned up by the next snapshot
    assert [s.taken_at.day for s in list_snapshots(library)] == [6, 4, 3]
    connection.close()


def catalog_content(catalog: Path) -> list[str]:
    """Every row of every table, read without writing anything beside the file."""
    connection = sqlite3.connect(f"file:{catalog}?immutable=1", uri=True)
    try:
        return list(connection.iterdump())
    finally:
        connection.close()


def test_every_command_that_changes_the_catalog_keeps_a_snapshot_and_no_other_does(tmp_path):
    """With a snapshot due after every change (interval 0): each command that changed the catalog, `imagine`
    and the people commands included, leaves one snapshot holding exactly what it wrote; the others none."""
    from tests.support import stage_photos
    from tests.support.fake_servers import FakeModelServer

    pictures = tmp_path / "pics"
    make_trip(pictures, "Harbour", 2, start=datetime(2022, 6, 1, 9), gps=(53.5, 9.9), color=(30, 90, 200))
    stage_photos.save(stage_photos.astronaut().crop((60, 0, 460, 400)), pictures / "people" / "astronaut.jpg")
    stage_photos.save(stage_photos.other_person(), pictures / "people" / "friend.jpg")
    library = tmp_path / "library"
    snapshots = library / "snapshots"
    env = {"PHOTOLIB_OCR_ENABLED": "false", "PHOTOLIB_FACES_ENABLED": "true", "OPENAI_API_KEY": "sk-test-snapshots"}
    with FakeModelServer(dimension=16) as server:
        config = tmp_path / "config.toml"
        config.write_text(f'[library]\nsnapshot_interval = 0\nsnapshot_keep = 3\n'
                          f'[generation]\nprovider = "openai"\nbase_url = "{server.url}/v1"\n')
        assert cli(library, "add", pictures, config=config, env=env).exit_code == 0
        first, second = json.loads(cli(library, "people", "--json", config=config, env=env).stdout)
        make_photo(pictures / "Harbour" / "late.jpg", color=(200, 40, 40))
        gone = stage_photos.save(stage_photos.sample("chelsea"), pictures / "gone.jpg")
        steps = [
            (["add", pictures], True), (["search", "harbour"], False), (["similar", "1"], False),
            (["list"], False), (["show", "1"], False), (["doctor"], False),
            (["albums"], False), (["albums", "--save"], True), (["albums", "list"], False),
            (["albums", "smart", "Harbour days", "harbour"], True), (["albums", "show", "Harbour days"], False),
            (["albums", "delete", "Harbour days"], True),
            (["imagine", "1", "--prompt", "a harbour at dusk", "--out", tmp_path / "art"], True),
            (["imagine", "--list"], False), (["people"], False),
            (["people", "name", str(first["id"]), "Eileen"], True), (["people", "show", "Eileen"], False),
            (["people", "merge", "Eileen", str(second["id"])], True), (["people", "recluster"], None),
            (["people", "forget", "Eileen"], True), (["duplicates"], False), (["duplicates", "--mark"], True),
            (["remove", pictures / "Harbour" / "late.jpg"], True), (["gallery", tmp_path / "site"], False),
            (["backup", tmp_path / "backup"], False), (["export", "xmp", "--dry-run"], False),
        ]
        for command, writes in steps:
            if command == ["duplicates", "--mark"]:
                stage_photos.save(stage_photos.sample("chelsea").resize((300, 200)), pictures / "copy.jpg")  # near copy
                assert cli(library, "add", pictures, config=config, env=env).exit_code == 0
                gone.unlink()
            shutil.rmtree(snapshots, ignore_errors=True)
            before = catalog_content(library / "catalog.db")
            result = cli(library, *command, config=config, env=env)
            assert result.exit_code == 0, (command, result.output)
            after = catalog_content(library / "catalog.db")
            assert writes is None or (after != before) == writes, f"{command}: the test expected writes={writes}"
            kept = list_snapshots(library)
            if after == before:
                assert kept == [], f"{command} changed nothing but took a snapshot"
                continue
            assert len(kept) == 1, f"{command} changed the catalog but left no snapshot"
            assert catalog_content(kept[0].path) == after, command
        shutil.rmtree(snapshots, ignore_errors=True)
        assert cli(library, "prune", config=config, env=env).exit_code == 0
        assert len(list_snapshots(library)) == 1  # prune forgot gone.jpg
    generated = catalog_content(list_snapshots(library)[0].path)
    assert any("a harbour at dusk" in line for line in generated)  # imagine's record is in the snapshot


def test_while_a_snapshot_is_being_taken_writers_go_on_and_a_restore_waits_for_it(tmp_path):
    """The process taking a snapshot holds `.snapshot-lock` (held here by the test): a writing command then
    finishes without waiting and starts no second snapshot; `restore --snapshot` waits until it is done."""
    import fcntl
    import os
    import threading

    config = tmp_path / "config.toml"
    config.write_text("[library]\nsnapshot_interval = 0\n")
    pictures = tmp_path / "pics"
    make_trip(pictures, "Harbour", 2, start=datetime(2022, 6, 1, 9), gps=(53.5, 9.9), color=(30, 90, 200))
    library = tmp_path / "library"
    assert cli(library, "add", pictures, config=config).exit_code == 0
    [first] = list_snapshots(library)
    descriptor = os.open(library / ".snapshot-lock", os.O_RDWR)
    fcntl.flock(descriptor, fcntl.LOCK_EX)
    try:
        make_photo(pictures / "late.jpg", color=(200, 40, 40))
        time.sleep(1.05)  # a second snapshot would get a new name
        added = CliRunner().invoke(app, ["--config", str(config), "--library", str(library), "add", str(pictures)])
        assert added.exit_code == 0, added.output
        assert list_snapshots(library) == [first] and not list((library / "snapshots").glob(".partial-*"))
        threading.Timer(1.0, fcntl.flock, (descriptor, fcntl.LOCK_UN)).start()
        restored = CliRunner().invoke(app, ["--library", str(library), "restore", "--snapshot", "latest"])
    finally:
        os.close(descriptor)
    assert restored.exit_code == 0, restored.output
    assert "being taken; waiting" in restored.output and "Restored 2 photos" in restored.output


def test_a_snapshot_that_failed_in_the_background_is_said_by_the_next_change(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[library]\nsnapshot_interval = 0\n")
    pictures = tmp_path / "pics"
    make_photo(pictures / "a.jpg", color=(30, 90, 200))
    library = tmp_path / "library"
    assert cli(library, "add", pictures, config=config).exit_code == 0
    shutil.rmtree(library / "snapshots")
    (library / "snapshots").write_text("not a folder")  # the snapshot process cannot write there
    make_photo(pictures / "b.jpg", color=(200, 40, 40))
    assert cli(library, "add", pictures, config=config).exit_code == 0  # the command itself is fine
    (library / "snapshots").unlink()
    make_photo(pictures / "c.jpg", color=(40, 200, 40))
    said = cli(library, "add", pictures, config=config)
    assert said.exit_code == 0 and "The last automatic snapshot of the catalog was not kept" in said.output
    assert [s.as_dict()["photos"] for s in list_snapshots(library)] == [3]
    again = cli(library, "remove", pictures / "c.jpg", config=config)
    assert again.exit_code == 0 and "was not kept" not in again.output  # said once
