"""The query language of `search`, `list`, `similar`, `albums` and smart albums.

One small grammar, parsed here into a typed `ParsedQuery` without touching the
catalog (so it is testable as a table of strings to parsed forms):

* free words are the semantic query; `"a phrase"` must also appear as a phrase;
* `-word` / `-"a phrase"` push the query vector away from a concept, `+word`
  pulls it towards one (a weighted sum of vectors, as rclip's `-`/`+`);
* `2:word` weights a term's vector (a weighted free word is a `+` term), and a
  path to an image file (`./pool.jpg`, `-~/Pictures/crowd.heic`) is a term of
  what that photo shows (`photolib.query.terms`);
* `NOT word` / `NOT "a phrase"` drop photos whose text contains it exactly;
* `key:value` filters (the registry `photolib.query.filters.FILTERS`), also `key>value`, `key>=value`,
  `key<value`, `key<=value` and ranges `key:a..b`; `-key:value` or
  `NOT key:value` negates a filter; `OR` joins filters of one key
  (`place:Lisbon OR place:Porto`); filters of different keys all apply.

Values are checked here, by each filter's entry in the registry, so a bad
date or an unknown key is a one-line error that names the key and says what
is expected. `photolib.query.sql` turns the filters into SQL over the catalog.
"""

from __future__ import annotations

import difflib
import os
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from photolib.query.filters import FILTERS, QueryError, unknown_key_message
from photolib.query.terms import MAX_WEIGHT, is_image_path, split_weight

PLUS_WEIGHT = 1.0  # weight of a `+word` vector added to the query's
MINUS_WEIGHT = 1.0  # weight of a `-word` vector subtracted from it


@dataclass(frozen=True)
class Term:
    """A word or phrase with the weight its vector adds to (or, negative, takes from) the query's;
    with `image`, `text` is the path of an image file whose vector is used instead."""

    text: str
    weight: float
    image: bool = False


@dataclass(frozen=True)
class Condition:
    """One `key<op>value`; `value` is typed: (start, end) ISO bounds for dates, ints, floats, text."""

    key: str
    op: str
    value: Any
    source: str

    def __str__(self) -> str:
        return self.source


@dataclass(frozen=True)
class FilterGroup:
    """Conditions on one key joined by OR; `negated` keeps the photos none of them matches."""

    key: str
    conditions: tuple[Condition, ...]
    negated: bool = False

    def __str__(self) -> str:
        text = " OR ".join(str(c) for c in self.conditions)
        return f"NOT ({text})" if self.negated else text


@dataclass
class ParsedQuery:
    """What a query asks for; empty parts are empty lists / an empty string."""

    text: str = ""  # the semantic query: free words and phrases, in order
    positive: list[Term] = field(default_factory=list)  # +word: extra vectors added
    negative: list[Term] = field(default_factory=list)  # -word: vectors subtracted
    phrases: list[str] = field(default_factory=list)  # "a phrase": must appear (full-text)
    excluded: list[str] = field(default_factory=list)  # NOT word: exact matches dropped
    filters: list[FilterGroup] = field(default_factory=list)

    @property
    def images(self) -> list[Term]:
        """The image terms, pulled in or pushed away."""
        return [term for term in (*self.positive, *self.negative) if term.image]

    @property
    def semantic(self) -> bool:
        """True when the query needs a vector search (anything besides filters and exclusions)."""
        return bool(self.text or self.positive or self.negative)

    @property
    def restricts(self) -> bool:
        """True when some photos are left out before ranking (filters, phrases, exclusions)."""
        return bool(self.filters or self.phrases or self.excluded)

    @property
    def empty(self) -> bool:
        return not (self.semantic or self.restricts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "positive": [{"text": t.text, "weight": t.weight} | ({"image": True} if t.image else {})
                         for t in self.positive],
            "negative": [{"text": t.text, "weight": t.weight} | ({"image": True} if t.image else {})
                         for t in self.negative],
            "phrases": list(self.phrases),
            "excluded": list(self.excluded),
            "filters": [{"key": g.key, "negated": g.negated, "any_of": [c.source for c in g.conditions]}
                        for g in self.filters],
        }


# -- tokens ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Token:
    kind: str  # word, phrase, filter, or, not
    text: str = ""
    sign: str = ""  # "", "+" or "-"
    key: str = ""
    op: str = ""
    weight: float | None = None  # `2:word`
    start: int = 0  # where the token stands in the query (for `with_absolute_images`)
    end: int = 0


_QUOTES = {'"': '"', "\u201c": "\u201d", "\u201d": "\u201d", "\u201e": "\u201c"}
_KEY = re.compile(r"([A-Za-z_]+)(>=|<=|:|>|<|=)")


