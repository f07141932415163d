"""The OCR and face stages of `add`: run after photos are described and embedded.

A photo is searchable by its description first; these stages make it better
later. Each stage has its own per-photo state in the catalog (done / failed
with a reason, and the model that did it), works through its own backlog in
batches committed one transaction at a time, and reports its own progress, so
an interrupted run loses at most one batch and the next `add` carries on.

When the OCR stage finds words in a photo whose description is embedded by
the local embedder, the photo is embedded again with its words, so a search
for "invoice" finds the scanned receipt by meaning as well as by word.
Face data is never sent anywhere, whatever providers are configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

from photolib.errors import PhotolibError
from photolib.progress import NoProgress, Progress

if TYPE_CHECKING:
    from photolib.catalog import Catalog

BATCH = 16  # photos per committed transaction, unless the caller says otherwise
DECODE_SIDE = 2000  # longest side the pixel stages need (OCR cuts text crops from this)


@dataclass
class StageReport:
    """What one stage did in one run."""

    name: str
    done: int = 0
    found: int = 0  # photos with text / faces found
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    extra: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"done": self.done, "found": self.found, "failed": len(self.failed), **self.extra,
                "failures": [{"path": path, "reason": reason} for path, reason in self.failed]}


def run_ocr(catalog: "Catalog", photos: Sequence[tuple[int, str]], *, min_confidence: float,
            progress: Progress | None = None, on_commit: Callable[[list[int]], None] | None = None,
            batch: int = BATCH) -> StageReport:
    """Read the text of `photos` ((id, path), from `TextStore.photos_needing_ocr`) and store it.

    `on_commit` gets the ids of each committed batch's photos that hold text.
    """
    from photolib import media, ocr
    from photolib.catalog_text import TextStore

    store, model, report = TextStore(catalog), ocr.model_name(), StageReport("ocr")
    if not photos:
        return report
    progress = progress or NoProgress()
    progress.start(len(photos), "Reading text in photos")
    for chunk in _batches(photos, batch):
        results = _each_photo(chunk, lambda path: ocr.read_text(media.upright_image(path, DECODE_SIDE), min_confidence),
                              "OCR failed")
        with catalog.transaction():
            for photo_id, _path, result, error in results:
                if result is None:
                    store.store_failure(photo_id, model, error)
                else:
                    store.store(photo_id, model, result, min_confidence)
        with_text = [photo_id for photo_id, _path, result, _error in results if result is not None and result.boxes]
        report.done += sum(1 for item in results if item[2] is not None)
        report.found += len(with_text)
        report.failed.extend((path, error) for _id, path, result, error in results if result is None)
        if on_commit is not None:
            on_commit(with_text)
        progress.advance(len(chunk), with_text=report.found)
    progress.finish()
    return report


def run_faces(catalog: "Catalog", photos: Sequence[tuple[int, str]], *, min_score: float, threshold: float,
              progress: Progress | None = None, batch: int = BATCH) -> StageReport:
    """Find the faces of `photos` ((id, path), from `FaceStore.photos_needing_faces`), store them and
    group them into people, batch by batch."""
    from photolib import faces, media
    from photolib.catalog_faces import FaceStore

    store, report = FaceStore(catalog), StageReport("faces", extra={"faces": 0})
    if not photos:
        return report
    progress = progress or NoProgress()
    progress.start(len(photos), "Finding faces")
    for chunk in _batches(photos, batch):
        results = _each_photo(chunk, lambda path: faces.find_faces(media.upright_image(path, faces.DETECT_SIDE),
                                                                   min_score), "face detection failed")
        with catalog.transaction():
            for photo_id, _path, found, error in results:
                if found is None:
                    store.store_failure(photo_id, faces.DETECTOR, error)
                else:
                    store.store(photo_id, faces.DETECTOR, found)
            store.group_new_faces(threshold)
        report.done += sum(1 for item in results if item[2] is not None)
        report.found += sum(1 for item in results if item[2])
        report.extra["faces"] += sum(len(item[2]) for item in results if item[2])
        report.failed.extend((path, error) for _id, path, found, error in results if found is None)
        progress.advance(len(chunk), faces=report.extra["faces"])
    progress.finish()
    return report


def embed_with_text(catalog: "Catalog", embedder: Any, photo_ids: Sequence[int]) -> int:
    """Embed described photos again with the words found in them, where the stored vector was made from
    other text (or another model); returns how many vectors were written."""
    import numpy as np

    from photolib.catalog_text import TextStore
    from photolib.importer import text_hash
    from photolib.models import Description, with_photo_text

    if not photo_ids:
        return 0
    words = TextStore(catalog).texts_for(photo_ids)
    photos = catalog.get_many(list(words))
    user = {pid: meta.words() for pid, meta in catalog.user_metadata(list(words)).items()}
    texts = {pid: with_photo_text(Description(photo.tags, photo.data.get("caption") or "",
                                              photo.data.get("description") or "").embedding_text(user.get(pid, "")),
                                  words[pid])
             for pid, photo in photos.items() if photo.data.get("vision_model")}
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


def _each_photo(chunk: Sequence[tuple[int, str]], work: Any, failure: str) -> list[tuple[int, str, Any, str | None]]:
    """(id, path, result, None) or (id, path, None, reason) for each photo: one odd photo never stops a stage."""
    results = []
    for photo_id, path in chunk:
        try:
            results.append((photo_id, path, work(path), None))
        except PhotolibError as error:
            results.append((photo_id, path, None, str(error)))
        except Exception as error:  # noqa: BLE001 - a decoder or model failure on one photo is that photo's
            results.append((photo_id, path, None, f"{failure} ({type(error).__name__}: {error})"))
    return results


def _batches(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    size = max(1, size)
    return [items[start:start + size] for start in range(0, len(items), size)]
