"""What reaches the terminal is what the user typed or the file holds, shown literally and harmlessly."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from photolib.cli import app
from tests.support.photos import make_photo

HIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def test_queries_and_paths_in_titles_are_not_markup(tmp_path, library_path):
    make_photo(tmp_path / "p" / "[red]x[/red].jpg")
    make_photo(tmp_path / "p" / "other.jpg", color=(30, 30, 200))
    runner = CliRunner()
    runner.invoke(app, ["-L", str(library_path), "add", str(tmp_path / "p")])
    broken = runner.invoke(app, ["-L", str(library_path), "search", "[/red] orange", "-t", "4"])
    assert broken.exit_code == 0, broken.output
    assert "Search: [/red] orange" in broken.stdout
    similar = runner.invoke(app, ["-L", str(library_path), "similar", str(tmp_path / "p" / "[red]x[/red].jpg"), "-t", "4"])
    assert similar.exit_code == 0 and "[red]x[/red].jpg" in "".join(similar.output.split())  # a long title wraps


def test_json_escapes_controls_and_bidi_but_keeps_letters(tmp_path, library_path):
    name = "caf\u00e9 \u202egnp.\u009b31m\u2028x.jpg"
    make_photo(tmp_path / "p" / name)
    runner = CliRunner()
    runner.invoke(app, ["-L", str(library_path), "add", str(tmp_path / "p")])
    result = runner.invoke(app, ["-L", str(library_path), "list", "--json"])
    assert not HIDDEN.search(result.stdout)
    assert "caf\u00e9" in result.stdout  # readable, not \\u00e9
    assert json.loads(result.stdout)[0]["path"].endswith(name)  # the same string once parsed
