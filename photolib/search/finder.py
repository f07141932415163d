"""Search with the query language: filter in SQL, then rank by meaning, then cut and sort.

1. The query's filters, phrases and `NOT` exclusions select photo ids in SQL
   (composed by `photolib.query.sql`, run by `photolib.store.filter_sql`). A
   query with nothing to rank by meaning lists the selected photos straight
   from SQL: nothing is embedded.
2. The query vector is the embedding of the free words, plus `+word` vectors
   and minus `-word` vectors (each weighted), renormalised; an image term adds
   (or takes away) a photo's vector in the space: stored for a photo of the
   library, made from the file otherwise. `similar` starts from a photo's own
   vector.
3. Only selected photos are compared: a small selection exactly, from the
   catalog's vectors; a large one through the index with a FAISS id selector
   (`VectorIndex.search(ids=...)`), so a filtered search costs about what an
   unfiltered one does.
4. Photos whose text (description, tags, the user's XMP words, or text read by
   OCR) holds every free word come first (exact words beat near
   meanings); the others are kept within --threshold and up to the first clear
   drop in distance (`photolib.search.relevance`), then sorted and paged.

A `Finder` searches one vector space and gets what it uses (catalog, the
space's index keeper, the model for query words, settings) when it is built,
so it never calls back into the `Library`; `album:` filters are answered by
its `AlbumFilter`, which evaluates smart albums with the same finder, or over
every space with a `photolib.search.hybrid.HybridSearch` when it is given one.
Searches over several spaces (and every search that ranks, since one score
holds for all) go through `HybridSearch`, which asks each space's finder for
candidates (`candidates`) and fuses them.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from photolib.core.errors import IndexMismatchError, UsageError
from photolib.core.files import absolute
from photolib.query.filters import QueryError
from photolib.query.parser import ParsedQuery, parse
from photolib.query.sql import FilterCompiler
from photolib.search.relevance import adaptive_cutoff, check_sort, match_score, sort_key
from photolib.store import filter_sql
from photolib.store.filter_sql import Clause
from photolib.store.smart_albums import SmartAlbum, SmartAlbumStore

if TYPE_CHECKING:
    import numpy as np

    from pathlib import Path

    from photolib.core.config import Settings
    from photolib.providers.base import Providers
    from photolib.store.catalog import Catalog
    from photolib.store.index import VectorIndex
    from photolib.store.keeper import IndexKeeper

SMALL_SELECTION = 2000  # photos compared exactly from the catalog's vectors, without the index
CANDIDATES = 200  # nearest photos examined for the cutoff (more when a later page is asked for)
EXACT_WORDS = 50  # photos holding every free word that are ranked first, at most
SAMPLE = 128  # ids checked against the filters to tell a narrow filter from a broad one
POST_FILTER = 8  # a filtered search first checks the filters on this many times the results asked for
SMART_LIMIT = 1000  # most photos a smart album with words shows
PHOTO_TERM_SIDE = 384  # px: an image file outside the library is decoded this large for the image model


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


@dataclass(frozen=True)
class QueryPart:
    """One part of a query as a vector of a space: words, a +/- term, an image term, or `similar`'s photo."""

    vector: Any
    weight: float  # negative: pushed away
    photo: bool  # a photo (compared photo to photo), else words


class DescriptionQueries:
    """Query words as vectors of the description space: the configured text embedder, built on
    first use (a query of filters only builds nothing, so it needs no API key)."""

    def __init__(self, providers: "Providers") -> None:
        self.providers = providers

    @property
    def model_name(self) -> str:
        return self.providers.embedder.model_name

    family = "text"  # its calibration (`photolib.search.calibration`)

    def vector(self, text: str) -> Any:
        return self.providers.embedder.embed_query(text)

    def photo_vector(self, path: "Path") -> "np.ndarray":
        """The description-space vector of an image file outside the library: described by the
        configured vision provider (as `add` would, stored nowhere), then embedded."""
        import numpy as np

        from photolib.core.records import PhotoForVision
        from photolib.media import geocode
        from photolib.media import read as media

        metadata = media.read_photo(path)
        place = geocode.place_name(metadata.gps_lat, metadata.gps_lon) if metadata.gps_lat is not None else None
        description = self.providers.vision.describe(PhotoForVision(path, metadata, place, path.parent))
        return np.asarray(self.providers.embedder.embed_documents([description.embedding_text()]), np.float32)[0]

    def mismatch(self, stored: tuple[str, int]) -> str:
        return (f"the library was embedded with {stored[0]} ({stored[1]}-d) but the configured embedder is "
                f"{self.model_name}: run `photolib reindex --reembed` to re-embed with it")


