"""Re-embedding from stored descriptions, for a change of embedding model.

No vision call is made: the descriptions in the catalog are the input. Work
is committed in batches, and photos whose text and model already match are
skipped, so an interrupted `reindex --reembed` resumes where it stopped.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from photolib.importer import text_hash
from photolib.models import Description
from photolib.progress import NoProgress, Progress

if TYPE_CHECKING:
    from photolib.catalog import Catalog

BATCH = 256


def reembed_all(catalog: "Catalog", embedder: Any, progress: Progress | None = None) -> int:
    """Embed every described photo with `embedder`; returns how many vectors were computed."""
    import numpy as np

    progress = progress or NoProgress()
    rows = catalog.texts_for_reembedding()
    progress.start(len(rows), f"Re-embedding with {embedder.model_name}")
    done = 0
    for start in range(0, len(rows), BATCH):
        batch = rows[start:start + BATCH]
        texts = {pid: _text(tags, caption, description) for pid, tags, caption, description in batch}
        current = catalog.embedding_text_hashes(list(texts), embedder.model_name)
        todo = [pid for pid, text in texts.items() if current.get(pid) != text_hash(text)]
        if todo:
            matrix = np.asarray(embedder.embed_documents([texts[pid] for pid in todo]), dtype=np.float32)
            with catalog.transaction():
                catalog.store_embeddings([
                    (pid, embedder.model_name, text_hash(texts[pid]), matrix[i].tobytes(), matrix.shape[1])
                    for i, pid in enumerate(todo)
                ])
                catalog.bump_generation()
            done += len(todo)
        progress.advance(len(batch))
    with catalog.transaction():
        catalog.db.execute("DELETE FROM embeddings WHERE model != ?", [embedder.model_name])
        catalog.bump_generation()
    progress.finish()
    return done


def _text(tags: str | None, caption: str | None, description: str | None) -> str:
    return Description(json.loads(tags or "[]"), caption or "", description or "").embedding_text()
