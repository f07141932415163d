"""Salvage for `photolib doctor --repair`: a new catalog from the newest snapshot plus every row still readable.

The damaged catalog (with its -wal and -shm) is first linked into `aside/`;
nothing is ever deleted. The new catalog is built at a temporary path: a copy
of the newest snapshot that passes `quick_check` (migrated to the current
schema), over which every row SQLite can still read from the damaged file is
written, table by table, in rowid ranges that are split in halves around
whatever raises an error, so one bad page costs only the rows on it. Rows read
from the damaged file are newer than the snapshot's and win; a table read from
the damaged file without a single error replaces the snapshot's (so photos
removed since the snapshot stay removed). Then full-text and SQLite indexes
are rebuilt, photos left without a vector go back to pending, and the new file
is renamed over the old one; a kill at any moment leaves the damaged catalog
or the new one. The FAISS index is rebuilt from the new catalog.

A -wal file that spoils an otherwise sound catalog (a WAL from another copy of
the library) is left out: the catalog file alone is read.
"""

from __future__ import annotations

import shutil
import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from photolib.core.files import fsync_file
from photolib.store import damage
from photolib.store.snapshots import list_snapshots

_CHUNK = 512
_SKIPPED_TABLES = ("sqlite_",)
_TYPES = {"INTEGER": (int,), "TEXT": (str,), "REAL": (float, int), "FLOAT": (float, int), "BLOB": (bytes,)}


@dataclass
class RepairReport:
    """What `doctor --repair` found, kept and recovered; plain data for `--json`."""

    needed: bool
    problem: str | None = None
    kept_aside: str | None = None
    snapshot: str | None = None
    snapshot_taken_at: str | None = None
    photos: int = 0
    photos_from_damaged: int = 0
    photos_from_snapshot_only: int = 0
    described: int = 0
    to_describe: int = 0
    to_embed: int = 0
    albums: list[str] = field(default_factory=list)
    unreadable: dict[str, int] = field(default_factory=dict)
    wal_left_out: bool = False
    source_roots: list[str] = field(default_factory=list)

    @property
    def nothing_recovered(self) -> bool:
        return self.needed and self.photos == 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"nothing_recovered": self.nothing_recovered}


def catalog_problem(catalog: Path) -> str | None:
    """Why `catalog` needs repair (a one-line finding), or None if it passes `quick_check`.

    Read apart from the catalog (`damage.apart`): nothing here may write a
    foreign -wal into it. A file that is not a photolib catalog is refused.
    """
    from photolib.core.errors import CatalogDamagedError, NotACatalogError

    if not catalog.exists():
        return None
    try:
        damage.precheck(catalog)
    except CatalogDamagedError as error:
        return str(error)
    found = damage.diagnose(catalog)
    if isinstance(found, NotACatalogError):
        raise found
    return None if found is None else str(found)


def build_salvaged_catalog(temp: Path, damaged_file: Path, root: Path, report: RepairReport) -> None:
    """Write at `temp` the newest sound snapshot of `root` with every readable row of `damaged_file` over it."""
    from photolib.store.catalog import Catalog

    snapshot = _newest_sound_snapshot(root)
    if snapshot is not None:
        shutil.copyfile(snapshot.path, temp)
        report.snapshot, report.snapshot_taken_at = snapshot.name, snapshot.taken_at.isoformat(timespec="seconds")
    new = Catalog(temp)  # migrates the snapshot's schema, or creates an empty catalog
    try:
        connection = new.db.conn
        connection.execute("PRAGMA foreign_keys=OFF")
        snapshot_ids = {row[0] for row in connection.execute("SELECT id FROM photos")}
        schema_version = new.get_meta("schema_version")
        damaged_ids: set[int] = set()
        for source in _sources(damaged_file, report):
            try:
                damaged_ids |= _copy_rows(source, connection, report)
            finally:
                source.close()
        connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", [schema_version])
        _finish(connection, report)
        report.photos_from_damaged = len(damaged_ids)
        report.photos_from_snapshot_only = len((snapshot_ids - damaged_ids) & _ids(connection))
    finally:
        new.close()
    fsync_file(temp)


def _ids(connection: sqlite3.Connection) -> set[int]:
    return {row[0] for row in connection.execute("SELECT id FROM photos")}


def _newest_sound_snapshot(root: Path):
    for snapshot in list_snapshots(root):
        if damage.quick_check(snapshot.path) == "ok" and damage.has_photolib_tables(snapshot.path):
            return snapshot
    return None


