"""The names of what a library folder holds: one home, so backup, restore and the facade agree."""

CATALOG_NAME = "catalog.db"  # the SQLite catalog: the source of truth
INDEX_FOLDER = "index"  # one FAISS index per vector space (index/<space>/), derived from the catalog
CACHE_FOLDER = "cache"  # what can be recomputed (e.g. the image model's label vectors)
LOCK_NAME = ".lock"  # the write lock every writer holds
GENERATED_FOLDER = "generated"  # images made by `imagine` when no --out is given
THUMBNAIL_FOLDER = "thumbnails"  # thumbnails by content hash, derived from the photos (photolib.media.thumbnails)
SNAPSHOT_FOLDER = "snapshots"  # automatic copies of the catalog, rotated (see `snapshots`)
SNAPSHOT_LOCK_NAME = ".snapshot-lock"  # held by the one process taking a snapshot (see `snapshot_runner`)
SNAPSHOT_FAILED_NAME = ".snapshot-failed"  # why the last background snapshot was not kept; said once
ASIDE_FOLDER = "aside"  # catalogs replaced by a repair or a snapshot restore, never deleted
