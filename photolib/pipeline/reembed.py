"""Re-embedding from stored descriptions, for a change of embedding model.

No vision call is made: the descriptions in the catalog are the input. Work
is committed in batches, and photos whose text, model and dimension already
match are skipped, so an interrupted `reindex --reembed` resumes where it
stopped.

The dimension is learnt from the embedder itself (from the first batch it
embeds, or from one probe call when every text is already embedded): an
endpoint that now serves another model under the same name, or a changed
`dimensions` setting, shows up as stored vectors of the wrong size, and those
are embedded again instead of being skipped forever.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from photolib.core.errors import ProviderError
from photolib.core.records import Description, text_hash, with_photo_text
from photolib.core.progress import NoProgress, Progress

if TYPE_CHECKING:
    import numpy as np

    from photolib.store.catalog import Catalog

BATCH = 256


def reembed_all(catalog: "Catalog", embedder: Any, progress: Progress | None = None,
                photo_texts: dict[int, str] | None = None) -> int:
    """Embed every described photo with `embedder` (with the words found in it, `photo_texts`, if given);
    returns how many vectors were computed."""
    progress = progress or NoProgress()
    rows = catalog.texts_for_reembedding()
    words = {pid: meta.words() for pid, meta in catalog.user_metadata([row[0] for row in rows]).items()}
    photo_words = photo_texts or {}
    texts = {pid: with_photo_text(_text(tags, caption, description, words.get(pid, "")), photo_words.get(pid))
             for pid, tags, caption, description in rows}
    stored = catalog.embedding_states(list(texts), embedder.model_name)
    stale = [pid for pid, text in texts.items() if stored.get(pid, (None, 0))[0] != text_hash(text)]
    progress.start(len(texts), f"Re-embedding with {embedder.model_name}")
    run = _Run(catalog, embedder, texts)
    progress.advance(len(texts) - len(stale))
    for start in range(0, len(stale), BATCH):
        batch = stale[start:start + BATCH]
        run.embed(batch)
        progress.advance(len(batch))
    if texts and run.dimension is None:
        run.dimension = run.checked(embedder.embed_documents([next(iter(texts.values()))])).shape[1]
    stale_ids = set(stale)
    resized = [pid for pid in texts if pid not in stale_ids and stored[pid][1] != run.dimension]
    if resized:
        progress.start(len(resized), f"Re-embedding vectors of another size with {embedder.model_name}")
        for start in range(0, len(resized), BATCH):
            run.embed(resized[start:start + BATCH])
            progress.advance(len(resized[start:start + BATCH]))
    with catalog.transaction():
        catalog.delete_embeddings_of_other_models(embedder.model_name)
    progress.finish()
    return run.done


class _Run:
    """Embeds batches and stores them, every batch at the dimension of the first answer."""

    def __init__(self, catalog: "Catalog", embedder: Any, texts: dict[int, str]) -> None:
        self.catalog, self.embedder, self.texts = catalog, embedder, texts
        self.dimension: int | None = None
        self.done = 0

    def checked(self, matrix: Any) -> "np.ndarray":
        import numpy as np

        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
            raise ProviderError(f"the embedder {self.embedder.model_name} returned unusable vectors; "
                                "the stored ones were kept: run `photolib reindex --reembed` again")
        if self.dimension is not None and matrix.shape[1] != self.dimension:
            raise ProviderError(
                f"the embedder {self.embedder.model_name} answered with {matrix.shape[1]}-d vectors after "
                f"{self.dimension}-d ones; the stored vectors were kept: run `photolib reindex --reembed` again")
        return matrix

    def embed(self, batch: list[int]) -> None:
        matrix = self.checked(self.embedder.embed_documents([self.texts[pid] for pid in batch]))
        self.dimension = matrix.shape[1]
        with self.catalog.transaction():
            self.catalog.store_embeddings([
                (pid, self.embedder.model_name, text_hash(self.texts[pid]), matrix[i].tobytes(), matrix.shape[1])
                for i, pid in enumerate(batch)
            ])
        self.done += len(batch)


def _text(tags: str | None, caption: str | None, description: str | None, user_words: str) -> str:
    return Description(json.loads(tags or "[]"), caption or "", description or "").embedding_text(user_words)
