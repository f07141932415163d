"""Rotating catalog snapshots kept inside the library, taken without anyone asking.

After a writing command changed the catalog, `maybe_take` copies it with
SQLite's online backup API into `snapshots/catalog-<UTC time>.db`, at most
once per `[library] snapshot_interval` hours, keeping the newest
`snapshot_keep`. A snapshot is written to a hidden temporary file, synced and
renamed into place, so a kill or power loss leaves either the old set or the
new one (a leftover temporary file is removed by the next snapshot). The FAISS
index is not kept: it is rebuilt from the catalog. Apart from rotating them,
commands only read snapshots (`stats`, `doctor --repair`, `restore --snapshot`).

The catalog files of a library are only ever moved aside, never deleted:
`keep_aside` hard-links them (catalog, -wal, -shm) into `aside/` before a
restore or repair replaces them.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from photolib.core.clock import utc_now
from photolib.core.errors import UsageError
from photolib.core.files import fsync_file, fsync_folder
from photolib.core.layout import ASIDE_FOLDER, CATALOG_NAME, SNAPSHOT_FOLDER

_NAME = re.compile(r"^catalog-(\d{8}T\d{6}Z)\.db$")
_STAMP = "%Y%m%dT%H%M%SZ"
_PARTIAL_PREFIX = ".partial-"


@dataclass(frozen=True)
class Snapshot:
    path: Path
    taken_at: datetime

    @property
    def name(self) -> str:
        return self.path.name

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "taken_at": self.taken_at.isoformat(timespec="seconds"),
                "size": self.path.stat().st_size if self.path.exists() else 0, "photos": photo_count(self.path)}


def list_snapshots(root: Path) -> list[Snapshot]:
    """The library's snapshots, newest first (temporary files of an interrupted snapshot are not listed)."""
    folder = Path(root) / SNAPSHOT_FOLDER
    found = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    for entry in entries:
        match = _NAME.match(entry.name)
        if match and entry.is_file():
            taken = datetime.strptime(match.group(1), _STAMP).replace(tzinfo=timezone.utc)
            found.append(Snapshot(entry, taken))
    return sorted(found, key=lambda s: s.taken_at, reverse=True)


def due(root: Path, interval_hours: float, keep: int, now: datetime | None = None) -> bool:
    """Whether a catalog change now deserves a snapshot: keeping is on and the newest is old enough."""
    if keep < 1:
        return False
    snapshots = list_snapshots(root)
    if not snapshots:
        return True
    now = now or utc_now()
    return now - snapshots[0].taken_at >= timedelta(hours=interval_hours)


def take(connection: sqlite3.Connection, root: Path, keep: int, now: datetime | None = None) -> Snapshot:
    """Copy the catalog behind `connection` into a new snapshot (atomically), then rotate to `keep`.

    Only one process may take snapshots of a library at a time (`snapshot_runner` holds the lock), since
    temporary files left by a killed one are removed here. A copy that fails `quick_check` is not kept.
    """
    folder = Path(root) / SNAPSHOT_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    now = (now or utc_now()).replace(microsecond=0)
    final = folder / f"catalog-{now.strftime(_STAMP)}.db"
    for leftover in folder.glob(_PARTIAL_PREFIX + "*"):
        leftover.unlink(missing_ok=True)  # from a snapshot killed halfway
    temp = folder / f"{_PARTIAL_PREFIX}{os.getpid()}-{final.name}"
    target = sqlite3.connect(str(temp))
    try:
        os.chmod(temp, 0o600)
        target.execute("PRAGMA synchronous=OFF")  # the whole file is synced once, below
        connection.backup(target)  # all pages in one step: one read transaction, so one consistent moment
        target.execute("PRAGMA journal_mode=DELETE")  # a lone file: reading it never creates -wal/-shm beside it
        verdict = target.execute("PRAGMA quick_check").fetchone()[0]
    finally:
        target.close()
    if verdict != "ok":  # a damaged catalog never rotates a sound snapshot out
        temp.unlink(missing_ok=True)
        raise sqlite3.DatabaseError(f"the copy fails SQLite's quick_check ({verdict}): see `photolib doctor`")
    fsync_file(temp)
    os.replace(temp, final)
    fsync_folder(folder)
    rotate(root, keep)
    return Snapshot(final, now)


