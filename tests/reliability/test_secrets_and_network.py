"""Keys never leak; local providers never touch the network; the library is private."""

from __future__ import annotations

import os
import socket
from datetime import datetime

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.fake_servers import FakeModelServer, Reply
from tests.photos import make_trip

CANARY = "sk-canary-5d41402abc4b2a76"


def test_canary_key_never_reaches_output_catalog_or_index(tmp_path):
    pictures = tmp_path / "pics"
    make_trip(pictures, "Bridge", 3, start=datetime(2020, 2, 2, 8), gps=(37.8, -122.4), color=(200, 60, 30))
    library = tmp_path / "library"
    with FakeModelServer(dimension=16) as server:
        config = tmp_path / "config.toml"
        config.write_text(f'[vision]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nmax_retries = 1\n'
                          f'[embedding]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nmax_retries = 1\n')
        server.script("/v1/chat/completions", Reply(500, {"error": {"message": f"upstream saw key {CANARY}"}}),
                      Reply(500, {"error": {"message": f"upstream saw key {CANARY}"}}),
                      Reply(401, {"error": {"message": f"Incorrect API key provided: {CANARY}"}}))
        outputs = []
        runner = CliRunner()
        for args in (["add", str(pictures), "--jobs", "1"], ["add", str(pictures)], ["search", "bridge"],
                     ["stats"], ["show", "1"], ["list", "--status", "failed"]):
            result = runner.invoke(app, ["--verbose", "--config", str(config), "--library", str(library), *args],
                                   env={"OPENAI_API_KEY": CANARY})
            outputs.append(result.output + (str(result.exception) if result.exception else ""))
        assert server.requests and all(r.headers["authorization"] == f"Bearer {CANARY}" for r in server.requests)
    assert not [text for text in outputs if CANARY in text]
    for path in library.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_local_providers_make_no_network_connection(tmp_path, monkeypatch, make_library):
    attempts = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError("network disabled by test")

    pictures = tmp_path / "pics"
    make_trip(pictures, "Island", 4, start=datetime(2019, 6, 6, 12), gps=(28.1, -15.4), color=(30, 160, 200))
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    library = make_library()
    assert library.add([pictures]).new == 4
    assert library.search("island beach")
    assert library.albums().albums
    library.reindex()
    assert attempts == []


@pytest.mark.skipif(os.geteuid() == 0, reason="permission bits are still checked, but root ignores them")
def test_library_is_user_only(tmp_path):
    CliRunner().invoke(app, ["--library", str(tmp_path / "lib"), "stats"])
    assert (tmp_path / "lib").stat().st_mode & 0o077 == 0


def test_library_files_have_user_only_modes(tmp_path):
    library = tmp_path / "lib"
    CliRunner().invoke(app, ["--library", str(library), "stats"])
    assert (library.stat().st_mode & 0o777) == 0o700
    assert ((library / "catalog.db").stat().st_mode & 0o777) == 0o600
