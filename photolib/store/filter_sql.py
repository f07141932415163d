"""The query language's filters as SQL over `photos`: one condition builder per filter.

The query language (`photolib.query`) decides what a filter means and checks
its value; this module is how each value becomes a condition in the WHERE
clause over `photos`, so that, like all of the catalog's SQL, it lives in the
store. Every builder takes plain values and returns a `Clause`: the SQL text
(fixed fragments only) and its parameters (every value bound). `all_of` and
`any_of` combine them; `EVERYTHING` allows every photo.

Dates compare as ISO text on the indexed `taken_at`; places, tags and the
people named in XMP metadata are compared case- and accent-free through a
SQL function (`register_functions`); `within_km` is a bounding box refined
by great-circle distance.

The functions at the end run a combined clause: the ids it selects, a page
of them in a sort order, which of some candidates it allows, and about
which share of the library it allows (what `photolib.search.finder` needs).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from photolib.core.matching import fold, like_escape

if TYPE_CHECKING:
    import sqlite3

    import numpy as np

    from photolib.store.catalog import Catalog

Clause = tuple[str, list[Any]]  # (SQL condition over `photos`, its parameters)
EVERYTHING: Clause = ("1", [])
EARTH_KM = 6371.0
_WIDTH = "coalesce(oriented_width, width)"  # as displayed, EXIF rotation applied
_HEIGHT = "coalesce(oriented_height, height)"
LISTING_ORDER = {  # a sort of `photolib.search.relevance.SORTS` -> ORDER BY of a listing
    "relevance": "taken_at IS NULL, taken_at, id",  # nothing to rank without words: oldest first
    "date": "taken_at IS NULL, taken_at, id",
    "-date": "taken_at IS NULL, taken_at DESC, id",
    "name": "path COLLATE NOCASE, id",
}


def _km(lat1: float | None, lon1: float | None, lat2: float, lon2: float) -> float | None:
    if lat1 is None or lon1 is None:
        return None
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((p2 - p1) / 2) ** 2
         + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_KM * math.asin(min(1.0, math.sqrt(a)))


def register_functions(connection: sqlite3.Connection) -> None:
    """SQL functions the filters use: photolib_fold(text), photolib_km(lat, lon, lat, lon)."""
    connection.create_function("photolib_fold", 1, fold, deterministic=True)
    connection.create_function("photolib_km", 4, _km, deterministic=True)


# -- combining ------------------------------------------------------------------------

def all_of(clauses: Iterable[Clause]) -> Clause:
    """Photos every clause allows; `EVERYTHING` when there is none."""
    parts, params = [], []
    for sql, values in clauses:
        parts.append(sql)
        params.extend(values)
    return (" AND ".join(parts) or "1"), params


def any_of(clauses: Iterable[Clause], negated: bool = False) -> Clause:
    """Photos one of the clauses allows; `negated`: photos none of them allows (NULL counts as no)."""
    parts, params = [], []
    for sql, values in clauses:
        parts.append(f"({sql})")
        params.extend(values)
    joined = " OR ".join(parts)
    return (f"NOT coalesce(({joined}), 0)" if negated else f"({joined})"), params


# -- one builder per filter -------------------------------------------------------------

def _bounds(column: str, start: str | None, end: str | None) -> Clause:
    clauses, params = [f"{column} IS NOT NULL"], []
    if start:
        clauses.append(f"{column} >= ?")
        params.append(start)
    if end:
        clauses.append(f"{column} < ?")
        params.append(end)
    return " AND ".join(clauses), params


def _range(expression: str, low: int | None, high: int | None) -> Clause:
    clauses, params = [f"{expression} IS NOT NULL"], []
    if low is not None:
        clauses.append(f"{expression} >= ?")
        params.append(low)
    if high is not None:
        clauses.append(f"{expression} <= ?")
        params.append(high)
    return " AND ".join(clauses), params


def taken_between(start: str | None, end: str | None) -> Clause:
    """Taken in [start, end) (ISO dates or times, either side open); undated photos never match."""
    return _bounds("taken_at", start, end)


def taken_in_years(low: int | None, high: int | None) -> Clause:
    """Taken in the years low..high (inclusive, either side open): bounds on the indexed ISO text."""
    return _bounds("taken_at", None if low is None else f"{low:04d}", None if high is None else f"{high + 1:04d}")


def taken_in_month(month: int) -> Clause:
    """Taken in this month (1-12) of any year."""
    return "taken_at IS NOT NULL AND CAST(substr(taken_at, 6, 2) AS INTEGER) = ?", [month]


def width_between(low: int | None, high: int | None) -> Clause:
    """Pixels wide as displayed, within low..high (inclusive, either side open)."""
    return _range(_WIDTH, low, high)


def height_between(low: int | None, high: int | None) -> Clause:
    """Pixels high as displayed, within low..high (inclusive, either side open)."""
    return _range(_HEIGHT, low, high)


def orientation_is(orientation: str) -> Clause:
    """portrait, landscape or square, as displayed."""
    compare = {"portrait": "<", "landscape": ">", "square": "="}[orientation]
    return f"{_WIDTH} IS NOT NULL AND {_HEIGHT} IS NOT NULL AND {_WIDTH} {compare} {_HEIGHT}", []


def place_has_words(folded: str) -> Clause:
    """The place name holds these whole words (`folded` by `photolib.core.matching.fold`)."""
    return "place IS NOT NULL AND (' ' || photolib_fold(place) || ' ') LIKE ?", [f"% {like_escape(folded)} %"]


def within_km(lat: float, lon: float, km: float) -> Clause:
    """GPS within `km` of (lat, lon), great-circle; the bounding box first lets SQLite skip most rows."""
    dlat = math.degrees(km / EARTH_KM)
    dlon = 180.0 if abs(lat) + dlat >= 89.9 else math.degrees(km / (EARTH_KM * math.cos(math.radians(abs(lat) + dlat))))
    clauses = ["gps_lat BETWEEN ? AND ?"]
    params: list[Any] = [lat - dlat, lat + dlat]
    if dlon < 180.0:
        low, high = lon - dlon, lon + dlon
        if low < -180 or high > 180:  # the box crosses the antimeridian
            clauses.append("(gps_lon >= ? OR gps_lon <= ?)")
            params += [low + 360 if low < -180 else low, high - 360 if high > 180 else high]
        else:
            clauses.append("gps_lon BETWEEN ? AND ?")
            params += [low, high]
    clauses.append("photolib_km(gps_lat, gps_lon, ?, ?) <= ?")
    params += [lat, lon, km]
    return " AND ".join(clauses), params


def camera_contains(text: str) -> Clause:
    """The camera's make or model contains `text` (any case)."""
    return ("(coalesce(camera_make, '') || ' ' || coalesce(camera_model, '')) LIKE ? ESCAPE '\\'",
            [f"%{like_escape(text)}%"])


