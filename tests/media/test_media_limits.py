"""Large images: real ones are read, bombs are refused, and whole decodes do not pile up in memory."""

from __future__ import annotations

import json
import threading

from PIL import Image
from typer.testing import CliRunner

from photolib.cli import app
from photolib.media.read import PixelBudget


def test_a_large_real_photo_is_not_taken_for_a_bomb(tmp_path, library_path):
    """102 MP (a medium-format frame) is above Pillow's warning level but below its refusal level."""
    root = tmp_path / "big"
    root.mkdir()
    Image.new("1", (11648, 8736), 1).save(root / "gfx100.png")
    runner = CliRunner()
    result = runner.invoke(app, ["-L", str(library_path), "add", str(root), "--json"])
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["new"] == 1
    assert json.loads(runner.invoke(app, ["-L", str(library_path), "list", "--json"]).stdout)[0]["status"] == "ok"


def test_whole_image_decodes_wait_for_the_pixel_budget():
    budget = PixelBudget(100)
    events = []

    def second_decode():
        with budget.hold(60):
            events.append("second decodes")

    with budget.hold(60):
        thread = threading.Thread(target=second_decode)
        thread.start()
        thread.join(timeout=0.3)  # it must still be waiting for the budget
        events.append("first done")
    thread.join(timeout=5)
    assert events == ["first done", "second decodes"]
    with budget.hold(500):  # an image bigger than the whole budget gets all of it, alone
        assert budget.available == 0
    assert budget.available == 100
