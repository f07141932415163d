"""Catalogs written by older photolib versions open, migrate and keep working."""

from __future__ import annotations

import json
import sqlite3

from photolib.migrations import SCHEMA_VERSION


def _as_before_the_rename(library_path) -> None:
    """Turn a current library back into what schema 4 wrote: the change counter named `generation`
    in the catalog (meta key, columns, indexes) and in the index stamp."""
    connection = sqlite3.connect(library_path / "catalog.db", isolation_level=None)
    try:
        for table in ("embeddings", "forgotten"):
            connection.execute(f"DROP INDEX {table}_revision")
            connection.execute(f"ALTER TABLE {table} RENAME COLUMN revision TO generation")
            connection.execute(f"CREATE INDEX {table}_generation ON {table} (generation)")
        connection.execute("UPDATE meta SET key = 'generation' WHERE key = 'revision'")
        connection.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    finally:
        connection.close()
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
