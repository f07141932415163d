"""The enrichment pipeline: stages after the first pass, each with its own state, backlog and commits.

`MeanColourStage` is also the small complete example of a stage that
`photolib.pipeline.engine` points to: it stores each photo's mean colour in its own table.
"""

from __future__ import annotations

import pytest

from photolib.pipeline.engine import Outcome, StageName, StageStatus

TEST_FACTORIES = ("tests.pipeline.test_stages:make_colour_stage", "tests.pipeline.test_stages:make_size_stage")


class MeanColourStage:
    """A pixel stage: the mean RGB colour of the upright image, stored in `test_colours`."""

    name = StageName.IMAGE  # any stage name; the real image stage is not enabled in these tests
    needs_pixels = True
    min_side = 64

    def __init__(self, model: str = "mean-colour-1") -> None:
        self.model = model
        self.seen: list[int] = []

    def process(self, work):
        import numpy as np

        self.seen.extend(item.photo.id for item in work)
        return [Outcome(item.photo.id, value=np.asarray(item.image, dtype=np.float32).mean(axis=(0, 1)).tolist())
                for item in work]

    def store(self, catalog, outcomes):
        catalog.db.execute("CREATE TABLE IF NOT EXISTS test_colours (photo_id INTEGER PRIMARY KEY, r, g, b)")
        catalog.db.conn.executemany("INSERT OR REPLACE INTO test_colours VALUES (?, ?, ?, ?)",
                                    [(o.photo_id, *o.value) for o in outcomes])


class UprightSizeStage:
    """A second pixel stage (another name), to check one decode feeds both."""

    name = StageName.READ  # reuses an enum value only as a distinct key for the test
    needs_pixels = True
    min_side = 32
    model = "size-1"

    def __init__(self) -> None:
        self.sizes: dict[int, tuple[int, int]] = {}

    def process(self, work):
        self.sizes.update((item.photo.id, item.image.size) for item in work)
        return [Outcome(item.photo.id, value=item.image.size) for item in work]

    def store(self, catalog, outcomes):
        pass


STAGES: dict[str, object] = {}


def make_colour_stage(context):
    return STAGES.get("colour")


def make_size_stage(context):
    return STAGES.get("size")


@pytest.fixture
def colour(monkeypatch):
    stage = MeanColourStage()
    monkeypatch.setitem(STAGES, "colour", stage)
    return stage


@pytest.fixture
def decodes(monkeypatch):
    """Counts real decodes per path (the real decoder runs)."""
    from photolib.media import read as media

    counted: dict[str, int] = {}
    real = media.decode_upright

    def counting(path, min_side=None):
        counted[str(path)] = counted.get(str(path), 0) + 1
        return real(path, min_side)

    monkeypatch.setattr(media, "decode_upright", counting)
    return counted


def _library(make_library, **settings):
    return make_library(stage_factories=TEST_FACTORIES, settings={"batch_size": 2, **settings})


def _states(library, stage="image"):
    return dict(library.catalog.db.execute(
        "SELECT photo_id, status FROM stage_state WHERE stage = ? ORDER BY photo_id", [stage]).fetchall())


def test_add_runs_each_stage_after_the_first_pass_and_decodes_each_file_once(make_library, trips, colour,
                                                                             decodes, monkeypatch):
    size = UprightSizeStage()
    monkeypatch.setitem(STAGES, "size", size)
    library = _library(make_library)
    report = library.add([trips])
    assert [(s.name, s.done, s.failed) for s in report.stages] == [("image", 6, []), ("read", 6, [])]
    assert sorted(decodes.values()) == [1] * 6  # one decode per file feeds both pixel stages
    assert len(library.search("Paris")) > 0  # the first pass made them searchable by description
    colours = library.catalog.db.execute("SELECT photo_id, r, g, b FROM test_colours").fetchall()
    assert len(colours) == 6 and set(_states(library).values()) == {StageStatus.DONE}
    blue = [row for row in colours if row[3] > row[1]]  # the Sydney photos are blue, Paris beige
    assert len(blue) == 3
    assert len(size.sizes) == 6 and all(min(s) >= 32 for s in size.sizes.values())


