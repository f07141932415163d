"""The docs stay true: generated parts are current, every command and option is documented, links
resolve, CI runs the README's test command, and the README's quick start does what it says."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text(encoding="utf-8")
CLI_REFERENCE = DOCS / "cli.md"
COG_CHECK = [sys.executable, "-m", "cogapp", "--check", "--diff", "-I", "docs"]  # CI: python -m cogapp --check -I docs docs/*.md


def _pages() -> list[Path]:
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "docs/ has no pages"
    return pages


def _hand_written() -> str:
    return "\n".join(page.read_text(encoding="utf-8") for page in _pages() if page != CLI_REFERENCE)


def _commands() -> list[tuple[tuple[str, ...], object]]:
    """(path, click command) of every command and subcommand of `photolib`."""
    from typer.main import get_command

    from photolib.cli import app

    found = []

    def walk(path: tuple[str, ...], command) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            found.append(((*path, name), sub))
            walk((*path, name), sub)

    walk((), get_command(app))
    assert found, "photolib has no commands"
    return found


def _without_code(text: str) -> str:
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def test_generated_docs_are_current():
    pages = [str(page.relative_to(ROOT)) for page in _pages() if "[[[cog" in page.read_text(encoding="utf-8")]
    assert "docs/cli.md" in pages
    checked = subprocess.run([*COG_CHECK, *pages], cwd=ROOT, env=_env(), capture_output=True, text=True)
    assert checked.returncode == 0, (f"generated docs are stale: run `python -m cogapp -r -I docs docs/*.md`\n"
                                     f"{checked.stdout}{checked.stderr}")


def test_cli_reference_has_every_command_and_option():
    """Each command's section of docs/cli.md shows its usage and every one of its options and arguments."""
    reference = CLI_REFERENCE.read_text(encoding="utf-8")
    sections = dict(re.findall(r"^#+ `(photolib[^`]*)`\n(.*?)(?=^#+ `photolib|\Z)", reference, flags=re.S | re.M))
    checked = 0
    for path, command in _commands():
        name = " ".join(("photolib", *path))
        assert name in sections, f"`{name}` has no section in docs/cli.md"
        section = sections[name]
        assert f"Usage: {name} " in section
        params = [p for p in command.params if not getattr(p, "hidden", False)]
        for param in params:
            names = [*param.opts, *param.secondary_opts] if param.param_type_name == "option" else [param.name]
            for written in names:
                assert written in section, f"{written} of `{name}` is not in docs/cli.md"
                checked += 1
    assert checked > 100


def test_every_command_is_described_in_a_hand_written_page():
    written = _hand_written()
    for path, _command in _commands():
        name = " ".join(("photolib", *path))
        assert name in written, f"`{name}` is described in no page of docs/ besides the generated cli.md"
    assert "(docs/cli.md)" in README and "(docs/commands.md)" in README


def test_readme_is_the_front_door():
    assert len(README.splitlines()) <= 200, "README.md is the front door: move details into docs/"
    for page in _pages():
        if not page.name.startswith("_"):
            assert f"(docs/{page.name})" in README, f"README.md does not link docs/{page.name}"


def test_links_and_anchors_resolve():
    def anchors(page: Path) -> set[str]:
        headings = re.findall(r"^#+ (.+)$", _without_code(page.read_text(encoding="utf-8")), flags=re.M)
        return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}

    checked = 0
    for page in [ROOT / "README.md", *_pages()]:
        for target in re.findall(r"\]\(([^)\s]+)\)", _without_code(page.read_text(encoding="utf-8"))):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            linked = (page.parent / file).resolve() if file else page
            assert linked.exists(), f"{page.name}: link to {target}: no such file"
            if anchor:
                assert anchor in anchors(linked), f"{page.name}: link to {target}: no such heading"
            checked += 1
    assert checked > 20