def lens_contains(text: str) -> Clause:
    """The lens name contains `text` (any case)."""
    return "lens LIKE ? ESCAPE '\\'", [f"%{like_escape(text)}%"]


def has_tag(folded: str) -> Clause:
    """A tag of the description folds to `folded`."""
    return "EXISTS (SELECT 1 FROM json_each(photos.tags) WHERE photolib_fold(value) = ?)", [folded]


def photo_ids(ids: Sequence[int]) -> Clause:
    """One of these photos (bound as one JSON parameter, however many)."""
    return "photos.id IN (SELECT value FROM json_each(?))", [json_ids(ids)]


def status_is(status: str) -> Clause:
    return "status = ?", [status]


def format_is(name: str) -> Clause:
    """The file's format, as PIL names it (JPEG, PNG, HEIF...)."""
    return "upper(format) = ?", [name]


def path_glob(pattern: str) -> Clause:
    """A glob against the path below the folder given to `add` (or the full path if it starts with /);
    without a wildcard, a prefix."""
    if not any(ch in pattern for ch in "*?["):
        pattern = pattern + ("*" if pattern.endswith("/") else "*")
    if pattern.startswith("/"):
        return "path GLOB ?", [pattern]
    relative = ("CASE WHEN coalesce(source_root, '') != '' AND substr(path, 1, length(source_root) + 1) = "
                "source_root || '/' THEN substr(path, length(source_root) + 2) ELSE path END")
    return f"({relative}) GLOB ?", [pattern]