def test_a_second_add_does_no_work_in_any_stage(make_library, trips, colour, decodes):
    library = _library(make_library)
    library.add([trips])
    decodes.clear()
    colour.seen.clear()
    report = library.add([trips])
    assert report.described == 0 and report.embedded == 0
    assert colour.seen == [] and decodes == {}
    assert [(s.done, s.failed) for s in report.stages] == [(0, [])]


def test_a_new_model_for_one_stage_reruns_that_stage_only(make_library, trips, colour, monkeypatch):
    _library(make_library).add([trips])
    newer = MeanColourStage("mean-colour-2")
    monkeypatch.setitem(STAGES, "colour", newer)
    library = _library(make_library)
    assert [row["pending"] for row in library.stats()["stages"] if row["stage"] == "image"] == [6]
    report = library.add([trips])
    assert report.described == 0 and report.embedded == 0  # the first pass has nothing to redo
    assert len(newer.seen) == 6
    models = library.catalog.db.execute("SELECT DISTINCT model FROM stage_state WHERE stage='image'").fetchall()
    assert models == [("mean-colour-2",)]


def test_enabling_a_stage_later_works_off_its_backlog_library_wide(make_library, trips, monkeypatch):
    library = _library(make_library)
    library.add([trips])
    assert not any(row["stage"] == "image" for row in library.stats()["stages"])
    stage = MeanColourStage()
    monkeypatch.setitem(STAGES, "colour", stage)
    stats = library.stats()
    assert [row["pending"] for row in stats["stages"] if row["stage"] == "image"] == [6]
    assert any("photolib enrich" in problem for problem in stats["problems"])
    reports = library.enrich()
    assert reports[0].done == 6 and len(stage.seen) == 6
    assert library.enrich()[0].done == 0
    assert [row["pending"] for row in library.stats()["stages"] if row["stage"] == "image"] == [0]


def test_an_interrupted_stage_keeps_its_finished_batches(make_library, trips, monkeypatch):
    class Interrupted(MeanColourStage):
        def process(self, work):
            if len(self.seen) >= 2:
                raise KeyboardInterrupt
            return super().process(work)

    monkeypatch.setitem(STAGES, "colour", Interrupted())
    library = _library(make_library)
    with pytest.raises(KeyboardInterrupt):
        library.add([trips])
    assert len(_states(library)) == 2  # the first batch of two was committed
    assert library.catalog.status_counts()["ok"] == 6  # the first pass finished before the stage began
    finisher = MeanColourStage()
    monkeypatch.setitem(STAGES, "colour", finisher)
    _library(make_library).add([trips])
    assert len(finisher.seen) == 4 and len(_states(library)) == 6


def test_a_photo_a_stage_cannot_decode_is_failed_with_its_reason(make_library, trips, colour):
    library = _library(make_library)
    library.add([trips])
    victim = sorted(trips.rglob("*.jpg"))[0]
    victim.write_bytes(victim.read_bytes()[:200])  # now unreadable, but enrich does not rescan
    library.catalog.db.execute("DELETE FROM stage_state WHERE photo_id = (SELECT id FROM photos WHERE path = ?)",
                               [str(victim)])
    reports = library.enrich()
    assert reports[0].done == 0 and len(reports[0].failed) == 1
    assert reports[0].failed[0][0] == str(victim) and "corrupt" in reports[0].failed[0][1]
    row = [r for r in library.stats()["stages"] if r["stage"] == "image"][0]
    assert (row["done"], row["failed"], row["pending"]) == (5, 1, 0)
    assert library.enrich()[0].failed == []  # not retried by itself
    assert len(library.enrich(retry_failed=True)[0].failed) == 1


def test_forgetting_a_photo_drops_its_stage_states(make_library, trips, colour):
    library = _library(make_library)
    library.add([trips])
    library.remove("1")
    assert 1 not in _states(library) and len(_states(library)) == 5


def test_add_of_a_folder_works_off_that_folder_s_backlog_only(make_library, trips, monkeypatch):
    _library(make_library).add([trips])
    stage = MeanColourStage()
    monkeypatch.setitem(STAGES, "colour", stage)
    library = _library(make_library)
    report = library.add([trips / "Paris weekend"])
    assert report.stages[0].done == 3
    assert {library.catalog.get(pid).path.split("/")[-2] for pid in stage.seen} == {"Paris weekend"}
    assert [row["pending"] for row in library.stats()["stages"] if row["stage"] == "image"] == [3]
