"""The layer rule and the one home of SQL hold: what a newcomer reads in docs/contributing.md is true.

The import-linter contracts in pyproject.toml (layers, and no cycle inside any package) are checked
here as well as by `lint-imports` in CI, so the README's test command alone catches a broken layer.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "photolib"
SQL = re.compile(r"\b(SELECT\s.+?\sFROM\b|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b|DELETE\s+FROM\b|"
                 r"CREATE\s+(TABLE|INDEX|VIRTUAL\s+TABLE|TRIGGER|VIEW)\b|PRAGMA\s+\w+|ALTER\s+TABLE\b|"
                 r"DROP\s+(TABLE|INDEX)\b)", re.S)


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _sql_outside_store() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] == "store":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip \
                    and SQL.search(node.value):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value[:60]!r}")
    return found


def test_the_scan_recognises_sql():
    assert SQL.search("SELECT id FROM photos WHERE id = ?") and SQL.search("PRAGMA integrity_check(50)")
    assert not SQL.search("Select the photos you want, from the list")


def test_sql_text_lives_only_in_the_store_package():
    assert _sql_outside_store() == []


def test_import_contracts_hold():
    """Layers (lowest first: core, store, media, models, providers, query, pipeline, search, maintenance,
    app, render, cli) and no import cycle anywhere, function-level and annotation-only imports included."""
    lint = Path(sys.executable).with_name("lint-imports")  # installed by the test extra
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:]
    assert "BROKEN" not in result.stdout and "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_library_facade_stays_small():
    lines = (PACKAGE / "app" / "library.py").read_text(encoding="utf-8").count("\n")
    assert lines <= 400, f"photolib/app/library.py has {lines} lines: move a use case into its own app/ module"
