"""`search`, `similar`, `explain` and `list`: photos found by the query language, best first.

Filters select photos in SQL (`photolib.search.finder`); free words rank them
in each vector space, and the spaces' rankings are fused
(`photolib.search.fusion`). `album:` filters are resolved by the description
finder's `albums` (`photolib.search.finder.AlbumFilter`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
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
    score: int | None = None  # 0-100, see `photolib.search.relevance`; None when nothing was ranked
    distances: dict[str, float | None] | None = None  # per space searched (None: no vector in it), when fused
    fusion: float | None = None  # the fused rank score (reciprocal rank fusion; higher is better), when fused

    def as_dict(self) -> dict[str, Any]:
        data = {"id": self.id, "path": self.path, "score": self.score,
                "distance": None if self.distance is None else round(self.distance, 4),
                "caption": self.caption, "tags": self.tags, "taken_at": self.taken_at}
        if self.distances is not None:
            data.update(distances=self.distances, fusion=self.fusion)
        return data


class Searching(UseCase):
    """The query language over the library's vector spaces."""

    def search(self, query: str, *, limit: int | None = None, threshold: float | None = None,
               exact: bool = False, sort: str | None = None, offset: int = 0, all_results: bool = False,
               space: str = "all", image_threshold: float | None = None,
               collapse: str | None = None, person: str | None = None) -> list[SearchHit]:
        """Photos matching `query` in the query language (`photolib.query.parser`), best first.

        Filters select photos in SQL before anything is ranked; free words rank
        them by meaning, photos holding every word (in their description, the
        user's words or text read by OCR) first; results stop at `threshold`
        and, unless `all_results`, at the first clear drop in distance
        (`photolib.search.relevance`). A query of filters only lists the matching
        photos without embedding anything. `person` (a number or name from
        `people`) is the filter `person:`.

        When the library has an image space, the words are also looked for in
        the pixels (the image model's text tower) and both rankings are fused
        (`photolib.search.fusion`); `space` limits the search to "description" or
        "image". `threshold` is the description space's cut-off (the image
        space's with `space="image"`); `image_threshold` the image space's.
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
             space: str = "description", image_threshold: float | None = None) -> list[SearchHit]:
        """`search` for an already parsed query; `around` ranks by closeness to a vector (`similar`);
        `collapse` shows each group of copies once (see `photolib.search.duplicates`); `space` "all" or
        "image" brings in the image space for the free words (not with `around`)."""
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
        with_pixels = around is None and chosen_space != Space.DESCRIPTION and \
            self._image_space_ready(required=chosen_space == Space.IMAGE)
        if with_pixels:
            return self._fused_search(parsed, options, chosen_space, image_threshold, collapse)
        return self.hits(self.finder.search(parsed, options, around=around, leave_out=leave_out, collapse=collapse))

    def _fused_search(self, parsed: "ParsedQuery", options: Any, space: "Space | None",
                      image_threshold: float | None, collapse: str | None) -> list[SearchHit]:
        """The description and image rankings of the same query (each with its filters, exact words
        and cut-off) fused into one (`photolib.search.fusion.fuse_rankings`), then sorted and paged."""
        from dataclasses import replace as changed

        from photolib.search.fusion import fuse_rankings

        stop = None if options.limit < 0 else options.offset + options.limit
        whole = changed(options, offset=0, limit=-1 if stop is None else stop * 2, sort="relevance")
        rankings, vectors = {}, {}
        if space is None and self.check_embedder_matches() is not None:
            rankings[Space.DESCRIPTION] = self.finder.find(parsed, whole)
            vectors[Space.DESCRIPTION] = self.finder.query_vector(parsed)
        cut = image_threshold if image_threshold is not None else options.threshold if space == Space.IMAGE \
            else None
        rankings[Space.IMAGE] = self.image_finder.find(parsed, changed(whole, threshold=self._image_threshold(cut)))
        vectors[Space.IMAGE] = self.image_finder.query_vector(parsed)
        fused = fuse_rankings(rankings, self.catalog, vectors)
        fused = self.finder.in_order(fused, options.sort) if options.sort != "relevance" else fused
        folded = self._collapsed([(f.id, f) for f in fused], collapse)
        return self.hits([changed(f, id=pid) for pid, f in folded][options.offset:stop])

    def _collapsed(self, chosen: list[tuple[int, Any]], collapse: str | None) -> list[tuple[int, Any]]:
        """Each group of copies once, as its best photo, at the place of its best-ranked copy."""
        from photolib.search.duplicates import Collapse
        from photolib.search.duplicates import collapse as fold

        return fold(self.catalog, chosen, Collapse(collapse or self.settings.collapse_duplicates))

    def _image_space_ready(self, required: bool = False) -> bool:
        """Whether the image space can answer: it holds vectors of the configured image model."""
        stored = self.keeper_of(Space.IMAGE).stored_model()
        embedder = self.image_embedder if (stored or required) else None
        if stored and embedder is not None and stored[0] == embedder.model_name:
            return True
        if stored and embedder is not None:
            self.notify(f"The image space holds vectors of {stored[0]}, not of the configured {embedder.model_name}: "
                        "`photolib enrich` embeds the photos with it; searching without the image space meanwhile.")
        if required:
            raise UsageError(_no_image_space(embedder is None))
        return False

    def _image_threshold(self, given: float | None) -> float:
        from photolib.core.config import image_threshold

        if given is not None:
            return given
        return image_threshold(self.settings, getattr(self.image_embedder, "family", None))

    def explain(self, query: str) -> dict[str, Any]:
        """How `query` is understood: its parts, and how many photos its filters leave."""
        from photolib.query.parser import explain, parse

        parsed = parse(query)
        selection = self.finder.selection(parsed)
        total = self.catalog.photo_count()
        return {"query": query, "parsed": parsed.as_dict(),
                "lines": [{"part": part, "meaning": text} for part, text in explain(parsed)],
                "photos": total, "allowed": total if selection is None else len(selection)}

    def hits(self, chosen: list[Any]) -> list[SearchHit]:
        """Hits for `Ranked` results of one space, or `FusedRanked` ones of several."""
        from photolib.search.fusion import FusedRanked

        photos = self.catalog.get_many([r.id for r in chosen])
        return [
            SearchHit(r.id, photos[r.id].path, r.distance, photos[r.id].data.get("caption") or "", photos[r.id].tags,
                      photos[r.id].data.get("taken_at"), r.score,
                      r.distances if isinstance(r, FusedRanked) else None,
                      round(r.fusion, 6) if isinstance(r, FusedRanked) else None)
            for r in chosen if r.id in photos
        ]

    def similar(self, photo_ref: str, *, limit: int | None = None, threshold: float | None = None,
                exact: bool = False, query: str | None = None, sort: str | None = None, offset: int = 0,
                all_results: bool = False, collapse: str | None = None) -> list[SearchHit]:
        """Photos nearest to a photo: by the image space when the library has one, else by description.

        `photo_ref` is a photo of the library (id or path; the photo itself is left out), or the
        path of an image file that is not in it: that one is embedded on the fly and stored nowhere.
        `query` (the query language) restricts the neighbours to photos its filters allow and moves
        the comparison by its words and +/- terms (embedded in the space compared).
        """
        from photolib.search.finder import FindOptions, Ranked
        from photolib.query.parser import parse
        from photolib.search.relevance import check_sort

        parsed = parse(query or "")
        photo, vector, space = self._similar_source(photo_ref)
        skip = photo.id if photo is not None else None
        if space == Space.DESCRIPTION:
            return self.find(parsed, limit=limit, threshold=threshold, exact=exact, sort=sort, offset=offset,
                             all_results=True if all_results or not parsed.semantic else False,
                             around=vector, leave_out=skip, collapse=collapse)
        from photolib.core.config import image_similar_threshold

        if threshold is None:
            threshold = image_similar_threshold(self.settings, getattr(self.image_embedder, "family", None))
        options = FindOptions(limit=limit or self.settings.search_limit, offset=max(0, offset), threshold=threshold,
                              sort=check_sort(sort), all_results=True if all_results or not parsed.semantic else False,
                              exact=exact)
        ranked = self.image_finder.find(parsed, options, around=vector, leave_out=skip)
        kept = self._collapsed([(r.id, r.distance) for r in ranked], collapse)
        return self.hits([Ranked(pid, distance) for pid, distance in kept if pid != skip])

    def _similar_source(self, ref: str) -> tuple["StoredPhoto | None", Any, Space]:
        """(library photo or None, its vector, the space to search) for `similar`."""
        import numpy as np

        text = str(ref).strip()
        if not text.isdigit() and os.path.isfile(absolute(text)) and \
                self.catalog.get_by_path(str(absolute(text))) is None:
            return None, self._embed_outside_file(absolute(text)), (
                Space.IMAGE if self._image_space_ready() else Space.DESCRIPTION)
        photo = self.resolve(ref)
        if self._image_space_ready():
            blob = self.catalog.vectors_for([photo.id], Space.IMAGE).get(photo.id)
            if blob is not None:
                return photo, np.frombuffer(blob, dtype=np.float32), Space.IMAGE
        blob = self.catalog.vectors_for([photo.id]).get(photo.id)
        if blob is None:
            raise UsageError(_not_embedded(photo))
        return photo, np.frombuffer(blob, dtype=np.float32), Space.DESCRIPTION

    def _embed_outside_file(self, path: Path) -> Any:
        """A vector for an image file that is not in the library, in the space `similar` will search."""
        import numpy as np

        from photolib.media import geocode

        from photolib.media import read as media
        from photolib.core.records import PhotoForVision

        if self._image_space_ready():
            return np.asarray(self.image_embedder.embed_images([media.decode_upright(path, 384)]), np.float32)[0]
        if self.check_embedder_matches() is None:
            raise UsageError("the library has no embedded photos yet: `photolib add` a folder first")
        metadata = media.read_photo(path)
        place = geocode.place_name(metadata.gps_lat, metadata.gps_lon) if metadata.gps_lat is not None else None
        description = self.vision.describe(PhotoForVision(path, metadata, place, path.parent))
        return np.asarray(self.embedder.embed_documents([description.embedding_text()]), np.float32)[0]

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


def _no_image_space(no_model: bool) -> str:
    if no_model:
        return ("the image space needs an image model, and none is installed: see `photolib models list`, "
                "then `photolib models pull NAME`")
    return "no photo has been embedded into the image space yet: run `photolib enrich`"


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