HAS = {  # what `has:` can ask for -> the condition
    "gps": "gps_lat IS NOT NULL AND gps_lon IS NOT NULL",
    "place": "place IS NOT NULL AND place != ''",
    "description": "description IS NOT NULL AND description != ''",
    "text": "photos.id IN (SELECT photo_id FROM photo_text WHERE text <> '')",  # read by OCR
    "faces": "photos.id IN (SELECT photo_id FROM faces)",  # a face was found
}


def has(what: str) -> Clause:
    """Photos that have one of `HAS`."""
    return HAS[what], []


def of_face_person(person_id: int) -> Clause:
    """A face of this person (of face recognition) was found in the photo."""
    return "photos.id IN (SELECT photo_id FROM faces WHERE person_id = ?)", [person_id]


_XMP_PEOPLE = "FROM user_metadata u, json_each(u.people) p WHERE photolib_fold(p.value) = ?"


def named_in_metadata(folded: str) -> Clause:
    """The photo's XMP metadata names this person (digiKam, Lightroom face regions), folded."""
    return f"photos.id IN (SELECT u.photo_id {_XMP_PEOPLE})", [folded]


def rating_between(low: int | None, high: int | None) -> Clause:
    """The user's star rating within [low, high], either side open.

    A photo without a rating counts as 0 stars (XMP's "unrated"), so `high` alone also keeps them.
    """
    if low is not None and low >= 1:
        upper = " AND rating <= ?" if high is not None else ""
        return (f"photos.id IN (SELECT photo_id FROM user_metadata WHERE rating >= ?{upper})",
                [low] + ([high] if high is not None else []))
    if high is not None:
        return "photos.id NOT IN (SELECT photo_id FROM user_metadata WHERE rating > ?)", [high]
    return "1", []


def has_keyword(keyword: str) -> Clause:
    """One of the user's keywords, or a whole level of a hierarchical one
    (`Lisbon` matches `Places/Portugal/Lisbon`), any case."""
    return ("photos.id IN (SELECT u.photo_id FROM user_metadata u, json_each(u.keywords) k "
            "WHERE '/' || lower(k.value) || '/' LIKE '%/' || lower(?) || '/%' ESCAPE '\\')",
            [like_escape(keyword.strip())])


def _fts_phrase(text: str) -> str:
    """An FTS5 phrase of the words of `text` (quotes and operators cannot leak into the MATCH)."""
    words = "".join(c if c.isalnum() else " " for c in text).split()
    return '"' + " ".join(words) + '"' if words else ""


def contains_phrase(text: str) -> Clause | None:
    """Caption, description or tags hold the words of `text` as a phrase; None when it has no words."""
    expression = _fts_phrase(text)
    if not expression:
        return None
    return "photos.id IN (SELECT rowid FROM photos_fts WHERE photos_fts MATCH ?)", [expression]


def lacks_phrase(text: str) -> Clause | None:
    """Caption, description and tags do not hold the words of `text` as a phrase; None when it has no words."""
    expression = _fts_phrase(text)
    if not expression:
        return None
    return "photos.id NOT IN (SELECT rowid FROM photos_fts WHERE photos_fts MATCH ?)", [expression]


