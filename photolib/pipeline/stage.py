"""What a stage is: the contract between a stage and the batch engine (`photolib.pipeline.engine`).

What photolib learns about a photo comes in stages of very different cost.
The *first pass* (read the file, describe it, embed the description:
`photolib.pipeline.stages.first_pass`) makes a photo searchable by its
description as soon as possible; the enrichment stages follow (thumbnails,
the image space, text in photos, faces: `photolib.pipeline.stages`). All of
them run through the one engine, so each of them

* keeps a state per photo in the catalog: done, failed with a reason, or
  pending (a photo without an up-to-date state is in the stage's backlog).
  Where the state lives is the stage's `state_book`: the first pass keeps it
  on the photo row (`photos.status` / `failed_stage`), every other stage in
  `stage_state`, with the model it ran with and the content hash it read;
* commits each batch in its own transaction, values and states together, so
  an interrupted run keeps every finished batch and resumes on its own;
* runs only for its backlog: photos it has not done, done with another model
  (changing a stage's model re-runs that stage only), or whose file changed;
* shows one progress line with counts and rate while it runs.

Three names, three meanings: a `Stage` is a class that does one kind of work
(this contract); its `name` (one of `photolib.pipeline.registry.StageName`)
is what the catalog stores and `stats`, `add --json` and `show` print;
`photolib.core.records.FailedStep` is where a photo's first pass failed, as
`photos.failed_stage` has always stored it.

How to add a stage (perceptual hash, a new model...)
----------------------------------------------------
Write one module in `photolib/pipeline/stages/` with a class deriving from
`StageBase`, and add the class to `STAGES` in `photolib.pipeline.registry`
(stages run in that order). Everything else about the stage comes from its
class: its name and progress label, the config section that turns it on and
off (`config_section`: a section of `photolib.core.config.PLAIN_SECTIONS`
with an `enabled` key, documented in config.example.toml), the `has:` value
of the query language it makes true (`has_value`), and the extra columns of
its `stats` row (`findings`). The class declares:

* ``name`` - the stage's name, stored in the catalog;
* ``model`` - the identity of what does the work (model name + version of
  your code/parameters); change it and every photo is re-processed by your
  stage only;
* ``needs_pixels`` / ``min_side`` - whether `process` gets the decoded
  image, and the shortest side in pixels it needs (None: full size; the
  engine decodes JPEGs at a reduced scale when every stage allows it);
* ``build(context)`` - the stage, or None when settings disable it (or its
  model is not installed);
* ``process(work)`` - the batch function: gets `PhotoWork` items (the photo
  row and, for pixel stages, the decoded, upright RGB PIL image, shared with
  the other pixel stages: never change it in place) and returns one
  `Outcome` per item (a value, or an error reason). It runs outside any
  transaction and must not write to the catalog. Raise a `PhotolibError` to
  fail the whole batch with that reason; other exceptions stop the run (bugs
  are not recorded as photo failures);
* ``store(catalog, outcomes)`` - writes the successful values where they
  belong (your own table, created by your migration in `photolib.store`; a
  vector space; the photos row). Called inside the batch's transaction, right
  before the engine records the states, so the value and its "done" commit
  together. It may return counts of what it found (e.g. ``{"found": 3}``),
  added up in the stage's report.

Optional, with defaults in `StageBase`: ``process_photo(work, run)`` is
per-photo work the engine runs in its worker pool, ahead of the batch being
committed (the first pass reads and describes there; it must not touch the
catalog); ``prefetch(catalog, photos)`` reads what that work needs from the
catalog first; ``run_stopping`` names errors after which no further call can
succeed (a rejected API key): the batch keeps what it paid for and the run
stops. A class with only the required members (name, model, needs_pixels,
min_side, process, store) also runs: `tests/test_stages.py` has a small
complete example (a stage that records each photo's mean colour).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Protocol, Sequence

from photolib.core.errors import PhotolibError

if TYPE_CHECKING:
    from PIL import Image

    from photolib.core.config import Settings
    from photolib.store.catalog import Catalog, StoredPhoto


class StageStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    PENDING = "pending"  # not stored: a photo without an up-to-date state


@dataclass
class PhotoWork:
    """One photo handed to the stages of a batch: its row and, for pixel stages, the decoded upright RGB
    image; what each stage read for it before the batch (`inputs`) and made of it in a worker (`made`)."""

    photo: "StoredPhoto"
    image: "Image.Image | None" = None
    error: str | None = None  # why the pixels could not be decoded: each pixel stage fails the photo with it
    inputs: dict[str, Any] = field(default_factory=dict)  # stage name -> what its `prefetch` read for this photo
    made: dict[str, Any] = field(default_factory=dict)  # stage name -> what its `process_photo` made


@dataclass
class Outcome:
    """What a stage made of one photo: `value` to store, or `error` (the reason it failed)."""

    photo_id: int
    value: Any = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # not failures (e.g. a sidecar that could not be read)


class Stage(Protocol):
    """The members every stage has (`StageBase` adds the optional ones, with their defaults)."""

    name: str
    model: str
    needs_pixels: bool
    min_side: int | None

    def process(self, work: list[PhotoWork]) -> list[Outcome]: ...

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int] | None: ...


class RunControl:
    """What a running batch tells per-photo work: whether the run is stopping (an error after which no
    call can succeed, Ctrl-C, a bug); work that sees it makes no new model call."""

    def __init__(self) -> None:
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        self._stopping.set()


class StateBook(Protocol):
    """Where a stage keeps each photo's state (done, failed with the reason, or pending)."""

    def backlog(self, stage: "StageBase", roots: Sequence[str] | None = None,
                retry_failed: bool = False) -> list[int]:
        """Photo ids the stage still has to do, sorted; with `roots`, only those at or under these paths."""
        ...

    def record(self, stage: "StageBase", outcomes: list[Outcome], hashes: dict[int, str | None],
               finished: bool = True) -> None:
        """Record a batch's states inside its transaction. `finished` is False when the run stopped in the
        batch: failures are recorded, and no photo is recorded done."""
        ...