def tokenize(query: str) -> list[_Token]:
    """Split a query into words, phrases, filters and the OR / NOT keywords."""
    tokens: list[_Token] = []
    i, n = 0, len(query)
    pending = ""  # a sign standing alone, for the next term
    while i < n:
        if query[i].isspace():
            i += 1
            continue
        begin, sign = i, ""
        if query[i] in "+-" and (i + 1 == n or query[i + 1].isspace()):  # rclip's `a + b - c`: a sign alone
            pending, i = query[i], i + 1
            continue
        if query[i] in "+-" and i + 1 < n and not query[i + 1].isspace() and query[i + 1] not in "+-":
            sign, i = query[i], i + 1
        sign, pending = sign or pending, ""
        weight, rest = split_weight(query[i:])
        if weight is not None:
            i = n - len(rest)
        if query[i] in _QUOTES:
            text, i = _quoted(query, i)
            if weight is None:  # rclip's "2:golden retriever": the weight inside the quotes
                weight, text = split_weight(text)
                kind = "phrase" if weight is None else "word"
            else:
                kind = "word"
            tokens.append(_Token(kind, text, sign, weight=weight, start=begin, end=i))
            continue
        match = _KEY.match(query, i)
        if match and weight is not None and match.group(2) == ":":
            raise QueryError(f"{query[begin:match.end()]}: filters cannot be weighted: drop the number before "
                             f"{match.group(1)}:")
        if match and (match.group(2) == ":" or match.group(1).lower() in set(FILTERS) | _near_misses(match.group(1))):
            key, op = match.group(1).lower(), match.group(2)
            i = match.end()
            if i < n and query[i] in _QUOTES:
                value, i = _quoted(query, i)
            else:
                start = i
                while i < n and not query[i].isspace():
                    i += 1
                value = query[start:i]
            tokens.append(_Token("filter", value, sign, key, op, start=begin, end=i))
            continue
        start = i
        while i < n and not query[i].isspace():
            i += 1
        word = query[start:i]
        if not sign and weight is None and word in ("OR", "NOT"):
            tokens.append(_Token(word.lower(), start=begin, end=i))
        elif (sign or weight is not None) and word in ("OR", "NOT"):
            raise QueryError(f"`{query[begin:i]}` cannot be signed or weighted: write `{word}` alone between words")
        else:
            tokens.append(_Token("word", word, sign, weight=weight, start=begin, end=i))
    if pending:
        raise QueryError(f"`{pending}` at the end of the query needs a term after it, e.g. {pending} ./photo.jpg")
    return tokens


def _near_misses(key: str) -> set[str]:
    """A key that looks like a misspelt filter is a filter (so it errors), not a word."""
    key = key.lower()
    return {key} if difflib.get_close_matches(key, FILTERS, n=1, cutoff=0.75) else set()


def _quoted(query: str, i: int) -> tuple[str, int]:
    closing = _QUOTES[query[i]]
    end = query.find(closing, i + 1)
    if end < 0 and closing != '"':
        end = query.find('"', i + 1)
    if end < 0:
        raise QueryError(f"unterminated quote in {query!r}: close the phrase started at "
                         f"{query[i:i + 20]!r} with {closing}")
    return query[i + 1:end].strip(), end + 1


# -- parsing -------------------------------------------------------------------------

def parse(query: str) -> ParsedQuery:
    """The parsed form of `query`; raises `QueryError` (one line) for anything malformed."""
    tokens = tokenize(query or "")
    parsed = ParsedQuery()
    words: list[str] = []
    groups: list[list[Any]] = []  # [key, negated, [conditions]]
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.kind == "or":
            raise QueryError("OR must stand between two filters of one key, e.g. place:Lisbon OR place:Porto")
        negate_next = token.kind == "not"
        if negate_next:
            i += 1
            if i >= len(tokens) or tokens[i].kind in ("or", "not"):
                raise QueryError("NOT needs a word, \"phrase\" or filter after it, e.g. beach NOT people")
            token = tokens[i]
            if token.sign:
                raise QueryError(f"NOT {token.sign}{token.text}: write NOT {token.text}, without the sign")
            if token.weight is not None or (token.kind != "filter" and is_image_path(token.text)):
                raise QueryError(f"NOT {token.text}: NOT drops photos holding a word; push a photo or a weighted "
                                 f"term away with - instead, e.g. -{token.text}")
        if token.kind == "filter":
            if token.weight is not None:
                raise QueryError(f"{token.key}: filters cannot be weighted: drop the number before it")
            condition = _condition(token)
            negated = negate_next or token.sign == "-"
            if token.sign == "+":
                raise QueryError(f"`+{token.key}:` is not a thing: filters always apply; drop the +")
            group = [token.key, negated, [condition]]
            while i + 1 < len(tokens) and tokens[i + 1].kind == "or":
                if i + 2 >= len(tokens) or tokens[i + 2].kind != "filter":
                    raise QueryError(f"OR after {token.key}:{token.text} needs another {token.key}: filter after it")
                other = tokens[i + 2]
                if other.key != token.key or other.sign:
                    raise QueryError(f"OR joins filters of one key: `{token.key}:... OR {other.sign}{other.key}:...` "
                                     f"mixes keys; write {token.key}:A OR {token.key}:B")
                group[2].append(_condition(other))
                i += 2
            groups.append(group)
        elif negate_next:
            text = _clean(token.text)
            if text:
                parsed.excluded.append(text)
        else:  # a word, a "phrase" or an image, weighted by its sign and number; a plain phrase must also appear
            text = _clean(token.text)
            image = bool(text) and is_image_path(text)
            weight = _weight(token)
            if text and token.sign == "-":
                parsed.negative.append(Term(text, MINUS_WEIGHT if weight is None else weight, image))
            elif text and (token.sign == "+" or image or weight is not None):
                parsed.positive.append(Term(text, PLUS_WEIGHT if weight is None else weight, image))
            elif text:
                if token.kind == "phrase":
                    parsed.phrases.append(text)
                words.append(text)
        i += 1
    parsed.text = " ".join(words)
    parsed.filters = [FilterGroup(key, tuple(conditions), negated) for key, negated, conditions in groups]
    return parsed