class ImageQueries:
    """Query words as vectors of the image space: the image model's text tower."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder

    @property
    def model_name(self) -> str:
        return self.embedder.model_name

    @property
    def family(self) -> str:
        return self.embedder.family

    def vector(self, text: str) -> "np.ndarray":
        from photolib.search.fusion import image_query_vector

        return image_query_vector(self.embedder, text)

    def photo_vector(self, path: "Path") -> "np.ndarray":
        """The image-space vector of an image file outside the library (decoded upright, stored nowhere)."""
        import numpy as np

        from photolib.media import read as media

        return np.asarray(self.embedder.embed_images([media.decode_upright(path, PHOTO_TERM_SIDE)]), np.float32)[0]

    def mismatch(self, stored: tuple[str, int]) -> str:
        return (f"the image space holds vectors of {stored[0]}, not of the configured {self.model_name}: "
                "run `photolib enrich` to embed the photos with it")


class Finder:
    """Runs parsed queries against one vector space: the catalog, the space's index (through its
    keeper), and the model that turns query words into vectors of that space."""

    def __init__(self, catalog: "Catalog", keeper: "IndexKeeper", queries: "DescriptionQueries | ImageQueries",
                 settings: "Settings", *, albums: "AlbumFilter | None" = None) -> None:
        """`albums` resolves `album:` names; by default one of this finder's own, which evaluates
        smart albums in this space (the image space's finder shares the description space's)."""
        self.catalog = catalog
        self.keeper = keeper
        self.space = keeper.space
        self.queries = queries
        self.settings = settings
        self.albums = albums or AlbumFilter(self)
        self.compiler = FilterCompiler(catalog, self.albums)

    def stored_model(self) -> tuple[str, int] | None:
        """(model, dimension) of the space's vectors, None when none is stored yet; an
        `IndexMismatchError` when another model than the configured one made them."""
        stored = self.keeper.stored_model()
        if stored and stored[0] != self.queries.model_name:
            raise IndexMismatchError(self.queries.mismatch(stored))
        return stored

    def search(self, parsed: ParsedQuery, options: FindOptions, *, around: "np.ndarray | None" = None,
               leave_out: int | None = None, collapse: str | None = None) -> list[Ranked]:
        """A query in this space alone, from start to end: listed when it has nothing to rank by,
        else ranked (`find`), each group of copies shown once (`collapse`, default from settings)."""
        from photolib.search.duplicates import Collapse
        from photolib.search.duplicates import collapse as fold

        if parsed.empty and around is None:
            raise UsageError("the query says nothing to look for: add words or filters, e.g. beach year:2019")
        if not parsed.semantic and around is None:
            return self.listing(parsed, options)
        if self.stored_model() is None:
            self.selection(parsed)  # a bad filter is still an error in an empty library
            return []  # nothing embedded yet: no need to load FAISS, the model or the index
        ranked = self.find(parsed, options, around=around, leave_out=leave_out)
        kept = fold(self.catalog, [(r.id, r.distance) for r in ranked],
                    Collapse(collapse or self.settings.collapse_duplicates))
        return [Ranked(pid, distance) for pid, distance in kept if pid != leave_out]

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
        exact_words = self.exact_word_matches(parsed, allowed.where, leave_out)
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
        return self.in_order(chosen, options.sort)[options.offset:stop]

    def allowed(self, parsed: ParsedQuery) -> "Allowed":
        """What the query's filters allow, compiled once for every index it is searched in."""
        return Allowed(self.catalog, self.compiler.where(parsed))

    def nearest(self, vector: "np.ndarray", allowed: "Allowed", stop: int | None, *, exact: bool = False,
                leave_out: int | None = None) -> dict[int, float]:
        """photo id -> distance of the nearest photos `allowed` lets through (at least `CANDIDATES`,
        4 x `stop` when larger), `leave_out` left out."""
        k = max(4 * (stop or 0), CANDIDATES)
        nearest = None
        if allowed.where[0] != "1":
            nearest = self._nearest_then_filtered(vector, allowed, k, stop, exact)
        if nearest is None:
            selected = allowed.ids()
            if selected is not None and leave_out is not None:
                selected = selected[selected != leave_out]
            if selected is not None and len(selected) == 0:
                return {}
            if selected is not None and len(selected) <= SMALL_SELECTION:
                nearest = self._exact_among(vector, selected, k)
            else:
                searched = self._index_for(vector)
                distances, ids = searched.search(vector, k + (leave_out is not None), exact=exact, ids=selected)
                nearest = {int(i): float(d) for d, i in zip(distances[0], ids[0]) if i >= 0}
        nearest.pop(leave_out, None)
        return nearest

    def query_parts(self, parsed: ParsedQuery, around: "np.ndarray | None" = None) -> list[QueryPart]:
        """The query's parts as vectors of this space, each with its weight (negative: pushed away)
        and whether it is a photo: `around`, the free words, +terms, -terms."""
        import numpy as np

        parts: list[QueryPart] = []
        if around is not None:
            parts.append(QueryPart(np.asarray(around, dtype=np.float32).reshape(-1), 1.0, True))
        if parsed.text:
            parts.append(QueryPart(self.queries.vector(parsed.text), 1.0, False))
        parts += [QueryPart(self.term_vector(term), term.weight, term.image) for term in parsed.positive]
        parts += [QueryPart(self.term_vector(term), -term.weight, term.image) for term in parsed.negative]
        if not parts:
            raise UsageError("the query has no words to rank by: add words, or use filters alone")
        return parts

    def query_vector(self, parsed: ParsedQuery, around: "np.ndarray | None" = None,
                     parts: "list[QueryPart] | None" = None) -> "np.ndarray":
        """Free words (+ `around`) plus +terms minus -terms, renormalised to unit length."""
        import numpy as np

        parts = parts if parts is not None else self.query_parts(parsed, around)
        vector = sum(part.weight * np.asarray(part.vector, dtype=np.float32).reshape(-1) for part in parts)
        norm = float(np.linalg.norm(vector))
        if norm < 1e-6:
            raise UsageError("the query's + and - terms cancel each other out: drop one of them")
        return (vector / norm).astype(np.float32)

    def term_vector(self, term: Any) -> "np.ndarray":
        """A +/- term's vector: its words embedded, or for an image term the photo's vector."""
        return self.photo_vector(term.text) if term.image else self.queries.vector(term.text)

    def photo_vector(self, path: str) -> "np.ndarray":
        """The vector in this space of the image file at `path`: stored for a photo of the library,
        made from the file otherwise (`queries.photo_vector`); a UsageError when there is no file."""
        import numpy as np

        full = absolute(path)
        if not full.is_file():
            raise UsageError(f"{path}: no such image file (a query term that is a path to an image file looks for "
                             "photos like it)")
        photo = self.catalog.get_by_path(str(full))
        if photo is not None:
            blob = self.catalog.vectors_for([photo.id], self.space).get(photo.id)
            if blob is not None:
                return np.frombuffer(blob, dtype=np.float32)
        return np.asarray(self.queries.photo_vector(full), dtype=np.float32)

    def candidates(self, vector: "np.ndarray", allowed: "Allowed", stop: int | None, within: float | None = None,
                   *, exact: bool = False, leave_out: int | None = None) -> dict[int, float]:
        """photo id -> distance of the photos this space proposes for a query: its nearest (see
        `nearest`), only those within `within` when it is given."""
        nearest = self.nearest(vector, allowed, stop, exact=exact, leave_out=leave_out)
        return nearest if within is None else {pid: d for pid, d in nearest.items() if d <= within}

    def in_order(self, chosen: list[Any], sort: str) -> list[Any]:
        """`chosen` (anything with an `id`) in the order of `sort`; as they are for "relevance"."""
        key = sort_key(sort)
        if key is None:
            return chosen
        photos = self.catalog.get_many([r.id for r in chosen])
        rows = [(r.id, r.distance, photos[r.id].path, photos[r.id].data.get("taken_at"))
                for r in chosen if r.id in photos]
        by_id = {r.id: r for r in chosen}
        return [by_id[row[0]] for row in sorted(rows, key=key)]

    def _exact_among(self, vector: "np.ndarray", ids: "np.ndarray", k: int) -> dict[int, float]:
        """Distances from `vector` to the stored vectors of `ids` (the nearest `k`), read from the catalog."""
        import numpy as np

        from photolib.store.index import distances_from_similarity

        blobs = self.catalog.vectors_for([int(i) for i in ids], self.space)
        if not blobs:
            return {}
        keys = list(blobs)
        matrix = np.frombuffer(b"".join(blobs[pid] for pid in keys), dtype=np.float32).reshape(len(keys), -1)
        if matrix.shape[1] != vector.shape[-1]:
            return {}
        distances = distances_from_similarity(matrix @ vector)
        best = np.argsort(distances, kind="stable")[:k]
        return {keys[i]: float(distances[i]) for i in best}

    def exact_word_matches(self, parsed: ParsedQuery, where: Clause, leave_out: int | None = None) -> list[int]:
        """Photos `where` allows whose text (description, tags, the user's words, or text read in the
        photo) holds every free word of the query, up to `EXACT_WORDS`."""
        if not parsed.text:
            return []
        words = self.catalog.fts_match(parsed.text, EXACT_WORDS)  # description, tags, the user's words
        read = self.compiler.texts.photo_ids_matching(parsed.text, EXACT_WORDS)  # text read in photos (OCR)
        found = [pid for pid in dict.fromkeys(words + read) if pid != leave_out]
        if where[0] == "1" or not found:
            return found
        allowed = filter_sql.allowed_among(self.catalog, found, where)
        return [pid for pid in found if pid in allowed]

    def _index_for(self, vector: "np.ndarray") -> "VectorIndex":
        index = self.keeper.current()
        if vector.shape[-1] != index.dimension:
            raise IndexMismatchError(
                f"the embedder returned {vector.shape[-1]}-d vectors but the index holds {index.dimension}-d "
                f"vectors of {index.model}: run `photolib reindex --reembed`")
        return index

    def _nearest_then_filtered(self, vector: "np.ndarray", allowed: "Allowed", k: int, stop: int | None,
                               exact: bool) -> dict[int, float] | None:
        """The fast path of a filtered search: the nearest `POST_FILTER` x (offset + limit) photos
        (at least `CANDIDATES`) of the whole library, kept when the filters allow them. Taken when
        it leaves enough results (or saw the whole library); None sends the search down the
        selection path instead, at once when a sample of the library shows the filters too narrow
        for enough of the nearest photos to pass."""
        searched = self._index_for(vector)
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

    def sample(self, count: int) -> list[int]:
        """About `count` photos the filters allow, spread evenly (the same ones for every space)."""
        if self._ids is not None:
            import numpy as np

            picks = np.unique(np.linspace(0, len(self._ids) - 1, count).astype(np.int64)) if len(self._ids) else []
            return [int(self._ids[i]) for i in picks]
        return filter_sql.sampled_ids(self.catalog, self.where, count)


