"""The README stays true: every command documented, CI runs its test command, the quick start works."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from photolib.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group, prefix=""):
    from typer.main import get_command

    command = get_command(group)
    names = []
    for name, sub in getattr(command, "commands", {}).items():
        names.append(f"{prefix}{name}")
        if getattr(sub, "commands", None):
            names.extend(f"{prefix}{name} {child}" for child in sub.commands)
    return names


def test_every_command_is_documented_in_readme():
    for name in _commands(app):
        assert f"photolib {name}" in README, f"`photolib {name}` is not in README.md"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = [line for line in ci.splitlines() if line.startswith("python3 -m venv")][0]
    assert command in README


def test_quick_start_on_the_sample_folder(tmp_path):
    quick_start = re.search(r"```\n(python3 -m venv .venv && .*photolib -L .*)\n```", README).group(1)
    assert "add tests/data/sample-photos" in quick_start
    runner = CliRunner()
    library = str(tmp_path / "library")
    added = runner.invoke(app, ["-L", library, "add", str(ROOT / "tests/data/sample-photos"), "--json"])
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["new"] == 13
    hits = json.loads(runner.invoke(app, ["-L", library, "search", "beach in Lisbon", "--json"]).stdout)
    assert "Lisbon" in hits[0]["path"]
