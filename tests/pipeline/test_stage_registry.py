"""A stage is one module and one registry line: its name, label, config section, `has:` value and
`stats` row come from its class, and everything that lists stages reads the registry."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from photolib.pipeline import registry
from photolib.pipeline.stage import Outcome, StageBase


class BrightnessStage(StageBase):
    """Mean brightness of the upright image: a stage as a new module would write it."""

    name = "brightness"
    label = "Brightness"
    needs_pixels = True
    min_side = 32
    model = "mean-brightness-1"
    stored: dict[int, float] = {}

    @classmethod
    def build(cls, context):
        return cls()

    @classmethod
    def findings(cls, catalog):
        return {"bright": sum(1 for value in cls.stored.values() if value > 128)}

    def process(self, work):
        import numpy as np

        return [Outcome(item.photo.id, value=float(np.asarray(item.image.convert("L")).mean())) for item in work]

    def store(self, catalog, outcomes):
        BrightnessStage.stored.update((o.photo_id, o.value) for o in outcomes)
        return {"measured": len(outcomes)}


@pytest.fixture
def brightness(monkeypatch):
    """The registry with one more stage, as its one added line would make it."""
    monkeypatch.setattr(BrightnessStage, "stored", {})
    monkeypatch.setattr(registry, "STAGES", (*registry.STAGES, BrightnessStage))
    return BrightnessStage


def test_a_registered_stage_runs_in_add_and_has_its_row_in_stats(tmp_path, trips, brightness):
    library = tmp_path / "library"
    runner = CliRunner()
    added = runner.invoke(app, ["--library", str(library), "add", str(trips), "--json"], catch_exceptions=False)
    assert added.exit_code == 0, added.output
    stages = json.loads(added.stdout)["stages"]
    assert stages["brightness"] == {"stage": "brightness", "model": "mean-brightness-1", "done": 6, "measured": 6,
                                    "failed": 0, "failures": []}
    assert list(stages)[-1] == "brightness"  # after the built-in stages: registry order

    stats = json.loads(runner.invoke(app, ["--library", str(library), "stats", "--json"]).stdout)
    row = next(row for row in stats["stages"] if row["stage"] == "brightness")
    assert row == {"stage": "brightness", "model": "mean-brightness-1", "done": 6, "failed": 0, "pending": 0,
                   "enabled": True, "bright": brightness.findings(None)["bright"]}
    assert len(brightness.stored) == 6


def test_a_registered_stage_s_backlog_is_named_in_stats_problems_until_enrich(make_library, trips, monkeypatch):
    library = make_library()
    library.add([trips])
    assert not any(row["stage"] == "brightness" for row in library.stats()["stages"])
    monkeypatch.setattr(registry, "STAGES", (*registry.STAGES, BrightnessStage))
    stats = library.stats()
    assert [row["pending"] for row in stats["stages"] if row["stage"] == "brightness"] == [6]
    assert "6 photos wait for the brightness stage: run `photolib enrich`" in stats["problems"]
    assert {report.name: report.done for report in library.enrich()}["brightness"] == 6


def test_every_registered_stage_is_in_enrich_help_with_its_config_section():
    result = CliRunner().invoke(app, ["enrich", "--help"], env={"COLUMNS": "400"})
    assert result.exit_code == 0
    for stage in registry.STAGES:
        assert f"{stage.name} ([{stage.config_section}] enabled)" in result.output
    assert [row["name"] for row in registry.stage_docs()] == ["thumbnails", "image", "ocr", "faces"]


def test_a_stage_s_config_section_is_the_one_that_turns_it_off(monkeypatch, tmp_path):
    """Each built-in stage names a config section with an `enabled` key (documented in
    config.example.toml by test_config), and that key is the one its `build` obeys."""
    from photolib.core.config import PLAIN_SECTIONS, load_settings
    from photolib.pipeline.stage import StageContext

    assert [stage.config_section for stage in registry.STAGES] == ["thumbnails", "image", "ocr", "faces"]
    for stage in registry.STAGES:
        assert PLAIN_SECTIONS[stage.config_section]["enabled"] == (bool, True)
        monkeypatch.setenv(f"PHOTOLIB_{stage.config_section.upper()}_ENABLED", "false")
        settings = load_settings(library_path=tmp_path / "library")
        context = StageContext(settings, None, tmp_path, lambda: None, lambda: None, lambda: object())
        assert stage.build(context) is None, stage.name
    for name in ("THUMBNAILS", "OCR", "FACES"):  # the image stage also needs an installed model
        monkeypatch.setenv(f"PHOTOLIB_{name}_ENABLED", "true")
    settings = load_settings(library_path=tmp_path / "library")

    class Cache:
        sizes = (256, 1024)

    context = StageContext(settings, None, tmp_path, lambda: None, lambda: None, lambda: Cache())
    assert [type(stage).__name__ for stage in registry.build_stages(context)] == ["ThumbnailStage", "OcrStage",
                                                                                   "FaceStage"]


def test_stage_names_labels_and_has_values_come_from_the_classes():
    from photolib.pipeline.engine import StageName
    from photolib.query.parser import parse

    assert [str(name) for name in StageName] == ["read", "describe", "embed", "thumbnails", "image", "ocr", "faces"]
    assert {stage.name: stage.label for stage in registry.STAGES} == {
        "thumbnails": "Thumbnails", "image": "Image embedding", "ocr": "Text in photos", "faces": "Faces"}
    assert registry.stage_has_values() == {"text": "ocr", "faces": "faces"}
    for value in registry.stage_has_values():  # the query language accepts each stage's has: value
        assert parse(f"has:{value}").filters


def test_a_failure_in_any_registered_stage_is_not_counted_as_a_file_left_out():
    from photolib.pipeline.importer import AddReport

    report = AddReport(failed=[(f"/p/{name}.jpg", f"{name}: cannot read file: gone") for name in registry.stage_names()]
                       + [("/p/broken.jpg", "cannot identify image file")])
    assert report.not_imported()["unreadable"] == {"count": 1}
