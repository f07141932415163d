"""The query language: a table of queries and what they parse to, and the errors users get."""

from __future__ import annotations

import pytest

from photolib.query.parser import QueryError, parse, with_flags


def brief(query: str) -> dict:
    """The parsed form, with filters as (key, negated, [(op, value), ...])."""
    parsed = parse(query)
    return {
        "text": parsed.text,
        "plus": [t.text for t in parsed.positive],
        "minus": [t.text for t in parsed.negative],
        "phrases": parsed.phrases,
        "excluded": parsed.excluded,
        "filters": [(g.key, g.negated, [(c.op, c.value) for c in g.conditions]) for g in parsed.filters],
    }


GRAMMAR = [
    ("sunset beach", {"text": "sunset beach"}),
    ("  sunset   beach  ", {"text": "sunset beach"}),
    ("beach -people", {"text": "beach", "minus": ["people"]}),
    ("beach +sunset", {"text": "beach", "plus": ["sunset"]}),
    ('beach -"crowded street"', {"text": "beach", "minus": ["crowded street"]}),
    ('"golden hour" beach', {"text": "golden hour beach", "phrases": ["golden hour"]}),
    ("\u201cgolden hour\u201d", {"text": "golden hour", "phrases": ["golden hour"]}),
    ("beach NOT dog", {"text": "beach", "excluded": ["dog"]}),
    ('beach NOT "hot dog"', {"text": "beach", "excluded": ["hot dog"]}),
    ("well-known e-mail", {"text": "well-known e-mail"}),
    ("café São Paulo", {"text": "café São Paulo"}),
    ("cafe\u0301", {"text": "café"}),  # decomposed accent is normalised (NFC)
    ("東京 夜景", {"text": "東京 夜景"}),
    ("or not and", {"text": "or not and"}),  # lower-case keywords are words
    ("12:30 lunch", {"text": "12:30 lunch"}),
    ("date:2019", {"filters": [("date", False, [("=", ("2019-01-01", "2020-01-01"))])]}),
    ("date:2019-07", {"filters": [("date", False, [("=", ("2019-07-01", "2019-08-01"))])]}),
    ("date:2019-12", {"filters": [("date", False, [("=", ("2019-12-01", "2020-01-01"))])]}),
    ("date:2019-07-01..2019-07-31", {"filters": [("date", False, [("=", ("2019-07-01", "2019-08-01"))])]}),
    ("date:2019..", {"filters": [("date", False, [("=", ("2019-01-01", None))])]}),
    ("date>=2019-07-14", {"filters": [("date", False, [(">=", ("2019-07-14", None))])]}),
    ("after:2019", {"filters": [("after", False, [("=", ("2020-01-01", None))])]}),
    ("before:2019-07-14", {"filters": [("before", False, [("=", (None, "2019-07-14"))])]}),
    ("year:2019..2021", {"filters": [("year", False, [("=", (2019, 2021))])]}),
    ("month:July", {"filters": [("month", False, [("=", 7)])]}),
    ("month:dec", {"filters": [("month", False, [("=", 12)])]}),
    ("month:3", {"filters": [("month", False, [("=", 3)])]}),
    ("place:Lisbon OR place:Porto",
     {"filters": [("place", False, [("=", "Lisbon"), ("=", "Porto")])]}),
    ('place:"São Paulo" beach', {"text": "beach", "filters": [("place", False, [("=", "São Paulo")])]}),
    ("near:38.72,-9.14,5km", {"filters": [("near", False, [("=", (38.72, -9.14, 5.0))])]}),
    ("near:38.72,-9.14,500m", {"filters": [("near", False, [("=", (38.72, -9.14, 0.5))])]}),
    ("near:38.72,-9.14", {"filters": [("near", False, [("=", (38.72, -9.14, 1.0))])]}),
    ("CAMERA:Canon", {"filters": [("camera", False, [("=", "Canon")])]}),
    ('album:"Lisbon Beach Holiday"', {"filters": [("album", False, [("=", "Lisbon Beach Holiday")])]}),
    ("tag:beach tag:sunset", {"filters": [("tag", False, [("=", "beach")]), ("tag", False, [("=", "sunset")])]}),
    ("-tag:work", {"filters": [("tag", True, [("=", "work")])]}),
    ("NOT place:Lisbon", {"filters": [("place", True, [("=", "Lisbon")])]}),
    ("width>4000", {"filters": [("width", False, [(">", (4001, None))])]}),
    ("height<=1080", {"filters": [("height", False, [("<=", (None, 1080))])]}),
    ("rating:>=4", {"filters": [("rating", False, [(">=", (4, None))])]}),
    ("type:JPG", {"filters": [("type", False, [("=", "JPEG")])]}),
    ("orientation:Portrait", {"filters": [("orientation", False, [("=", "portrait")])]}),
    ("has:gps -has:text", {"filters": [("has", False, [("=", "gps")]), ("has", True, [("=", "text")])]}),
    ("status:failed path:2019/", {"filters": [("status", False, [("=", "failed")]), ("path", False, [("=", "2019/")])]}),
    ("beach date:2019 -people NOT dog +sea",
     {"text": "beach", "plus": ["sea"], "minus": ["people"], "excluded": ["dog"],
      "filters": [("date", False, [("=", ("2019-01-01", "2020-01-01"))])]}),
]


@pytest.mark.parametrize("query,expected", GRAMMAR, ids=[q for q, _ in GRAMMAR])
def test_grammar(query, expected):
    defaults = {"text": "", "plus": [], "minus": [], "phrases": [], "excluded": [], "filters": []}
    assert brief(query) == defaults | expected


MALFORMED = [
    ("plce:Lisbon", "unknown filter `plce:`; did you mean `place:`?"),
    ("colour:red", "unknown filter `colour:`"),
    ("date:2019-13", "date:2019-13 is not valid: expected a date"),
    ("date:yesterday", "expected a date: 2019, 2019-07"),
    ("date:2020..2019", "empty range"),
    ("month:smarch", "month:smarch is not valid"),
    ("orientation:portait", "did you mean orientation:portrait?"),
    ("width>lots", "width:lots is not valid"),
    ("near:91,0", "latitude must be within -90..90"),
    ("near:38.7,-9.1,far", "expected LAT,LON[,RADIUS]"),
    ("status:broken", "use one of pending, ok, failed"),
    ('beach "golden hour', "unterminated quote"),
    ("beach NOT", "NOT needs a word"),
    ("cats OR dogs", "OR must stand between two filters of one key"),
    ("place:Lisbon OR tag:beach", "OR joins filters of one key"),
    ("place:Lisbon OR", "needs another place: filter"),
    ("place:", "place: needs a value"),
    ("month>3", "month: takes `month:VALUE`"),
]


@pytest.mark.parametrize("query,message", MALFORMED, ids=[q for q, _ in MALFORMED])
def test_malformed_queries_are_one_line_errors(query, message):
    with pytest.raises(QueryError) as raised:
        parse(query)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_unknown_filter_lists_the_valid_ones():
    with pytest.raises(QueryError) as raised:
        parse("colour:red")
    assert "filters: after, album, before, camera, date" in str(raised.value)


def test_flags_become_filters():
    text = with_flags("beach", {"place": "São Paulo", "date": "2019", "camera": None, "width": ">4000"})
    assert brief(text)["filters"] == [("place", False, [("=", "São Paulo")]),
                                      ("date", False, [("=", ("2019-01-01", "2020-01-01"))]),
                                      ("width", False, [(">", (4001, None))])]
