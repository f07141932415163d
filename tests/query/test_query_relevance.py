"""Negative and positive terms, the 0-100 score, the adaptive cutoff, and smart albums."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.support.photos import make_photo

FOLDERS = {  # the local vision provider describes photos from their folder names
    "crowded": "beach crowded with people",
    "quiet": "quiet empty beach at dawn",
    "city": "city street at night",
    "party": "family birthday party people",
}


@pytest.fixture
def scenes(tmp_path, make_library):
    root = tmp_path / "pics"
    for n, (key, folder) in enumerate(FOLDERS.items()):
        for i in range(3):
            make_photo(root / folder / f"{key}{i}.jpg", taken_at=datetime(2020 + n // 2, 1 + n, 1 + i, 12),
                       color=(40 * n + 60, 200 - 30 * n, 120))
    library = make_library()
    assert not library.add([root]).failed
    return library, root


def kinds(hits):
    return [Path(hit.path).name.rstrip("0123456789.jpg") for hit in hits]


def test_minus_pushes_a_concept_away_and_plus_pulls_it_in(scenes):
    library, _root = scenes
    without = kinds(library.search("beach -people", all_results=True, limit=20))
    assert without[:3] == ["quiet"] * 3 and without[3:] == ["crowded"] * 3
    more = kinds(library.search("beach +people", all_results=True, limit=20))
    assert more[:3] == ["crowded"] * 3 and more[3:] == ["quiet"] * 3


def test_not_excludes_exact_matches_and_phrases_must_appear(scenes):
    library, _root = scenes
    assert set(kinds(library.search("beach NOT people", all_results=True, limit=20))) == {"quiet"}
    assert set(kinds(library.search('"empty beach"', all_results=True, limit=20))) == {"quiet"}


def test_results_stop_at_a_clear_drop_unless_all(scenes):
    library, _root = scenes
    cut = library.search("night city", limit=20)
    assert kinds(cut) == ["city"] * 3
    everything = library.search("night city", limit=20, all_results=True, threshold=2.0)
    assert len(everything) > 3 and kinds(everything)[:3] == ["city"] * 3
    scores = [hit.score for hit in everything]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 100 for s in scores)
    # the score is the calibrated relevance (photolib.search.fusion): near photos high, far ones near 0,
    # and among photos without the words it falls as the distance grows
    assert everything[0].score >= 50 and everything[-1].score <= 10
    rest = everything[3:]
    assert [h.score for h in sorted(rest, key=lambda h: h.distance)] == sorted((h.score for h in rest), reverse=True)
    assert everything[2].score - everything[3].score >= 5  # the drop people can see


def test_search_json_has_score_beside_distance(scenes):
    library, _root = scenes
    out = CliRunner().invoke(app, ["-L", str(library.root), "search", "night city", "--json", "--all", "-t", "2"])
    hits = json.loads(out.stdout)
    assert {"score", "distance"} <= set(hits[0]) and hits[0]["score"] > hits[-1]["score"]
    dated = CliRunner().invoke(app, ["-L", str(library.root), "search", "night city", "--sort", "-date", "--json"])
    days = [hit["taken_at"] for hit in json.loads(dated.stdout)]
    assert len(days) == 3 and days == sorted(days, reverse=True)


def test_similar_neighbours_respect_filters(scenes):
    library, _root = scenes
    first = library.search("quiet empty beach", limit=1)[0]
    near = library.similar(str(first.id), limit=20, threshold=4.0)
    assert first.id not in [hit.id for hit in near]
    only_2021 = library.similar(str(first.id), limit=20, threshold=4.0, query="year:2021")
    assert only_2021 and all(hit.taken_at.startswith("2021") for hit in only_2021)


def test_albums_group_only_matching_photos(scenes):
    library, _root = scenes
    grouped = library.albums(query="year:2020", min_size=1)
    members = {pid for album in grouped.albums for pid in album.photo_ids} | set(grouped.singletons)
    assert members == {hit.id for hit in library.search("year:2020", limit=50)}
    assert len(members) == 6


def test_smart_album_shows_a_photo_added_later(scenes, tmp_path):
    library, root = scenes
    runner = CliRunner()
    folder = str(library.root)

    def cli(*args):
        result = runner.invoke(app, ["-L", folder, *args])
        assert result.exit_code == 0, result.output
        return result

    cli("albums", "smart", "Beaches", "tag:beach")
    cli("albums", "smart", "Quiet beaches", "beach -people NOT people")
    listed = json.loads(cli("albums", "list", "--json").stdout)
    smart = {a["name"]: a for a in listed if a["smart"]}
    assert smart["Beaches"]["size"] == 6 and smart["Beaches"]["query"] == "tag:beach"
    assert smart["Quiet beaches"]["size"] == 3
    assert "(smart: tag:beach)" in cli("albums", "list").stdout

    make_photo(root / "beach volleyball" / "late.jpg", taken_at=datetime(2024, 5, 1, 10))
    assert not library.add([root]).failed
    late = library.catalog.get_by_path(str(root / "beach volleyball" / "late.jpg")).id
    shown = json.loads(cli("albums", "show", "beaches", "--json").stdout)
    assert shown["name"] == "Beaches" and late in [p["id"] for p in shown["photos"]]
    assert len(shown["photos"]) == 7

    assert {h.id for h in library.search("album:Beaches", limit=50)} == {p["id"] for p in shown["photos"]}
    exported = tmp_path / "export"
    cli("albums", "show", "Beaches", "--export", str(exported))
    assert len(list((exported / "Beaches").iterdir())) == 7

    cli("albums", "smart", "Beaches", "tag:beach year:2024", "--replace")
    assert [p["id"] for p in json.loads(cli("albums", "show", "Beaches", "--json").stdout)["photos"]] == [late]
    refused = runner.invoke(app, ["-L", folder, "albums", "smart", "Beaches", "tag:city"])
    assert refused.exit_code != 0 and "--replace" in refused.output
    loop = runner.invoke(app, ["-L", folder, "albums", "smart", "Loop", "album:Loop2"])
    assert loop.exit_code == 2 and "no album has that name" in loop.output
    cli("albums", "delete", "Beaches")
    assert [a["name"] for a in json.loads(cli("albums", "list", "--json").stdout)] == ["Quiet beaches"]
    gone = runner.invoke(app, ["-L", folder, "albums", "show", "Beaches"])
    assert gone.exit_code == 2 and "no album 'Beaches'" in gone.output


def test_a_smart_album_naming_itself_is_an_error_not_a_loop(scenes):
    library, _root = scenes
    from photolib.core.errors import UsageError

    library.smart_album("A", "tag:beach")
    library.smart_album("B", "album:A year:2020")
    with pytest.raises(UsageError, match="refers to itself"):
        library.smart_album("A", "album:B", replace=True)
    assert [a["query"] for a in library.albums_listing() if a["name"] == "A"] == ["tag:beach"]  # unchanged
    with pytest.raises(UsageError, match="refers to itself"):
        library.smart_album("C", "album:C")


def test_smart_albums_answer_to_the_id_albums_list_gives_them(scenes):
    """One number names one album: a smart album made before any saved one keeps its id, saved albums
    take the numbers left, and `albums show` / `albums delete` take either."""
    library, _root = scenes
    runner = CliRunner()
    folder = str(library.root)

    def cli(*args):
        result = runner.invoke(app, ["-L", folder, *args])
        assert result.exit_code == 0, result.output
        return result

    cli("albums", "smart", "Beaches", "tag:beach")
    library.albums(save=True, min_size=2, seed=None)
    listed = json.loads(cli("albums", "list", "--json").stdout)
    ids = [album["id"] for album in listed]
    assert len(ids) == len(set(ids)) and any(not album["smart"] for album in listed)
    smart = [album for album in listed if album["smart"]][0]
    shown = json.loads(cli("albums", "show", str(smart["id"]), "--json").stdout)
    assert shown["name"] == "Beaches" and len(shown["photos"]) == smart["size"] == 6
    saved = [album for album in listed if not album["smart"]][0]
    assert json.loads(cli("albums", "show", str(saved["id"]), "--json").stdout)["name"] == saved["name"]
    assert json.loads(cli("albums", "delete", str(smart["id"]), "--json").stdout) == {"name": "Beaches", "smart": True}
    assert all(not album["smart"] for album in json.loads(cli("albums", "list", "--json").stdout))


def test_a_smart_album_sharing_a_saved_albums_number_gets_its_own(tmp_path):
    """Catalogs from before: smart and saved albums were numbered apart; the migration gives a
    smart album that shares a saved album's number the next free one."""
    import sqlite_utils

    from photolib.store.migrations import MIGRATIONS

    db = sqlite_utils.Database(tmp_path / "old.db")
    db.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("CREATE TABLE smart_albums (id INTEGER PRIMARY KEY, name TEXT, query TEXT)")
    db.execute("INSERT INTO albums VALUES (1, 'Trip'), (2, 'Party')")
    db.execute("INSERT INTO smart_albums VALUES (1, 'Beaches', 'tag:beach'), (5, 'Cats', 'cat')")
    MIGRATIONS[12](db)
    assert db.execute("SELECT id, name FROM smart_albums ORDER BY id").fetchall() == [(5, "Cats"), (6, "Beaches")]
