"""The query language's filters: one registry entry per `key:value` filter.

A `Filter` says everything about one filter, and everything else is derived
from it: the parser checks and types the value with `parse`, `--explain`
says what it means with `describe`, `photolib.query.sql` turns the value into
a WHERE condition with `sql` (built from `photolib.store.filter_sql`, where
the SQL lives), the CLI gives `search`, `similar` and `list` the option
`--flag` with `flag_help` (`photolib.cli.with_filter_flags`), and the docs'
table comes from `markdown_table`. A filter without that shared option names
the commands' own options for it in `options` (the docs show them), or is
written in the query only.

Adding a filter is one entry in `FILTERS` (and, when its SQL is new, one
builder in `photolib.store.filter_sql`).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Callable, Protocol

from photolib.core.errors import UsageError
from photolib.core.matching import fold
from photolib.store import filter_sql
from photolib.store.filter_sql import Clause

MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
               "october", "november", "december")
STATUSES = ("pending", "ok", "failed")
ORIENTATIONS = ("portrait", "landscape", "square")
HAS_VALUES = tuple(filter_sql.HAS)  # gps, place, description, text, faces
TYPE_ALIASES = {"jpg": "JPEG", "jpeg": "JPEG", "jpe": "JPEG", "tif": "TIFF", "tiff": "TIFF", "heic": "HEIF",
                "heif": "HEIF", "png": "PNG", "webp": "WEBP", "gif": "GIF", "bmp": "BMP", "avif": "AVIF"}
DISTANCE_UNITS = {"km": 1.0, "m": 0.001, "mi": 1.609344}
DEFAULT_NEAR_KM = 1.0
OPERATORS = (">=", "<=", ">", "<", "=")


class QueryError(UsageError):
    """The query cannot be understood; the message names the part and what is expected."""


class Lookups(Protocol):
    """What the filters that depend on the library's contents ask of it (see `photolib.query.sql`)."""

    def album(self, name: str) -> Clause: ...

    def person(self, name_or_number: str) -> Clause: ...

    def read_text(self, text: str) -> Clause: ...


ValueParser = Callable[[str, str, str, str], Any]  # (key, operator, raw value, expected) -> typed value


@dataclass(frozen=True)
class Filter:
    """One `key:value` filter of the query language."""

    name: str  # the key, as typed before `:`
    expects: str  # what the value is, for error messages: "a date: 2019, 2019-07, ..."
    parse: ValueParser  # the raw value -> a typed value (raises QueryError naming the key)
    describe: Callable[[str, Any], str]  # (key, typed value) -> what `--explain` says it keeps
    sql: Callable[[Lookups, Any], Clause]  # (lookups, typed value) -> a WHERE condition over `photos`
    meaning: str  # the docs table's "meaning" (Markdown)
    example: str  # the docs table's example (Markdown)
    operators: tuple[str, ...] = ()  # taken besides `:`, e.g. `width>4000`
    flag: str | None = None  # the option `--flag VALUE` of search, similar and list, same as `key:VALUE`
    flag_help: str = ""  # what VALUE is, in the option's help
    options: tuple[str, ...] = ()  # without a flag: the commands' own options for it, e.g. "list --status"


# -- values ----------------------------------------------------------------------------------

def _bad(key: str, raw: str, expected: str) -> QueryError:
    return QueryError(f"{key}:{raw} is not valid: expected {expected}")


def _text(key: str, op: str, raw: str, expected: str) -> str:
    return raw


