"""`imagine` with its own vision provider ([imagine], defaulting to [vision]), cached prompts, and --html."""

from __future__ import annotations

import html
import json
import re
from datetime import datetime

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from photolib.core.config import load_settings
from tests.support.fake_servers import FakeModelServer
from tests.support.photos import make_trip

KEY = "sk-imagine-canary-31d4"
CHAT = "/v1/chat/completions"
FLUX = "/hf-inference/models/black-forest-labs/FLUX.1-dev"


@pytest.fixture
def server():
    with FakeModelServer(dimension=16) as running:
        yield running


def _config(tmp_path, lines, name="config.toml"):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_imagine_section_defaults_to_vision_and_inherits_its_keys(tmp_path):
    plain = _config(tmp_path, ["[vision]", 'provider = "openai"', 'base_url = "http://v.example/v1"'])
    assert load_settings(plain, tmp_path / "lib", environ={}).imagine is None
    only_model = _config(tmp_path, ["[vision]", 'provider = "openai"', 'base_url = "http://v.example/v1"',
                                    "max_retries = 3", "[imagine]", 'model = "gemini-2.5-flash"'])
    imagine = load_settings(only_model, tmp_path / "lib", environ={"OPENAI_API_KEY": KEY}).imagine
    assert (imagine.provider, imagine.model, imagine.base_url) == ("openai", "gemini-2.5-flash", "http://v.example/v1")
    assert imagine.options["max_retries"] == 3 and imagine.api_key == KEY
    other = _config(tmp_path, ["[vision]", 'provider = "openai"', 'base_url = "http://v.example/v1"',
                               "[imagine]", 'provider = "huggingface"'])
    imagine = load_settings(other, tmp_path / "lib", environ={"HF_TOKEN": "hf_x"}).imagine
    assert (imagine.provider, imagine.base_url, imagine.api_key_env) == ("huggingface", None, "HF_TOKEN")
    from photolib.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"\[imagine\]"):
        load_settings(_config(tmp_path, ["[imagine]", "colour = 1"]), tmp_path / "lib", environ={})
    plain = _config(tmp_path, ["[vision]", 'provider = "openai"', 'base_url = "http://v.example/v1"'], "plain.toml")
    assert load_settings(plain, tmp_path / "lib", environ={"PHOTOLIB_IMAGINE_MODEL": "m2"}).imagine.model == "m2"


def test_imagine_uses_its_own_provider_caches_prompts_and_writes_html(tmp_path, server, library_path):
    pics = tmp_path / "pics"
    make_trip(pics, "Coast", 2, start=datetime(2023, 6, 1, 9), gps=(43.2965, 5.3698), color=(40, 120, 200))
    config = _config(tmp_path, [
        "[vision]", 'provider = "local"',
        "[imagine]", 'provider = "openai"', f'base_url = "{server.url}/v1"', 'model = "prompt-writer-1"',
        "max_retries = 1",
        "[generation]", 'provider = "huggingface"', f'base_url = "{server.url}{FLUX}"',
        'api_key_env = "OPENAI_API_KEY"', "steps = 2",
    ])
    runner = CliRunner()
    base = ["--config", str(config), "-L", str(library_path)]
    env = {"OPENAI_API_KEY": KEY}
    assert runner.invoke(app, [*base, "add", str(pics)], env=env).exit_code == 0
    assert server.calls(CHAT) == []  # descriptions came from the local [vision]

    first = runner.invoke(app, [*base, "imagine", "1", "--prompt-only", "--json"], env=env)
    assert first.exit_code == 0, first.output
    chats = server.calls(CHAT)
    assert len(chats) == 1 and chats[0].body["model"] == "prompt-writer-1"
    again = runner.invoke(app, [*base, "imagine", "1", "--prompt-only", "--json"], env=env)
    assert json.loads(again.stdout)["prompt"] == json.loads(first.stdout)["prompt"]
    assert len(server.calls(CHAT)) == 1  # the second time: zero calls

    page = tmp_path / "run.html"
    made = runner.invoke(app, [*base, "imagine", "1", "--seed", "5", "--count", "2", "--html", str(page), "--json"],
                         env=env)
    assert made.exit_code == 0, made.output
    assert len(server.calls(CHAT)) == 1 and len(server.calls(FLUX)) == 2
    document = page.read_text()
    assert len(re.findall(r'<img src="data:image/jpeg;base64,', document)) == 3  # source + two images
    assert "seed 5" in document and "seed 6" in document and html.escape(json.loads(made.stdout)["prompt"]) in document
    assert KEY not in made.output and KEY not in document

    site = tmp_path / "site"
    assert runner.invoke(app, [*base, "gallery", str(site)], env=env).exit_code == 0
    photo_page = (site / "photos" / "1.html").read_text()
    assert "Imagined from this photo" in photo_page and "seed 6" in photo_page
    assert len(list((site / "generated").iterdir())) == 2