def _weight(token: _Token) -> float | None:
    if token.weight is not None and not 0 < token.weight <= MAX_WEIGHT:
        raise QueryError(f"{token.weight:g}:{token.text}: a term's weight is a number above 0 and at most "
                         f"{MAX_WEIGHT:g}, e.g. 2:{token.text}")
    return token.weight


def with_absolute_images(query: str, base: str | None = None) -> str:
    """The query with every image term's path made absolute (against `base`, default the current
    folder, `~` expanded): a smart album's query means the same from any folder later."""
    from photolib.core.files import absolute

    pieces, done = [], 0
    for token in tokenize(query or ""):
        text = _clean(token.text)
        if token.kind not in ("word", "phrase") or not is_image_path(text):
            continue
        path = os.path.expanduser(text)
        full = str(absolute(os.path.join(base, path) if base and not os.path.isabs(path) else path))
        written = query[token.start:token.end]  # sign, weight, quotes and path as the user wrote them
        at = written.rfind(token.text)
        quoted = token.kind == "phrase" or written[at - 1:at] in _QUOTES
        replacement = f'"{full}"' if " " in full and not quoted else full
        pieces += [query[done:token.start], written[:at] + replacement + written[at + len(token.text):]]
        done = token.end
    return "".join(pieces) + query[done:]


def _clean(text: str) -> str:
    """Text as the user meant it: NFC-normalised, control characters dropped, spaces collapsed."""
    text = unicodedata.normalize("NFC", text)
    text = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in text)
    return " ".join(text.split())


def with_flags(query: str | None, flags: dict[str, str | None]) -> str:
    """The query with `--key VALUE` options appended as `key:"VALUE"` filters."""
    parts = [query or ""]
    for key, value in flags.items():
        if value is None:
            continue
        value = str(value)
        if value[:2] in (">=", "<=") or value[:1] in "<>":
            parts.append(f"{key}:{value}")
        else:
            parts.append(f'{key}:"{value}"' if '"' not in value else f"{key}:{value}")
    return " ".join(part for part in parts if part)


# -- values ----------------------------------------------------------------------------

def _condition(token: _Token) -> Condition:
    key, op, raw = token.key, token.op, _clean(token.text)
    if key not in FILTERS:
        raise QueryError(unknown_key_message(key))
    entry = FILTERS[key]
    expected, operators = entry.expects, entry.operators
    source = f"{key}{op}{raw}" if op != ":" else (f'{key}:"{raw}"' if " " in raw else f"{key}:{raw}")
    if op == ":" and raw[:2] in (">=", "<=") and operators:
        op, raw = raw[:2], raw[2:].strip()
    elif op == ":" and raw[:1] in "<>=" and raw and operators:
        op, raw = raw[:1], raw[1:].strip()
    if op != ":" and op not in operators:
        raise QueryError(f"{key}: takes `{key}:VALUE`, not `{key}{op}`: expected {expected}")
    if not raw:
        raise QueryError(f"{key}: needs a value: expected {expected}")
    value = entry.parse(key, op, raw, expected)
    return Condition(key, "=" if op == ":" else op, value, source)


def explain(parsed: ParsedQuery) -> list[tuple[str, str]]:
    """(part, how it is understood) lines for `search --explain`."""
    lines: list[tuple[str, str]] = []
    if parsed.text:
        lines.append(("meaning", f"close to {parsed.text!r}"))
    for term in parsed.positive:
        lines.append(("like photo" if term.image else "more of", f"{term.text!r} (vector weight +{term.weight:g})"))
    for term in parsed.negative:
        lines.append(("unlike photo" if term.image else "less of", f"{term.text!r} (vector weight -{term.weight:g})"))
    for phrase in parsed.phrases:
        lines.append(("must contain", f"the phrase {phrase!r} (caption, description or tags)"))
    for text in parsed.excluded:
        lines.append(("excluded", f"photos whose text contains {text!r}"))
    for group in parsed.filters:
        lines.append(("filter", str(group) + "  (" + _describe_group(group) + ")"))
    if not parsed.semantic:
        lines.append(("ranking", "none: matching photos are listed without embedding the query"))
    return lines


def _describe_group(group: FilterGroup) -> str:
    parts = [FILTERS[c.key].describe(c.key, c.value) for c in group.conditions]
    text = " or ".join(parts)
    return f"not {text}" if group.negated else text
