"""OCR and faces as stages of the enrichment pipeline: turned on later, `photolib enrich` works off their
backlog library-wide, each file decoded once for both; an older catalog keeps what they did."""

from __future__ import annotations

import json
import sqlite3

from typer.testing import CliRunner

from photolib.cli import app
from tests.support import stage_photos
from tests.conftest import STAGES_ON
from tests.support.photos import make_photo


def _pictures(root):
    stage_photos.receipt(root / "scan.jpg")
    stage_photos.save(stage_photos.astronaut().resize((320, 320)), root / "portrait.jpg")
    make_photo(root / "meadow.jpg", color=(90, 160, 60))
    return root


def _stage(stats, name):
    return next(row for row in stats["stages"] if row["stage"] == name)


def test_enrich_reads_text_and_faces_library_wide_after_they_are_turned_on(tmp_path, make_library, monkeypatch):
    from photolib.media import read as media

    pictures = _pictures(tmp_path / "pics")
    library = make_library()  # OCR and faces off (tests' default)
    report = library.add([pictures])
    assert report.stage("ocr") is None and report.stage("faces") is None
    library.close()

    decodes: dict[str, int] = {}
    real = media.decode_upright

    def counting(path, *args, **kwargs):
        decodes[str(path)] = decodes.get(str(path), 0) + 1
        return real(path, *args, **kwargs)

    monkeypatch.setattr(media, "decode_upright", counting)
    runner = CliRunner()
    env = {**STAGES_ON}
    stats = json.loads(runner.invoke(app, ["-L", str(library.root), "stats", "--json"], env=env).stdout)
    assert _stage(stats, "ocr")["pending"] == 3 and _stage(stats, "faces")["pending"] == 3
    assert any("photolib enrich" in problem for problem in stats["problems"])

    # one worker: the stages' jobs run in a thread of this process, where the decodes can be counted
    result = runner.invoke(app, ["-L", str(library.root), "enrich", "--json", "--workers", "1"], env=env,
                           catch_exceptions=False)
    assert result.exit_code == 0, result.output
    done = json.loads(result.stdout)
    assert (done["ocr"]["done"], done["ocr"]["found"]) == (3, 1)
    assert (done["faces"]["done"], done["faces"]["found"], done["faces"]["faces"]) == (3, 1, 1)
    assert sorted(decodes.values()) == [1, 1, 1]  # one decode per file fed thumbnails, OCR and faces

    stats = json.loads(runner.invoke(app, ["-L", str(library.root), "stats", "--json"], env=env).stdout)
    assert (_stage(stats, "ocr")["pending"], _stage(stats, "ocr")["with_text"]) == (0, 1)
    assert (_stage(stats, "faces")["pending"], _stage(stats, "faces")["people"]) == (0, 1)
    hits = json.loads(runner.invoke(app, ["-L", str(library.root), "search", "invoice", "--json"], env=env).stdout)
    assert hits[0]["path"] == str(pictures / "scan.jpg")
    again = json.loads(runner.invoke(app, ["-L", str(library.root), "enrich", "--json"], env=env).stdout)
    assert again["ocr"]["done"] == again["faces"]["done"] == 0
    shown = runner.invoke(app, ["-L", str(library.root), "enrich"], env=env).output
    assert "up to date" in shown


def test_a_failed_photo_keeps_its_reason_and_is_retried_only_when_asked(tmp_path, make_library):
    pictures = _pictures(tmp_path / "pics")
    library = make_library(settings={"ocr_enabled": True, "faces_enabled": False})
    library.add([pictures])
    victim = pictures / "meadow.jpg"
    victim.write_bytes(victim.read_bytes()[:300])  # unreadable now; enrich does not rescan, so it is not re-read
    with library.catalog.transaction():
        library.catalog.db.execute("DELETE FROM stage_state WHERE stage = 'ocr' AND photo_id = "
                                   "(SELECT id FROM photos WHERE path = ?)", [str(victim)])
    reports = {r.name: r for r in library.enrich()}
    assert reports["ocr"].done == 0 and len(reports["ocr"].failed) == 1
    row = _stage(library.stats(), "ocr")
    assert (row["failed"], row["pending"]) == (1, 0)
    assert library.show(str(victim))["stages"]["ocr"]["status"] == "failed"
    assert {r.name: r for r in library.enrich()}["ocr"].failed == []  # not retried by itself
    assert len({r.name: r for r in library.enrich(retry_failed=True)}["ocr"].failed) == 1


def test_a_catalog_from_before_the_pipeline_keeps_what_ocr_and_faces_did(tmp_path, make_library, library_path):
    """Schema 8 kept the OCR and face states in their own tables: migration 9 takes them over."""
    pictures = _pictures(tmp_path / "pics")
    library = make_library(settings={"ocr_enabled": True, "faces_enabled": True})
    library.add([pictures])
    library.close()
    connection = sqlite3.connect(library_path / "catalog.db")
    with connection:
        connection.execute("DROP TABLE stage_state")
        connection.execute("UPDATE meta SET value = '8' WHERE key = 'schema_version'")
    connection.close()

    reopened = make_library(settings={"ocr_enabled": True, "faces_enabled": True})
    report = reopened.add([pictures])
    assert report.stage("ocr").done == report.stage("faces").done == 0  # nothing read again
    assert _stage(reopened.stats(), "ocr")["done"] == 3 and _stage(reopened.stats(), "faces")["done"] == 3
