"""Model output is data: parsed tolerantly, validated strictly, never evaluated."""

from __future__ import annotations

import pytest

from photolib.core.errors import MalformedOutputError
from photolib.providers.prompts import MAX_RAW_KEPT, clean_prompt_text, parse_description


@pytest.mark.parametrize("raw", [
    '{"tags": ["Beach", "sea"], "caption": "A beach", "description": "Sand and sea."}',
    '```json\n{"tags": ["Beach", "sea"], "caption": "A beach", "description": "Sand and sea."}\n```',
    'Sure! Here it is:\n{"tags": ["Beach", "sea"], "caption": "A beach", "description": "Sand and sea."}\nHope that helps.',
    "{'tags': ['Beach', 'sea'], 'caption': 'A beach', 'description': 'Sand and sea.'}",
    "result: {tags: ['Beach', 'sea'], description: 'Sand and sea.', caption: 'A beach'}",
])
def test_tolerant_formats(raw):
    parsed = parse_description(raw)
    assert parsed.tags == ["beach", "sea"] and parsed.caption == "A beach" and parsed.description == "Sand and sea."


def test_fields_are_validated_and_bounded():
    raw = ('{"tags": " Sea, sea , SKY,, " , "caption": "line one\\nline two", '
           '"description": "' + "x" * 5000 + '"}')
    parsed = parse_description(raw)
    assert parsed.tags == ["sea", "sky"]
    assert parsed.caption == "line one line two" and len(parsed.description) == 2000
    many = parse_description('{"tags": [' + ",".join(f'"t{i}"' for i in range(60)) + '], "caption": "c"}')
    assert len(many.tags) == 25


@pytest.mark.parametrize("raw", ["", "I cannot describe this image.", "{}", '{"tags": [], "caption": ""}',
                                 "[1, 2, 3]", '{"tags": [{"nested": 1}], "caption": 5.5e400}'])
def test_unusable_output_is_an_error_with_the_raw_text(raw):
    with pytest.raises(MalformedOutputError) as caught:
        parse_description(raw)
    assert caught.value.raw == raw


def test_code_in_output_is_never_run(tmp_path):
    marker = tmp_path / "pwned"
    raw = f"{{'tags': __import__('os').system('touch {marker}'), 'caption': 'x'}}"
    with pytest.raises(MalformedOutputError) as caught:
        parse_description(raw)
    assert not marker.exists() and caught.value.raw == raw


def test_prompt_cleaning():
    assert clean_prompt_text('```\nPrompt: "A misty lake at dawn,\n soft light"\n```') == "A misty lake at dawn, soft light"
    with pytest.raises(MalformedOutputError):
        clean_prompt_text("  \n ")


def test_the_object_with_description_keys_wins_over_an_earlier_example():
    raw = ('Example: {"a": 1}. Another: {\'b\': [2]}. Answer: '
           '{"tags": ["Beach"], "caption": "A beach", "description": "Sand and sea."}')
    parsed = parse_description(raw)
    assert parsed.tags == ["beach"] and parsed.caption == "A beach"


@pytest.mark.parametrize("raw", [
    '{"tags": ' + "[" * 20_000 + "]" * 20_000 + ', "caption": "x"}',
    "{" * 200_000,
    '{"tags": ["a"], "caption": {"x": ' * 1_500 + '"deep"' + "}" * 1_500,
])
def test_deeply_nested_answers_are_malformed_output_not_a_crash(raw):
    with pytest.raises(MalformedOutputError) as caught:
        parse_description(raw)
    assert caught.value.raw[:50] == raw[:50] and len(caught.value.raw) <= MAX_RAW_KEPT + 100


def test_a_huge_unusable_answer_is_kept_only_in_part():
    raw = "I see " + "a very long ramble, " * 150_000  # 3 MB
    with pytest.raises(MalformedOutputError) as caught:
        parse_description(raw)
    kept = caught.value.raw
    assert kept.startswith("I see a very long ramble") and len(kept) <= MAX_RAW_KEPT + 100
    assert kept.endswith(f"[... {len(raw) - MAX_RAW_KEPT} more characters not kept]")
