"""A user's session through the CLI: import trips, search, albums, show, list, stats."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.support.photos import make_photo, make_trip

LISBON = (38.7223, -9.1393)
TOKYO = (35.6762, 139.6503)
CHAMONIX = (45.9237, 6.8694)


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def pictures(tmp_path):
    """Three trips and a birthday, as a user's folder tree."""
    root = tmp_path / "Pictures"
    make_trip(root, "Lisbon beach holiday", 4, start=datetime(2023, 7, 14, 18, 0), gps=LISBON, color=(230, 170, 90))
    make_trip(root, "Tokyo winter trip", 4, start=datetime(2022, 1, 9, 10, 0), gps=TOKYO, color=(60, 70, 140))
    make_trip(root, "Alps hiking", 3, start=datetime(2021, 8, 2, 7, 30), gps=CHAMONIX, color=(40, 140, 60))
    for i in range(2):
        make_photo(root / "Family" / "Emma birthday party" / f"DSC_{100 + i}.jpg",
                   taken_at=datetime(2024, 3, 3, 15, i), color=(220, 60, 120))
    return root


def run(runner, library, *args, expect=0):
    result = runner.invoke(app, ["--library", str(library), *args], catch_exceptions=False)
    assert result.exit_code == expect, result.output
    return result


def run_json(runner, library, *args, expect=0):
    return json.loads(run(runner, library, *args, "--json", expect=expect).stdout)


