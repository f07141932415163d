"""`search`, `similar`, `explain` and `list`: photos found by the query language, best first.

Filters select photos in SQL (`photolib.search.finder`); free words, weighted
terms and image terms rank them in each vector space, and the spaces and exact
words are fused into one 0-100 score (`photolib.search.hybrid`, built by
`LibraryContext.hybrid_search`). `album:` filters are resolved by the
description finder's `albums` (`photolib.search.finder.AlbumFilter`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from photolib.app.context import UseCase, space_named
from photolib.core.errors import UsageError
from photolib.core.files import absolute
from photolib.core.records import FailedStep, PhotoStatus
from photolib.core.spaces import Space

if TYPE_CHECKING:
    from photolib.query.parser import ParsedQuery
    from photolib.store.catalog import StoredPhoto

LIST_LIMIT = 1000  # most photos `list` ranks when its query has words


@dataclass
class SearchHit:
    id: int
    path: str
    distance: float | None
    caption: str
    tags: list[str]
    taken_at: str | None
    score: int | None = None  # 0-100, see `photolib.search.fusion`; None when nothing was ranked
    distances: dict[str, float | None] | None = None  # per space searched (None: no vector in it), when fused
    fusion: float | None = None  # the fused relevance 0-1 (the score before rounding), when fused
    contributions: dict[str, float] | None = None  # each signal's part of the 0-1 relevance (they sum to it)

    def as_dict(self, parts: bool = False) -> dict[str, Any]:
        """Plain data for --json: `distances`, `fusion` and `contributions` when the image space took
        part; `contributions` also with `parts` (search --explain)."""
        data = {"id": self.id, "path": self.path, "score": self.score,
                "distance": None if self.distance is None else round(self.distance, 4),
                "caption": self.caption, "tags": self.tags, "taken_at": self.taken_at}
        if self.distances is not None:
            data.update(distances=self.distances, fusion=self.fusion)
        if self.contributions is not None and (parts or self.distances is not None):
            data.update(contributions=self.contributions)
        return data


class Searching(UseCase):
    """The query language over the library's vector spaces."""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self.last_parts: list[dict[str, Any]] = []  # how each signal took part in the last ranked search (--explain)

    def search(self, query: str, *, limit: int | None = None, threshold: float | None = None,
               exact: bool = False, sort: str | None = None, offset: int = 0, all_results: bool = False,
               space: str = "all", image_threshold: float | None = None,
               collapse: str | None = None, person: str | None = None) -> list[SearchHit]:
        """Photos matching `query` in the query language (`photolib.query.parser`), best first.

        Filters select photos in SQL before anything is ranked; free words,
        weighted terms and image terms rank them by meaning in every vector
        space, and the spaces and exact words (description, the user's words or
        text read by OCR) are fused into one 0-100 score per hit
        (`photolib.search.hybrid`). Hits stop at the score of `threshold` (a
        distance in the description space, the image space's with
        `space="image"`) and, unless `all_results`, at the first clear drop in
        score. A query of filters only lists the matching photos without
        embedding anything. `person` (a number or name from `people`) is the
        filter `person:`. `space` limits the search to "description" or "image";
        `image_threshold` limits what the image space proposes beside the
        description space.
        """
        from photolib.query.parser import parse, with_flags

        if not query.strip() and person is None:
            raise UsageError("the search query is empty: say what to look for, e.g. photolib search \"sunset beach\"")
        return self.find(parse(with_flags(query, {"person": person})), limit=limit, threshold=threshold, exact=exact,
                         sort=sort, offset=offset, all_results=all_results, collapse=collapse, space=space,
                         image_threshold=image_threshold)

    def find(self, parsed: "ParsedQuery", *, limit: int | None = None, threshold: float | None = None,
             exact: bool = False, sort: str | None = None, offset: int = 0, all_results: bool = False,
             around: Any = None, leave_out: int | None = None, collapse: str | None = None,
             space: str = "description", image_threshold: float | None = None,
             around_space: "Space | None" = None) -> list[SearchHit]:
        """`search` for an already parsed query; `around` ranks by closeness to a photo's vector in
        `around_space` (`similar`); `collapse` shows each group of copies once (see
        `photolib.search.duplicates`); `space` "all" or "image" brings in the image space."""
        from photolib.search.finder import FindOptions
        from photolib.search.relevance import check_sort

        if parsed.empty and around is None:
            raise UsageError("the query says nothing to look for: add words or filters, e.g. beach year:2019")
        chosen_space = None if space == "all" else space_named(space)
        options = FindOptions(limit=limit or self.settings.search_limit, offset=max(0, offset),
                              threshold=self.settings.search_threshold if threshold is None else threshold,
                              sort=check_sort(sort), all_results=all_results, exact=exact)
        if not parsed.semantic and around is None:
            return self.hits(self.finder.listing(parsed, options))
        searched = self.hybrid_search(chosen_space, threshold, image_threshold, around_space=around_space)
        if searched is None:
            self.finder.selection(parsed)  # a bad filter is still an error in an empty library
            return []  # nothing embedded yet: no need to load FAISS, the model or the index
        where = {str(around_space or Space.DESCRIPTION): around} if around is not None else None
        found = searched.run(parsed, options, around=where, leave_out=leave_out, collapse=collapse)
        self.last_parts = [part.as_dict() for part in found.parts]
        with_pixels = around is None and any(part.name == Space.IMAGE for part in found.parts)
        return self.hits(found.ranked, fused=with_pixels)

    def explain(self, query: str) -> dict[str, Any]:
        """How `query` is understood: its parts, and how many photos its filters leave."""
        from photolib.query.parser import explain, parse

        parsed = parse(query)
        selection = self.finder.selection(parsed)
        total = self.catalog.photo_count()
        return {"query": query, "parsed": parsed.as_dict(),
                "lines": [{"part": part, "meaning": text} for part, text in explain(parsed)],
                "photos": total, "allowed": total if selection is None else len(selection)}

    def hits(self, chosen: list[Any], fused: bool = False) -> list[SearchHit]:
        """Hits for `Ranked` results (a listing) or `FusedRanked` ones; `fused`: the image space took
        part, so each hit says its distance in each space and the fused relevance."""
        photos = self.catalog.get_many([r.id for r in chosen])
        return [
            SearchHit(r.id, photos[r.id].path, r.distance, photos[r.id].data.get("caption") or "", photos[r.id].tags,
                      photos[r.id].data.get("taken_at"), r.score,
                      r.distances if fused else None, round(r.fusion, 4) if fused else None,
                      getattr(r, "contributions", None))
            for r in chosen if r.id in photos
        ]

    def similar(self, photo_ref: str, *, limit: int | None = None, threshold: float | None = None,
                exact: bool = False, query: str | None = None, sort: str | None = None, offset: int = 0,
                all_results: bool = False, collapse: str | None = None) -> list[SearchHit]:
        """Photos nearest to a photo: by the image space when the library has one, else by description.

        `photo_ref` is a photo of the library (id or path; the photo itself is left out), or the
        path of an image file that is not in it: that one is embedded on the fly and stored nowhere.
        `query` (the query language) restricts the neighbours to photos its filters allow and moves
        the comparison by its words, +/- terms and image terms (embedded in the space compared).
        """
        from photolib.query.parser import parse

        parsed = parse(query or "")
        photo, vector, space = self._similar_source(photo_ref)
        return self.find(parsed, limit=limit, threshold=threshold, exact=exact, sort=sort, offset=offset,
                         all_results=True if all_results or not parsed.semantic else False, around=vector,
                         around_space=space, leave_out=photo.id if photo is not None else None, collapse=collapse)

    def _similar_source(self, ref: str) -> tuple["StoredPhoto | None", Any, Space]:
        """(library photo or None, its vector, the space to search) for `similar`."""
        import numpy as np

        text = str(ref).strip()
        if not text.isdigit() and os.path.isfile(absolute(text)) and \
                self.catalog.get_by_path(str(absolute(text))) is None:
            if self.image_space_ready():
                return None, self.image_finder.photo_vector(text), Space.IMAGE
            if self.check_embedder_matches() is None:
                raise UsageError("the library has no embedded photos yet: `photolib add` a folder first")
            return None, self.finder.photo_vector(text), Space.DESCRIPTION
        photo = self.resolve(ref)
        if self.image_space_ready():
            blob = self.catalog.vectors_for([photo.id], Space.IMAGE).get(photo.id)
            if blob is not None:
                return photo, np.frombuffer(blob, dtype=np.float32), Space.IMAGE
        blob = self.catalog.vectors_for([photo.id]).get(photo.id)
        if blob is None:
            raise UsageError(_not_embedded(photo))
        return photo, np.frombuffer(blob, dtype=np.float32), Space.DESCRIPTION

    def list_photos(self, query: str | None = None, *, tag: str | None = None, since: str | None = None,
                    until: str | None = None, status: str | None = None, limit: int | None = None,
                    sort: str | None = None, offset: int = 0,
                    filters: dict[str, str | None] | None = None, rating: int | None = None,
                    keyword: str | None = None, has_text: bool = False,
                    person: str | None = None) -> list[dict[str, Any]]:
        """Photos matching `query` (the query language) and the options, oldest first unless `sort`.

        `since`/`until` are inclusive days; `rating` is a minimum; `filters` are more `key: value`
        filters (the CLI's flags). Every option is the query language's filter of that name, so
        `list --rating 4` and `list rating:>=4` are the same. Free words rank by meaning as `search`
        does, then the matches are sorted.
        """
        from photolib.store.catalog import PHOTO_STATUSES
        from photolib.query.parser import parse, with_flags
        from photolib.app.views import photo_summary

        if status and status not in PHOTO_STATUSES:
            raise UsageError(f"--status {status!r} is not a status: use one of {', '.join(PHOTO_STATUSES)}")
        flags = {"tag": tag, "status": status, "rating": None if rating is None else f">={max(rating, 0)}",
                 "keyword": keyword, "person": person, "has": "text" if has_text else None}
        text = with_flags(query, flags | (filters or {}))
        start, end = _parse_date(since, "--since"), _parse_date(until, "--until")
        text += f" date>={start}" if start else ""
        text += f" date<={end}" if end else ""
        parsed = parse(text)
        hits = self.find(parsed, limit=limit or (LIST_LIMIT if parsed.semantic else -1), sort=sort or "date",
                         offset=offset) if not parsed.empty else self.hits(
            self.finder.listing(parsed, _list_options(limit, sort or "date", offset)))
        photos = self.catalog.get_many([hit.id for hit in hits])
        return [photo_summary(photos[hit.id]) | ({"score": hit.score} if hit.score is not None else {})
                for hit in hits if hit.id in photos]


def _not_embedded(photo: "StoredPhoto") -> str:
    """Why a photo has no vector, and what (if anything) finishes it."""
    if photo.status == PhotoStatus.FAILED and photo.data.get("failed_stage") == FailedStep.READ:
        return (f"photo {photo.id} could not be read ({photo.data.get('error')}), so it has no embedding: "
                "replace the file, then run `photolib add` on its folder")
    return f"photo {photo.id} has no embedding yet (status {photo.status}): run `photolib add` on its folder to finish it"


def _list_options(limit: int | None, sort: str, offset: int) -> Any:
    from photolib.search.finder import FindOptions
    from photolib.search.relevance import check_sort

    return FindOptions(limit=limit or -1, sort=check_sort(sort), offset=max(0, offset))


def _parse_date(text: str | None, option: str, end: bool = False) -> str | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{option} {text!r} is not a date: use YYYY-MM-DD") from None
    return (day + timedelta(days=1)).isoformat() if end else day.isoformat()
