"""Taking the automatic snapshot without making anyone wait for it.

A command that changed the catalog hands the due snapshot (`photolib.store.snapshots`)
to a detached process at low CPU and I/O priority, started after the command's
own output and after its catalog connection is closed, so the user gets the
prompt back at once. What the caller can rely on:

* One snapshot is taken at a time per library: the process holds an exclusive
  `flock` on `.snapshot-lock` from before it starts (the starting command takes
  it and passes it on) until it ends. A command that finds it held starts none.
* The copy is one read transaction of SQLite's backup API on the WAL catalog:
  a consistent catalog as of one moment, and writers (the next `add`) go on
  meanwhile; nothing waits for it but a restore or repair, which replace the
  catalog (`wait`).
* A kill or power loss leaves the old set of snapshots or the new one
  (`snapshots.take`: temporary file, fsync, rename); the lock dies with the
  process.
* A failure (disk full, a damaged catalog failing the check) is written to
  `.snapshot-failed` and said once by the next command that changes the catalog.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from photolib.core.layout import CATALOG_NAME, SNAPSHOT_FAILED_NAME, SNAPSHOT_FOLDER, SNAPSHOT_LOCK_NAME
from photolib.store.snapshots import due

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: snapshots are taken in the command itself
    fcntl = None  # type: ignore[assignment]

BACKGROUND_SUPPORTED = fcntl is not None
_started: list[subprocess.Popen] = []  # kept referenced: a detached child is never waited for


def _open_lock(root: Path) -> int:
    return os.open(Path(root) / SNAPSHOT_LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)


def _try_lock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def start(root: Path, keep: int) -> bool:
    """Start a detached, low-priority process that takes a snapshot of the catalog in `root`.

    Returns False when a snapshot is already being taken (that one is kept instead).
    """
    _started[:] = [process for process in _started if process.poll() is None]  # reap the ones that ended
    descriptor = _open_lock(root)
    try:
        if not _try_lock(descriptor):
            return False
        package_parent = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
        _started.append(subprocess.Popen(
            [sys.executable, "-m", "photolib.maintenance.snapshot_runner", str(root), str(keep), str(descriptor)],
            pass_fds=(descriptor,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd=str(root), env=env))
        return True
    finally:
        os.close(descriptor)  # the child holds the lock now (or nobody does, if it could not start)


def take_here(connection: sqlite3.Connection | None, root: Path, keep: int) -> Any:
    """Take the snapshot in this process (Python callers of the library; systems without flock).

    Returns the Snapshot, or None when another process is taking one.
    """
    from photolib.store.snapshots import take

    if fcntl is None:
        return take(connection, root, keep) if connection is not None else _take_from_file(root, keep)
    descriptor = _open_lock(root)
    try:
        if not _try_lock(descriptor):
            return None
        return take(connection, root, keep) if connection is not None else _take_from_file(root, keep)
    finally:
        os.close(descriptor)


def wait(root: Path, timeout: float) -> bool:
    """Wait until no snapshot is being taken in `root` (at most `timeout` seconds); True when none is."""
    if fcntl is None or not (Path(root) / SNAPSHOT_LOCK_NAME).exists():
        return True
    descriptor = _open_lock(root)
    try:
        deadline = time.monotonic() + timeout
        while not _try_lock(descriptor):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)
        return True
    finally:
        os.close(descriptor)


def report_failure(root: Path, notify: Callable[[str], None]) -> None:
    """Say once that the last background snapshot failed, and why."""
    note = Path(root) / SNAPSHOT_FAILED_NAME
    try:
        text = note.read_text(encoding="utf-8").strip()
    except OSError:
        return
    note.unlink(missing_ok=True)
    notify(f"The last automatic snapshot of the catalog was not kept ({text}); the next one is taken after "
           "the next change (see `photolib doctor`)")


def _take_from_file(root: Path, keep: int) -> Any:
    from photolib.store.snapshots import take_from_catalog_file

    return take_from_catalog_file(root, keep)


def _lower_priority() -> None:
    """Lowest CPU priority, and the idle I/O class where Linux offers it: the user's commands go first."""
    try:
        os.nice(19)
    except OSError:
        pass
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import platform

            number = {"x86_64": 251, "aarch64": 30, "i686": 289, "armv7l": 314}.get(platform.machine())
            if number is not None:
                idle_class = 3 << 13
                ctypes.CDLL(None, use_errno=True).syscall(number, 1, 0, idle_class)  # ioprio_set(PROCESS, self)
        except (OSError, AttributeError):
            pass


def _child(root: Path, keep: int, descriptor: int) -> int:
    """The detached process: it already holds the lock on `descriptor` (inherited)."""
    _lower_priority()
    try:
        _take_from_file(root, keep)
    except (OSError, sqlite3.Error, ValueError) as error:
        try:
            (root / SNAPSHOT_FAILED_NAME).write_text(f"{error}\n", encoding="utf-8")
        except OSError:
            pass
        return 1
    finally:
        os.close(descriptor)
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))


def maybe_take(connection: sqlite3.Connection | None, root: Path, interval_hours: float, keep: int,
               notify: Any = None, background: bool = False) -> bool:
    """Keep a snapshot if one is due: in a detached low-priority process (`background`, see
    `snapshot_runner`), else here with `connection` (or a connection of its own when None).

    A failure (disk full...) is reported, never fails the command that wrote. Returns whether one was
    taken or started.
    """
    if not due(root, interval_hours, keep):
        return False
    try:
        if background and BACKGROUND_SUPPORTED:
            return start(root, keep)
        return take_here(connection, root, keep) is not None
    except (OSError, sqlite3.Error, ValueError) as error:
        if notify is not None:
            notify(f"Could not keep a snapshot of the catalog in {Path(root) / SNAPSHOT_FOLDER} ({error}); "
                   "the command itself finished")
        return False


def wait_for_snapshot(root: Path, notify: Callable[[str], None], lock_timeout: float) -> None:
    """Before replacing the catalog or reading snapshots to do so: let a snapshot being taken finish."""
    from photolib.core.errors import LibraryLockedError

    if wait(root, 0.5):
        return
    notify("A snapshot of the catalog is being taken; waiting for it to finish.")
    if not wait(root, max(lock_timeout, 60.0)):
        raise LibraryLockedError(f"a snapshot of {Path(root) / CATALOG_NAME} is still being taken; "
                                 "try again in a minute")