def _sources(damaged_file: Path, report: RepairReport) -> list[sqlite3.Connection]:
    """Read-only views of the damaged catalog, oldest first: the file alone, then with its -wal applied.

    When the -wal makes a sound file fail its check, only the file alone is read.
    """
    wal = Path(str(damaged_file) + "-wal")
    alone = f"file:{damaged_file}?immutable=1"
    with_wal = f"file:{damaged_file}?mode=ro"
    if not (wal.exists() and wal.stat().st_size > 0):
        uris = [alone]
    elif _verdict(alone) == "ok" and _verdict(with_wal) != "ok":
        report.wal_left_out = True
        uris = [alone]
    else:
        uris = [alone, with_wal]
    connections = []
    for uri in uris:
        try:
            connections.append(sqlite3.connect(uri, uri=True, timeout=30))
        except sqlite3.Error:
            continue
    return connections


def _verdict(uri: str) -> str:
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=30)
        try:
            return str(connection.execute("PRAGMA quick_check(1)").fetchone()[0])
        finally:
            connection.close()
    except sqlite3.Error as error:
        return str(error)


def _tables(connection: sqlite3.Connection) -> dict[str, dict[str, str]]:
    """table -> {column: declared type} of the new catalog's ordinary tables (full-text tables are rebuilt)."""
    tables: dict[str, dict[str, str]] = {}
    for name, kind in connection.execute("SELECT name, type FROM pragma_table_list WHERE schema = 'main' "
                                         "ORDER BY name").fetchall():
        if kind != "table" or name.startswith(_SKIPPED_TABLES):  # full-text (virtual, shadow) tables are rebuilt
            continue
        tables[name] = {row[1]: (row[2] or "").upper() for row in connection.execute(f'PRAGMA table_info("{name}")')}
    return tables


def _copy_rows(source: sqlite3.Connection, target: sqlite3.Connection, report: RepairReport) -> set[int]:
    """Write every readable, plausible row of `source` into `target`; returns the photo ids read."""
    photo_ids: set[int] = set()
    for table, columns in _tables(target).items():
        try:
            present = [row[1] for row in source.execute(f'PRAGMA table_info("{table}")')]
        except sqlite3.DatabaseError:
            report.unreadable[table] = report.unreadable.get(table, 0) + 1
            continue
        shared = [c for c in columns if c in present]
        if not shared:
            continue
        rows, errors, complete = _read_table(source, table, shared, hint=_max_rowid(target, table))
        if errors:
            report.unreadable[table] = report.unreadable.get(table, 0) + errors
        rows = {rowid: values for rowid, values in rows.items() if _plausible(values, shared, columns)}
        if table == "meta":
            rows = {rowid: values for rowid, values in rows.items() if values[shared.index("key")] != "schema_version"}
        if not rows and not complete:
            continue
        with _transaction(target):
            if complete and table != "meta":
                target.execute(f'DELETE FROM "{table}"')
            marks = ", ".join("?" * len(shared))
            names = ", ".join(f'"{c}"' for c in shared)
            # No explicit rowid: an INTEGER PRIMARY KEY carries it; other tables match rows by their own key.
            target.executemany(f'INSERT OR REPLACE INTO "{table}" ({names}) VALUES ({marks})', list(rows.values()))
        if table == "photos":
            photo_ids |= {values[shared.index("id")] for values in rows.values()} if "id" in shared else set()
    return photo_ids


def _read_table(source: sqlite3.Connection, table: str, columns: list[str],
                hint: int) -> tuple[dict[int, tuple], int, bool]:
    """(rowid -> values, unreadable places, read without any error) for one table of a damaged file."""
    names = ", ".join(f'"{c}"' for c in columns)
    sql = f'SELECT rowid, {names} FROM "{table}" WHERE rowid >= ? AND rowid < ?'
    rows: dict[int, tuple] = {}
    errors = 0
    if _without_rowid(source, table):
        return _read_in_order(source, f'SELECT {names} FROM "{table}"')
    try:
        top = source.execute(f'SELECT max(rowid) FROM "{table}"').fetchone()[0] or 0
        known = True
    except sqlite3.DatabaseError:
        top, known, errors = hint, False, 1
    low, quiet = 1, 0
    while low <= top or (not known and quiet < 64):
        found, failed = _read_range(source, sql, low, low + _CHUNK, rows)
        errors += failed
        quiet = 0 if found else quiet + 1  # past the known end, 64 chunks without a row end the search
        low += _CHUNK
    try:  # rows below 1 (rare): one more range
        found, failed = _read_range(source, sql, -(2 ** 63), 1, rows)
        errors += failed
    except OverflowError:
        pass
    return rows, errors, errors == 0