class StageStateBook:
    """The `stage_state` table: a row per (photo, stage) with the model and the content hash it read."""

    def __init__(self, catalog: "Catalog") -> None:
        from photolib.store.stage_states import StageStates

        self.states = StageStates(catalog)

    def backlog(self, stage: "StageBase", roots: Sequence[str] | None = None,
                retry_failed: bool = False) -> list[int]:
        return self.states.backlog(stage.name, stage.model, retry_failed=retry_failed, roots=roots)

    def record(self, stage: "StageBase", outcomes: list[Outcome], hashes: dict[int, str | None],
               finished: bool = True) -> None:
        self.states.record(stage.name, stage.model, [(o.photo_id, hashes.get(o.photo_id), o.error)
                                                     for o in outcomes if finished or o.error])


@dataclass
class StageContext:
    """What a stage's `build` may use: settings, the catalog, a cache folder, shared providers."""

    settings: "Settings"
    catalog: "Catalog"
    cache_dir: Path
    image_embedder: Callable[[], Any]  # the configured ImageEmbedder, or None (built once, shared with search)
    text_embedder: Callable[[], Any]  # the description space's embedder
    thumbnails: Callable[[], Any] | None = None  # the library's ThumbnailCache


class StageBase:
    """A stage of the pipeline: what it is (name, label, config section, `has:` value, stats columns)
    and the optional parts of the engine's contract, with their defaults."""

    name: ClassVar[str]
    label: ClassVar[str]  # the progress line's words ("Text in photos")
    config_section: ClassVar[str | None] = None  # the `[section]` whose `enabled` turns the stage on and off
    has_value: ClassVar[str | None] = None  # the `has:VALUE` of the query language this stage's results make true
    needs_pixels: ClassVar[bool] = False
    min_side: ClassVar[int | None] = None
    run_stopping: ClassVar[tuple[type[BaseException], ...]] = ()  # errors after which no further call can succeed
    progress_counts: ClassVar[tuple[str, ...]] = ()  # report counts shown on the progress line
    model: str

    @classmethod
    def build(cls, context: StageContext) -> "StageBase | None":
        """The stage as the settings want it, or None when it is off (or its model is not installed)."""
        raise NotImplementedError

    @classmethod
    def findings(cls, catalog: "Catalog") -> dict[str, int]:
        """What the stage found library-wide, shown beside its counts in `stats` (e.g. photos with text)."""
        return {}

    def state_book(self, catalog: "Catalog") -> StateBook:
        return StageStateBook(catalog)

    def progress_title(self) -> str:
        return f"{self.label}: {self.model}"

    def progress_counters(self, counts: dict[str, int]) -> dict[str, int]:
        """What the progress line shows beside its count after each batch (`counts`: the report's so far)."""
        return {key: counts.get(key, 0) for key in self.progress_counts}

    def prefetch(self, catalog: "Catalog", photos: list["StoredPhoto"]) -> dict[int, Any]:
        """photo id -> what `process_photo` needs from the catalog; read on the committing thread."""
        return {}

    def process_photo(self, work: PhotoWork, run: RunControl) -> None:
        """Per-photo work in the engine's worker pool, ahead of the batch's commit (result in `work.made`)."""

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        raise NotImplementedError

    def unfinished(self, work: list[PhotoWork]) -> list[Outcome]:
        """When the run stops before `process`: the outcomes of what `process_photo` already paid for."""
        return []

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int] | None:
        raise NotImplementedError

    def keep_failed(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int] | None:
        """What to keep of photos the stage failed on (the first pass keeps what it read of the file)."""
        return None


class BareStage(StageBase):
    """A stage class with only the required members (`Stage`), with `StageBase`'s defaults for the rest."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self.name = str(stage.name)  # type: ignore[misc]
        self.label = self.name.capitalize()  # type: ignore[misc]
        self.model = stage.model
        self.needs_pixels = stage.needs_pixels  # type: ignore[misc]
        self.min_side = stage.min_side  # type: ignore[misc]

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        return self.stage.process(work)

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int] | None:
        return self.stage.store(catalog, outcomes)


def as_stage_base(stage: "Stage | StageBase") -> StageBase:
    return stage if isinstance(stage, StageBase) else BareStage(stage)


@dataclass
class StageReport:
    name: str
    model: str
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    counts: dict[str, int] = field(default_factory=dict)  # what the stage found ("found", "faces"...)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): not failures

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.name, "model": self.model, "done": self.done, **self.counts,
                "failed": len(self.failed),
                "failures": [{"path": path, "reason": reason} for path, reason in self.failed]}


def outcome_of(item: PhotoWork, work: Callable[[Any], Any], failure: str) -> Outcome:
    """The photo's outcome of `work` on its image: one odd photo is that photo's failure, never its batch's."""
    try:
        return Outcome(item.photo.id, value=work(item.image))
    except PhotolibError as error:
        return Outcome(item.photo.id, error=str(error))
    except Exception as error:  # noqa: BLE001 - a decoder or model failure on one photo is that photo's
        return Outcome(item.photo.id, error=f"{failure} ({type(error).__name__}: {error})")
