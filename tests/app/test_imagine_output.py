"""`imagine` output: files are never overwritten, and a seed is recorded only when the generator used it."""

from __future__ import annotations

import json
from datetime import datetime

from PIL import Image
from typer.testing import CliRunner

from photolib.cli import app
from photolib.app.imagine import _write_png
from tests.support.fake_servers import FakeModelServer, png_bytes
from tests.support.photos import make_trip

KEY = "sk-imagine-0a1b2c3d4e5f"


def test_the_same_name_twice_gives_two_files(tmp_path):
    first = _write_png(png_bytes(color=(1, 2, 3)), tmp_path, "photo1-20260101-120000-seed5")
    second = _write_png(png_bytes(color=(4, 5, 6)), tmp_path, "photo1-20260101-120000-seed5")
    third = _write_png(png_bytes(color=(7, 8, 9)), tmp_path, "photo1-20260101-120000-seed5")
    assert [p.name for p in (first, second, third)] == [
        "photo1-20260101-120000-seed5.png", "photo1-20260101-120000-seed5-2.png", "photo1-20260101-120000-seed5-3.png"]
    for path, color in [(first, (1, 2, 3)), (second, (4, 5, 6)), (third, (7, 8, 9))]:
        with Image.open(path) as image:
            assert image.getpixel((0, 0)) == color
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (first, second, third))  # no temp files


def test_gpt_image_generation_records_no_seed(tmp_path, library_path):
    pictures = tmp_path / "pics"
    make_trip(pictures, "Dunes", 1, start=datetime(2024, 5, 1, 18), gps=(25.0, 55.0), color=(220, 180, 90))
    with FakeModelServer(dimension=16) as server:
        config = tmp_path / "config.toml"
        config.write_text(f'[vision]\nprovider = "openai"\nbase_url = "{server.url}/v1"\n'
                          f'[generation]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nsteps = 30\n')
        base = ["--config", str(config), "--library", str(library_path)]
        env = {"OPENAI_API_KEY": KEY}
        assert CliRunner().invoke(app, [*base, "add", str(pictures)], env=env).exit_code == 0
        result = CliRunner().invoke(app, [*base, "imagine", "1", "--prompt", "dunes at dusk", "--seed", "9",
                                          "--out", str(tmp_path / "art"), "--json"], env=env)
        assert result.exit_code == 0, result.output
        image = json.loads(result.stdout)["images"][0]
        sent = server.calls("/v1/images/generations")[-1].body
    assert sent == {"model": "gpt-image-2", "prompt": "dunes at dusk", "size": "1024x1024", "n": 1}
    assert image["seed"] is None and "seed" not in image["path"].rsplit("/", 1)[1]
    listed = json.loads(CliRunner().invoke(app, [*base, "imagine", "--list", "--json"], env=env).stdout)
    assert [row["seed"] for row in listed] == [None]