def _period(text: str) -> tuple[str, str] | None:
    """The [start, end) ISO dates of `2019`, `2019-07` or `2019-07-14`, or None."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}", text):
            year = int(text)
            return date(year, 1, 1).isoformat(), date(year + 1, 1, 1).isoformat()
        if re.fullmatch(r"\d{4}-\d{1,2}", text):
            year, month = map(int, text.split("-"))
            start = date(year, month, 1)
            return start.isoformat(), (date(year + month // 12, month % 12 + 1, 1)).isoformat()
        if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}", text):
            day = date(*map(int, text.split("-")))
            return day.isoformat(), (day + timedelta(days=1)).isoformat()
    except ValueError:
        return None
    return None


def _date(key: str, op: str, raw: str, expected: str) -> tuple[str | None, str | None]:
    """[start, end) bounds, either side open (None)."""
    if ".." in raw:
        left, _, right = raw.partition("..")
        first = _period(left) if left.strip() else (None, None)
        last = _period(right) if right.strip() else (None, None)
        if first is None or last is None or (first[0] is None and last[1] is None):
            raise _bad(key, raw, expected)
        if first[0] and last[1] and first[0] >= last[1]:
            raise QueryError(f"{key}:{raw} is an empty range: put the earlier date first")
        return first[0], last[1]
    period = _period(raw)
    if period is None:
        raise _bad(key, raw, expected)
    start, end = period
    if key == "after" or op == ">":
        return end, None
    if key == "before" or op == "<":
        return None, start
    if op == ">=":
        return start, None
    if op == "<=":
        return None, end
    return start, end


def _integer_range(low: int, high: int) -> ValueParser:
    """Inclusive [low, high] bounds from `N`, `A..B` or an operator, each number within low..high."""
    def parse_range(key: str, op: str, raw: str, expected: str) -> tuple[int | None, int | None]:
        def number(text: str) -> int:
            text = text.strip()
            if not re.fullmatch(r"\d+", text) or not low <= int(text) <= high:
                raise _bad(key, raw, expected)
            return int(text)

        if ".." in raw:
            left, _, right = raw.partition("..")
            first = number(left) if left.strip() else None
            last = number(right) if right.strip() else None
            if first is None and last is None:
                raise _bad(key, raw, expected)
            if first is not None and last is not None and first > last:
                raise QueryError(f"{key}:{raw} is an empty range: put the smaller number first")
            return first, last
        value = number(raw)
        return {"=": (value, value), ">": (value + 1, None), ">=": (value, None),
                "<": (None, value - 1), "<=": (None, value)}[op if op != ":" else "="]
    return parse_range


def _month(key: str, op: str, raw: str, expected: str) -> int:
    text = raw.strip().lower().rstrip(".")
    if text.isdigit() and 1 <= int(text) <= 12:
        return int(text)
    for number, name in enumerate(MONTH_NAMES, 1):
        if text == name or (len(text) >= 3 and name.startswith(text)):
            return number
    raise _bad(key, raw, expected)


def _choice(choices: tuple[str, ...]) -> ValueParser:
    def parse_choice(key: str, op: str, raw: str, expected: str) -> str:
        text = raw.strip().lower()
        if text not in choices:
            close = difflib.get_close_matches(text, choices, n=1)
            hint = f"; did you mean {key}:{close[0]}?" if close else ""
            raise QueryError(f"{key}:{raw} is not valid{hint} (use one of {', '.join(choices)})")
        return text
    return parse_choice


def _type(key: str, op: str, raw: str, expected: str) -> str:
    text = raw.strip().lower().lstrip(".")
    if not re.fullmatch(r"[a-z0-9]+", text):
        raise _bad(key, raw, expected)
    return TYPE_ALIASES.get(text, text.upper())


def _near(key: str, op: str, raw: str, expected: str) -> tuple[float, float, float]:
    parts = [part.strip() for part in raw.split(",")]
    if len(parts) not in (2, 3):
        raise _bad(key, raw, expected)
    try:
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise _bad(key, raw, expected) from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise QueryError(f"{key}:{raw}: latitude must be within -90..90 and longitude within -180..180")
    km = DEFAULT_NEAR_KM
    if len(parts) == 3:
        match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(km|mi|m)?", parts[2].lower())
        if not match or float(match.group(1)) <= 0:
            raise _bad(key, raw, expected)
        km = float(match.group(1)) * DISTANCE_UNITS[match.group(2) or "km"]
    return lat, lon, km


# -- what --explain says ----------------------------------------------------------------------

def _is(key: str, value: Any) -> str:
    return f"{key} is {value!r}"


def _taken(key: str, value: tuple[str | None, str | None]) -> str:
    start, end = value
    if start and end:
        return f"taken from {start} up to (not including) {end}"
    return f"taken on or after {start}" if start else f"taken before {end}"


def _within(unit: str = "") -> Callable[[str, Any], str]:
    def describe(key: str, value: tuple[int | None, int | None]) -> str:
        low, high = value
        if low == high:
            return f"{key} {low}{unit}"
        if low is not None and high is not None:
            return f"{key} {low}..{high}{unit}"
        return f"{key} >= {low}{unit}" if low is not None else f"{key} <= {high}{unit}"
    return describe


def _contains(key: str, value: str) -> str:
    return f"{key} contains {value!r}"


# -- the registry -------------------------------------------------------------------------------

_DATE = "a date: 2019, 2019-07 or 2019-07-14"

FILTERS: dict[str, Filter] = {f.name: f for f in (
    Filter("date", "a date: 2019, 2019-07, 2019-07-14 or a range 2019-07-01..2019-07-31", _date, _taken,
           lambda _, v: filter_sql.taken_between(*v),
           "taken in a year, month, day or range (either side may be open)",
           "`date:2019`, `date:2019-07`, `date:2019-07-01..2019-07-31`, `date>=2019-07-14`",
           OPERATORS, flag="date", flag_help="2019, 2019-07, 2019-07-14 or A..B"),
    Filter("after", _DATE + " (photos taken after it)", _date, _taken, lambda _, v: filter_sql.taken_between(*v),
           "taken after the whole period", "`after:2019` (2020 on)", flag="after", flag_help="DATE"),
    Filter("before", _DATE + " (photos taken before it)", _date, _taken, lambda _, v: filter_sql.taken_between(*v),
           "taken before the whole period", "`before:2019-07`", flag="before", flag_help="DATE"),
    Filter("year", "a year like 2019, or a range 2018..2020", _integer_range(1000, 9999), _within(),
           lambda _, v: filter_sql.taken_in_years(*v), "taken in a year or range",
           "`year:2019`, `year:2018..2020`, `year>=2020`", OPERATORS, flag="year", flag_help="YEAR or A..B"),
    Filter("month", "a month of any year: july, jul or 7", _month,
           lambda _, v: f"taken in {MONTH_NAMES[v - 1].title()} of any year",
           lambda _, v: filter_sql.taken_in_month(v),
           "a month of any year (English names, 3-letter abbreviations, numbers)",
           "`month:july`, `month:dec`, `month:7`", flag="month", flag_help="july, jul or 7 (any year)"),
    Filter("place", "a place name from the photos' GPS, e.g. Lisbon", _text,
           lambda _, v: f"place name contains {v!r} (any case, any accents)",
           lambda _, v: filter_sql.place_has_words(fold(v)),
           "place name from the offline geocoder (\"City, Region, Country\"), whole words, any case or accents",
           "`place:Lisbon`, `place:\"sao paulo\"`, `place:Portugal`", flag="place",
           flag_help="a place name, e.g. Lisbon"),
    Filter("near", "LAT,LON[,RADIUS] with RADIUS in km, m or mi, e.g. 38.72,-9.14,5km", _near,
           lambda _, v: f"within {v[2]:g} km of {v[0]:g},{v[1]:g}", lambda _, v: filter_sql.within_km(*v),
           "within RADIUS (default 1 km; `km`, `m`, `mi`) of the point LAT,LON, great-circle",
           "`near:38.72,-9.14,5km`", flag="near", flag_help="LAT,LON[,RADIUS]"),
    Filter("camera", "part of the camera's make or model, e.g. canon", _text, _contains,
           lambda _, v: filter_sql.camera_contains(v), "part of the camera make or model", "`camera:canon`",
           flag="camera", flag_help="part of make or model"),
    Filter("lens", "part of the lens name, e.g. 24-105", _text, _contains, lambda _, v: filter_sql.lens_contains(v),
           "part of the lens name", "`lens:24-105`", flag="lens", flag_help="part of the lens name"),
    Filter("tag", "a tag, e.g. beach", _text, _is, lambda _, v: filter_sql.has_tag(fold(v)),
           "has this tag (any case)", "`tag:beach`", options=("search --tag", "similar --tag", "list --tag")),
    Filter("album", "an album name, e.g. \"Lisbon Beach Holiday\"", _text, _is, lambda lookups, v: lookups.album(v),
           "in this saved or smart album (by name, any case)", "`album:\"Lisbon Beach Holiday\"`",
           flag="album", flag_help="an album name"),
    Filter("person", "a person's name or number from `photolib people`", _text, _is,
           lambda lookups, v: lookups.person(v),
           "shows this person (name, any case or accents, or number from `people`), found by face recognition "
           "or named in the photo's XMP metadata", "`person:Anna`, `person:3`",
           options=("search --person", "list --person")),
    Filter("text", "words read in the photo (OCR)", _text, _is, lambda lookups, v: lookups.read_text(v),
           "the text read in the photo (OCR) contains every word (any part of a word of 3+ letters, any case)",
           "`text:invoice`, `text:\"acme ltd\"`"),
    Filter("status", "one of " + ", ".join(STATUSES), _choice(STATUSES), _is, lambda _, v: filter_sql.status_is(v),
           "`ok`, `failed` or `pending`", "`status:failed`", options=("list --status",)),
    Filter("type", "a file type, e.g. jpg, png, heic", _type, _is, lambda _, v: filter_sql.format_is(v),
           "file type", "`type:png`, `type:jpg`, `type:heic`", flag="type", flag_help="jpg, png, heic..."),
    Filter("path", "a glob under the added folder, e.g. 2019/ or */beach/*.jpg", _text,
           lambda _, v: f"path under the added folder matches {v!r}", lambda _, v: filter_sql.path_glob(v),
           "glob on the path below the folder given to `add` (no wildcard: a prefix); an absolute glob matches "
           "the full path", "`path:2019/`, `path:*/beach/*.jpg`", flag="path",
           flag_help="a glob under the added folder"),
    Filter("orientation", "one of " + ", ".join(ORIENTATIONS), _choice(ORIENTATIONS), _is,
           lambda _, v: filter_sql.orientation_is(v),
           "`portrait`, `landscape` or `square` (as displayed, EXIF rotation applied)", "`orientation:portrait`",
           flag="orientation", flag_help="portrait, landscape or square"),
    Filter("width", "a number of pixels, e.g. width>4000", _integer_range(0, 10_000_000), _within(" px wide"),
           lambda _, v: filter_sql.width_between(*v), "pixels wide (as displayed)",
           "`width>4000`, `width:1000..2000`", OPERATORS),
    Filter("height", "a number of pixels, e.g. height>=3000", _integer_range(0, 10_000_000), _within(" px high"),
           lambda _, v: filter_sql.height_between(*v), "pixels high (as displayed)",
           "`height>=3000`, `height:1000..2000`", OPERATORS),
    Filter("has", "one of " + ", ".join(HAS_VALUES), _choice(HAS_VALUES), _is, lambda _, v: filter_sql.has(v),
           "`gps`, `place`, `description`, `text` (text read by OCR), `faces` (a face was found)",
           "`has:gps`, `-has:gps`, `has:text`", options=("list --has-text",)),
    Filter("rating", "a star rating 0-5, e.g. rating:>=4", _integer_range(0, 5), _within(" stars"),
           lambda _, v: filter_sql.rating_between(*v), "your XMP star rating 0-5 (unrated counts as 0)",
           "`rating:5`, `rating>=4`, `rating:<=1`", OPERATORS, options=("list --rating",)),
    Filter("keyword", "a keyword from the photo's XMP metadata", _text, _is, lambda _, v: filter_sql.has_keyword(v),
           "your XMP/IPTC keyword, or a whole level of a hierarchical one (any case)",
           "`keyword:Lisbon` (matches the keyword Places/Portugal/Lisbon)", options=("list --keyword",)),
)}


def flagged() -> list[Filter]:
    """The filters with an option of their own on search, similar and list, in the options' order."""
    return [f for f in FILTERS.values() if f.flag]


def unknown_key_message(key: str) -> str:
    close = difflib.get_close_matches(key, FILTERS, n=1, cutoff=0.6)
    hint = f"; did you mean `{close[0]}:`?" if close else ""
    return f"unknown filter `{key}:`{hint} (filters: {', '.join(sorted(FILTERS))})"


def markdown_table() -> str:
    """The docs' table of filters (Markdown, one row per filter, in registry order): key, meaning,
    example, and the options that do the same (none: "query only")."""
    rows = ["| Filter | Meaning | Example | Option |", "|---|---|---|---|"]
    for f in FILTERS.values():
        key = f"`{f.name}:`"
        if f.operators:
            key += ", " + ", ".join(f"`{f.name}{op}`" for op in OPERATORS if op != "=")
        option = f"`--{f.flag} VALUE`" if f.flag else ", ".join(f"`{o}`" for o in f.options) or "query only"
        rows.append(f"| {key} | {f.meaning} | {f.example} | {option} |")
    return "\n".join(rows) + "\n"