def _without_rowid(source: sqlite3.Connection, table: str) -> bool:
    try:
        source.execute(f'SELECT rowid FROM "{table}" LIMIT 0')
        return False
    except sqlite3.OperationalError as error:
        return "rowid" in str(error)


def _read_in_order(source: sqlite3.Connection, sql: str) -> tuple[dict[int, tuple], int, bool]:
    """A WITHOUT ROWID table: read in key order up to the first error (there is no rowid to skip by)."""
    rows: dict[int, tuple] = {}
    try:
        for number, row in enumerate(source.execute(sql)):
            rows[number] = tuple(row)
    except sqlite3.DatabaseError:
        return rows, 1, False
    return rows, 0, True


def _read_range(source: sqlite3.Connection, sql: str, low: int, high: int, rows: dict[int, tuple]) -> tuple[int, int]:
    """Read rowids in [low, high); on an error, read each half. Returns (rows found, unreadable rowids)."""
    try:
        found = source.execute(sql, (low, high)).fetchall()
    except sqlite3.DatabaseError:
        if high - low <= 1:
            return 0, 1
        middle = low + (high - low) // 2
        first = _read_range(source, sql, low, middle, rows)
        second = _read_range(source, sql, middle, high, rows)
        return first[0] + second[0], first[1] + second[1]
    for row in found:
        rows[row[0]] = tuple(row[1:])
    return len(found), 0


def _plausible(values: tuple, names: list[str], columns: dict[str, str]) -> bool:
    """Whether a row read from a damaged page has the types its columns declare (garbage rarely does)."""
    for name, value in zip(names, values):
        if value is None:
            if name in ("id", "path", "status", "key", "photo_id", "album_id"):
                return False
            continue
        expected = _TYPES.get(columns.get(name, ""))
        if expected and not isinstance(value, expected):
            return False
    return True


def _max_rowid(connection: sqlite3.Connection, table: str) -> int:
    if _without_rowid(connection, table):
        return 0
    return connection.execute(f'SELECT coalesce(max(rowid), 0) FROM "{table}"').fetchone()[0] + 10_000


def _finish(connection: sqlite3.Connection, report: RepairReport) -> None:
    """Drop rows whose parent is gone, send unembedded photos back to work, rebuild indexes, count."""
    with _transaction(connection):
        connection.execute("DELETE FROM embeddings WHERE photo_id NOT IN (SELECT id FROM photos)")
        connection.execute("DELETE FROM album_photos WHERE photo_id NOT IN (SELECT id FROM photos) "
                           "OR album_id NOT IN (SELECT id FROM albums)")
        connection.execute("UPDATE photos SET status='pending' WHERE status='ok' AND "
                           "id NOT IN (SELECT photo_id FROM embeddings)")
        revision = max([int(row[0]) for row in connection.execute(
            "SELECT value FROM meta WHERE key IN ('revision', 'generation', 'history_from')")
            if str(row[0]).isdigit()] or [0])
        connection.execute("DELETE FROM meta WHERE key = 'generation'")  # a pre-rename counter read from an old file
        for key in ("revision", "history_from"):  # the index is rebuilt: no history to catch up from
            connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", [key, str(revision + 1)])
        for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND "
                                          "sql LIKE 'CREATE VIRTUAL TABLE%USING FTS5%'").fetchall():
            connection.execute(f'INSERT INTO "{name}"("{name}") VALUES (\'rebuild\')')
    connection.execute("REINDEX")
    report.photos = connection.execute("SELECT count(*) FROM photos").fetchone()[0]
    report.described = connection.execute("SELECT count(*) FROM photos WHERE vision_model IS NOT NULL").fetchone()[0]
    report.to_describe = connection.execute(
        "SELECT count(*) FROM photos WHERE vision_model IS NULL AND (status != 'failed' OR failed_stage != 'read') "
        "AND hash NOT IN (SELECT hash FROM descriptions)").fetchone()[0]
    report.to_embed = connection.execute(
        "SELECT count(*) FROM photos WHERE id NOT IN (SELECT photo_id FROM embeddings) AND "
        "(status != 'failed' OR failed_stage != 'read')").fetchone()[0] - report.to_describe
    report.albums = [row[0] for row in connection.execute("SELECT name FROM albums ORDER BY id")]
    report.source_roots = [row[0] for row in connection.execute(
        "SELECT DISTINCT source_root FROM photos WHERE source_root != '' ORDER BY source_root")]


class _transaction:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> None:
        self.connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: Any, *_: Any) -> None:
        self.connection.execute("ROLLBACK" if kind else "COMMIT")


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(path) + suffix).unlink(missing_ok=True)