def test_every_filter_has_an_example():
    from photolib.query.parser import FILTERS

    page = (DOCS / "query-language.md").read_text(encoding="utf-8")
    examples = page.split("## Filters by example", 1)[1].split("\n## ", 1)[0]
    for key in FILTERS:
        assert f"| `{key}" in examples or f", `{key}" in examples, f"no example of `{key}:` in query-language.md"


def test_ci_runs_exactly_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    command = [line for line in ci.splitlines() if line.startswith("python3 -m venv")][0]
    assert command in README


def test_bench_writes_its_table_between_the_markers(tmp_path):
    from bench.run import DOCS_END, DOCS_PAGE, DOCS_START, write_docs

    text = DOCS_PAGE.read_text(encoding="utf-8")
    assert text.count(DOCS_START) == 1 and text.count(DOCS_END) == 1
    page = tmp_path / "performance.md"
    page.write_text(text, encoding="utf-8")
    write_docs({"mode": "full", "cores": 2, "results": [
        {"case": "cli start: --help / import typer,rich", "figure": 1.1523, "unit": "ratio", "target": "<= 1.5x",
         "pass": True, "note": "(68 ms vs 59 ms)"},
        {"case": "search 100,000 (ivf): p99", "figure": 0.9, "unit": "ms", "target": "(reported)", "pass": None,
         "note": ""}]}, page=page)
    written = page.read_text(encoding="utf-8")
    before, after = text.split(DOCS_START)[0], text.split(DOCS_END)[1]
    assert written.startswith(before + DOCS_START) and written.endswith(DOCS_END + after)
    table = written.split(DOCS_START)[1].split(DOCS_END)[0]
    assert "| cli start: --help / import typer,rich | 1.152x (68 ms vs 59 ms) | <= 1.5x | pass |" in table
    assert "| search 100,000 (ivf): p99 | 0.9 ms | reported |  |" in table
    assert "(full run, 2 cores)" in table


def _quick_start() -> list[str]:
    section = README.split("\n## Quick start\n", 1)[1]
    block = re.search(r"^```\w*\n(.*?)^```", section, flags=re.S | re.M).group(1)
    lines = [line for line in block.splitlines() if line.strip()]
    assert lines and all(line.startswith("photolib ") for line in lines), "the quick start is plain photolib commands"
    return lines


def test_readme_quick_start_runs_as_written(tmp_path):
    """The quick start's commands, run by bash as written, in a folder laid out like the clone
    (with the sample photos), with the installed `photolib` on PATH; OCR and faces are off (conftest)."""
    bin_folder = Path(sys.executable).parent
    assert shutil.which("photolib", path=str(bin_folder)), f"no `photolib` command in {bin_folder}: pip install -e ."
    shutil.copytree(ROOT / "tests" / "data" / "sample-photos", tmp_path / "tests" / "data" / "sample-photos")
    env = {**_env(), "PATH": os.pathsep.join([str(bin_folder), os.environ.get("PATH", "")]), "COLUMNS": "200"}
    outputs = []
    for line in _quick_start():
        ran = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert ran.returncode == 0, f"{line}\n{ran.stdout}\n{ran.stderr}"
        outputs.append(ran.stdout)
    added, found, albums = outputs

    header = next(line for line in added.splitlines() if "new" in line and "failed" in line)
    row = next(line for line in added.splitlines() if re.match(r"^│\s*\d", line))
    columns = [cell.strip() for cell in header.strip("┃│ ").split("┃")]
    assert dict(zip(columns, (cell.strip() for cell in row.strip("│ ").split("│"))))["new"] == "13"

    lines = found.splitlines()
    rule = next(i for i, line in enumerate(lines) if re.fullmatch(r"─+", line.strip()))
    assert "match" in lines[rule - 1] and "Lisbon" in lines[rule + 1] and "%" in lines[rule + 1]

    assert "4 albums" in albums and "Lisbon Beach Holiday — Jul 2023" in albums
