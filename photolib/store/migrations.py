"""The catalog's schema as a numbered registry of migrations.

Each migration takes the catalog's `sqlite_utils.Database` inside the write
transaction that applies it. Append a new one under the next number; never
edit one that has been released: catalogs in the wild have run it.
`migrate` applies, in order, every migration newer than the catalog's
`schema_version` (kept in the `meta` table).
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable

import sqlite_utils

from photolib.store.usermeta import USER_FTS_COLUMNS

FTS_COLUMNS = ["caption", "description", "tags"]


def _migration_1(db: sqlite_utils.Database) -> None:
    db["photos"].create(
        {
            "id": int, "path": str, "source_root": str, "hash": str, "size": int, "mtime_ns": int,
            "format": str, "width": int, "height": int, "oriented_width": int, "oriented_height": int,
            "taken_at": str, "camera_make": str, "camera_model": str, "lens": str,
            "gps_lat": float, "gps_lon": float, "place": str,
            "tags": str, "caption": str, "description": str, "vision_model": str, "raw_output": str,
            "status": str, "error": str, "failed_stage": str, "added_at": str, "updated_at": str,
        },
        pk="id",
        not_null={"path", "status"},
        defaults={"status": "pending", "tags": "[]"},
    )
    db["photos"].create_index(["path"], unique=True)
    db["photos"].create_index(["hash"])
    db["photos"].create_index(["status"])
    db["photos"].create_index(["taken_at"])
    db["embeddings"].create(
        {"photo_id": int, "model": str, "dimension": int, "text_hash": str, "vector": bytes},
        pk="photo_id",
        foreign_keys=[("photo_id", "photos", "id")],
    )
    db["descriptions"].create(
        {"hash": str, "model": str, "prompt_version": str, "tags": str, "caption": str,
         "description": str, "created_at": str},
        pk=("hash", "model", "prompt_version"),
    )
    db["photos"].enable_fts(FTS_COLUMNS, create_triggers=True, tokenize="porter")


def _migration_2(db: sqlite_utils.Database) -> None:
    db["albums"].create(
        {"id": int, "name": str, "threshold": float, "seed": int, "created_at": str}, pk="id"
    )
    db["album_photos"].create(
        {"album_id": int, "photo_id": int, "position": int},
        pk=("album_id", "photo_id"),
        foreign_keys=[("album_id", "albums", "id"), ("photo_id", "photos", "id")],
    )
    db["generations"].create(  # images made by `imagine`
        {"id": int, "photo_id": int, "prompt": str, "model": str, "seed": int, "path": str,
         "created_at": str},
        pk="id",
    )


def _migration_3(db: sqlite_utils.Database) -> None:
    """Which model made the vectors, answered from an index instead of a scan of every vector
    (the embeddings table is ~1.5 KB a row: 1.5 GB to read at a million photos)."""
    db["embeddings"].create_index(["model", "dimension"], index_name="embeddings_model", if_not_exists=True)


def _migration_4(db: sqlite_utils.Database) -> None:
    """Vector history, so an index catches up with the catalog instead of being rebuilt.

    Rows written before this migration carry generation 0, so the history is
    complete only from the generation set here: older index stamps are rebuilt.
    (The counter was called "generation" until migration 5 renamed it "revision".)
    """
    db.execute("ALTER TABLE embeddings ADD COLUMN generation INTEGER NOT NULL DEFAULT 0")
    db["embeddings"].create_index(["generation"], index_name="embeddings_generation")
    db["forgotten"].create({"photo_id": int, "generation": int}, pk="photo_id")
    db["forgotten"].create_index(["generation"], index_name="forgotten_generation")
    row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    start = int(row[0]) + 1 if row else 1
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('generation', ?)", [str(start)])
    db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('history_from', ?)", [str(start)])


def _migration_5(db: sqlite_utils.Database) -> None:
    """The change counter is the catalog's `revision` ("generation" now only means an imagined image).

    Values are kept, so an index saved before the rename still catches up.
    """
    for table in ("embeddings", "forgotten"):
        db.execute(f"DROP INDEX IF EXISTS {table}_generation")
        db.execute(f"ALTER TABLE {table} RENAME COLUMN generation TO revision")
        db.execute(f"CREATE INDEX IF NOT EXISTS {table}_revision ON {table} (revision)")
    db.execute("UPDATE meta SET key = 'revision' WHERE key = 'generation'")


def _migration_6(db: sqlite_utils.Database) -> None:
    """The user's own words (XMP/IPTC) apart from model output, perceptual hashes, sidecar stamps,
    duplicate marks."""
    _create_user_metadata_tables(db)


def _migration_7(db: sqlite_utils.Database) -> None:
    """Second files of photos (the RAW of a RAW+JPEG pair): see `photolib.store.photo_files`."""
    _create_photo_files_table(db)


def _migration_8(db: sqlite_utils.Database) -> None:
    """Text in photos (OCR) and faces: their own tables, each with its stage state."""
    # Each schema is created whole or not at all (one transaction), so a table that exists means
    # its schema is there: a catalog whose schema number was rewound by hand still opens.
    if not db["photo_text"].exists():
        _create_text_schema(db)
    if not db["people"].exists():
        _create_face_schema(db)


def _migration_9(db: sqlite_utils.Database) -> None:
    """Smart albums: named queries evaluated when shown (see `photolib.store.smart_albums`)."""
    _create_smart_albums_table(db)


def _migration_10(db: sqlite_utils.Database) -> None:
    """Per-photo state of the enrichment pipeline's stages (see `photolib.pipeline.engine`), taking over the
    OCR and face stages' own states (migration 8)."""

    if db["stage_state"].exists():  # idempotent: a catalog whose schema number was rewound still opens
        return
    _create_stage_state_table(db)
    # What the OCR and face stages did before they joined the pipeline stays done (or failed).
    for table, stage in (("photo_text", "ocr"), ("face_scans", "faces")):
        db.execute(f"INSERT OR IGNORE INTO stage_state (photo_id, stage, status, model, input_hash, error, updated_at) "
                   f"SELECT t.photo_id, '{stage}', t.state, t.model, p.hash, t.error, t.updated_at "
                   f"FROM {table} t JOIN photos p ON p.id = t.photo_id")


