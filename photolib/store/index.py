"""The FAISS index: a derived, disposable cache of the catalog's vectors.

Vectors are L2-normalised, so the index ranks by inner product and reports
squared L2 distances (`d = 2 - 2 cos`), the unit users pass as `--threshold`.

On disk the index is a folder beside the catalog: a base data file, an
optional small delta file (vectors added and ids removed since the base was
written) and a `stamp.json` naming both, with model, dimension, count and
catalog revision. A save writes new files, fsyncs them, then atomically
replaces the stamp, so a reader always sees data files together with their
own stamp. While the changes are small next to the base, a save writes only
the delta: adding 1 000 photos to a million costs a 1.5 MB write, not a
rewrite of the 1.5 GB base. Once the delta passes 1/`DELTA_FRACTION` of the
base, the next save merges it into a new base.

A loaded base is memory-mapped and never modified (writing into a read-only
mapping would crash the process); changes go to the in-memory delta.

Small libraries use exact search (flat inner product). From `APPROXIMATE_FROM`
vectors on, an IVF-Flat index is used: measured on this machine class, exact
search over 100 000 vectors takes ~6 ms per query while IVF with the `nprobe`
below answers in well under 1 ms with recall@10 above 0.99 on clustered data,
and unlike HNSW it supports removal and incremental adds without a rebuild.
`exact=True` searches every list, which is exact.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from photolib.core.files import atomic_write, fsync_file, fsync_folder

STAMP_NAME = "stamp.json"
APPROXIMATE_FROM = 50_000  # vectors; below this, exact search is fast enough
TRAINING_POINTS_PER_LIST = 40
KMEANS_ITERATIONS = 10
DELTA_FRACTION = 16  # a save writes only the changes while they are under 1/16 of the base
DATA_PREFIXES = ("vectors-", "delta-")


@dataclass
class IndexStamp:
    model: str
    dimension: int
    count: int
    revision: int
    kind: str = "flat"
    params: dict[str, Any] = field(default_factory=dict)
    file: str = ""
    delta: str = ""


def distances_from_similarity(similarity: np.ndarray) -> np.ndarray:
    """Inner products of unit vectors -> squared L2 distances, clipped at 0."""
    return np.clip(2.0 - 2.0 * similarity, 0.0, 4.0)


class VectorIndex:
    """An id-keyed vector index with atomic, incremental saves and a stamp.

    `base` is the FAISS index (flat or IVF). Once it mirrors a file on disk
    (`base_file` set) it is left unchanged, as it may be a read-only mapping:
    added vectors go to `delta`, an exact in-memory index, and ids dropped
    from the base are kept in `removed` and filtered out of its results.
    """

    def __init__(self, index: Any, model: str, dimension: int, kind: str = "flat",
                 params: dict[str, Any] | None = None) -> None:
        self.base = index
        self.model = model
        self.dimension = dimension
        self.kind = kind
        self.params = params or {}
        self.revision = 0  # the catalog revision whose vectors this index holds
        self.base_file: Path | None = None
        self.base_mapped = False  # loaded from base_file: a mapping FAISS must not write into
        self.delta: Any = None
        self.removed = np.zeros(0, dtype=np.int64)  # sorted ids hidden from the base
        self._base_ids: np.ndarray | None = None

    @classmethod
    def empty(cls, model: str, dimension: int) -> "VectorIndex":
        """An empty index; with dimension 0 it takes the size of the first vectors added."""
        return cls(_new_flat_index(dimension) if dimension else None, model, dimension)

    @classmethod
    def approximate(cls, model: str, dimension: int, training: np.ndarray, expected: int) -> "VectorIndex":
        """An IVF index trained on `training`, sized for about `expected` vectors."""
        params = ivf_parameters(expected)
        params["nlist"] = max(1, min(params["nlist"], len(training)))  # k-means needs a point per list
        params["nprobe"] = min(params["nprobe"], params["nlist"])
        quantizer = faiss.IndexFlatIP(dimension)
        index = faiss.IndexIVFFlat(quantizer, dimension, params["nlist"], faiss.METRIC_INNER_PRODUCT)
        index.cp.niter = KMEANS_ITERATIONS
        index.train(np.ascontiguousarray(training, dtype=np.float32))
        index.nprobe = params["nprobe"]
        return cls(index, model, dimension, "ivf", params)

    @property
    def count(self) -> int:
        base = int(self.base.ntotal) - len(self.removed) if self.base is not None else 0
        return base + self._delta_count

    @property
    def _delta_count(self) -> int:
        return int(self.delta.ntotal) if self.delta is not None else 0

    def wanted_kind(self) -> str:
        """The kind this index should be for its size (with hysteresis, so it does not flap)."""
        if self.kind == "flat":
            return "ivf" if self.count >= APPROXIMATE_FROM else "flat"
        return "flat" if self.count < APPROXIMATE_FROM // 2 else "ivf"

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add vectors, replacing any already stored under the same ids."""
        ids = np.ascontiguousarray(ids, dtype=np.int64)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.base is None and vectors.ndim == 2:
            self.dimension = vectors.shape[1]
            self.base = _new_flat_index(self.dimension)
        if vectors.ndim != 2 or vectors.shape[1] != self.dimension:
            raise ValueError(f"vectors of dimension {vectors.shape[-1]} do not fit an index of {self.dimension}")
        if len(ids) == 0:
            return
        self.remove(ids)
        if self.base_file is None:
            self.base.add_with_ids(vectors, ids)
            return
        if self.delta is None:
            self.delta = _new_flat_index(self.dimension)
        self.delta.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        """Forget `ids`; returns how many were stored."""
        ids = np.unique(np.ascontiguousarray(ids, dtype=np.int64))
        if len(ids) == 0 or self.count == 0:
            return 0
        if self.base_file is None:
            return int(self.base.remove_ids(faiss.IDSelectorBatch(ids)))
        removed = int(self.delta.remove_ids(faiss.IDSelectorBatch(ids))) if self._delta_count else 0
        in_base = ids[_contains(self._ids_in_base(), ids) & ~_contains(self.removed, ids)]
        self.removed = np.union1d(self.removed, in_base)
        return removed + len(in_base)

    def search(self, queries: np.ndarray, k: int, exact: bool = False,
               ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k by similarity: (squared L2 distances, ids), -1 ids for empty slots.

        `ids` (sorted) restricts the search to those photos (a FAISS id
        selector: the others are skipped, not searched and dropped). An
        approximate index then probes enough lists to meet about 4k selected
        photos (evenly spread), so a narrow filter still finds its best matches.
        """
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if self.count == 0 or (ids is not None and len(ids) == 0):
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        k = max(1, min(k, self.count if ids is None else len(ids)))
        selector = bits = None
        if ids is not None:
            ids = np.ascontiguousarray(ids, dtype=np.int64)
            selector, bits = _id_selector(ids)  # `bits` stays alive through the search: FAISS only points at it
        similarity, found = self._search_base(queries, k, exact, selector, ids)
        if self._delta_count:
            params = faiss.SearchParameters(sel=selector) if selector is not None else None
            more_similarity, more_ids = self.delta.search(queries, min(k, self._delta_count), params=params)
            similarity = np.hstack([similarity, more_similarity])
            found = np.hstack([found, more_ids])
            best = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
            similarity, found = np.take_along_axis(similarity, best, 1), np.take_along_axis(found, best, 1)
        return distances_from_similarity(similarity), found

    def _search_base(self, queries: np.ndarray, k: int, exact: bool, selector: Any = None,
                     ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        options: dict[str, Any] = {}
        keep = []  # SWIG selectors do not own what they wrap: keep them alive through the search
        if len(self.removed):
            keep.append(faiss.IDSelectorBatch(self.removed))
            keep.append(faiss.IDSelectorNot(keep[-1]))
            options["sel"] = keep[-1]
        if selector is not None:
            options["sel"] = faiss.IDSelectorAnd(selector, options["sel"]) if "sel" in options else selector
            keep.append(options["sel"])
        if self.kind == "ivf":
            nprobe = self.base.nprobe
            if ids is not None:  # probe enough lists to meet about 4k selected photos
                nprobe = int(min(self.base.nlist, max(nprobe, np.ceil(4 * k * self.base.nlist / max(len(ids), 1)))))
            options["nprobe"] = self.base.nlist if exact else nprobe
            return self.base.search(queries, k, params=faiss.SearchParametersIVF(**options))
        if options:
            return self.base.search(queries, k, params=faiss.SearchParameters(**options))
        return self.base.search(queries, k)

    def _ids_in_base(self) -> np.ndarray:
        """Every id stored in the base, sorted (read once: the base does not change while it has a file)."""
        if self._base_ids is None:
            self._base_ids = np.sort(_stored_ids(self.base))
        return self._base_ids

    # -- persistence ---------------------------------------------------------

    def save(self, folder: Path, revision: int) -> IndexStamp | None:
        """Write the changes (or, when they have grown large, a new base), then the stamp naming them."""
        if self.base is None:
            return None
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        small = (self._delta_count + len(self.removed)) * DELTA_FRACTION < self.base.ntotal
        if self.base_file is None or self.base_file.parent != folder or not small:
            self._merge_delta_into_base()
            base_name = _write_new_file(folder, "vectors", revision, ".faiss",
                                        lambda path: faiss.write_index(self.base, str(path)))
            delta_name = ""
        else:
            base_name = self.base_file.name
            delta_name = _write_new_file(folder, "delta", revision, ".npz", self._write_delta)
        stamp = IndexStamp(self.model, self.dimension, self.count, revision, self.kind, self.params,
                           base_name, delta_name)
        atomic_write(folder / STAMP_NAME, json.dumps(asdict(stamp), indent=2), prefix=STAMP_NAME)
        fsync_folder(folder)
        _remove_stale_files(folder, keep={base_name, delta_name})
        self.base_file, self.revision = folder / base_name, revision
        return stamp

    def _merge_delta_into_base(self) -> None:
        """Make the base hold everything: read it into memory if it is mapped, then apply the delta."""
        if self.base_file is None:
            return
        base = self.base
        if self.base_mapped:
            base = faiss.read_index(str(self.base_file))
            if self.kind == "ivf":
                base.nprobe = self.base.nprobe
        if len(self.removed):
            base.remove_ids(faiss.IDSelectorBatch(self.removed))
        if self._delta_count:
            ids, vectors = _stored_vectors(self.delta)
            base.add_with_ids(vectors, ids)
        self.base, self.base_file, self.base_mapped, self.delta = base, None, False, None
        self.removed = np.zeros(0, dtype=np.int64)
        self._base_ids = None

    def _write_delta(self, path: Path) -> None:
        ids, vectors = _stored_vectors(self.delta) if self._delta_count else (
            np.zeros(0, np.int64), np.zeros((0, self.dimension), np.float32))
        with open(path, "wb") as out:
            np.savez(out, ids=ids, vectors=vectors, removed=self.removed)

    @classmethod
    def load(cls, folder: Path) -> tuple["VectorIndex", IndexStamp] | None:
        """The saved index and its stamp, or None if missing or unreadable.

        The base is memory-mapped (FAISS IO_FLAG_MMAP_IFC): a search process
        starts without copying the vectors into memory. A save that replaced
        the files between reading the stamp and opening them is retried.
        """
        for _attempt in range(3):
            stamp = read_stamp(folder)
            if stamp is None:
                return None
            try:
                return cls._load_files(folder, stamp), stamp
            except FileNotFoundError:
                continue
            except (RuntimeError, OSError, ValueError, KeyError):
                return None
        return None

    @classmethod
    def _load_files(cls, folder: Path, stamp: IndexStamp) -> "VectorIndex":
        base_path = folder / stamp.file
        if not stamp.file or not base_path.is_file():
            raise FileNotFoundError(base_path)
        base = _read_faiss_mapped(base_path)
        if base.d != stamp.dimension:
            raise ValueError("dimension differs from the stamp")
        if stamp.kind == "ivf":
            base.nprobe = int(stamp.params.get("nprobe", 32))
        index = cls(base, stamp.model, stamp.dimension, stamp.kind, stamp.params)
        index.base_file, index.base_mapped, index.revision = base_path, True, stamp.revision
        if stamp.delta:
            with np.load(folder / stamp.delta, allow_pickle=False) as delta:
                index.removed = np.asarray(delta["removed"], dtype=np.int64)
                if len(delta["ids"]):
                    index.delta = _new_flat_index(stamp.dimension)
                    index.delta.add_with_ids(np.ascontiguousarray(delta["vectors"], dtype=np.float32),
                                             np.asarray(delta["ids"], dtype=np.int64))
        if index.count != stamp.count:
            raise ValueError("vector count differs from the stamp")
        return index


def _read_faiss_mapped(path: Path) -> Any:
    """Map the file without copying it; fall back to reading it where FAISS cannot map that index type."""
    for flags in (faiss.IO_FLAG_MMAP_IFC | faiss.IO_FLAG_READ_ONLY, faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY, 0):
        try:
            return faiss.read_index(str(path), flags)
        except RuntimeError:
            continue
    raise ValueError(f"{path} is not a FAISS index")


BITMAP_IDS_UP_TO = 64_000_000  # a bitmap selector up to this id (8 MB); a hash set of the ids beyond


def _id_selector(ids: np.ndarray) -> tuple[Any, np.ndarray | None]:
    """A FAISS selector of `ids` (not empty): a bitmap over 0..max id (built with numpy in ~0.2 ms
    for 10 000 ids of a million, and checked faster than a set), or `IDSelectorBatch` for huge ids."""
    top = int(ids.max())
    if top > BITMAP_IDS_UP_TO or int(ids.min()) < 0:
        return faiss.IDSelectorBatch(ids), None
    mask = np.zeros(top + 1, dtype=bool)
    mask[ids] = True
    bits = np.packbits(mask, bitorder="little")
    return faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits)), bits


def ivf_parameters(expected: int) -> dict[str, int]:
    """Lists ~ 4 sqrt(n); probing ~3% of them keeps recall@10 >= 0.95 at a few ms."""
    nlist = int(min(8192, max(64, 4 * np.sqrt(max(expected, 1)))))
    return {"nlist": nlist, "nprobe": max(32, nlist // 32)}


def _new_flat_index(dimension: int) -> Any:
    return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))


def _stored_ids(index: Any) -> np.ndarray:
    """The ids held by a flat IDMap2 or an IVF index, without copying its vectors."""
    if isinstance(index, faiss.IndexIDMap2):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    lists = index.invlists
    parts = [np.zeros(0, dtype=np.int64)]
    for list_no in range(index.nlist):
        size = lists.list_size(list_no)
        if size:
            pointer = lists.get_ids(list_no)
            parts.append(faiss.rev_swig_ptr(pointer, size).astype(np.int64))
            lists.release_ids(list_no, pointer)
    return np.concatenate(parts)


def _contains(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Which of `ids` are in `sorted_ids` (binary search: no sort of a million ids per call)."""
    if len(sorted_ids) == 0:
        return np.zeros(len(ids), dtype=bool)
    positions = np.minimum(np.searchsorted(sorted_ids, ids), len(sorted_ids) - 1)
    return sorted_ids[positions] == ids


def _stored_vectors(flat: Any) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of a flat IDMap2 index, in insertion order."""
    return (faiss.vector_to_array(flat.id_map).astype(np.int64),
            flat.index.reconstruct_n(0, flat.ntotal).astype(np.float32))


def read_stamp(folder: Path) -> IndexStamp | None:
    try:
        data = json.loads((folder / STAMP_NAME).read_text(encoding="utf-8"))
        if "generation" in data and "revision" not in data:  # saved before the counter was renamed
            data["revision"] = data.pop("generation")
        return IndexStamp(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_new_file(folder: Path, prefix: str, revision: int, suffix: str, write: Any) -> str:
    """Write a data file under a name no reader can be using, fsynced; returns the name."""
    name = f"{prefix}-{revision}-{uuid.uuid4().hex[:8]}{suffix}"
    temp = folder / (name + ".tmp")
    write(temp)
    fsync_file(temp)
    os.replace(temp, folder / name)
    return name


def _remove_stale_files(folder: Path, keep: set[str]) -> None:
    """Drop data files no stamp points to (older saves, leftovers of a crash)."""
    for entry in folder.iterdir():
        if entry.name.startswith(DATA_PREFIXES) and entry.name not in keep:
            try:
                entry.unlink()
            except OSError:
                pass
