"""Catalogs written by older photolib versions open, migrate and keep working."""

from __future__ import annotations

import json
import sqlite3

from photolib.store.migrations import SCHEMA_VERSION


def _as_before_the_rename(library_path) -> None:
    """Turn a current library back into what schema 4 wrote: one vector per photo in `embeddings`, the
    change counter named `generation` in the catalog (meta key, columns, indexes) and in the index
    stamp, and the index right in `index/` (before vector spaces)."""
    import shutil

    import sqlite_utils

    from photolib.store.migrations import MIGRATIONS

    current = sqlite3.connect(library_path / "catalog.db")
    old_path = library_path / "old.db"
    old = sqlite_utils.Database(old_path)
    old.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    for number in (1, 2, 3, 4):
        MIGRATIONS[number](old)
    try:
        columns = [c.name for c in old["photos"].columns]
        rows = current.execute(f"SELECT {', '.join(columns)} FROM photos").fetchall()
        old.conn.executemany(f"INSERT INTO photos ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", rows)
        old.conn.executemany("INSERT INTO embeddings (photo_id, model, dimension, text_hash, vector, generation) "
                             "VALUES (?, ?, ?, ?, ?, ?)", current.execute(
                                 "SELECT photo_id, model, dimension, input_hash, vector, revision FROM embeddings "
                                 "WHERE space = 'description'").fetchall())
        old.conn.executemany("INSERT INTO forgotten (photo_id, generation) VALUES (?, ?)", current.execute(
            "SELECT photo_id, revision FROM forgotten WHERE space = 'description'").fetchall())
        meta = dict(current.execute("SELECT key, value FROM meta").fetchall())
        old.execute("DELETE FROM meta")
        old.conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", [
            ("generation", meta["revision"]), ("history_from", meta["history_from"]), ("schema_version", "4")])
        old.conn.commit()
    finally:
        current.close()
        old.close()
    for suffix in ("", "-wal", "-shm"):
        (library_path / f"catalog.db{suffix}").unlink(missing_ok=True)
    old_path.rename(library_path / "catalog.db")
    spaces = library_path / "index" / "description"
    for entry in spaces.iterdir():
        shutil.move(str(entry), library_path / "index" / entry.name)
    spaces.rmdir()
    stamp_path = library_path / "index" / "stamp.json"
    stamp = json.loads(stamp_path.read_text())
    stamp["generation"] = stamp.pop("revision")
    stamp_path.write_text(json.dumps(stamp))


def test_schema_4_catalog_keeps_its_counter_and_its_index(make_library, trips, library_path):
    library = make_library()
    library.add([trips / "Paris weekend"])
    library.remove(str(library.search("paris")[0].id))
    revision = library.catalog.revision
    library.close()
    _as_before_the_rename(library_path)

    reopened = make_library()
    assert reopened.catalog.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert reopened.catalog.revision == revision
    columns = {table: [c.name for c in reopened.catalog.db[table].columns] for table in ("embeddings", "forgotten")}
    assert "revision" in columns["embeddings"] and "generation" not in columns["embeddings"]
    assert "revision" in columns["forgotten"] and "generation" not in columns["forgotten"]
    assert len(reopened.search("paris")) == 2
    stats = reopened.stats()
    assert stats["repaired"] == [] and reopened.messages == []  # the old stamp was read, not rebuilt over
    assert stats["catalog_revision"] == stats["index_revision"] == revision

    reopened.add([trips / "Sydney harbour"])  # history recorded before the rename is caught up from
    assert reopened.catalog.revision == revision + 1
    assert reopened.index().count == 5 and reopened.messages == []
    assert (library_path / "index" / "description" / "stamp.json").is_file()  # moved by the writer
    assert not (library_path / "index" / "stamp.json").exists()
    assert reopened.catalog.vector_count("description") == 5
