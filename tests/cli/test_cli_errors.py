"""Mistakes a user can make get one line that says what to do, and change nothing."""

from __future__ import annotations

import json
import threading

from typer.testing import CliRunner

from photolib.cli import app
from tests.support.photos import make_photo


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def test_library_flag_pointing_at_a_file(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("hello")
    result = invoke("-L", target, "stats")
    assert result.exit_code == 2 and "is a file, not a library folder" in result.output
    assert "unexpected" not in result.output and target.read_text() == "hello"


def test_library_folder_holding_something_else_as_catalog(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "catalog.db").write_bytes(b"these are not the bytes of a database" * 100)
    result = invoke("-L", tmp_path / "lib", "list")
    assert result.exit_code == 2 and "is not a photolib catalog" in result.output
    assert "unexpected" not in result.output


def test_album_export_options_are_checked_before_any_work(tmp_path, library_path):
    make_photo(tmp_path / "p" / "a.jpg")
    invoke("-L", library_path, "add", tmp_path / "p")
    alone = invoke("-L", library_path, "albums", "--copy")
    assert alone.exit_code == 2 and "--copy only applies to --export" in alone.output
    (tmp_path / "file").write_text("x")
    onto_file = invoke("-L", library_path, "albums", "--export", tmp_path / "file")
    assert onto_file.exit_code == 2 and "give --export a folder" in onto_file.output


def test_dry_run_on_a_new_library_writes_nothing(tmp_path):
    make_photo(tmp_path / "p" / "a.jpg")
    result = invoke("-L", tmp_path / "new-lib", "add", tmp_path / "p", "--dry-run", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["new"] == 1
    assert not (tmp_path / "new-lib").exists()


def test_similar_on_a_photo_that_could_not_be_read(tmp_path, library_path):
    make_photo(tmp_path / "p" / "good.jpg")
    (tmp_path / "p" / "bad.jpg").write_bytes(b"\xff\xd8 not really")
    invoke("-L", library_path, "add", tmp_path / "p")
    result = invoke("-L", library_path, "similar", tmp_path / "p" / "bad.jpg", "--exact")
    assert result.exit_code == 2 and "could not be read" in result.output and "replace the file" in result.output


def test_a_waiting_writer_says_it_is_waiting(make_library, tmp_path):
    make_photo(tmp_path / "p" / "a.jpg")
    first, second = make_library(), make_library(settings={"lock_timeout": 5})
    with first.write_lock():
        waiting = threading.Thread(target=lambda: second.add([tmp_path / "p"]))
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive()  # still waiting for the lock ...
        assert any("waiting up to 5 s" in m for m in second.messages)  # ... and it said so
    waiting.join(timeout=30)
    assert len(second.list_photos()) == 1


def test_a_corrupt_index_file_is_rebuilt_and_said_so(tmp_path, library_path):
    make_photo(tmp_path / "p" / "a.jpg")
    invoke("-L", library_path, "add", tmp_path / "p")
    for data in (library_path / "index" / "description").glob("vectors-*"):
        data.write_bytes(b"garbage" * 100)
    result = invoke("-L", library_path, "doctor", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["repaired"] == ["Index could not be read; rebuilt it from the catalog (1 vectors)."]


def test_export_leaves_out_photos_whose_files_are_gone(tmp_path, library_path):
    for i in range(3):
        make_photo(tmp_path / "p" / "Harbour day" / f"{i}.jpg", color=(30, 90, 200))
    invoke("-L", library_path, "add", tmp_path / "p")
    (tmp_path / "p" / "Harbour day" / "1.jpg").unlink()
    result = invoke("-L", library_path, "albums", "--export", tmp_path / "out", "--copy", "--min-size", "1")
    assert result.exit_code == 0, result.output
    assert "1 photos were left out" in result.output
    copied = sorted(p.name.split("-", 1)[1] for p in (tmp_path / "out").rglob("*.jpg"))
    assert copied == ["0.jpg", "2.jpg"]
