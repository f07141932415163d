"""Remote faults during `add`: the run completes, photos stay retryable, stored data is kept."""

from __future__ import annotations

import json
import socket
import sqlite3
from datetime import datetime

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.support.fake_servers import FakeModelServer, Reply
from tests.support.photos import make_trip
from tests.reliability.conftest import TRIALS


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def add(tmp_path, library, pictures, vision_url, embed_url, *extra):
    config = tmp_path / "faults.toml"
    config.write_text(f'[vision]\nprovider = "openai"\nbase_url = "{vision_url}"\nmax_retries = 1\ntimeout = 1\n'
                      f'[embedding]\nprovider = "openai"\nbase_url = "{embed_url}"\nmax_retries = 1\ntimeout = 1\n')
    result = CliRunner().invoke(app, ["--config", str(config), "--library", str(library), "add", str(pictures),
                                      "--json", *extra], env={"OPENAI_API_KEY": "sk-x"})
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def pictures(tmp_path):
    root = tmp_path / "pics"
    make_trip(root, "Lighthouse", 3, start=datetime(2022, 10, 1, 16), gps=(48.38, -4.77), color=(200, 200, 220))
    return root


@pytest.mark.parametrize("fault", ["refused", "dns", "slow", "storm", "truncated", "content-type", "nan"])
def test_fault_leaves_photos_retryable(tmp_path, pictures, library_path, fault):
    with FakeModelServer(dimension=16) as server:
        good = f"{server.url}/v1"
        vision_url, embed_url = good, good
        if fault == "refused":
            vision_url = f"http://127.0.0.1:{free_port()}/v1"
        elif fault == "dns":
            vision_url = "http://photolib-test.invalid/v1"
        elif fault == "slow":
            server.script("/v1/chat/completions", *[Reply(delay=1.5)] * 6)
        elif fault == "storm":
            server.script("/v1/chat/completions", *[Reply(429, {"error": {"message": "busy"}}, {"Retry-After": "0"})] * 6)
        elif fault == "truncated":
            server.script("/v1/embeddings", *[Reply(body={"object": "list", "data": [
                {"index": i, "embedding": [0.5] * 16} for i in range(3)]}, truncate=True)] * 2)
        elif fault == "content-type":
            server.script("/v1/chat/completions", *[Reply(body="<html>gateway error</html>",
                                                          headers={"Content-Type": "text/html"})] * 6)
        elif fault == "nan":
            server.script("/v1/embeddings", Reply(body='{"object": "list", "data": [{"index": 0, "embedding": [NaN, 1.0]},'
                                                        '{"index": 1, "embedding": [0.0, 1.0]}, {"index": 2, "embedding": [1.0, 0.0]}]}'))
        code, report = add(tmp_path, library_path, pictures, vision_url, embed_url, "--jobs", "3")
        assert code == 1 and report["failed"] == 3 and report["new"] == 3
        assert all(f["reason"] for f in report["failures"])
        reason = report["failures"][0]["reason"]
        if fault == "refused":
            assert "Connection refused" in reason
        elif fault == "dns":
            assert "Connection error:" in reason and "photolib-test.invalid" not in reason.split("Connection error:")[0]
        elif fault == "content-type":
            assert "text/html, not JSON" in reason
        server.clear_scripts()
        code, again = add(tmp_path, library_path, pictures, good, good)
        assert code == 0 and again["retried"] == 3 and again["failed"] == 0
    TRIALS["API fault scenarios"] += 1


def stored_vectors(library) -> list[tuple]:
    connection = sqlite3.connect(str(library / "catalog.db"))
    try:
        return connection.execute("SELECT photo_id, model, dimension, input_hash, vector FROM embeddings ORDER BY photo_id").fetchall()
    finally:
        connection.close()


def reembed(tmp_path, library, model: str | None = None):
    """`reindex --reembed` with the faults config, optionally naming another embedding model."""
    config = tmp_path / "faults.toml"
    text = config.read_text()
    if model:
        text = text.replace('[embedding]\n', f'[embedding]\nmodel = "{model}"\n')
    changed = tmp_path / "reembed.toml"
    changed.write_text(text)
    result = CliRunner().invoke(app, ["--config", str(changed), "--library", str(library), "reindex", "--reembed", "--json"],
                                env={"OPENAI_API_KEY": "sk-x"})
    assert "Traceback" not in result.output
    return result


def vectors_reply(*vectors: list) -> Reply:
    """An embeddings answer as a server would send it; NaN written as the bare token some servers emit."""
    data = ", ".join('{"index": %d, "embedding": [%s]}' % (i, ", ".join("NaN" if v != v else repr(v) for v in vector))
                     for i, vector in enumerate(vectors))
    return Reply(body='{"object": "list", "data": [%s]}' % data)


NAN = float("nan")
BAD_ANSWERS = {  # case -> (the reply, the embedding model configured for the re-embed)
    # same model: reembed probes the dimension with one text
    "nan, same model": (vectors_reply([NAN] + [0.25] * 15), None),
    "wrong size, same model": (vectors_reply([0.5] * 5), None),
    # another model: every photo is re-embedded, the first batch answers badly
    "nan, new model": (vectors_reply(*[[NAN] + [0.25] * 15] * 3), "text-embedding-next"),
    "wrong size, new model": (vectors_reply([0.5] * 5, [0.5] * 16, [0.5] * 16), "text-embedding-next"),
}


@pytest.mark.parametrize("case", sorted(BAD_ANSWERS))
def test_bad_answers_never_overwrite_stored_vectors(tmp_path, pictures, library_path, case):
    """Re-embedding photos that already have good vectors: a bad answer changes nothing stored."""
    with FakeModelServer(dimension=16) as server:
        good = f"{server.url}/v1"
        code, report = add(tmp_path, library_path, pictures, good, good)
        assert code == 0 and report["new"] == 3
        before = stored_vectors(library_path)
        assert [row[2] for row in before] == [16, 16, 16]
        reply, model = BAD_ANSWERS[case]
        server.script("/v1/embeddings", reply)
        calls = len(server.calls("/v1/embeddings"))
        result = reembed(tmp_path, library_path, model)
        assert len(server.calls("/v1/embeddings")) > calls  # the bad answer was really served
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
        assert stored_vectors(library_path) == before  # byte-identical, same model, same size
        again = reembed(tmp_path, library_path)
        assert again.exit_code == 0 and json.loads(again.stdout)["reembedded"] == 0
        assert stored_vectors(library_path) == before