def rotate(root: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` snapshots; returns what was removed."""
    removed = [s.path for s in list_snapshots(root)[max(keep, 1):]]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def find(root: Path, reference: str) -> Snapshot:
    """A snapshot by file name, by day (YYYY-MM-DD, UTC: the newest of that day), or `latest`."""
    snapshots = list_snapshots(root)
    text = reference.strip()
    if not snapshots:
        raise UsageError(f"{Path(root) / SNAPSHOT_FOLDER} holds no snapshot: the library has none yet "
                         "(see `photolib stats`)")
    if text == "latest":
        return snapshots[0]
    for snapshot in snapshots:
        if text in (snapshot.name, snapshot.name.removesuffix(".db"), str(snapshot.path)):
            return snapshot
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = None
    if day is not None:
        for snapshot in snapshots:
            if snapshot.taken_at.date() == day:
                return snapshot
    names = ", ".join(s.name for s in snapshots)
    raise UsageError(f"no snapshot {text!r} in {Path(root) / SNAPSHOT_FOLDER}: give a day (YYYY-MM-DD), a name "
                     f"or `latest`; there are {names}")


def photo_count(catalog: Path) -> int | None:
    """Photos in a catalog file, read without writing anything beside it; None if unreadable."""
    try:
        connection = sqlite3.connect(f"file:{catalog}?immutable=1", uri=True)
        try:
            return int(connection.execute("SELECT count(*) FROM photos").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error:
        return None


def keep_aside(catalog: Path, why: str, now: datetime | None = None) -> Path:
    """Link the catalog and its -wal into `aside/` (never deleting them); returns the kept catalog path.

    Hard links keep the files in place too, so until the caller swaps the
    catalog, the library is exactly as it was. Where links are not possible
    (some network shares), the files are copied.
    """
    catalog = Path(catalog)
    folder = catalog.parent / ASIDE_FOLDER
    folder.mkdir(mode=0o700, exist_ok=True)
    stamp = (now or utc_now()).strftime(_STAMP)
    kept = folder / f"catalog-{stamp}-{why}.db"
    number = 1
    while kept.exists():
        number += 1
        kept = folder / f"catalog-{stamp}-{why}-{number}.db"
    for suffix in ("", "-wal"):  # the -shm is only an index of the -wal: rebuilt by whoever reads it
        source = Path(str(catalog) + suffix)
        if not source.exists():
            continue
        destination = Path(str(kept) + suffix)
        try:
            os.link(source, destination)
        except OSError:
            shutil.copy2(source, destination)
    fsync_folder(folder)
    return kept


def replace_catalog(catalog: Path, new: Path) -> None:
    """Put the finished catalog file `new` in place of `catalog`.

    The old -wal and -shm go first: SQLite applies any -wal it finds beside a
    catalog, so the new file must never meet the old one's. A kill between the
    two steps leaves the old catalog as of its last checkpoint (and, whole, in
    `aside/` when the caller kept it there first).
    """
    for suffix in ("-wal", "-shm"):
        Path(str(catalog) + suffix).unlink(missing_ok=True)
    os.replace(new, catalog)
    os.chmod(catalog, 0o600)
    fsync_folder(Path(catalog).parent)


def take_from_catalog_file(root: Path, keep: int) -> Snapshot:
    """`take` through a read-only connection of its own to the library's catalog (never creating one): what
    the detached snapshot process does."""
    catalog = Path(root) / CATALOG_NAME
    connection = sqlite3.connect(f"file:{quote(str(catalog))}?mode=rw", uri=True, timeout=30)
    try:
        connection.execute("PRAGMA query_only=1")
        return take(connection, root, keep)
    finally:
        connection.close()
