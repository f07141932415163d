"""backup/restore: a consistent snapshot that restores to the same search results."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

from typer.testing import CliRunner

from photolib.cli import app
from tests.support.photos import make_trip


def cli(library, *args):
    return CliRunner().invoke(app, ["--library", str(library), *args])


def test_backup_then_restore_into_a_new_library(tmp_path):
    pictures = tmp_path / "pics"
    make_trip(pictures, "Sailing regatta", 4, start=datetime(2022, 8, 1, 11), gps=(50.1, -5.0), color=(20, 80, 200))
    library = tmp_path / "library"
    assert cli(library, "add", str(pictures)).exit_code == 0
    before = json.loads(cli(library, "search", "sailing", "--json").stdout)
    snapshot = tmp_path / "snapshot"
    assert cli(library, "backup", str(snapshot)).exit_code == 0
    assert (snapshot / "catalog.db").is_file() and (snapshot / "index" / "description" / "stamp.json").is_file()
    assert cli(library, "backup", str(snapshot)).exit_code == 2  # never overwrites a backup
    restored = tmp_path / "restored"
    result = cli(restored, "restore", str(snapshot))
    assert result.exit_code == 0, result.output
    assert json.loads(cli(restored, "search", "sailing", "--json").stdout) == before


def test_restore_refuses_to_clobber_and_checks_the_snapshot(tmp_path):
    pictures = tmp_path / "pics"
    make_trip(pictures, "Market", 2, start=datetime(2021, 5, 1, 9), gps=(41.4, 2.17), color=(200, 90, 40))
    library = tmp_path / "library"
    cli(library, "add", str(pictures))
    snapshot = tmp_path / "snap"
    cli(library, "backup", str(snapshot))
    refused = cli(library, "restore", str(snapshot))
    assert refused.exit_code == 2 and "--force" in refused.output
    assert cli(library, "restore", str(snapshot), "--force").exit_code == 0
    broken = tmp_path / "broken"
    shutil.copytree(snapshot, broken)
    (broken / "catalog.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 200)
    bad = cli(tmp_path / "other", "restore", str(broken))
    assert bad.exit_code == 2 and "nothing was restored" in bad.output
    assert cli(tmp_path / "other", "restore", str(tmp_path / "nowhere")).exit_code == 2
    assert json.loads(cli(library, "stats", "--json").stdout)["photos"] == 2
