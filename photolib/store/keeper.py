"""Keeping the derived index of one vector space in step with the catalog: load, catch up, rebuild, save.

Every space (`photolib.core.spaces`) has its own keeper and its own folder
(`index/<space>/`), with the same guarantees.

The catalog is the source of truth. The saved index is memory-mapped and
caught up with what changed in the catalog since it was stamped (a few rows,
read in one snapshot); it is rebuilt from the catalog, with a message, only
when it is missing, unreadable, of another model, too far behind, or does
not add up. It is saved stamped with the revision it really reflects, so a
reader can never save old vectors under a new stamp.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from photolib.core.errors import IndexMismatchError
from photolib.core.progress import Notify
from photolib.core.spaces import Space

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog
    from photolib.store.index import VectorIndex

CATCH_UP_LIMIT = 10_000  # changes an index catches up with before a rebuild is the cheaper way
CHECKPOINT_SECONDS = 30.0


class IndexKeeper:
    """The index of one space as of the catalog's current revision.

    `default_model` names the model of an empty index; `lock_path` is the
    library's write lock, which every save holds. `legacy_folder` is where a
    library made before vector spaces kept its (description) index: it is
    loaded from there once and saved into `folder`.
    """

    def __init__(self, catalog: "Catalog", folder: Path, lock_path: Path,
                 default_model: Callable[[], str], notify: Notify, space: Space = Space.DESCRIPTION,
                 legacy_folder: Path | None = None) -> None:
        self.catalog = catalog
        self.space = space
        self.legacy_folder = legacy_folder
        self.folder = folder
        self.lock_path = lock_path
        self.default_model = default_model
        self.notify = notify
        self._index: VectorIndex | None = None
        self._saved_revision: int | None = None  # what the files on disk hold, as far as this process knows
        self._checked_revision: int | None = None  # the index was last found to add up at this revision

    def stored_model(self) -> tuple[str, int] | None:
        """(model, dimension) of the catalog's vectors; an error if several models are mixed."""
        bounds = self.catalog.embedding_model_bounds(self.space)
        if bounds is None or bounds[0] == bounds[1]:
            return bounds[0] if bounds else None
        models = self.catalog.embedding_models(self.space)
        names = ", ".join(f"{m} ({d}-d, {n} photos)" for m, d, n in models)
        fix = "photolib reindex --reembed" if self.space == Space.DESCRIPTION else "photolib enrich"
        raise IndexMismatchError(f"the catalog mixes {self.space} vectors of several models ({names}): run `{fix}`")

    @property
    def _name(self) -> str:
        """How messages call this index: "Index" for the description space (as before spaces), else "Image index"."""
        return "Index" if self.space == Space.DESCRIPTION else f"{self.space.capitalize()} index"

    def forget(self) -> None:
        """Drop the index held in memory (after its files were replaced, as by a restore)."""
        self._index, self._saved_revision, self._checked_revision = None, None, None

    def current(self, save: bool = True, building: bool = False) -> "VectorIndex":
        """The index matching the catalog as it is now (see `current_and_repairs`)."""
        return self.current_and_repairs(save=save, building=building)[0]

    def current_and_repairs(self, save: bool = True, building: bool = False) -> tuple["VectorIndex", list[str]]:
        """The index matching the catalog as it is now, and what had to be repaired to get it.

        Each repair is also told to `notify`. With `save`, a changed index is
        saved when no writer holds the library. `building` (a writer about to
        save it) builds a missing index without a message: a first `add`
        creates the index, it does not repair one.
        """
        from photolib.store.index import VectorIndex

        rebuilt = None
        with self.catalog.snapshot():
            stored = self.stored_model()
            revision = self.catalog.revision
            if self._index is None:
                loaded = VectorIndex.load(self.folder)
                self._saved_revision = loaded[0].revision if loaded else None
                if loaded is None and self.legacy_folder is not None:
                    loaded = VectorIndex.load(self.legacy_folder)  # saved into `folder` by the next save
                self._index = loaded[0] if loaded else None
            reason = self._rebuild_reason(self._index, stored, revision)
            if reason is None and self._checked_revision != revision:  # counting a million rows is not free
                self._catch_up(self._index, revision)
                reason = self._mismatch_reason(self._index)
            if reason is not None:
                had_vectors = stored is not None or (self._index is not None and self._index.count > 0)
                self._index = rebuilt = self._build(stored)
                self._saved_revision = None
            self._checked_revision = revision
        repairs = []
        if rebuilt is not None and had_vectors and not (building and reason == "was missing"):
            repairs.append(f"{self._name} {reason}; rebuilt it from the catalog ({rebuilt.count} vectors).")
        for repair in repairs:
            self.notify(repair)
        if save and self._unsaved():
            self.save_if_unlocked()
        return self._index, repairs

    def rebuild(self) -> "VectorIndex":
        """A new index from the catalog, whatever is saved (`photolib reindex`)."""
        self._index, self._saved_revision = self._build(self.stored_model()), None
        self._checked_revision = self._index.revision
        return self._index

    def _rebuild_reason(self, index: "VectorIndex | None", stored: tuple[str, int] | None,
                        revision: int) -> str | None:
        """Why `index` cannot be caught up with the catalog, or None if it can."""
        if index is None:
            from photolib.store.index import read_stamp

            if read_stamp(self.folder) is not None:
                return "could not be read"
            return "was missing" if stored else "was empty"
        if stored and (index.model, index.dimension) != stored:
            return f"held {index.model} vectors, catalog holds {stored[0]}"
        if not self.catalog.history_from <= index.revision <= revision:
            return f"was made at catalog revision {index.revision}, which the catalog cannot catch up from"
        behind = self.catalog.count_changed_since(index.revision, self.space) if index.revision < revision else 0
        if behind > max(CATCH_UP_LIMIT, index.count // 2):
            return f"was {behind} changes behind the catalog"
        return None

    def _catch_up(self, index: "VectorIndex", revision: int) -> None:
        """Apply the vectors written and photos forgotten since the index's revision."""
        import numpy as np

        if index.revision == revision:
            return
        gone = self.catalog.forgotten_since(index.revision, self.space)
        written = self.catalog.vectors_since(index.revision, self.space)
        index.remove(np.array(gone, dtype=np.int64))
        if written:
            index.add(np.array([row[0] for row in written], dtype=np.int64),
                      np.frombuffer(b"".join(row[1] for row in written), dtype=np.float32).reshape(len(written), -1))
        index.revision = revision

    def _mismatch_reason(self, index: "VectorIndex") -> str | None:
        """A last check that the index holds what the catalog holds, in number and kind."""
        vectors = self.catalog.vector_count(self.space)
        if index.count != vectors:
            return f"held {index.count} vectors, catalog holds {vectors}"
        if index.wanted_kind() != index.kind:
            return f"is {index.kind}, and {vectors} vectors call for {index.wanted_kind()}"
        return None

    def _build(self, stored: tuple[str, int] | None) -> "VectorIndex":
        """Exact index for small libraries, IVF (trained on a sample) from APPROXIMATE_FROM vectors,
        read from one catalog snapshot and stamped with its revision."""
        import numpy as np

        from photolib.store.index import APPROXIMATE_FROM, TRAINING_POINTS_PER_LIST, VectorIndex, ivf_parameters

        with self.catalog.snapshot():
            revision = self.catalog.revision
            if stored is None:
                index = VectorIndex.empty(self.default_model(), 0)
            else:
                count = self.catalog.vector_count(self.space)
                if count >= APPROXIMATE_FROM:
                    wanted = ivf_parameters(count)["nlist"] * TRAINING_POINTS_PER_LIST
                    index = VectorIndex.approximate(
                        *stored, self.catalog.sample_vectors(wanted, stored[1], self.space), count)
                else:
                    index = VectorIndex.empty(*stored)
                for ids, blobs, _model, dimension in self.catalog.iter_vectors(space=self.space):
                    matrix = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), dimension)
                    index.add(np.array(ids, dtype=np.int64), matrix)
        index.revision = revision
        return index

    def _unsaved(self) -> bool:
        return self._index is not None and self._index.revision != self._saved_revision

    def save_if_unlocked(self) -> None:
        """Spare the next command the catch-up, unless a writer is busy or has saved a newer index."""
        from filelock import FileLock, Timeout

        from photolib.store.index import read_stamp

        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return  # a writer is busy; it will save its own index
        try:
            saved = read_stamp(self.folder)
            if saved is None or self._index is None or saved.revision < self._index.revision:
                self.save()
        finally:
            lock.release()

    def save(self) -> None:
        """Save the index as of the revision it reflects (never a later one it has not seen);
        nothing is written when the files already hold it.

        Called with the write lock held. If another process replaced the files
        this index was read from, the current ones are loaded and caught up first.
        """
        if self._index is None:
            return
        if self._index.base_file is not None and not self._index.base_file.exists():
            self.forget()
            self.current(save=False)
        if self._unsaved():
            self._index.save(self.folder, self._index.revision)
            self._saved_revision = self._index.revision
            self._drop_legacy_files()

    def _drop_legacy_files(self) -> None:
        """Once the index lives in its space's folder, the files of the old layout go."""
        from photolib.store.index import DATA_PREFIXES, STAMP_NAME

        if self.legacy_folder is None or not (self.legacy_folder / STAMP_NAME).exists():
            return
        (self.legacy_folder / STAMP_NAME).unlink(missing_ok=True)
        for entry in self.legacy_folder.iterdir():
            if entry.is_file() and entry.name.startswith(DATA_PREFIXES):
                entry.unlink(missing_ok=True)

    def sync_and_save(self) -> None:
        """For writers holding the lock: bring the index up to the catalog, then save it."""
        self.current(save=False, building=True)
        self.save()

    def checkpoint(self) -> Callable[[], None]:
        """During a long `add`, save the index now and then, so searches meanwhile have little to catch up."""
        last_save = time.monotonic()

        def maybe_save() -> None:
            nonlocal last_save
            if time.monotonic() - last_save >= CHECKPOINT_SECONDS:
                self.sync_and_save()
                last_save = time.monotonic()

        return maybe_save
