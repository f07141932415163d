"""Telling apart what can be wrong with a catalog file, each with the command that helps.

Opening a catalog costs a `stat` and a read of its 100-byte header (`precheck`);
the full `PRAGMA quick_check` (about a second per 100 000 photos) runs only
when something already looks off: SQLite raised an error while opening, or a
-wal file lies beside the catalog that no process has open (left by a crash, or arrived on its own,
e.g. copied or synced from another machine: SQLite would apply it blindly).
That check reads hard links of the files in a temporary folder (`apart`), so
it never writes the -wal into the catalog nor leaves a -shm beside it. `doctor` always runs the full `PRAGMA integrity_check`.

A file is "damaged" rather than "not a photolib catalog" when it shows it was
one: photolib's tables can be read, or the folder around it is a photolib
library (snapshots, or an index folder).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from photolib.core.errors import (CatalogBusyError, CatalogDamagedError, CatalogTooNewError, NotACatalogError,
                             PhotolibError, UsageError)
from photolib.core.layout import INDEX_FOLDER, SNAPSHOT_FOLDER
from photolib.store.snapshots import list_snapshots

MAGIC = b"SQLite format 3\x00"
_CORRUPTION_WORDS = ("malformed", "not a database", "disk image", "corrupt", "database schema")


def is_corruption(error: BaseException) -> bool:
    """Whether a SQLite error says the file itself is damaged (not busy, not a bad query)."""
    if not isinstance(error, sqlite3.DatabaseError):
        return False
    text = str(error).lower()
    return any(word in text for word in _CORRUPTION_WORDS)


def is_busy(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and ("locked" in str(error) or "busy" in str(error))


def repair_hint(catalog: Path) -> str:
    """The commands that help with a damaged catalog: repair, or a named snapshot."""
    snapshots = list_snapshots(Path(catalog).parent)
    hint = "run `photolib doctor --repair` (it keeps the damaged file aside and salvages what it can)"
    if snapshots:
        hint += f", or `photolib restore --snapshot {snapshots[0].taken_at.date().isoformat()}`"
    return hint


def damaged(catalog: Path, what: str) -> CatalogDamagedError:
    return CatalogDamagedError(f"{catalog} is a damaged photolib catalog ({what}): {repair_hint(catalog)}")


def busy(catalog: Path) -> CatalogBusyError:
    return CatalogBusyError(f"{catalog} stayed locked for 30 s: another photolib process is writing to this "
                            "library; try again when it has finished")


def too_new(catalog: Path, version: int, ours: int) -> CatalogTooNewError:
    from photolib import __version__

    return CatalogTooNewError(f"{catalog} was written by a newer photolib (catalog schema {version}; photolib "
                              f"{__version__} reads up to {ours}): upgrade photolib (`pip install -U photolib`) "
                              "to use this library")


def not_a_catalog(catalog: Path, why: str) -> NotACatalogError:
    return NotACatalogError(f"{catalog} is not a photolib catalog ({why}): point --library at a photolib library "
                            "folder, or move that file away")


def in_a_library(catalog: Path) -> bool:
    """Whether the folder around `catalog` shows photolib used it (snapshots, an index)."""
    folder = Path(catalog).parent
    return bool(list_snapshots(folder)) or (folder / INDEX_FOLDER / "stamp.json").exists() \
        or (folder / SNAPSHOT_FOLDER).is_dir()


def precheck(catalog: Path) -> bool:
    """Cheap checks before opening: raise what is clearly wrong; True when a full check is worth it.

    A missing or empty file is a new catalog, unless the library shows it held
    one (then the file was emptied: damaged).
    """
    catalog = Path(catalog)
    try:
        size = catalog.stat().st_size
        if size:
            with open(catalog, "rb") as handle:
                header = handle.read(100)
    except FileNotFoundError:
        return False
    except PermissionError as error:
        raise UsageError(f"{catalog} cannot be read ({error.strerror}): photolib needs read and write access to "
                         "the library folder and its files") from None
    wal = _size(Path(str(catalog) + "-wal"))
    if size == 0:
        if in_a_library(catalog):
            raise damaged(catalog, "the file is empty (0 bytes) but this library held a catalog")
        return wal > 0
    if not header.startswith(MAGIC[:15]) or len(header) < 100:
        if in_a_library(catalog):
            raise damaged(catalog, "its SQLite header is overwritten" if len(header) >= 100 else "it is truncated")
        raise not_a_catalog(catalog, "not an SQLite database")
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1) or header[18] not in (1, 2) or header[19] not in (1, 2):
        raise damaged(catalog, "its SQLite header is overwritten")
    change_counter, pages, valid_for = struct.unpack(">I", header[24:28])[0], \
        struct.unpack(">I", header[28:32])[0], struct.unpack(">I", header[92:96])[0]
    if wal == 0 and change_counter == valid_for and pages * page_size > size:
        raise damaged(catalog, f"it is truncated: {size} bytes of {pages * page_size}")
    return wal > 0 and not _in_use(Path(str(catalog) + "-shm"))


def _in_use(shm: Path) -> bool:
    """Whether a process has the catalog open: every SQLite connection holds a read lock on byte 128 of
    the -shm (its "DMS" slot). A -wal nobody has open was left by a crash or arrived from elsewhere."""
    try:
        import fcntl

        with open(shm, "rb") as handle:
            query = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 128, 1, 0)
            answer = fcntl.fcntl(handle.fileno(), fcntl.F_GETLK, query + b"\0" * 4)
            return struct.unpack("hhqqi", answer[:struct.calcsize("hhqqi")])[0] != fcntl.F_UNLCK
    except FileNotFoundError:
        return False
    except (OSError, ImportError, struct.error):
        return True  # cannot tell: trust it, as SQLite does


@contextmanager
def apart(catalog: Path) -> Iterator[Path]:
    """The catalog and its -wal, hard-linked (or copied) into a temporary folder beside it.

    Reading there leaves nothing beside the real catalog (SQLite would create
    a -shm for the reader, after which a -wal that arrived alone would look
    like one left by a crash), and no connection can ever write that -wal into
    the real catalog file.
    """
    catalog = Path(catalog)
    folder = catalog.parent / f".checking-{os.getpid()}-{threading.get_ident()}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(mode=0o700)
    try:
        for suffix in ("", "-wal"):
            source = Path(str(catalog) + suffix)
            if source.exists():
                try:
                    os.link(source, folder / (catalog.name + suffix))
                except OSError:
                    shutil.copy2(source, folder / (catalog.name + suffix))
        yield folder / catalog.name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _read_only(catalog: Path, wal: bool = True) -> sqlite3.Connection:
    uri = f"file:{catalog}?mode=ro" if wal else f"file:{catalog}?immutable=1"
    return sqlite3.connect(uri, uri=True, timeout=30)


def quick_check(catalog: Path) -> str:
    """'ok', or what SQLite's quick_check (or opening) found, read apart from the catalog (see `apart`)."""
    return "; ".join(_pragma(catalog, "PRAGMA quick_check(20)"))


