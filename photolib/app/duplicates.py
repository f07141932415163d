"""`duplicates`: groups of copies (exact, near by perceptual hash, similar by image vectors)
and RAW+JPEG pairs; photolib marks and lists them, never deletes or moves any."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photolib.app.context import UseCase
from photolib.core.errors import UsageError
from photolib.core.progress import NoProgress, Progress
from photolib.core.spaces import Space
from photolib.core.files import absolute

if TYPE_CHECKING:
    from photolib.search.duplicates import DuplicateGroup


class Duplicates(UseCase):
    """Copies found and marked."""

    def duplicates(self, *, similar: bool = False, near_bits: int | None = None,
                   similar_distance: float | None = None, mark: bool = False,
                   export: str | os.PathLike | None = None, progress: Progress | None = None,
                   pairs: bool = True) -> list["DuplicateGroup"]:
        """Groups of copies, best first, then (with `pairs`) RAW+JPEG pairs as stacks (kind "pair");
        photolib never deletes or moves any of them."""
        from photolib.search import duplicates

        near_bits = self.settings.duplicates_near_bits if near_bits is None else near_bits
        if not 0 <= near_bits <= 32:
            raise UsageError(f"--bits {near_bits} is out of range: give 0 (identical hashes) to 32")
        similar_distance = self.settings.duplicates_similar_distance if similar_distance is None else similar_distance
        if export is not None and os.path.isdir(export):
            raise UsageError(f"{absolute(export)} is a folder: give --export a file name for the list (CSV)")
        self._hash_missing(progress)
        vectors = self._image_vectors() if similar else None
        groups = duplicates.find(self.catalog, near_bits=near_bits, similar=similar, image_vectors=vectors,
                                 similar_distance=similar_distance, pairs=pairs)
        if mark:
            with self.write_lock(), self.catalog.transaction():
                self.catalog.replace_duplicate_marks(
                    duplicates.hidden_copies(g for g in groups if g.kind != duplicates.DuplicateKind.EXACT), "near")
        if export is not None:
            duplicates.write_list(groups, absolute(export))
        return groups

    def _hash_missing(self, progress: Progress | None) -> None:
        """Perceptual hashes for photos imported before photolib made them (read once, then stored)."""
        from photolib.media import read as media
        from photolib.core.errors import PhotolibError

        missing = self.catalog.ids_missing_phash()
        if not missing:
            return
        progress = progress or NoProgress()
        progress.start(len(missing), "Hashing photos imported before perceptual hashes")
        with self.write_lock():
            for start in range(0, len(missing), 256):
                found = {}
                for photo_id, path in missing[start:start + 256]:
                    try:
                        found[photo_id] = media.read_photo(Path(path)).phash
                    except (PhotolibError, OSError):
                        found[photo_id] = None
                with self.catalog.transaction():
                    for photo_id, phash in found.items():
                        self.catalog.store_phash(photo_id, phash or "")
                progress.advance(len(found))
        progress.finish()

    def _image_vectors(self) -> Any:
        """(photo ids, unit-vector matrix) of the image space, of its one model; a `UsageError` saying
        how to make them when the library has none."""
        import numpy as np

        ids: list[int] = []
        blobs: list[bytes] = []
        dimension = 0
        for batch_ids, batch_blobs, _model, dimension in self.catalog.iter_vectors(space=Space.IMAGE):
            ids += batch_ids
            blobs += batch_blobs
        if len(ids) < 1:
            raise UsageError("`duplicates --similar` compares image vectors, and this library has none yet: "
                             "turn on the image model (see `photolib models list`), run `photolib enrich`, "
                             "then retry")
        return ids, np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dimension)