def _migration_11(db: sqlite_utils.Database) -> None:
    """Vector spaces: vectors keyed by (photo, space), each with its model and input hash (the text
    hash for `description`, the content hash for `image`); today's vectors become the description
    space, forgotten photos are remembered per space, and photos keep the labels the image model gave."""
    if "image_labels" not in {column.name for column in db["photos"].columns}:
        db.execute("ALTER TABLE photos ADD COLUMN image_labels TEXT")  # labels the image model gave (also in tags)
    if "space" in {column.name for column in db["embeddings"].columns}:
        return  # already keyed by space (a catalog whose schema number was rewound by hand)
    db.execute("""
        CREATE TABLE vectors_by_space (
            photo_id INTEGER NOT NULL REFERENCES photos(id),
            space TEXT NOT NULL,
            model TEXT NOT NULL,
            dimension INTEGER NOT NULL,
            input_hash TEXT,
            vector BLOB NOT NULL,
            revision INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (photo_id, space))""")
    db.execute("INSERT INTO vectors_by_space SELECT photo_id, 'description', model, dimension, text_hash, vector, "
               "revision FROM embeddings")
    db.execute("DROP TABLE embeddings")
    db.execute("ALTER TABLE vectors_by_space RENAME TO embeddings")
    db.execute("CREATE INDEX embeddings_model ON embeddings (space, model, dimension)")
    db.execute("CREATE INDEX embeddings_revision ON embeddings (space, revision)")
    db.execute("CREATE TABLE forgotten_by_space (photo_id INTEGER NOT NULL, space TEXT NOT NULL, "
               "revision INTEGER NOT NULL, PRIMARY KEY (photo_id, space))")
    db.execute("INSERT INTO forgotten_by_space SELECT photo_id, 'description', revision FROM forgotten")
    db.execute("DROP TABLE forgotten")
    db.execute("ALTER TABLE forgotten_by_space RENAME TO forgotten")
    db.execute("CREATE INDEX forgotten_revision ON forgotten (space, revision)")


