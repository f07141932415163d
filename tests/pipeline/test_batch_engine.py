"""The first pass and the enrichment stages run through one batch engine: each commits batch by batch,
and an interrupted `add` resumes the first pass and each stage where it stopped."""

from __future__ import annotations

import pytest

from photolib.core.protocols import ProviderSettings
from photolib.pipeline import registry
from photolib.pipeline.engine import BatchEngine
from photolib.pipeline.stage import Outcome, StageBase
from photolib.providers.local import LocalVision


class CountingVision(LocalVision):
    """The local describer, counting its calls; Ctrl-C on call number `stop_at`."""

    def __init__(self, stop_at: int | None = None) -> None:
        super().__init__(ProviderSettings(provider="local"))
        self.stop_at = stop_at
        self.described: list[str] = []

    def describe(self, photo):
        if len(self.described) + 1 == self.stop_at:
            raise KeyboardInterrupt
        self.described.append(str(photo.path))
        return super().describe(photo)


class WidthStage(StageBase):
    """A pixel stage that can be interrupted after `stop_after` photos."""

    name = "width"
    label = "Width"
    needs_pixels = True
    min_side = 32
    model = "width-1"
    stop_after: int | None = None
    seen: list[int] = []

    @classmethod
    def build(cls, context):
        return cls()

    def process(self, work):
        if self.stop_after is not None and len(WidthStage.seen) >= self.stop_after:
            raise KeyboardInterrupt
        WidthStage.seen.extend(item.photo.id for item in work)
        return [Outcome(item.photo.id, value=item.image.width) for item in work]

    def store(self, catalog, outcomes):
        return None


@pytest.fixture
def engine_runs(monkeypatch):
    """The stages of every BatchEngine.run, in order."""
    runs: list[list[str]] = []
    real = BatchEngine.run

    def recording(self, stages, **kwargs):
        runs.append([str(stage.name) for stage in stages])
        return real(self, stages, **kwargs)

    monkeypatch.setattr(BatchEngine, "run", recording)
    return runs


def _states(library, stage):
    return [row[0] for row in library.catalog.db.execute(
        "SELECT photo_id FROM stage_state WHERE stage = ? AND status = 'done' ORDER BY photo_id", [stage])]


def test_an_interrupted_first_pass_and_an_interrupted_stage_both_resume(make_library, trips, monkeypatch,
                                                                         engine_runs):
    monkeypatch.setattr(registry, "STAGES", (*registry.STAGES, WidthStage))
    monkeypatch.setattr(WidthStage, "seen", [])
    settings = {"batch_size": 2, "jobs": 1}

    stopped = CountingVision(stop_at=3)
    with pytest.raises(KeyboardInterrupt):
        make_library(vision=stopped, settings=settings).add([trips])
    library = make_library(settings=settings)
    assert library.catalog.status_counts()["ok"] == 2  # the first batch of the first pass was committed
    assert _states(library, "width") == []  # the stages had not begun
    assert engine_runs == [["first-pass"]]

    monkeypatch.setattr(WidthStage, "stop_after", 2)
    resumed = CountingVision()
    with pytest.raises(KeyboardInterrupt):
        make_library(vision=resumed, settings=settings).add([trips])
    assert sorted(resumed.described) == sorted(set(resumed.described)) and len(resumed.described) == 4
    assert set(stopped.described[:2]).isdisjoint(resumed.described)  # nothing described twice
    assert library.catalog.status_counts()["ok"] == 6
    assert _states(library, "width") == sorted(WidthStage.seen) and len(WidthStage.seen) == 2
    assert engine_runs[1:] == [["first-pass"], ["thumbnails", "width"]]

    monkeypatch.setattr(WidthStage, "stop_after", None)
    finisher = CountingVision()
    report = make_library(vision=finisher, settings=settings).add([trips])
    assert finisher.described == [] and report.described == 0
    assert report.stage("width").done == 4 and len(WidthStage.seen) == 6 == len(set(WidthStage.seen))
    assert len(_states(library, "width")) == 6
    assert engine_runs[3:] == [["first-pass"], ["thumbnails", "width"]]


def test_a_run_stopping_error_in_a_per_photo_step_keeps_the_batch_and_stops_the_run(make_library, trips):
    """Any stage may do per-photo work in the engine's workers and name errors that stop the run."""
    from photolib.core.errors import ProviderAuthError

    class Rejected(StageBase):
        name = "rejected"
        label = "Rejected"
        model = "remote-1"
        run_stopping = (ProviderAuthError,)
        calls: list[int] = []

        def process_photo(self, work, run):
            if run.stopping:
                return
            Rejected.calls.append(work.photo.id)
            if len(Rejected.calls) == 3:
                raise ProviderAuthError("the key was rejected")
            work.made[self.name] = work.photo.id * 10

        def unfinished(self, work):
            return [Outcome(item.photo.id, value=item.made[self.name]) for item in work if self.name in item.made]

        def process(self, work):
            return [Outcome(item.photo.id, value=item.made[self.name]) for item in work]

        def store(self, catalog, outcomes):
            Rejected.stored = [o.value for o in outcomes]
            return None

    library = make_library(settings={"batch_size": 2})
    library.add([trips])
    engine = BatchEngine(library.catalog, batch_size=2, jobs=1)
    stage = Rejected()
    with pytest.raises(ProviderAuthError):
        engine.run([stage], backlogs={"rejected": [1, 2, 3, 4, 5, 6]})
    assert _states(library, "rejected") == [1, 2]  # the first batch committed; the run stopped in the second
    assert Rejected.calls == [1, 2, 3]  # once the key was rejected, no further call (photo 4 saw the run stopping)
    assert Rejected.stored == []  # the second batch finished nothing
    reports = BatchEngine(library.catalog, batch_size=2, jobs=1).run([Rejected()])  # resumes from its states
    assert reports[0].done == 4 and _states(library, "rejected") == [1, 2, 3, 4, 5, 6]
