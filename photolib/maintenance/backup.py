"""Consistent snapshots of a library, and restoring one.

A backup (taken under the library's write lock, by the caller) copies the
catalog with SQLite's online backup API (a consistent copy even of a WAL
database) and copies the index folder as it stands, so the snapshot's index
matches its catalog. A restore checks the snapshot first (`PRAGMA
integrity_check`) and swaps files in with renames; the caller refuses to
replace a non-empty library unless forced and closes its catalog around it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photolib.core.files import fsync_file
from photolib.store.catalog import inspect_catalog_file
from photolib.core.errors import UsageError
from photolib.core.layout import CATALOG_NAME, INDEX_FOLDER

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog


def check_destination(destination: Path) -> None:
    if destination.exists() and any(destination.iterdir()):
        raise UsageError(f"{destination} is not empty: give a new or empty folder for the backup")


def backup(catalog: "Catalog", index_folder: Path, destination: Path) -> dict[str, Any]:
    """Copy the catalog and the index folder into `destination` (new or empty)."""
    destination = Path(destination)
    check_destination(destination)
    destination.mkdir(parents=True, exist_ok=True, mode=0o700)
    catalog.backup_to(destination / CATALOG_NAME)
    if index_folder.exists():
        shutil.copytree(index_folder, destination / INDEX_FOLDER)
    return {"path": str(destination), "photos": inspect_catalog_file(destination / CATALOG_NAME)[1]}


def restore(source: Path, root: Path) -> dict[str, Any]:
    """Replace the catalog and index of the library folder `root` with the snapshot in `source`.

    `source` has passed `check_snapshot`; nothing may hold the catalog open meanwhile. The old index goes first: a
    crash before the catalog swap then leaves a missing index (rebuilt from
    the catalog), never the old library's index stamped as fresh for the new catalog.
    """
    source = Path(source)
    temp = root / (CATALOG_NAME + ".restoring")
    shutil.copyfile(source / CATALOG_NAME, temp)
    fsync_file(temp)
    shutil.rmtree(root / INDEX_FOLDER, ignore_errors=True)
    for leftover in ("-wal", "-shm"):
        Path(str(root / CATALOG_NAME) + leftover).unlink(missing_ok=True)
    os.replace(temp, root / CATALOG_NAME)
    os.chmod(root / CATALOG_NAME, 0o600)
    if (source / INDEX_FOLDER).exists():
        shutil.copytree(source / INDEX_FOLDER, root / INDEX_FOLDER)
    return {"path": str(source), "photos": inspect_catalog_file(root / CATALOG_NAME)[1]}


def check_snapshot(source: Path) -> None:
    """A folder written by `backup`, whose catalog SQLite reads and finds intact."""
    snapshot = Path(source) / CATALOG_NAME
    if not snapshot.is_file():
        raise UsageError(f"{snapshot.parent} is not a photolib backup (no {CATALOG_NAME} in it)")
    try:
        verdict, _count = inspect_catalog_file(snapshot)
    except sqlite3.DatabaseError as error:
        raise UsageError(f"{snapshot} is not a readable photolib catalog ({error}); nothing was restored") from None
    if verdict != "ok":
        raise UsageError(f"{snapshot} fails SQLite's integrity check ({verdict}); nothing was restored")