class AlbumFilter:
    """`album:NAME` of the query language: a smart album of that name (any case) evaluated now, as a
    search of its query in the description space ordered by date unless asked otherwise (a query
    with words keeps up to `SMART_LIMIT` photos; its relevance cutoff usually stops well before),
    else a saved album. A smart album whose query names itself, directly or through others, is an
    error rather than an endless loop.

    `trying` makes a smart album that is not saved yet take the place of a stored one, so its
    query is checked against the library before it is stored."""

    def __init__(self, finder: Finder) -> None:
        self.finder = finder
        self.everywhere: Any = None  # a HybridSearch over every space, when the caller gives one
        self._trials: dict[str, SmartAlbum] = {}
        self._evaluating: set[str] = set()

    def photo_ids(self, name: str) -> list[int] | None:
        """Photo ids of the album called `name`, or None when there is no such album."""
        smart = self.smart_album(name)
        if smart is not None:
            return [r.id for r in self.evaluate(smart)]
        return self.finder.catalog.saved_album_photo_ids(name)

    def smart_album(self, name: str) -> SmartAlbum | None:
        return self._trials.get(name.strip().casefold()) or SmartAlbumStore(self.finder.catalog).get(name)

    def evaluate(self, album: SmartAlbum, *, sort: str | None = None) -> list[Ranked]:
        """The photos of a smart album now."""
        key = album.name.casefold()
        if key in self._evaluating:
            raise QueryError(f"smart album {album.name!r} refers to itself through album: filters; "
                             "change one of their queries with `photolib albums smart NAME QUERY --replace`")
        self._evaluating.add(key)
        try:
            return self.matching(parse(album.query), sort=sort or "date")
        finally:
            self._evaluating.discard(key)

    def matching(self, parsed: ParsedQuery, *, sort: str = "date") -> list[Any]:
        """Every photo a query matches (up to `SMART_LIMIT` when it ranks by words), each with an
        `id` and a `score`: searched in every space when `everywhere` is set, as `search` does."""
        options = FindOptions(limit=SMART_LIMIT if parsed.semantic else -1, sort=check_sort(sort),
                              threshold=self.finder.settings.search_threshold)
        return (self.everywhere or self.finder).search(parsed, options)

    @contextmanager
    def trying(self, album: SmartAlbum) -> Iterator[None]:
        """Within the block, `album` is the smart album of its name (stored or not)."""
        key = album.name.casefold()
        self._trials[key] = album
        try:
            yield
        finally:
            self._trials.pop(key, None)