def integrity_report(catalog: Path) -> list[str]:
    """What `PRAGMA integrity_check` finds, or ['ok'], read apart from the catalog (see `apart`)."""
    return _pragma(catalog, "PRAGMA integrity_check(50)")


def _pragma(catalog: Path, sql: str) -> list[str]:
    with apart(catalog) as copy:
        try:
            connection = _read_only(copy)
        except sqlite3.Error as error:
            return [str(error)]
        try:
            return [str(row[0]) for row in connection.execute(sql).fetchall()]
        except sqlite3.Error as error:
            return [str(error)]
        finally:
            connection.close()


def has_photolib_tables(catalog: Path) -> bool:
    """Whether the schema names photolib's tables (with the -wal, or without it if that hides them)."""
    with apart(catalog) as copy:
        for wal in (True, False):
            try:
                connection = _read_only(copy, wal)
                try:
                    names = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")}
                finally:
                    connection.close()
            except sqlite3.Error:
                continue
            if {"photos", "meta"} <= names:
                return True
    return False


def diagnose(catalog: Path, error: BaseException | None = None) -> PhotolibError | None:
    """The error to show for a catalog that failed to open (or looked off); None if it is healthy."""
    catalog = Path(catalog)
    if error is not None and is_busy(error):
        return busy(catalog)
    verdict = quick_check(catalog)
    if verdict == "ok" and error is None:
        return None
    what = verdict if verdict != "ok" else str(error)
    if has_photolib_tables(catalog) or in_a_library(catalog):
        return damaged(catalog, _short(what))
    return not_a_catalog(catalog, _short(what))


def open_error(catalog: Path, error: BaseException) -> PhotolibError:
    """The one-line error for a catalog that SQLite refused while opening or migrating it."""
    found = diagnose(catalog, error)
    return found if found is not None else damaged(catalog, _short(str(error)))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _short(text: str) -> str:
    first = text.split("; ")[0].strip()
    return first if len(first) <= 120 else first[:117] + "..."
