"""`photolib models list | pull | remove`, with the real huggingface_hub client against a local Hub.

The model served is a tiny one in exactly the immich-app layout, so a pulled
model is then found and used by the image provider, as a user would see it.
"""

from __future__ import annotations

import json
import socket

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from photolib.cli import app
from photolib.core.config import load_settings
from photolib.models.registry import KNOWN_MODELS
from photolib.models.clip import make_image_embedder
from tests.support.fake_hub import FakeHub
from tests.support.onnx_models import COLOURS, build_tiny_clip, solid_photo


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return cache


def run(*args, env=None):
    result = CliRunner().invoke(app, list(args), env=env)
    return result


def test_list_shows_known_models_with_download_size_none_installed(tmp_path, hub_env):
    result = run("-L", str(tmp_path / "lib"), "models", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(KNOWN_MODELS) <= set(rows)
    default = rows["ViT-B-32__laion2b-s34b-b79k"]
    assert default["configured"] and not default["installed"] and default["path"] is None
    assert 500e6 < default["download_bytes"] < 700e6 and default["dimension"] == 512 and default["family"] == "clip"
    # why it is the default: Immich's recall figures, at the same size as the earlier default
    old = rows["ViT-B-32__openai"]
    assert (default["recall"], old["recall"]) == (68.78, 59.37) and not old["configured"]
    assert old["download_bytes"] == default["download_bytes"] and "recall" in default["note"]
    assert rows["ViT-B-16-SigLIP2__webli"]["family"] == "siglip"
    assert rows["XLM-Roberta-Large-Vit-B-32"]["multilingual"]
    table = run("-L", str(tmp_path / "lib"), "models", "list")
    assert "RN50__openai" in table.stdout and "models pull" in table.output and "68.8" in table.stdout


def test_pull_use_and_remove_a_model(tmp_path, hub_env):
    served = build_tiny_clip(tmp_path / "served")
    with FakeHub() as hub:
        weights = np.random.default_rng(1).bytes(11 * 2**20)  # external weights, as the largest models have
        hub.add_folder("immich-app/ViT-B-32__laion2b-s34b-b79k", served,
                       {"visual/model.onnx_data": weights, "visual/rknpu/rk3588/model.rknn": b"npu" * 100,
                        "visual/fp16/model.armnn": b"arm", "README.md": b"hi"})
        hub.cut_after["visual/model.onnx_data"] = 10 * 2**20 + 5  # the connection drops mid-file
        env = {"HF_ENDPOINT": hub.url}
        pulled = run("-L", str(tmp_path / "lib"), "models", "pull", "ViT-B-32__laion2b-s34b-b79k", "--json", env=env)
        assert pulled.exit_code == 0, pulled.output
        downloads = hub.downloads()
        ranges = [headers.get("Range") or headers.get("range") for method, path, headers in hub.requests
                  if method == "GET" and path.endswith("visual/model.onnx_data")]
    folder = json.loads(pulled.stdout)["path"]
    assert folder.startswith(str(hub_env))
    assert not [name for name in downloads if name.endswith((".rknn", ".armnn")) or name == "README.md"]
    assert ranges == [None, f"bytes={10 * 2**20}-"]  # resumed after the part received, not restarted
    assert (Path(folder) / "visual" / "model.onnx_data").read_bytes() == weights
    rows = {row["name"]: row for row in json.loads(run("models", "list", "--json").stdout)}
    assert rows["ViT-B-32__laion2b-s34b-b79k"]["installed"] and rows["ViT-B-32__laion2b-s34b-b79k"]["path"] == folder

    embedder = make_image_embedder(load_settings(library_path=tmp_path / "lib"))  # found without any setting
    assert embedder is not None and embedder.model_name == "immich-app/ViT-B-32__laion2b-s34b-b79k"
    red = embedder.embed_images([solid_photo(COLOURS["red"])])
    assert float(embedder.embed_texts(["red"])[0] @ red[0]) > 0.99

    red_again = embedder.embed_texts(["red"])
    from photolib.models.clip import optimized_copies_folder
    assert list(optimized_copies_folder().glob("*/model.onnx"))  # both towers, optimised once for fast loads
    removed = run("models", "remove", "ViT-B-32__laion2b-s34b-b79k")
    assert removed.exit_code == 0 and "freed" in removed.output
    assert not optimized_copies_folder().exists() and red_again.shape == (1, 8)
    assert not json.loads(run("models", "list", "--json").stdout)[0]["installed"]
    assert make_image_embedder(load_settings(library_path=tmp_path / "lib")) is None
    again = run("models", "remove", "ViT-B-32__laion2b-s34b-b79k")
    assert again.exit_code == 2 and "not in the Hugging Face cache" in again.output and "Traceback" not in again.output


def test_pull_of_a_name_the_hub_does_not_have(tmp_path, hub_env):
    with FakeHub() as hub:
        result = run("models", "pull", "ViT-Z-99__nothing", env={"HF_ENDPOINT": hub.url})
    assert result.exit_code == 1
    assert "has no model immich-app/ViT-Z-99__nothing" in result.output and "Traceback" not in result.output


def test_pull_without_network_says_what_to_do(tmp_path, hub_env):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run("models", "pull", "ViT-B-32__openai", env={"HF_ENDPOINT": f"http://127.0.0.1:{port}"})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "cannot reach" in result.output and "model_path" in result.output
    offline = run("models", "pull", "ViT-B-32__openai", env={"HF_HUB_OFFLINE": "1"})
    assert offline.exit_code == 1 and "HF_HUB_OFFLINE is set" in offline.output
    assert not list(hub_env.glob("models--*/snapshots/*/visual/model.onnx"))


def test_models_list_marks_a_configured_model_path(tmp_path, hub_env):
    folder = build_tiny_clip(tmp_path / "my-model")
    config = tmp_path / "config.toml"
    config.write_text(f'[image]\nmodel = "my/tiny"\nmodel_path = "{folder}"\n')
    rows = json.loads(run("--config", str(config), "models", "list", "--json").stdout)
    mine = [row for row in rows if row["configured"]]
    assert len(mine) == 1 and mine[0]["name"] == "my/tiny" and mine[0]["installed"] and mine[0]["path"] == str(folder)
