"""Remote faults during `add`: the run completes, photos stay retryable, stored data is kept."""

from __future__ import annotations

import json
import socket
from datetime import datetime

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.fake_servers import FakeModelServer, Reply
from tests.photos import make_trip
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
        server.clear_scripts()
        code, again = add(tmp_path, library_path, pictures, good, good)
        assert code == 0 and again["retried"] == 3 and again["failed"] == 0
    TRIALS["API fault scenarios"] += 1


def test_bad_answers_never_overwrite_stored_vectors(tmp_path, pictures, library_path):
    with FakeModelServer(dimension=16) as server:
        good = f"{server.url}/v1"
        add(tmp_path, library_path, pictures, good, good)
        stats = json.loads(CliRunner().invoke(app, ["--library", str(library_path), "--config", str(tmp_path / "faults.toml"),
                                                    "stats", "--json"], env={"OPENAI_API_KEY": "sk-x"}).stdout)
        assert stats["ok"] == 3 and stats["dimension"] == 16
        server.script("/v1/embeddings", Reply(body={"object": "list", "data": [{"index": 0, "embedding": [1.0] * 5}]}))
        code, report = add(tmp_path, library_path, pictures, good, good, "--jobs", "1")
        assert code == 0 and report["embedded"] == 0  # nothing changed, so nothing was re-embedded