def _migration_12(db: sqlite_utils.Database) -> None:
    """One number names one album: a smart album whose id a saved album also has gets the next free id
    (saved albums are renumbered by every `albums --save`, smart albums keep theirs from now on)."""
    colliding = [row[0] for row in db.execute("SELECT id FROM smart_albums WHERE id IN (SELECT id FROM albums) "
                                              "ORDER BY id")]
    for album_id in colliding:
        db.execute("UPDATE smart_albums SET id = (SELECT max(coalesce((SELECT max(id) FROM albums), 0), "
                   "(SELECT max(id) FROM smart_albums)) + 1) WHERE id = ?", [album_id])


# Numbered migrations: append, never edit a released one.
MIGRATIONS: dict[int, Callable[[sqlite_utils.Database], None]] = {
    1: _migration_1, 2: _migration_2, 3: _migration_3, 4: _migration_4, 5: _migration_5,
    6: _migration_6, 7: _migration_7, 8: _migration_8, 9: _migration_9, 10: _migration_10, 11: _migration_11,
    12: _migration_12,
}
SCHEMA_VERSION = max(MIGRATIONS)


def schema_version(db: sqlite_utils.Database) -> int:
    """The number of the last migration applied; 0 for a new, empty database."""
    try:
        row = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError:  # no meta table yet: a new catalog
        return 0
    return int(row[0]) if row and row[0] else 0


def migrate(db: sqlite_utils.Database) -> None:
    """Apply every migration newer than the catalog's schema; call inside one write transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
    version = schema_version(db)
    for number in sorted(MIGRATIONS):
        if number > version:
            MIGRATIONS[number](db)
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", [str(number)])


# -- the schemas the migrations above create (released: never edit, add a migration) --


def _create_user_metadata_tables(db: Any) -> None:
    """The migration body: user metadata with its FTS index, perceptual hashes, sidecar stamps, marks.

    Idempotent, so a catalog whose schema number was rewound by hand still opens.
    """
    if not db["user_metadata"].exists():
        db["user_metadata"].create(
            {"photo_id": int, "keywords": str, "title": str, "caption": str, "rating": int, "people": str,
             "words": str, "read_at": str},
            pk="photo_id", foreign_keys=[("photo_id", "photos", "id")],
        )
        db["user_metadata"].create_index(["rating"], index_name="user_metadata_rating")
        db["user_metadata"].enable_fts(USER_FTS_COLUMNS, create_triggers=True, tokenize="porter")
    columns = {column.name for column in db["photos"].columns}
    for column in ("phash", "sidecar_sig"):
        if column not in columns:
            db.execute(f"ALTER TABLE photos ADD COLUMN {column} TEXT")
    if not db["duplicate_marks"].exists():
        db["duplicate_marks"].create(
            {"photo_id": int, "shown_id": int, "kind": str, "marked_at": str}, pk="photo_id",
        )


def _create_photo_files_table(db: "sqlite_utils.Database") -> None:
    """Migration: second files of photos; removed with their photo (ON DELETE CASCADE)."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS photo_files (path TEXT PRIMARY KEY, "
        "photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE, role TEXT NOT NULL, "
        "size INTEGER, mtime_ns INTEGER, hash TEXT, added_at TEXT)"
    )
    db.execute("CREATE INDEX IF NOT EXISTS photo_files_photo ON photo_files (photo_id)")
    db.execute("CREATE INDEX IF NOT EXISTS photo_files_hash ON photo_files (hash)")


