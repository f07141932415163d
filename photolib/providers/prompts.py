"""What photolib asks vision models, and how their answers are checked.

Model output is data, never code: it is parsed as JSON (or, failing that, as a
Python literal by `ast.literal_eval`, which evaluates nothing), then validated
field by field. Anything unusable is a `MalformedOutputError` that keeps the
raw text (its first `MAX_RAW_KEPT` characters), so `show` can display what the
model actually said. Only the first `MAX_PARSED` characters are parsed: a
description is a few kilobytes, and a huge or deeply nested answer must cost
one photo, never the run.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from photolib.core.errors import MalformedOutputError
from photolib.core.records import Description

PROMPT_VERSION = "1"
IMAGINE_PROMPT_VERSION = "imagine-1"  # the cache key of imagine prompts; change it with IMAGINE_PROMPT
MAX_TAGS, MAX_TAG_LENGTH, MAX_CAPTION, MAX_DESCRIPTION, MAX_PROMPT = 25, 50, 300, 2000, 1000
MAX_PARSED = 64_000  # characters of an answer that are parsed
MAX_RAW_KEPT = 10_000  # characters of an unusable answer kept for `photolib show`
_EXPECTED_KEYS = {"tags", "caption", "description"}

DESCRIBE_PROMPT = (
    "Describe this photo for a personal photo library. Answer with JSON only, exactly in this shape: "
    '{"tags": ["..."], "caption": "...", "description": "..."}. '
    "tags: 5 to 20 short lower-case keywords for the subjects, setting, activity, style, mood and colours. "
    "caption: one line of at most 15 words. description: 2 to 4 plain sentences of what is visible. "
    "Do not guess names of people."
)

DESCRIPTION_JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": MAX_TAGS},
        "caption": {"type": "string"},
        "description": {"type": "string"},
    },
    "required": ["tags", "caption", "description"],
    "additionalProperties": False,
}

IMAGINE_PROMPT = (
    "Write a prompt for a text-to-image model that would create a new image inspired by this photo: "
    "similar but not identical. Describe the main subjects, composition, style, lighting, mood and colours "
    "in one paragraph of at most 80 words. Do not name people, brands or places. Answer with the prompt only."
)

_FENCE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.S)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_BARE_KEY = re.compile(r"([{,]\s*)(tags|caption|description)(\s*:)")


def parse_description(raw: str) -> Description:
    """A validated `Description` from whatever a vision model answered."""
    data = _extract_object((raw or "")[:MAX_PARSED])
    if not isinstance(data, dict):
        raise MalformedOutputError("the model did not answer with a {tags, caption, description} object",
                                   raw=kept_raw(raw))
    data = _fields(data)
    tags = _tags(data.get("tags"))
    caption = _one_line(_text(data.get("caption")))[:MAX_CAPTION]
    description = _text(data.get("description"))[:MAX_DESCRIPTION]
    if not caption and description:
        caption = _one_line(description.split(". ")[0])[:MAX_CAPTION]
    if not (tags or caption or description):
        raise MalformedOutputError("the model's answer had no tags, caption or description", raw=kept_raw(raw))
    return Description(tags=tags, caption=caption, description=description)


def kept_raw(raw: str | None) -> str:
    """What is stored of an unusable answer: its start, with a note when it was longer."""
    raw = raw or ""
    if len(raw) <= MAX_RAW_KEPT:
        return raw
    return raw[:MAX_RAW_KEPT] + f"\n[... {len(raw) - MAX_RAW_KEPT} more characters not kept]"


def clean_prompt_text(raw: str) -> str:
    """An image prompt from a model answer: fences, quotes and extra space removed."""
    text = raw or ""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    text = _CONTROL.sub(" ", text)
    text = re.sub(r"^\s*(prompt|image prompt)\s*:\s*", "", text, flags=re.I)
    text = " ".join(text.split()).strip().strip('"\'“”').strip()
    if not text:
        raise MalformedOutputError("the model returned an empty image prompt", raw=kept_raw(raw))
    return text[:MAX_PROMPT]


def _fields(data: dict[Any, Any]) -> dict[str, Any]:
    """Lower-cased keys; the seed service's `result: {...}` wrapper unwrapped."""
    data = {str(k).lower(): v for k, v in data.items()}
    if isinstance(data.get("result"), dict):
        data = {str(k).lower(): v for k, v in data["result"].items()}
    return data


def _extract_object(raw: str) -> Any:
    """The first object with description keys; failing that, the first readable object."""
    candidates = [m.group(1) for m in _FENCE.finditer(raw)] + [raw]
    first = None
    for candidate in candidates:
        for text in _object_spans(candidate):
            parsed = _parse_literal(text)
            if isinstance(parsed, dict) and _EXPECTED_KEYS & set(_fields(parsed)):
                return parsed
            if parsed is not None and first is None:
                first = parsed
    return first


def _object_spans(text: str) -> list[str]:
    """The outermost {...} spans, found by bracket depth (strings respected)."""
    spans, depth, start, quote, escaped = [], 0, None, "", False
    for i, ch in enumerate(text):
        if quote:
            escaped = (ch == "\\" and not escaped)
            if ch == quote and not escaped:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
        elif ch == "{":
            start = i if depth == 0 else start
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0 and start is not None:
                spans.append(text[start:i + 1])
    return spans


def _parse_literal(text: str) -> Any:
    for attempt in (text, _BARE_KEY.sub(r'\1"\2"\3', text)):
        try:
            return json.loads(attempt)
        except (ValueError, RecursionError):
            pass
        try:
            return ast.literal_eval(attempt)  # literals only: never calls or names
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    return None


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        value = " ".join(v for v in value if isinstance(v, str))
    if not isinstance(value, str):
        return ""
    return _CONTROL.sub(" ", value).strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _tags(value: Any) -> list[str]:
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        return []
    tags: list[str] = []
    for item in value:
        tag = _one_line(_text(item)).lower().strip(" .#")[:MAX_TAG_LENGTH]
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:MAX_TAGS]
