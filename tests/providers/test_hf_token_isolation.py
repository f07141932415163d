"""A Hugging Face token saved on the machine never reaches a self-hosted endpoint.

huggingface_hub falls back to `HF_TOKEN` or the token file under `HF_HOME`
when it is given no key. For a `base_url` (TGI, TEI, an endpoint the user
runs or rents elsewhere) photolib sends only the key named by `api_key_env`.
The CLI runs in a separate process so the token file is read from a fresh
`HF_HOME`, exactly as on a user's machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from tests.conftest import STAGES_OFF
from tests.support.fake_servers import FakeModelServer
from tests.support.photos import make_trip

ROOT = Path(__file__).resolve().parents[2]
STORED = "hf_storedTokenFromLoginAbCdEfGh123456"
IN_ENV = "hf_envTokenXyZxYzXyZ0987654321abcdef"
ENDPOINT_KEY = "endpoint-key-5b7d9f1e3c"


@pytest.mark.parametrize("endpoint_key, token_in_env", [(None, False), (None, True), (ENDPOINT_KEY, True)])
def test_only_the_configured_key_goes_to_a_base_url(tmp_path, endpoint_key, token_in_env):
    hf_home = tmp_path / "hf-home"
    hf_home.mkdir()
    (hf_home / "token").write_text(STORED)
    pictures = tmp_path / "pics"
    make_trip(pictures, "Forest", 2, start=datetime(2023, 9, 2, 11), gps=(46.0, 7.0), color=(30, 110, 40))
    with FakeModelServer(dimension=16) as server:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[vision]\nprovider = "huggingface"\nbase_url = "{server.url}"\napi_key_env = "MY_ENDPOINT_KEY"\n'
            f'[embedding]\nprovider = "huggingface"\nbase_url = "{server.url}"\napi_key_env = "MY_ENDPOINT_KEY"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOTOLIB_", "HF_")) and k != "MY_ENDPOINT_KEY"}
        env.update(PYTHONPATH=str(ROOT), HF_HOME=str(hf_home), **STAGES_OFF)
        if token_in_env:
            env["HF_TOKEN"] = IN_ENV
        if endpoint_key:
            env["MY_ENDPOINT_KEY"] = endpoint_key
        result = subprocess.run([sys.executable, "-m", "photolib.cli", "--config", str(config), "-L", str(tmp_path / "lib"),
                                 "add", str(pictures), "--json"], capture_output=True, text=True, env=env, cwd=ROOT)
        requests = list(server.requests)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["new"] == 2
    assert {r.path for r in requests} == {"/v1/chat/completions", "/"}  # TGI chat and TEI embeddings
    expected = {f"Bearer {endpoint_key}"} if endpoint_key else {None}
    assert {r.headers.get("authorization") for r in requests} == expected
    for secret in (STORED, IN_ENV, ENDPOINT_KEY):
        assert secret not in result.stdout + result.stderr
