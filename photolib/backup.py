"""Consistent snapshots of a library, and restoring one.

A backup holds the write lock, copies the catalog with SQLite's online backup
API (a consistent copy even of a WAL database) and copies the index folder as
it stands, so the snapshot's index matches its catalog. A restore checks the
snapshot first (`PRAGMA integrity_check`), refuses to replace a non-empty
library unless forced, and swaps files in with renames.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photolib.catalog import inspect_catalog_file
from photolib.errors import UsageError
from photolib.layout import CATALOG_NAME, INDEX_FOLDER

if TYPE_CHECKING:
    from photolib.library import Library

def backup(library: "Library", destination: Path) -> dict[str, Any]:
    destination = Path(destination)
    if destination.exists() and any(destination.iterdir()):
        raise UsageError(f"{destination} is not empty: give a new or empty folder for the backup")
    with library.write_lock():
        destination.mkdir(parents=True, exist_ok=True, mode=0o700)
        library.catalog.backup_to(destination / CATALOG_NAME)
        if library.index_folder.exists():
            shutil.copytree(library.index_folder, destination / INDEX_FOLDER)
    return {"path": str(destination), "photos": _photo_count(destination / CATALOG_NAME)}


def restore(library: "Library", source: Path, force: bool = False) -> dict[str, Any]:
    source = Path(source)
    snapshot = source / CATALOG_NAME
    _check_snapshot(snapshot)
    with library.write_lock():
        if sum(library.catalog.status_counts().values()) and not force:
            raise UsageError(f"{library.root} already holds photos: restore into an empty library, or add --force "
                             "to replace it (take a backup of it first)")
        library.close()
        temp = library.root / (CATALOG_NAME + ".restoring")
        shutil.copyfile(snapshot, temp)
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        # The old index goes first: a crash before the catalog swap then leaves a missing index
        # (rebuilt from the catalog), never the old library's index stamped as fresh for the new catalog.
        shutil.rmtree(library.index_folder, ignore_errors=True)
        for leftover in ("-wal", "-shm"):
            Path(str(library.root / CATALOG_NAME) + leftover).unlink(missing_ok=True)
        os.replace(temp, library.root / CATALOG_NAME)
        os.chmod(library.root / CATALOG_NAME, 0o600)
        if (source / INDEX_FOLDER).exists():
            shutil.copytree(source / INDEX_FOLDER, library.index_folder)
        library.close()  # reopened on next use, on the restored files
    return {"path": str(source), "photos": _photo_count(library.root / CATALOG_NAME)}


def _check_snapshot(snapshot: Path) -> None:
    if not snapshot.is_file():
        raise UsageError(f"{snapshot.parent} is not a photolib backup (no {CATALOG_NAME} in it)")
    try:
        verdict, _count = inspect_catalog_file(snapshot)
    except sqlite3.DatabaseError as error:
        raise UsageError(f"{snapshot} is not a readable photolib catalog ({error}); nothing was restored") from None
    if verdict != "ok":
        raise UsageError(f"{snapshot} fails SQLite's integrity check ({verdict}); nothing was restored")


def _photo_count(catalog: Path) -> int:
    return inspect_catalog_file(catalog)[1]
