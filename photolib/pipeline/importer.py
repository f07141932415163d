"""The `add` pipeline: scan, record what the scan found, then the first pass and the stages.

`add` scans the folders (`photolib.pipeline.scan`), records moves, changes,
new files and RAW+JPEG pairs in one transaction (`apply_plan`), then runs the
first pass (read, describe, embed: `photolib.pipeline.stages.first_pass`)
over the photos under the given folders that still need it, and the
enrichment stages after it, all through the one batch engine
(`photolib.pipeline.engine`). `AddReport` is what the run did, for the
summary and `--json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from photolib.core.records import FailedStep, text_hash  # noqa: F401 - text_hash re-exported
from photolib.pipeline.pairs import record_pairs, would_pair
from photolib.pipeline.registry import stage_names

if TYPE_CHECKING:
    from photolib.core.protocols import Vision
    from photolib.pipeline.engine import BatchEngine
    from photolib.pipeline.scan import ScanPlan, Skipped
    from photolib.pipeline.stage import StageReport
    from photolib.pipeline.stages.first_pass import FirstPass
    from photolib.store.catalog import Catalog, StoredPhoto


TOO_LARGE_REASONS = ("decompression bomb", "image too large")  # from photolib.media.read
# A failure of a model step or of an enrichment stage ("ocr: ..."): the photo itself is imported.
MODEL_STEP_REASONS = ("vision failed", "unusable model output", "embedding failed", "not described",
                      *(f"{name}: " for name in stage_names()))


@dataclass
class AddReport:
    new: int = 0
    updated: int = 0
    moved: int = 0
    unchanged: int = 0
    retried: int = 0
    described: int = 0  # vision calls made
    embedded: int = 0  # texts sent to the embedder
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    dry_run: bool = False
    to_describe: int = 0  # dry run: photos that would be sent to the vision model
    to_embed: int = 0
    remote_host: str | None = None
    interrupted: bool = False
    elsewhere: int = 0  # photos outside the given paths that still need work (left for their own `add`)
    stages: list = field(default_factory=list)  # StageReport of each enabled pipeline stage (after the first pass)
    visual_search_hint: str | None = None  # how to turn on the image space, when no image model is installed
    paired: int = 0  # RAW files newly kept as the second file of their JPEG's photo
    skipped: "Skipped | None" = None  # files seen and not imported, by why (see `not_imported`)

    def not_imported(self) -> dict:
        """What this run saw and did not import, by why; failures split into too large and unreadable."""
        from photolib.pipeline.scan import Skipped

        counts = (self.skipped or Skipped()).as_dict()
        too_large = [path for path, reason in self.failed if reason.startswith(TOO_LARGE_REASONS)]
        unreadable = [path for path, reason in self.failed
                      if not reason.startswith(TOO_LARGE_REASONS + MODEL_STEP_REASONS)]
        counts["too_large"] = {"count": len(too_large)}
        counts["unreadable"] = {"count": len(unreadable)}
        counts["count"] = sum(kind["count"] for kind in counts.values())
        return counts

    def stage(self, name: str) -> "StageReport | None":
        """What the pipeline stage `name` did in this run; None when it is not enabled."""
        return next((stage for stage in self.stages if stage.name == name), None)

    def xmp_sidecars(self) -> int:
        """XMP sidecars seen beside the photos of this run: their metadata, not files left out."""
        return self.skipped.xmp_of_photos if self.skipped is not None else 0

    sidecars_changed: int = 0  # photos whose XMP sidecar changed: the user's words read again, nothing else
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, reason): not failures (bad sidecars)

    def as_dict(self) -> dict:
        data = {
            "new": self.new, "updated": self.updated, "moved": self.moved, "unchanged": self.unchanged,
            "retried": self.retried, "failed": len(self.failed), "vision_calls": self.described,
            "embedded": self.embedded, "dry_run": self.dry_run, "elsewhere_unfinished": self.elsewhere,
            "sidecars_changed": self.sidecars_changed,
            "failures": [{"path": p, "reason": r} for p, r in self.failed],
            "stages": {stage.name: stage.as_dict() for stage in self.stages},
            "visual_search_hint": self.visual_search_hint,
            "raw_paired": self.paired, "not_imported": self.not_imported(), "xmp_sidecars": self.xmp_sidecars(),
            "warnings": [{"path": p, "reason": r} for p, r in self.warnings],
        }
        if self.dry_run:
            data.update(would_describe=self.to_describe, would_embed=self.to_embed, photos_sent_to=self.remote_host)
        return data


def apply_plan(catalog: "Catalog", plan: "ScanPlan", report: AddReport) -> None:
    """Record what the scan found: moves, touches, changed content, new rows, unreadable paths."""
    with catalog.transaction():
        for photo_id, found in plan.touched:
            catalog.update_file(photo_id, size=found.size, mtime_ns=found.mtime_ns)
        for photo_id, found in plan.moved:
            catalog.update_file(photo_id, path=str(found.path), source_root=str(found.root),
                                size=found.size, mtime_ns=found.mtime_ns)
        for photo_id, found, digest in plan.changed:
            catalog.reset_for_new_content(photo_id, found.size, found.mtime_ns, digest)
        catalog.mark_pending(plan.sidecar_changed)
        for found, digest in plan.new:
            catalog.insert_photo(str(found.path), str(found.root), found.size, found.mtime_ns, digest)
        report.paired += record_pairs(catalog, plan)
        for problem in plan.problems:
            if problem.folder:
                continue
            existing = catalog.get_by_path(problem.path)
            photo_id = existing.id if existing else catalog.insert_photo(problem.path, "", 0, 0, None)
            catalog.mark_failed(photo_id, FailedStep.READ, problem.reason)
    report.new += len(plan.new)
    report.updated += len(plan.changed) + len(plan.repointed)
    report.moved += len(plan.moved)
    report.unchanged += len(plan.unchanged) + len(plan.touched)
    report.sidecars_changed += len(plan.sidecar_changed)
    _report_problems(catalog, plan, report)


def _report_problems(catalog: "Catalog | None", plan: "ScanPlan", report: AddReport) -> None:
    """This run's problems, and files already known to be unreadable whose bytes have not changed."""
    report.skipped = plan.skipped
    report.failed.extend((p.path, p.reason) for p in plan.problems)
    if catalog is None:
        return
    for photo in catalog.get_many(plan.unchanged_unreadable).values():
        report.failed.append((photo.path, f"{photo.data.get('error') or 'cannot be read'} (unchanged since the last run)"))


