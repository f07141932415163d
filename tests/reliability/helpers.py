"""Run photolib as a separate process and inspect a library the way a fresh process would."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STAGES_OFF = {"PHOTOLIB_OCR_ENABLED": "false", "PHOTOLIB_FACES_ENABLED": "false"}
REBUILT = "rebuilt it from the catalog"  # what a command says when it repaired a stale or missing index
SETPRIV = shutil.which("setpriv")


def permission_bits_apply() -> list[str] | None:
    """Argv prefix under which file permission bits apply to a command; None if they cannot here.

    Root ignores permission bits (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH); `setpriv` runs a command as root
    without those two capabilities, so a file with mode 000 is unreadable to it as to any user.
    """
    if os.geteuid() != 0:
        return []
    if SETPRIV is None:
        return None
    return [SETPRIV, "--bounding-set=-dac_override,-dac_read_search"]


def photolib_argv(library: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "photolib.cli", "-L", str(library), *args]


def photolib(library: Path, *args: str, env: dict | None = None, prefix: list[str] | None = None,
             **kwargs) -> subprocess.CompletedProcess:
    """Run the CLI in its own process (`prefix`: e.g. a setpriv command line to run it under)."""
    return subprocess.run([*(prefix or []), *photolib_argv(library, *args)], capture_output=True, text=True,
                          env=child_env(env), cwd=ROOT, **kwargs)


def start_photolib(library: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(photolib_argv(library, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(env), cwd=ROOT)


def child_env(extra: dict | None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOLIB_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(STAGES_OFF)  # OCR and faces: on only where a test says so (tests/reliability/test_stages_crash.py)
    env.update(extra or {})
    return env


def check_catalog(library: Path) -> dict:
    """Integrity and uniqueness, read with a plain sqlite3 connection."""
    connection = sqlite3.connect(str(library / "catalog.db"), timeout=30)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if not _has_schema(connection):
            return {}  # killed before the first migration committed: an empty database
        duplicates = connection.execute("SELECT path, count(*) FROM photos GROUP BY path HAVING count(*) > 1").fetchall()
        assert duplicates == []
        orphans = connection.execute(
            "SELECT count(*) FROM embeddings WHERE photo_id NOT IN (SELECT id FROM photos)").fetchone()[0]
        assert orphans == 0
        return dict(connection.execute("SELECT status, count(*) FROM photos GROUP BY status").fetchall())
    finally:
        connection.close()


def catalog_query(library: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Rows of `sql`; [] when there is no catalog yet (no file, or killed before its schema was committed)."""
    if not (library / "catalog.db").exists():
        return []
    connection = sqlite3.connect(str(library / "catalog.db"), timeout=30)
    try:
        return connection.execute(sql, params).fetchall() if _has_schema(connection) else []
    finally:
        connection.close()


def _has_schema(connection: sqlite3.Connection) -> bool:
    return connection.execute("SELECT count(*) FROM sqlite_master WHERE name = 'photos'").fetchone()[0] > 0


# -- index state --------------------------------------------------------------------


def index_matches_catalog(library: Path) -> bool:
    """True when, for every vector space, the stamp names existing files and agrees with the catalog's
    revision and the space's vector count (or there is neither a stamp nor a vector: nothing to index yet)."""
    return all(space_index_matches_catalog(library, space) for space in ("description", "image"))


def space_index_matches_catalog(library: Path, space: str) -> bool:
    rows = catalog_query(library, "SELECT (SELECT value FROM meta WHERE key = 'revision'), "
                                  "(SELECT count(*) FROM embeddings WHERE space = ?)", (space,))
    revision, vectors = (int(rows[0][0] or 0), rows[0][1]) if rows else (0, 0)
    folder = library / "index" / space
    try:
        stamp = json.loads((folder / "stamp.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return vectors == 0
    except (OSError, ValueError):
        return False
    files = [name for name in (stamp.get("file"), stamp.get("delta")) if name]
    return (stamp.get("revision") == revision and stamp.get("count") == vectors
            and all((folder / name).is_file() for name in files))


# -- the background snapshot --------------------------------------------------------


def settle(library: Path, timeout: float = 120) -> None:
    """Wait for the snapshot a finished command may have left to its detached process."""
    from photolib.maintenance.snapshot_runner import wait

    assert wait(library, timeout), f"the background snapshot of {library} did not finish in {timeout} s"


def snapshot_process(library: Path) -> int | None:
    """The detached process taking a snapshot of `library` (it holds `.snapshot-lock` open), if any."""
    lock = os.path.realpath(library / ".snapshot-lock")
    for entry in os.listdir("/proc"):
        if entry.isdigit() and holds_write_lock(int(entry), lock):
            return int(entry)
    return None


def snapshot_child(pid: int) -> int | None:
    """The snapshot process that command `pid` started, while both run (read from /proc, cheap enough to poll)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            children = handle.read().split()
    except OSError:
        return None
    for child in children:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as handle:
                if b"photolib.maintenance.snapshot_runner" in handle.read():
                    return int(child)
        except OSError:
            continue
    return None


def gone(pid: int) -> bool:
    """Whether process `pid` has ended (a zombie waiting for its reaper counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


# -- kill -9 at a chosen moment -------------------------------------------------------


@dataclass
class Run:
    killed: bool  # ended by our SIGKILL (returncode -9)
    returncode: int
    locked_for: float | None  # seconds between taking the library's write lock and the end of the run
    stdout: str
    stderr: str


def holds_write_lock(pid: int, lock: str) -> bool:
    """Whether process `pid` has the library's lock file open (filelock keeps it open while it holds the lock)."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == lock:
                return True
        except OSError:
            continue
    return False


def run_photolib(library: Path, args: list[str], *, env: dict | None = None, kill_after: float | None = None,
                 kill_when=None, logs: Path, timeout: float = 120) -> Run:
    """Run one command; with `kill_after`, SIGKILL it that many seconds after it took the library's write lock;
    with `kill_when`, as soon as that function (polled every few ms once the lock is taken) returns true.

    Timing from the lock, not from the start, puts every kill inside the writing part of the command: the
    interpreter's start-up (imports, ~0.4 s) varies with load and writes nothing. The lock is seen through
    /proc, without touching it, so the command is not slowed down.
    """
    logs.mkdir(parents=True, exist_ok=True)
    lock = os.path.realpath(library / ".lock")
    with open(logs / "stdout", "w+") as out, open(logs / "stderr", "w+") as err:
        process = subprocess.Popen(photolib_argv(library, *args), stdout=out, stderr=err, text=True,
                                   env=child_env(env), cwd=ROOT)
        deadline = time.monotonic() + timeout
        locked_at = None
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if locked_at is None and holds_write_lock(process.pid, lock):
                    locked_at = time.monotonic()
                    if kill_after is not None:
                        time.sleep(kill_after)
                        process.kill()
                        break
                if locked_at is not None and kill_when is not None and kill_when():
                    process.kill()
                    break
                time.sleep(0.0005 if locked_at is None else 0.003)
            else:
                if process.poll() is None:
                    process.kill()
                    process.wait()
                    raise AssertionError(f"photolib {' '.join(args)} did not finish in {timeout} s")
            process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        ended = time.monotonic()
        out.seek(0)
        err.seek(0)
        return Run(killed=process.returncode == -9, returncode=process.returncode,
                   locked_for=None if locked_at is None else ended - locked_at, stdout=out.read(), stderr=err.read())
