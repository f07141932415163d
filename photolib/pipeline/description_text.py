"""The text a photo's description vector is made from, and embedding it again when it changes.

One rule for the first pass, the OCR stage and the image stage's labels: the
user's own words (XMP keywords, title, caption), then the description, then
(for a local embedder, which may see them) the words found in the photo. A
remote embedder gets descriptions, never what OCR read on receipts and letters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from photolib.core.errors import PhotolibError
from photolib.core.records import Description, text_hash, with_photo_text

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog


def texts_to_embed(catalog: "Catalog", photos: dict[int, Any], photo_words: bool) -> dict[int, str]:
    """The text each described photo's description vector is made from: the user's words, its
    description (`photos`: id -> `Description`), then (with `photo_words`, i.e. a local embedder)
    the words found in it. One rule for the first pass, the OCR stage and the image stage's labels."""
    from photolib.store.text import TextStore

    ids = list(photos)
    user = {pid: meta.words() for pid, meta in catalog.user_metadata(ids).items()}
    words = TextStore(catalog).texts_for(ids) if photo_words else {}
    return {pid: with_photo_text(description.embedding_text(user.get(pid, "")), words.get(pid))
            for pid, description in photos.items()}


def embed_with_text(catalog: "Catalog", embedder: Any, photo_ids: Sequence[int]) -> int:
    """Embed described photos again with the words found in them, where the stored vector was made from
    other text (or another model); returns how many vectors were written. Writes in the caller's
    transaction when there is one."""
    import numpy as np

    if not photo_ids:
        return 0
    photos = catalog.get_many(list(photo_ids))
    texts = texts_to_embed(catalog, {pid: Description(photo.tags, photo.data.get("caption") or "",
                                                      photo.data.get("description") or "")
                                     for pid, photo in photos.items() if photo.data.get("vision_model")}, True)
    stored = catalog.embedding_states(list(texts), embedder.model_name)
    stale = [pid for pid, text in texts.items() if pid in stored and stored[pid][0] != text_hash(text)]
    if not stale:
        return 0
    matrix = np.asarray(embedder.embed_documents([texts[pid] for pid in stale]), dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[1] != stored[stale[0]][1]:
        raise PhotolibError(f"the embedder {embedder.model_name} answered with vectors of another size: "
                            "run `photolib reindex --reembed`")
    with catalog.transaction():
        catalog.store_embeddings([(pid, embedder.model_name, text_hash(texts[pid]), matrix[i].tobytes(),
                                   matrix.shape[1]) for i, pid in enumerate(stale)])
    return len(stale)
