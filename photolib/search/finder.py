"""Search with the query language: filter in SQL, then rank by meaning, then cut and sort.

1. The query's filters, phrases and `NOT` exclusions select photo ids in SQL
   (`photolib.query.sql`). A query with nothing to rank by meaning lists the
   selected photos straight from SQL: nothing is embedded.
2. The query vector is the embedding of the free words, plus `+word` vectors
   and minus `-word` vectors (each weighted), renormalised. `similar` starts
   from a photo's own vector instead.
3. Only selected photos are compared: a small selection exactly, from the
   catalog's vectors; a large one through the index with a FAISS id selector
   (`VectorIndex.search(ids=...)`), so a filtered search costs about what an
   unfiltered one does.
4. Photos whose text (description, tags, the user's XMP words, or text read by
   OCR) holds every free word come first (exact words beat near
   meanings); the others are kept within --threshold and up to the first clear
   drop in distance (`photolib.search.relevance`), then sorted and paged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from photolib.core.errors import UsageError
from photolib.query.parser import ParsedQuery
from photolib.query.sql import FilterCompiler
from photolib.search.relevance import adaptive_cutoff, match_score, sort_key
from photolib.store import filter_sql
from photolib.store.filter_sql import Clause

if TYPE_CHECKING:
    import numpy as np

    from photolib.store.catalog import Catalog
    from photolib.store.index import VectorIndex

SMALL_SELECTION = 2000  # photos compared exactly from the catalog's vectors, without the index
CANDIDATES = 200  # nearest photos examined for the cutoff (more when a later page is asked for)
EXACT_WORDS = 50  # photos holding every free word that are ranked first, at most
SAMPLE = 128  # ids checked against the filters to tell a narrow filter from a broad one
POST_FILTER = 8  # a filtered search first checks the filters on this many times the results asked for


@dataclass
class FindOptions:
    limit: int  # negative: no limit
    offset: int = 0
    threshold: float = 1.5
    sort: str = "relevance"
    all_results: bool = False  # ignore the adaptive cutoff (the threshold still applies)
    exact: bool = False


@dataclass
class Ranked:
    """A chosen photo: its distance to the query (None when nothing was ranked)."""

    id: int
    distance: float | None

    @property
    def score(self) -> int | None:
        return match_score(self.distance)


class Finder:
    """Runs parsed queries against one catalog and its index."""

    def __init__(self, catalog: "Catalog", index: Callable[[], "VectorIndex"], embed_query: Callable[[str], Any],
                 album_ids: Callable[[str], "list[int] | None"],
                 vectors_of: "Callable[[list[int]], dict[int, bytes]] | None" = None) -> None:
        self.catalog = catalog
        self.index = index  # the vector space searched (default: description) and its stored vectors:
        self.vectors_of = vectors_of or catalog.vectors_for
        self.embed_query = embed_query
        self.compiler = FilterCompiler(catalog, album_ids)

    def selection(self, parsed: ParsedQuery) -> "np.ndarray | None":
        """Sorted ids the query allows, or None when it allows every photo."""
        where = self.compiler.where(parsed)
        return None if where[0] == "1" else filter_sql.selected_ids(self.catalog, where)

    def listing(self, parsed: ParsedQuery, options: FindOptions) -> list[Ranked]:
        """The photos the filters allow, in `options.sort` order (by date when there is nothing to rank)."""
        ids = filter_sql.listed_ids(self.catalog, self.compiler.where(parsed), options.sort, options.limit,
                                    options.offset)
        return [Ranked(pid, None) for pid in ids]

    def find(self, parsed: ParsedQuery, options: FindOptions, *, around: "np.ndarray | None" = None,
             leave_out: int | None = None) -> list[Ranked]:
        """Ranked photos for a query with something to rank by (words, +/- terms, or `around`)."""
        import numpy as np

        allowed = self.allowed(parsed)
        vector = self.query_vector(parsed, around)
        stop = None if options.limit < 0 else options.offset + options.limit
        nearest = self.nearest(vector, allowed, stop, exact=options.exact, leave_out=leave_out)
        exact_words = self._exact_word_matches(parsed, allowed.where, leave_out)
        missing = [pid for pid in exact_words if pid not in nearest]
        nearest.update(self._exact_among(vector, np.array(sorted(missing), dtype=np.int64), len(missing)))
        first = [pid for pid in exact_words if pid in nearest]
        first.sort(key=lambda pid: nearest[pid])
        firsts = set(first)
        others = sorted(((d, pid) for pid, d in nearest.items() if pid not in firsts and d <= options.threshold))
        if not options.all_results and others:
            ranked = sorted([nearest[pid] for pid in first] + [d for d, _ in others])
            last = ranked[adaptive_cutoff(ranked) - 1]  # the cut applies to near meanings, never to exact words
            others = [(d, pid) for d, pid in others if d <= last]
        chosen = [Ranked(pid, nearest[pid]) for pid in first] + [Ranked(pid, d) for d, pid in others]
        return self._sorted(chosen, options)[options.offset:stop]

    def allowed(self, parsed: ParsedQuery) -> "Allowed":
        """What the query's filters allow, compiled once for every index it is searched in."""
        return Allowed(self.catalog, self.compiler.where(parsed))

    def nearest(self, vector: "np.ndarray", allowed: "Allowed", stop: int | None, *, exact: bool = False,
                leave_out: int | None = None, index: "Callable[[], VectorIndex] | None" = None,
                vectors_of: "Callable[[list[int]], dict[int, bytes]] | None" = None) -> dict[int, float]:
        """photo id -> distance of the nearest photos `allowed` lets through (at least `CANDIDATES`,
        4 x `stop` when larger), `leave_out` left out. `index` and `vectors_of` (the catalog's
        vectors by id) name the vector space searched; by default the description space."""
        index = index or self.index
        k = max(4 * (stop or 0), CANDIDATES)
        nearest = None
        if allowed.where[0] != "1":
            nearest = self._nearest_then_filtered(vector, allowed, k, stop, exact, index)
        if nearest is None:
            selected = allowed.ids()
            if selected is not None and leave_out is not None:
                selected = selected[selected != leave_out]
            if selected is not None and len(selected) == 0:
                return {}
            if selected is not None and len(selected) <= SMALL_SELECTION:
                nearest = self._exact_among(vector, selected, k, vectors_of)
            else:
                searched = self._index_for(vector, index)
                distances, ids = searched.search(vector, k + (leave_out is not None), exact=exact, ids=selected)
                nearest = {int(i): float(d) for d, i in zip(distances[0], ids[0]) if i >= 0}
        nearest.pop(leave_out, None)
        return nearest

    def query_vector(self, parsed: ParsedQuery, around: "np.ndarray | None" = None) -> "np.ndarray":
        """Free words (+ `around`) plus +terms minus -terms, renormalised to unit length."""
        import numpy as np

        parts: list[tuple[Any, float]] = []
        if around is not None:
            parts.append((np.asarray(around, dtype=np.float32), 1.0))
        if parsed.text:
            parts.append((self.embed_query(parsed.text), 1.0))
        parts += [(self.embed_query(term.text), term.weight) for term in parsed.positive]
        parts += [(self.embed_query(term.text), -term.weight) for term in parsed.negative]
        if not parts:
            raise UsageError("the query has no words to rank by: add words, or use filters alone")
        vector = sum(weight * np.asarray(v, dtype=np.float32).reshape(-1) for v, weight in parts)
        norm = float(np.linalg.norm(vector))
        if norm < 1e-6:
            raise UsageError("the query's + and - terms cancel each other out: drop one of them")
        return (vector / norm).astype(np.float32)

    def _exact_among(self, vector: "np.ndarray", ids: "np.ndarray", k: int,
                     vectors_of: "Callable[[list[int]], dict[int, bytes]] | None" = None) -> dict[int, float]:
        """Distances from `vector` to the stored vectors of `ids` (the nearest `k`), read from the catalog."""
        import numpy as np

        from photolib.store.index import distances_from_similarity

        blobs = (vectors_of or self.vectors_of)([int(i) for i in ids])
        if not blobs:
            return {}
        keys = list(blobs)
        matrix = np.frombuffer(b"".join(blobs[pid] for pid in keys), dtype=np.float32).reshape(len(keys), -1)
        if matrix.shape[1] != vector.shape[-1]:
            return {}
        distances = distances_from_similarity(matrix @ vector)
        best = np.argsort(distances, kind="stable")[:k]
        return {keys[i]: float(distances[i]) for i in best}

    def _exact_word_matches(self, parsed: ParsedQuery, where: Clause, leave_out: int | None) -> list[int]:
        if not parsed.text:
            return []
        words = self.catalog.fts_match(parsed.text, EXACT_WORDS)  # description, tags, the user's words
        read = self.compiler.texts.photo_ids_matching(parsed.text, EXACT_WORDS)  # text read in photos (OCR)
        found = [pid for pid in dict.fromkeys(words + read) if pid != leave_out]
        if where[0] == "1" or not found:
            return found
        allowed = filter_sql.allowed_among(self.catalog, found, where)
        return [pid for pid in found if pid in allowed]

    def _index_for(self, vector: "np.ndarray", index: "Callable[[], VectorIndex] | None" = None) -> "VectorIndex":
        index = (index or self.index)()
        if vector.shape[-1] != index.dimension:
            from photolib.core.errors import IndexMismatchError

            raise IndexMismatchError(
                f"the embedder returned {vector.shape[-1]}-d vectors but the index holds {index.dimension}-d "
                f"vectors of {index.model}: run `photolib reindex --reembed`")
        return index

    def _nearest_then_filtered(self, vector: "np.ndarray", allowed: "Allowed", k: int, stop: int | None,
                               exact: bool, index: "Callable[[], VectorIndex]") -> dict[int, float] | None:
        """The fast path of a filtered search: the nearest `POST_FILTER` x (offset + limit) photos
        (at least `CANDIDATES`) of the whole library, kept when the filters allow them. Taken when
        it leaves enough results (or saw the whole library); None sends the search down the
        selection path instead, at once when a sample of the library shows the filters too narrow
        for enough of the nearest photos to pass."""
        searched = self._index_for(vector, index)
        if searched.count == 0 or stop is None:
            return None
        wanted = max(POST_FILTER * stop, min(k, CANDIDATES))
        if allowed.share() * wanted <= stop:
            return None  # too few would pass: the selection path at once, not after a wasted search
        distances, ids = searched.search(vector, wanted, exact=exact)
        found = [int(i) for i in ids[0] if i >= 0]
        passed = filter_sql.allowed_among(self.catalog, found, allowed.where) if found else set()
        nearest = {int(i): float(d) for d, i in zip(distances[0], ids[0]) if i >= 0 and int(i) in passed}
        if len(nearest) > stop or len(found) >= searched.count:
            return nearest
        return None

    def _sorted(self, chosen: list[Ranked], options: FindOptions) -> list[Ranked]:
        key = sort_key(options.sort)
        if key is None:
            return chosen
        photos = self.catalog.get_many([r.id for r in chosen])
        rows = [(r.id, r.distance, photos[r.id].path, photos[r.id].data.get("taken_at"))
                for r in chosen if r.id in photos]
        by_id = {r.id: r for r in chosen}
        return [by_id[row[0]] for row in sorted(rows, key=key)]


class Allowed:
    """The photos a query's filters allow: its WHERE clause, and (computed once, when asked) the
    share of the library it allows and the selected ids, shared by every index searched."""

    def __init__(self, catalog: "Catalog", where: Clause) -> None:
        self.catalog = catalog
        self.where = where
        self._share: float | None = None
        self._ids: "np.ndarray | None" = None

    def ids(self) -> "np.ndarray | None":
        """Sorted ids the filters allow, or None when they allow every photo."""
        if self.where[0] == "1":
            return None
        if self._ids is None:
            self._ids = filter_sql.selected_ids(self.catalog, self.where)
        return self._ids

    def share(self) -> float:
        """About which share of the library the filters allow, from `SAMPLE` ids spread evenly over
        the id range (every photo of a small library). Costs ~0.3 ms at a million photos;
        kept small so its rows leave SQLite's default page cache (~500 pages) to the candidates
        checked next (256 ids made the whole search ~3 ms slower, 512 ids ten times that)."""
        if self._share is None:
            self._share = filter_sql.sampled_share(self.catalog, self.where, SAMPLE)
        return self._share