def test_add_imports_every_photo_and_readd_does_nothing(runner, library_path, pictures):
    first = run_json(runner, library_path, "add", str(pictures))
    assert (first["new"], first["failed"], first["unchanged"]) == (13, 0, 0)
    again = run_json(runner, library_path, "add", str(pictures))
    assert (again["new"], again["updated"], again["moved"], again["unchanged"]) == (0, 0, 0, 13)
    assert again["vision_calls"] == 0 and again["embedded"] == 0
    stats = run_json(runner, library_path, "stats")
    assert stats["photos"] == stats["ok"] == stats["index_vectors"] == 13
    assert stats["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2" and stats["dimension"] == 384


def _table_rows(out: str) -> list[list[str]]:
    """The header and data rows of a Rich table as printed, cell by cell."""
    return [[cell.strip() for cell in line.strip().strip("┃│").split(line.strip()[0])]
            for line in out.splitlines() if line.strip()[:1] in ("┃", "│")]


def test_table_output_shows_summary(runner, library_path, pictures):
    out = run(runner, library_path, "add", str(pictures)).stdout
    assert out.strip().startswith("Import summary")
    header = ["new", "updated", "moved", "unchanged", "retried", "failed", "vision calls"]
    assert _table_rows(out) == [header, ["13", "0", "0", "0", "0", "0", "13"]]
    again = run(runner, library_path, "add", str(pictures)).stdout
    assert _table_rows(again) == [header, ["0", "0", "0", "13", "0", "0", "0"]]


def test_moved_and_changed_files_are_recognised(runner, library_path, pictures):
    run(runner, library_path, "add", str(pictures))
    before = {p["path"]: p["id"] for p in run_json(runner, library_path, "list")}
    old = pictures / "Alps hiking" / "photo_000.jpg"
    new = pictures / "Alps hiking" / "renamed summit.jpg"
    os.rename(old, new)
    changed = pictures / "Tokyo winter trip" / "photo_001.jpg"
    make_photo(changed, color=(250, 250, 250), taken_at=datetime(2022, 1, 9, 12, 0))
    report = run_json(runner, library_path, "add", str(pictures))
    assert (report["new"], report["moved"], report["updated"]) == (0, 1, 1)
    after = {p["path"]: p["id"] for p in run_json(runner, library_path, "list")}
    assert after[str(new)] == before[str(old)] and str(old) not in after
    assert len(after) == 13


def test_search_finds_the_named_trip_first(runner, library_path, pictures):
    run(runner, library_path, "add", str(pictures))
    hits = run_json(runner, library_path, "search", "tokyo japan")
    assert len(hits) >= 4
    assert all("Tokyo winter trip" in hit["path"] for hit in hits[:4])
    assert set(hits[0]) == {"id", "path", "score", "distance", "caption", "tags", "taken_at"}
    assert 0 <= hits[0]["score"] <= 100
    hiking = run_json(runner, library_path, "search", "mountain hiking in the alps", "--limit", "3")
    assert len(hiking) == 3 and all("Alps hiking" in hit["path"] for hit in hiking)
    party = run_json(runner, library_path, "search", "birthday party")
    assert {hit["path"] for hit in party[:2]} == {str(pictures / "Family" / "Emma birthday party" / f"DSC_{100 + i}.jpg")
                                                  for i in range(2)}


def test_search_threshold_and_limit(runner, library_path, pictures):
    run(runner, library_path, "add", str(pictures))
    assert len(run_json(runner, library_path, "search", "beach", "--limit", "2")) == 2
    strict = run_json(runner, library_path, "search", "quarterly tax report spreadsheet", "--threshold", "0.3")
    assert strict == []


def test_albums_group_each_trip_and_are_deterministic(runner, library_path, pictures):
    run(runner, library_path, "add", str(pictures))
    albums = run_json(runner, library_path, "albums")
    assert albums == run_json(runner, library_path, "albums")
    paths = {p["id"]: p["path"] for p in run_json(runner, library_path, "list")}
    every = [pid for album in albums for pid in album["photo_ids"]]
    assert sorted(every) == sorted(paths)  # each photo exactly once (singletons included)
    for trip in ("Lisbon beach holiday", "Tokyo winter trip", "Alps hiking"):
        homes = {i for i, album in enumerate(albums) for pid in album["photo_ids"] if trip in paths[pid]}
        assert len(homes) == 1, f"{trip} split across albums {homes}"
    names = " ".join(album["name"] for album in albums)
    assert "Lisbon" in names and "Tokyo" in names


def test_albums_save_list_show_and_export(runner, library_path, pictures, tmp_path):
    run(runner, library_path, "add", str(pictures))
    created = run_json(runner, library_path, "albums", "--save")
    saved = run_json(runner, library_path, "albums", "list")
    real = [a for a in created if not a.get("singletons")]
    assert [a["photo_ids"] for a in saved] == [a["photo_ids"] for a in real]
    shown = run_json(runner, library_path, "albums", "show", str(saved[0]["id"]))
    assert [p["id"] for p in shown["photos"]] == saved[0]["photo_ids"]
    export = tmp_path / "export"
    run(runner, library_path, "albums", "--export", str(export))
    folders = sorted(export.iterdir())
    assert len(folders) == len(real)
    links = list(folders[0].iterdir())
    assert links and all(link.is_symlink() and link.resolve().is_file() for link in links)
    copies = tmp_path / "copies"
    run(runner, library_path, "albums", "--export", str(copies), "--copy")
    copied = sorted(f.relative_to(copies) for d in copies.iterdir() for f in d.iterdir())
    assert copied == sorted(f.relative_to(export) for d in folders for f in d.iterdir())  # the same files ...
    assert all(not (copies / f).is_symlink() for f in copied)  # ... as copies


def test_show_and_list_filters(runner, library_path, pictures):
    run(runner, library_path, "add", str(pictures))
    tokyo = run_json(runner, library_path, "list", "--since", "2022-01-01", "--until", "2022-12-31")
    assert len(tokyo) == 4 and all("Tokyo" in p["path"] for p in tokyo)
    assert set(tokyo[0]) == {"id", "path", "status", "taken_at", "caption", "tags"}
    detail = run_json(runner, library_path, "show", str(tokyo[0]["id"]))
    for key in ("id", "path", "status", "error", "taken_at", "camera", "lens", "gps", "place", "tags",
                "caption", "description", "width", "height", "embedding_model"):
        assert key in detail
    assert "Tokyo" in detail["place"] and detail["camera"] and detail["gps"]["lat"] == pytest.approx(TOKYO[0], abs=1e-3)
    tagged = run_json(runner, library_path, "list", "--tag", "tokyo")
    assert {p["id"] for p in tagged} == {p["id"] for p in tokyo}
    assert run_json(runner, library_path, "list", "--status", "failed") == []
    assert len(run_json(runner, library_path, "list", "--limit", "2")) == 2
    out = run(runner, library_path, "show", str(tokyo[0]["id"])).stdout
    assert "Tokyo" in out
    bad = run(runner, library_path, "list", "--since", "last week", expect=2)
    assert "YYYY-MM-DD" in bad.output


def test_similar_finds_same_trip(runner, library_path, pictures):
    run(runner, library_path, "add", str(pictures))
    lisbon = run_json(runner, library_path, "list", "--tag", "lisbon")
    hits = run_json(runner, library_path, "similar", str(lisbon[0]["id"]), "--limit", "3")
    assert len(hits) == 3 and all("Lisbon" in h["path"] for h in hits)
    assert lisbon[0]["id"] not in [h["id"] for h in hits]


def test_remove_and_prune_never_touch_files(runner, library_path, pictures):
    run(runner, library_path, "add", str(pictures))
    photos = run_json(runner, library_path, "list")
    removed = run_json(runner, library_path, "remove", str(photos[0]["id"]))
    assert removed[0]["id"] == photos[0]["id"] and os.path.exists(photos[0]["path"])
    run_json(runner, library_path, "remove", str(pictures / "Alps hiking"))
    assert len(run_json(runner, library_path, "list")) == 13 - 1 - 3 + (1 if "Alps" in photos[0]["path"] else 0)
    shutil.rmtree(pictures / "Family")
    pruned = run_json(runner, library_path, "prune")
    assert len(pruned) == 2
    stats = run_json(runner, library_path, "stats")
    assert stats["photos"] == stats["index_vectors"]
    assert "birthday" not in json.dumps(run_json(runner, library_path, "search", "birthday party"))
    missing = run(runner, library_path, "show", "9999", expect=2)
    assert "no photo" in missing.output


def test_reindex_after_deleting_index_gives_identical_results(runner, library_path, pictures):
    run(runner, library_path, "add", str(pictures))
    before = run_json(runner, library_path, "search", "summer beach")
    shutil.rmtree(library_path / "index")
    doctor = run(runner, library_path, "doctor", "--json")
    assert json.loads(doctor.stdout)["repaired"] == ["Index was missing; rebuilt it from the catalog (13 vectors)."]
    assert json.loads(doctor.stdout)["problems"] == [] and "rebuilt" in doctor.stderr
    shutil.rmtree(library_path / "index")
    run(runner, library_path, "reindex")
    assert run_json(runner, library_path, "search", "summer beach") == before
    shutil.rmtree(library_path / "index")
    result = runner.invoke(app, ["--library", str(library_path), "search", "summer beach", "--json"])
    assert json.loads(result.stdout) == before
    assert "rebuilt" in result.stderr


def test_global_options(runner, library_path):
    assert "photolib" in runner.invoke(app, ["--version"]).stdout
    for command in ("add", "search", "albums", "show", "list", "similar", "remove", "prune", "reindex", "stats"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.stdout
    assert runner.invoke(app, ["add"]).exit_code == 2
    missing = runner.invoke(app, ["--library", str(library_path), "add", "/no/such/folder"])
    assert missing.exit_code == 2 and "does not exist" in missing.output and "Traceback" not in missing.output