def json_ids(ids: Iterable[int]) -> str:
    return "[" + ",".join(str(int(i)) for i in ids) + "]"


# -- catalog lookups the filters need -------------------------------------------------------

def metadata_names(catalog: "Catalog", folded: str) -> bool:
    """Whether the XMP metadata of some photo names this person (folded)."""
    return catalog.db.execute(f"SELECT 1 {_XMP_PEOPLE} LIMIT 1", [folded]).fetchone() is not None


def metadata_people(catalog: "Catalog") -> set[str]:
    """Every person named in the photos' XMP metadata, as written."""
    return {row[0] for row in catalog.db.execute("SELECT DISTINCT p.value FROM user_metadata u, json_each(u.people) p")}


# -- running a combined clause ---------------------------------------------------------------

def selected_ids(catalog: "Catalog", where: Clause) -> "np.ndarray":
    """Sorted ids of the photos `where` allows: one row of text from SQLite parsed by numpy
    (a third of the time of a Python row per photo)."""
    import numpy as np

    sql, params = where
    text = catalog.db.conn.execute(f"SELECT group_concat(id, ' ') FROM photos WHERE {sql}", params).fetchone()[0]
    ids = np.fromstring(text, dtype=np.int64, sep=" ") if text else np.empty(0, dtype=np.int64)
    ids.sort()
    return ids


def listed_ids(catalog: "Catalog", where: Clause, sort: str, limit: int, offset: int) -> list[int]:
    """A page of the ids `where` allows, in the `LISTING_ORDER` of `sort` (`limit` negative: all)."""
    sql, params = where
    query = f"SELECT id FROM photos WHERE {sql} ORDER BY {LISTING_ORDER[sort]} LIMIT ? OFFSET ?"
    return [row[0] for row in catalog.db.conn.execute(query, [*params, limit, offset]).fetchall()]


def allowed_among(catalog: "Catalog", ids: Sequence[int], where: Clause) -> set[int]:
    """Which of `ids` `where` allows (one query, however many ids)."""
    sql, params = where
    # CROSS JOIN keeps the candidates as the outer loop: a million-row index scan never starts
    query = (f"WITH candidate(photo_id) AS (SELECT value FROM json_each(?)) SELECT photos.id "
             f"FROM candidate CROSS JOIN photos ON photos.id = candidate.photo_id WHERE {sql}")
    return {row[0] for row in catalog.db.conn.execute(query, [json_ids(ids), *params])}


def sampled_ids(catalog: "Catalog", where: Clause, sample: int) -> list[int]:
    """The photos `where` allows among `sample` ids spread evenly over the id range (every photo of
    a small library): a cheap, stable sample of what a query's filters allow."""
    import numpy as np

    top = catalog.db.conn.execute("SELECT max(id) FROM photos").fetchone()[0] or 0
    if not top:
        return []
    ids = np.unique(np.linspace(1, top, sample).astype(np.int64)).tolist()
    allowed = allowed_among(catalog, ids, where)
    return [pid for pid in ids if pid in allowed]


def sampled_share(catalog: "Catalog", where: Clause, sample: int) -> float:
    """About which share of the library `where` allows, from `sample` ids spread evenly over the
    id range (every photo of a small library); 1.0 for an empty library."""
    import numpy as np

    sql, params = where
    top = catalog.db.conn.execute("SELECT max(id) FROM photos").fetchone()[0] or 0
    ids = np.unique(np.linspace(1, max(top, 1), sample).astype(np.int64)).tolist()
    query = (f"WITH candidate(photo_id) AS (SELECT value FROM json_each(?)) "
             f"SELECT count(*), sum(coalesce(({sql}), 0)) FROM candidate CROSS JOIN photos "
             f"ON photos.id = candidate.photo_id")
    seen, allowed = catalog.db.conn.execute(query, [json_ids(ids), *params]).fetchone()
    return (allowed or 0) / seen if seen else 1.0
