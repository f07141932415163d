"""Recent query vectors on disk, so a repeated search never loads a text tower."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from pathlib import Path

import numpy as np

QUERY_CACHE_ROWS = 2000  # recent query vectors kept per machine
BATCH_LIMIT = 16  # larger batches (label vocabularies) are cached by their owner, not here


class QueryCache:
    """Recent query vectors on disk, so a repeated search never loads the text tower.

    Keyed by the text tower's identity (name, file, size, mtime) and the
    cleaned text; bounded to QUERY_CACHE_ROWS rows, oldest use dropped.
    Failures to read or write the cache are ignored: it is only a cache.
    """

    def __init__(self, path: Path, fingerprint: str) -> None:
        self.path = path
        self.model = hashlib.sha256(fingerprint.encode()).hexdigest()[:24]

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=2.0)
        db.execute("CREATE TABLE IF NOT EXISTS queries (model TEXT, text TEXT, vector BLOB, used REAL, "
                   "PRIMARY KEY (model, text))")
        return db

    def get(self, texts: list[str]) -> dict[str, np.ndarray]:
        if len(texts) > BATCH_LIMIT:
            return {}
        try:
            with self._connect() as db:
                marks = ",".join("?" * len(texts))
                rows = db.execute(f"SELECT text, vector FROM queries WHERE model = ? AND text IN ({marks})",
                                  [self.model, *texts]).fetchall()
                db.execute(f"UPDATE queries SET used = ? WHERE model = ? AND text IN ({marks})",
                           [time.time(), self.model, *texts])
            return {text: np.frombuffer(blob, dtype=np.float32).copy() for text, blob in rows}
        except sqlite3.Error:
            return {}

    def put(self, vectors: dict[str, np.ndarray]) -> None:
        if len(vectors) > BATCH_LIMIT:
            return
        try:
            with self._connect() as db:
                now = time.time()
                db.executemany("INSERT OR REPLACE INTO queries VALUES (?, ?, ?, ?)",
                               [(self.model, text, np.asarray(v, dtype=np.float32).tobytes(), now) for text, v in vectors.items()])
                db.execute("DELETE FROM queries WHERE rowid IN (SELECT rowid FROM queries ORDER BY used DESC LIMIT -1 OFFSET ?)",
                           (QUERY_CACHE_ROWS,))
        except sqlite3.Error:
            pass
