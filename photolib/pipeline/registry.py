"""The stage registry: every stage of the pipeline, in running order, one line each.

A stage is one module in `photolib/pipeline/stages/` and one entry in
`STAGES` below (see `photolib.pipeline.stage` for what its class declares).
What the rest of photolib knows about a stage comes from here: its name
(`StageName`), its progress label, the config section that turns it on and
off, the `has:` value it makes true, its `stats` row and its line in
`enrich --help`. The first pass (read, describe, embed) runs before them all
and is not listed: `add` builds it with its providers.
"""

from __future__ import annotations

import importlib
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Sequence

from photolib.pipeline.stage import StageBase
from photolib.pipeline.stages.faces import FaceStage
from photolib.pipeline.stages.first_pass import STEPS
from photolib.pipeline.stages.image import ImageStage
from photolib.pipeline.stages.ocr import OcrStage
from photolib.pipeline.stages.thumbnails import ThumbnailStage

if TYPE_CHECKING:
    from photolib.pipeline.stage import Stage, StageContext

# The enrichment stages, in running order (cheapest first).
STAGES: tuple[type[StageBase], ...] = (
    ThumbnailStage,
    ImageStage,
    OcrStage,
    FaceStage,
)

FIRST_PASS = STEPS  # the first pass's steps: read, describe, embed (its state is on the photo rows)

# Every stage name the catalog and the output use, as an enum for code that names one.
StageName = StrEnum("StageName", [(name.upper(), name) for name in (*FIRST_PASS, *(s.name for s in STAGES))])  # type: ignore[misc]


def stage_names() -> tuple[str, ...]:
    """The enrichment stages' names, in running order (what `add --json` and `enrich --json` key by)."""
    return tuple(stage.name for stage in STAGES)


def stage_class(name: str) -> type[StageBase] | None:
    return next((stage for stage in STAGES if stage.name == name), None)


def stage_has_values() -> dict[str, str]:
    """`has:` value -> the stage whose results make it true (`has:text` -> ocr, `has:faces` -> faces)."""
    return {stage.has_value: stage.name for stage in STAGES if stage.has_value}


def stage_docs() -> list[dict[str, Any]]:
    """One row per stage for the docs and `--help`: name, label, config section, `has:` value, pixels."""
    return [{"name": stage.name, "label": stage.label, "config_section": stage.config_section,
             "has": stage.has_value, "needs_pixels": stage.needs_pixels,
             "summary": (stage.__doc__ or "").strip().splitlines()[0] if stage.__doc__ else ""}
            for stage in STAGES]


def stages_help() -> str:
    """The sentence `enrich --help` ends with: the stages, in order, and the section that turns each off."""
    return "Stages, in order: " + ", ".join(
        f"{stage.name} ([{stage.config_section}] enabled)" if stage.config_section else stage.name
        for stage in STAGES) + "."


def build_stages(context: "StageContext", factories: Sequence[str] | None = None) -> list["Stage | StageBase"]:
    """The enabled stages, in order. `factories` ("module:function" names, each returning a stage or
    None) replaces the registry, for tests and experiments."""
    if factories is None:
        built: list[Any] = [stage.build(context) for stage in STAGES]
    else:
        built = []
        for spec in factories:
            module_name, _, function = spec.partition(":")
            built.append(getattr(importlib.import_module(module_name), function)(context))
    return [stage for stage in built if stage is not None]