def run_first_pass(engine: "BatchEngine", first_pass: "FirstPass", photos: list["StoredPhoto"],
                   report: AddReport) -> None:
    """The first pass over `photos` through the batch engine; what it did goes into `report`."""
    [done] = engine.run([first_pass], backlogs={first_pass.name: [photo.id for photo in photos]})
    report.failed.extend(done.failed)
    report.warnings.extend(done.warnings)
    report.described += done.counts.get("vision", 0)
    report.embedded = done.counts.get("embedded", 0)
    engine.progress.finish()


def plan_counts_for_dry_run(catalog: "Catalog | None", vision: "Vision", plan: "ScanPlan", report: AddReport,
                            pending: list["StoredPhoto"]) -> None:
    """What `add` would send, without sending or writing anything (`catalog` is None for a new library)."""
    hashes = [d for _, d in plan.new] + [d for _, _, d in plan.changed] + [p.data.get("hash") for p in pending]
    uncached = [d for d in hashes if d and (catalog is None or vision.describes_from_path or catalog.cached_description(
        d, vision.model_name, vision.prompt_version) is None)]
    report.dry_run = True
    report.new, report.updated, report.moved = len(plan.new), len(plan.changed), len(plan.moved)
    report.unchanged = len(plan.unchanged) + len(plan.touched)
    report.retried = len(pending)
    report.sidecars_changed = len(plan.sidecar_changed)
    report.paired = would_pair(catalog, plan)
    report.to_describe = len(uncached)
    report.to_embed = len(hashes)
    _report_problems(catalog, plan, report)

