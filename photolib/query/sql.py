"""Which photos a parsed query may return, as one WHERE clause over `photos`.

`FilterCompiler.where` combines the clause of each filter (its registry
entry's `sql`, see `photolib.query.filters`), of each phrase and of each `NOT`
exclusion, so they are applied before any vector is compared (the ids become
a FAISS id selector, see `photolib.search.finder`). The SQL itself is built
in `photolib.store.filter_sql`; this module only composes it, and answers the
filters whose value must first be looked up in the library: `album:` (a
saved album, or a smart album evaluated), `person:` and `text:`.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Protocol

from photolib.core.errors import UsageError
from photolib.core.matching import fold
from photolib.query.filters import FILTERS, QueryError
from photolib.query.parser import FilterGroup, ParsedQuery
from photolib.store import filter_sql
from photolib.store.faces import FaceStore
from photolib.store.filter_sql import Clause
from photolib.store.text import TextStore

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog


class AlbumPhotos(Protocol):
    """Resolves album names for `album:` (see `photolib.search.finder.AlbumFilter`)."""

    def photo_ids(self, name: str) -> list[int] | None:
        """Photo ids of the album called `name` (a smart album evaluated), or None if there is none."""


class FilterCompiler:
    """Builds WHERE clauses for one catalog (knowing which optional tables it has)."""

    def __init__(self, catalog: "Catalog", albums: AlbumPhotos) -> None:
        self.catalog = catalog
        self.albums = albums
        self.faces = FaceStore(catalog)
        self.texts = TextStore(catalog)
        filter_sql.register_functions(catalog.db.conn)

    def where(self, parsed: ParsedQuery) -> Clause:
        """("clause", params) selecting the photos `parsed` allows; ("1", []) when it allows all."""
        clauses = [self._group(group) for group in parsed.filters]
        clauses += [c for c in map(filter_sql.contains_phrase, parsed.phrases) if c is not None]
        clauses += [c for c in map(filter_sql.lacks_phrase, parsed.excluded) if c is not None]
        return filter_sql.all_of(clauses)

    def _group(self, group: FilterGroup) -> Clause:
        return filter_sql.any_of([FILTERS[c.key].sql(self, c.value) for c in group.conditions], group.negated)

    # -- the filters that look their value up (`photolib.query.filters.Lookups`) -------------------

    def album(self, name: str) -> Clause:
        ids = self.albums.photo_ids(name)
        if ids is None:
            raise QueryError(f"album:{name!r}: no album has that name; see `photolib albums list`")
        return filter_sql.photo_ids(ids)

    def read_text(self, text: str) -> Clause:
        return filter_sql.photo_ids(self.texts.photo_ids_matching(text))

    def person(self, value: str) -> Clause:
        """Photos of the person `value` names: a person of face recognition (number or name from
        `people`, any case or accents), and photos whose XMP metadata names them (digiKam, Lightroom
        face regions); a one-line error with the known names when neither knows them."""
        face_person = self._face_person_id(value)
        tagged = filter_sql.metadata_names(self.catalog, fold(value))
        clauses = []
        if face_person is not None:
            clauses.append(filter_sql.of_face_person(face_person))
        if tagged:
            clauses.append(filter_sql.named_in_metadata(fold(value)))
        if clauses:
            return filter_sql.any_of(clauses)
        names = sorted({p.name for p in self.faces.people() if p.name} | filter_sql.metadata_people(self.catalog))
        folded = {fold(name): name for name in names}
        close = difflib.get_close_matches(fold(value), folded, n=1, cutoff=0.6)
        hint = f"; did you mean person:{folded[close[0]]!r}?" if close else ""
        listed = f" (named people: {', '.join(names[:10])})" if names else " (nobody is named yet)"
        raise QueryError(f"person:{value}: no person {value!r} in the library{hint}{listed}; "
                         "see `photolib people` for numbers and names")

    def _face_person_id(self, value: str) -> int | None:
        try:
            return self.faces.person(value).id
        except UsageError:
            pass
        same = [p for p in self.faces.people() if p.name and fold(p.name) == fold(value)]
        return same[0].id if len(same) == 1 else None
