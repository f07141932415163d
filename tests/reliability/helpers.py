"""Run photolib as a separate process and inspect a library the way a fresh process would."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def photolib(library: Path, *args: str, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "photolib.cli", "-L", str(library), *args],
                          capture_output=True, text=True, env=_env(env), cwd=ROOT, **kwargs)


def start_photolib(library: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "photolib.cli", "-L", str(library), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(env), cwd=ROOT)


def _env(extra: dict | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOLIB_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def check_catalog(library: Path) -> dict:
    """Integrity and uniqueness, read with a plain sqlite3 connection."""
    connection = sqlite3.connect(str(library / "catalog.db"), timeout=30)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        duplicates = connection.execute("SELECT path, count(*) FROM photos GROUP BY path HAVING count(*) > 1").fetchall()
        assert duplicates == []
        orphans = connection.execute(
            "SELECT count(*) FROM embeddings WHERE photo_id NOT IN (SELECT id FROM photos)").fetchone()[0]
        assert orphans == 0
        return dict(connection.execute("SELECT status, count(*) FROM photos GROUP BY status").fetchall())
    finally:
        connection.close()


def stats(library: Path) -> dict:
    result = photolib(library, "stats", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
