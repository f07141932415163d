"""A user's session with remote providers: add, re-add, failures, retries, imagine, secrets.

The CLI runs with a config that points the `openai` and `huggingface`
providers at local servers speaking the real protocols.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime

import pytest
from PIL import Image
from typer.testing import CliRunner

from photolib.cli import app
from tests.support.fake_servers import FakeModelServer, Reply, chat_reply, png_bytes
from tests.support.photos import make_trip

KEY = "sk-canary-7f3a9c1e55d2"
CHAT = "/v1/chat/completions"
EMBED = "/v1/embeddings"
FLUX = "/hf-inference/models/black-forest-labs/FLUX.1-dev"  # the router's text-to-image path


@pytest.fixture
def server():
    with FakeModelServer(dimension=32) as running:
        yield running


@pytest.fixture
def pictures(tmp_path):
    root = tmp_path / "pics"
    make_trip(root, "Coast", 5, start=datetime(2023, 6, 1, 9, 0), gps=(43.2965, 5.3698), color=(40, 120, 200))
    return root


def config_for(tmp_path, server, generation: bool = True, embedding: str = "openai",
               vision_extra: tuple[str, ...] = (), embedding_extra: tuple[str, ...] = ()) -> str:
    lines = [
        "[vision]", 'provider = "openai"', f'base_url = "{server.url}/v1"', "max_retries = 2", "timeout = 5",
        *vision_extra, "[embedding]", f'provider = "{embedding}"', *embedding_extra,
    ]
    if embedding == "openai":
        lines += [f'base_url = "{server.url}/v1"', 'model = "text-embedding-test"', "max_retries = 2"]
    if generation:
        lines += ["[generation]", 'provider = "huggingface"', f'base_url = "{server.url}{FLUX}"',
                  'api_key_env = "OPENAI_API_KEY"', "steps = 4"]
    path = tmp_path / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def run(tmp_path, server, library, *args, expect=0, **config):
    result = CliRunner().invoke(
        app, ["--config", config_for(tmp_path, server, **config), "--library", str(library), *args],
        env={"OPENAI_API_KEY": KEY},
    )
    assert result.exit_code == expect, result.output
    assert KEY not in result.output
    return result


def test_second_add_makes_zero_api_calls(tmp_path, server, pictures, library_path):
    first = run(tmp_path, server, library_path, "add", str(pictures), "--json")
    assert json.loads(first.stdout)["new"] == 5
    assert f"Photos are sent to 127.0.0.1:{server.url.rsplit(':', 1)[1]}" in first.stderr
    assert len(server.calls(CHAT)) == 5 and server.calls(EMBED)
    before = len(server.requests)
    again = json.loads(run(tmp_path, server, library_path, "add", str(pictures), "--json").stdout)
    assert again["unchanged"] == 5 and again["vision_calls"] == 0
    assert len(server.requests) == before
    hits = json.loads(run(tmp_path, server, library_path, "search", "sunset", "--json", "--threshold", "4").stdout)
    assert len(hits) == 5 and hits[0]["caption"] == "Two people walking on a beach at sunset"
    stats = json.loads(run(tmp_path, server, library_path, "stats", "--json").stdout)
    assert stats["embedding_model"] == "text-embedding-test" and stats["dimension"] == 32


def test_failures_are_recorded_and_only_they_are_retried(tmp_path, server, pictures, library_path):
    server.chat_content = "not json at all"
    bad = run(tmp_path, server, library_path, "add", str(pictures), "--json", expect=1)
    report = json.loads(bad.stdout)
    assert report["failed"] == len(report["failures"]) == 5
    assert all("unusable model output" in f["reason"] for f in report["failures"])
    failed = json.loads(run(tmp_path, server, library_path, "list", "--status", "failed", "--json").stdout)
    shown = json.loads(run(tmp_path, server, library_path, "show", str(failed[0]["id"]), "--json").stdout)
    assert shown["raw_output"] == "not json at all" and shown["status"] == "failed"
    server.chat_content = json.dumps({"tags": ["coast"], "caption": "Rocky coast", "description": "Cliffs."})
    calls = len(server.calls(CHAT))
    fixed = json.loads(run(tmp_path, server, library_path, "add", str(pictures), "--json").stdout)
    assert fixed["retried"] == 5 and fixed["failed"] == 0 and len(server.calls(CHAT)) - calls == 5


def test_server_errors_retry_then_succeed_and_persistent_ones_fail_one_photo(tmp_path, server, pictures, library_path):
    server.script(CHAT, Reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0"}),
                  Reply(500, {"error": {"message": "oops"}}),
                  *[Reply(503, {"error": {"message": "overloaded"}})] * 3)
    result = run(tmp_path, server, library_path, "add", str(pictures), "--json", "--jobs", "1", expect=1)
    report = json.loads(result.stdout)
    assert report["failed"] == 1 and report["new"] == 5
    assert "gave up after 3 attempts" in report["failures"][0]["reason"]
    again = json.loads(run(tmp_path, server, library_path, "add", str(pictures), "--json").stdout)
    assert again["retried"] == 1 and again["failed"] == 0


def test_wrong_dimension_vectors_fail_the_batch_and_keep_stored_ones(tmp_path, server, pictures, library_path):
    run(tmp_path, server, library_path, "add", str(pictures / "Coast" / "photo_000.jpg"))
    server.script(EMBED, Reply(body={"object": "list", "data": [
        {"object": "embedding", "index": i, "embedding": [0.1] * 7} for i in range(4)]}))
    result = run(tmp_path, server, library_path, "add", str(pictures), "--json", expect=1)
    reasons = [f["reason"] for f in json.loads(result.stdout)["failures"]]
    assert len(reasons) == 4 and all("7-d vectors" in r for r in reasons)
    stats = json.loads(run(tmp_path, server, library_path, "stats", "--json").stdout)
    assert (stats["ok"], stats["failed"], stats["dimension"]) == (1, 4, 32)
    assert json.loads(run(tmp_path, server, library_path, "add", str(pictures), "--json").stdout)["failed"] == 0


@pytest.mark.parametrize("jobs", [1, 4])
def test_auth_failure_stops_at_once_naming_the_variable(tmp_path, server, library_path, jobs):
    pictures = tmp_path / "many"
    make_trip(pictures, "Harbour", 30, start=datetime(2023, 7, 1, 9, 0), gps=(43.3, 5.4), color=(90, 90, 160))
    server.script(CHAT, *[Reply(401, {"error": {"message": f"Incorrect API key provided: {KEY}"}})] * 40)
    result = run(tmp_path, server, library_path, "--verbose", "add", str(pictures), "--jobs", str(jobs), expect=1)
    assert "OPENAI_API_KEY" in result.output and "Traceback" in result.output  # --verbose shows it, scrubbed
    assert len(server.calls(CHAT)) <= 2 * jobs  # the calls already in flight, not one per photo
    catalog_bytes = (library_path / "catalog.db").read_bytes()
    assert KEY.encode() not in catalog_bytes


def test_dry_run_reports_the_real_figures_and_sends_nothing(tmp_path, server, pictures, library_path):
    run(tmp_path, server, library_path, "add", str(pictures / "Coast" / "photo_000.jpg"),
        str(pictures / "Coast" / "photo_001.jpg"))
    before = len(server.requests)
    result = run(tmp_path, server, library_path, "add", str(pictures), "--dry-run")
    figures = dict(re.findall(r"│ ([a-z/ ]+?)\s+│\s+(\d+) │", result.stdout))
    assert figures == {"new photos": "3", "changed photos": "0", "moved": "0", "unchanged": "2",
                       "pending/failed to retry": "0", "vision calls": "3", "photos to embed": "3"}
    assert len(server.requests) == before
    as_json = json.loads(run(tmp_path, server, library_path, "add", str(pictures), "--dry-run", "--json").stdout)
    assert (as_json["new"], as_json["unchanged"], as_json["would_describe"], as_json["would_embed"]) == (3, 2, 3, 3)
    assert len(server.requests) == before
    assert json.loads(run(tmp_path, server, library_path, "stats", "--json").stdout)["photos"] == 2


def test_imagine_writes_pngs_and_records_them(tmp_path, server, pictures, library_path):
    run(tmp_path, server, library_path, "add", str(pictures))
    out = tmp_path / "art"
    result = json.loads(run(tmp_path, server, library_path, "imagine", "1", "--count", "2", "--seed", "11",
                            "--width", "512", "--height", "384", "--out", str(out), "--json").stdout)
    assert [image["seed"] for image in result["images"]] == [11, 12]
    for image in result["images"]:
        with Image.open(image["path"]) as png:
            assert png.format == "PNG"
    sent = server.calls(FLUX)
    assert [r.body["parameters"]["seed"] for r in sent] == [11, 12]
    assert sent[0].body["parameters"]["num_inference_steps"] == 4 and sent[0].body["inputs"] == result["prompt"]
    listed = json.loads(run(tmp_path, server, library_path, "imagine", "--list", "--json").stdout)
    assert [row["path"] for row in listed] == [image["path"] for image in result["images"]]
    shown = json.loads(run(tmp_path, server, library_path, "show", "1", "--json").stdout)
    assert len(shown["generations"]) == 2
    panel = run(tmp_path, server, library_path, "imagine", "1", "--prompt", "a calm sea", "--out", str(out)).stdout
    assert "a calm sea" in panel and ".png" in panel


def test_imagine_prompt_only_and_missing_generator(tmp_path, server, pictures, library_path):
    run(tmp_path, server, library_path, "add", str(pictures))
    calls = len(server.requests)
    prompt = json.loads(run(tmp_path, server, library_path, "imagine", "2", "--prompt-only", "--json").stdout)
    assert prompt["images"] == [] and prompt["prompt"] and len(server.requests) == calls + 1
    calls = len(server.requests)
    missing = run(tmp_path, server, library_path, "imagine", "2", expect=1, generation=False)
    assert "[generation] provider" in missing.output and "HF_TOKEN" in missing.output
    assert len(server.requests) == calls  # the photo was not sent to the vision model for nothing


def test_imagine_never_overwrites_an_earlier_image(tmp_path, server, pictures, library_path):
    run(tmp_path, server, library_path, "add", str(pictures))
    out = tmp_path / "art"
    args = ("imagine", "1", "--prompt", "a calm sea", "--seed", "5", "--out", str(out), "--json")
    first = json.loads(run(tmp_path, server, library_path, *args).stdout)["images"][0]["path"]
    server.script(FLUX, Reply(body=png_bytes(color=(10, 200, 10)), headers={"Content-Type": "image/png"}))
    second = json.loads(run(tmp_path, server, library_path, *args).stdout)["images"][0]["path"]
    assert first != second
    with Image.open(first) as one, Image.open(second) as two:
        assert one.getpixel((0, 0)) == (200, 120, 60) and two.getpixel((0, 0)) == (10, 200, 10)
    listed = json.loads(run(tmp_path, server, library_path, "imagine", "--list", "--json").stdout)
    assert sorted(row["path"] for row in listed) == sorted([first, second])


def test_switching_embedding_model_reembeds_without_vision_calls(tmp_path, server, pictures, library_path):
    run(tmp_path, server, library_path, "add", str(pictures))
    chat_calls = len(server.calls(CHAT))
    stale = run(tmp_path, server, library_path, "search", "coast", expect=1, embedding="local")
    assert "reindex --reembed" in stale.output
    result = json.loads(run(tmp_path, server, library_path, "reindex", "--reembed", "--json", embedding="local").stdout)
    assert {key: result[key] for key in ("vectors", "model", "dimension", "reembedded")} == {"vectors": 5, "model": "sentence-transformers/all-MiniLM-L6-v2", "dimension": 384, "reembedded": 5}
    assert len(server.calls(CHAT)) == chat_calls
    assert json.loads(run(tmp_path, server, library_path, "search", "beach sunset", "--json", embedding="local").stdout)


def test_changing_dimensions_is_repaired_by_reembed(tmp_path, server, pictures, library_path):
    run(tmp_path, server, library_path, "add", str(pictures))
    smaller = {"embedding_extra": ("dimensions = 8",)}
    stale = run(tmp_path, server, library_path, "search", "coast", expect=1, **smaller)
    assert "text-embedding-test@8" in stale.output and "reindex --reembed" in stale.output
    chat_calls, embed_calls = len(server.calls(CHAT)), len(server.calls(EMBED))
    result = json.loads(run(tmp_path, server, library_path, "reindex", "--reembed", "--json", **smaller).stdout)
    assert {key: result[key] for key in ("vectors", "model", "dimension", "reembedded")} == {"vectors": 5, "model": "text-embedding-test@8", "dimension": 8, "reembedded": 5}
    assert [r.body["dimensions"] for r in server.calls(EMBED)[embed_calls:]] == [8]
    assert len(server.calls(CHAT)) == chat_calls
    assert json.loads(run(tmp_path, server, library_path, "search", "sunset", "--json", "--threshold", "4", **smaller).stdout)


def test_another_model_behind_the_same_name_is_repaired_by_reembed(tmp_path, server, pictures, library_path):
    """The endpoint now serves 24-d vectors under the old name: reembed sees the size and re-embeds."""
    run(tmp_path, server, library_path, "add", str(pictures))
    server.dimension = 24
    stale = run(tmp_path, server, library_path, "search", "coast", expect=1)
    assert "24-d" in stale.output and "reindex --reembed" in stale.output
    result = json.loads(run(tmp_path, server, library_path, "reindex", "--reembed", "--json").stdout)
    assert {key: result[key] for key in ("vectors", "model", "dimension", "reembedded")} == {"vectors": 5, "model": "text-embedding-test", "dimension": 24, "reembedded": 5}
    assert json.loads(run(tmp_path, server, library_path, "search", "sunset", "--json", "--threshold", "4").stdout)
    again = json.loads(run(tmp_path, server, library_path, "reindex", "--reembed", "--json").stdout)
    assert again["reembedded"] == 0  # nothing left to redo: one probe call, no re-embedding
    connection = sqlite3.connect(str(library_path / "catalog.db"))
    assert connection.execute("SELECT DISTINCT dimension FROM embeddings").fetchall() == [(24,)]
    connection.close()


@pytest.mark.parametrize("section, value, expected", [
    ("huggingface", "bogus", "[vision] inference_provider = 'bogus' is not a Hugging Face inference provider"),
    ("openai", "together", '[vision] inference_provider only applies to provider = "huggingface"'),
])
def test_a_bad_inference_provider_stops_before_any_photo(tmp_path, server, pictures, library_path, section, value, expected):
    config = tmp_path / "bad.toml"
    config.write_text(f'[vision]\nprovider = "{section}"\nbase_url = "{server.url}/v1"\ninference_provider = "{value}"\n')
    result = CliRunner().invoke(app, ["--config", str(config), "--library", str(library_path), "add", str(pictures)],
                                env={"OPENAI_API_KEY": KEY, "HF_TOKEN": KEY})
    assert result.exit_code == 2 and expected in result.output and "Traceback" not in result.output
    assert server.requests == []


def test_huge_or_deeply_nested_answers_fail_only_their_photos(tmp_path, server, pictures, library_path):
    server.script(CHAT, Reply(body=chat_reply('{"tags": ' + "[" * 20_000 + "]" * 20_000 + "}")),
                  Reply(body=chat_reply("no JSON here, " * 200_000)))
    result = run(tmp_path, server, library_path, "add", str(pictures), "--json", "--jobs", "1", expect=1)
    report = json.loads(result.stdout)
    assert report["new"] == 5 and report["failed"] == len(report["failures"]) == 2
    assert all("unusable model output" in f["reason"] for f in report["failures"])
    failed = json.loads(run(tmp_path, server, library_path, "list", "--status", "failed", "--json").stdout)
    raws = [json.loads(run(tmp_path, server, library_path, "show", str(p["id"]), "--json").stdout)["raw_output"]
            for p in failed]
    assert len(raws) == 2 and all(len(raw) <= 10_100 for raw in raws)
    assert any(raw.startswith("no JSON here") and raw.endswith("more characters not kept]") for raw in raws)