def _create_text_schema(db: Any) -> None:
    """Tables, trigram index and triggers (part of a numbered migration)."""
    db.execute("""
        CREATE TABLE photo_text (
            photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            state TEXT NOT NULL,          -- done | failed
            error TEXT,
            text TEXT NOT NULL DEFAULT '',
            boxes TEXT NOT NULL DEFAULT '[]',   -- [{"text", "confidence", "box": [l, t, r, b] in 0-1}]
            gated INTEGER NOT NULL DEFAULT 0,   -- 1: the cheap gate saw no text, recognition did not run
            min_confidence REAL,
            updated_at TEXT
        )""")
    db.execute("CREATE INDEX photo_text_model ON photo_text (model)")
    db.execute("CREATE VIRTUAL TABLE photo_text_fts USING fts5(text, tokenize = 'trigram')")
    db.execute("""CREATE TRIGGER photo_text_fts_insert AFTER INSERT ON photo_text WHEN new.text <> '' BEGIN
        INSERT INTO photo_text_fts (rowid, text) VALUES (new.photo_id, new.text); END""")
    db.execute("""CREATE TRIGGER photo_text_fts_delete AFTER DELETE ON photo_text BEGIN
        DELETE FROM photo_text_fts WHERE rowid = old.photo_id; END""")
    db.execute("""CREATE TRIGGER photo_text_fts_update AFTER UPDATE OF text ON photo_text BEGIN
        DELETE FROM photo_text_fts WHERE rowid = old.photo_id;
        INSERT INTO photo_text_fts (rowid, text) SELECT new.photo_id, new.text WHERE new.text <> ''; END""")
    db.execute("""CREATE TRIGGER photo_text_new_content AFTER UPDATE OF hash ON photos
        WHEN old.hash IS NOT new.hash BEGIN DELETE FROM photo_text WHERE photo_id = new.id; END""")


def _create_face_schema(db: Any) -> None:
    """Tables, indexes and triggers (part of a numbered migration)."""
    db.execute("""
        CREATE TABLE people (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT UNIQUE COLLATE NOCASE,
            created_at TEXT
        )""")
    db.execute("""
        CREATE TABLE faces (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            x0 REAL NOT NULL, y0 REAL NOT NULL, x1 REAL NOT NULL, y1 REAL NOT NULL,  -- 0-1 of the upright photo
            score REAL,
            detector TEXT NOT NULL,
            descriptor BLOB NOT NULL
        )""")
    db.execute("CREATE INDEX faces_photo ON faces (photo_id)")
    db.execute("CREATE INDEX faces_person ON faces (person_id)")
    db.execute("""
        CREATE TABLE face_scans (
            photo_id INTEGER PRIMARY KEY REFERENCES photos(id) ON DELETE CASCADE,
            model TEXT NOT NULL,
            state TEXT NOT NULL,          -- done | failed
            error TEXT,
            faces INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT
        )""")
    db.execute("""CREATE TRIGGER faces_new_content AFTER UPDATE OF hash ON photos
        WHEN old.hash IS NOT new.hash BEGIN
        DELETE FROM faces WHERE photo_id = new.id;
        DELETE FROM face_scans WHERE photo_id = new.id; END""")


def _create_smart_albums_table(db: Any) -> None:
    """Schema of smart albums (called from the catalog's numbered migration)."""
    db.execute("CREATE TABLE IF NOT EXISTS smart_albums (id INTEGER PRIMARY KEY, name TEXT NOT NULL "
               "COLLATE NOCASE UNIQUE, query TEXT NOT NULL, created_at TEXT, updated_at TEXT)")


def _create_stage_state_table(db: "sqlite_utils.Database") -> None:
    """Migration: the per-photo state of every pipeline stage."""
    db.execute("""
        CREATE TABLE stage_state (
            photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,
            stage TEXT NOT NULL,
            status TEXT NOT NULL,
            model TEXT NOT NULL,
            input_hash TEXT,
            error TEXT,
            updated_at TEXT,
            PRIMARY KEY (photo_id, stage)
        ) WITHOUT ROWID""")
    db.execute("CREATE INDEX stage_state_by_stage ON stage_state (stage, status, model)")
