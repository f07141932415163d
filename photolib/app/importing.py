"""`add`, `enrich`, `reindex` and bulk import: what fills the catalog and its vector spaces.

`add` scans, records and describes photos (the first pass, `photolib.pipeline.importer`),
then works off the enrichment stages (`photolib.pipeline.registry`) through the one batch engine
(`photolib.pipeline.engine`); `enrich` works
off the stages' backlog library-wide; `reindex` rebuilds each space's index
from the catalog, re-embedding first when asked.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from photolib.app.context import UseCase, photos_under, space_named
from photolib.core.errors import PhotolibError, UsageError
from photolib.core.layout import CATALOG_NAME
from photolib.core.progress import NoProgress, Progress
from photolib.core.spaces import Space
from photolib.core.files import absolute
from photolib.pipeline.importer import AddReport, apply_plan, plan_counts_for_dry_run, run_first_pass

if TYPE_CHECKING:
    from photolib.pipeline.bulk import EmbeddedPhoto
    from photolib.pipeline.stage import StageReport
    from photolib.pipeline.scan import ScanPlan
    from photolib.store.catalog import Catalog


class Importing(UseCase):
    """Adding photos and computing what photolib knows of them."""

    def add(self, paths: list[str | os.PathLike], *, progress: Progress | None = None,
            dry_run: bool = False, jobs: int | None = None) -> AddReport:
        """Import photos under `paths`; see `importer` for what is and is not redone."""
        roots = [absolute(p) for p in paths]
        for root in roots:
            if not os.path.lexists(root):
                raise UsageError(f"{root} does not exist: give a folder or photo file to add")
        report = AddReport(remote_host=self.vision.remote_host)
        if dry_run:
            return self._dry_run(roots, report, progress)
        with self.write_lock():
            self.check_embedder_matches()
            plan = self._scan(roots, self.catalog, progress)
            before = {p.id for p in self.catalog.photos_needing_work()}
            apply_plan(self.catalog, plan, report)
            if self.vision.describes_from_path and plan.moved:
                self.catalog.mark_pending([photo_id for photo_id, _found in plan.moved])
            needing_work = self.catalog.photos_needing_work()
            todo = photos_under(needing_work, roots)
            report.elsewhere = len(needing_work) - len(todo)
            report.retried = len([p for p in todo if p.id in before])
            from photolib.pipeline.engine import BatchEngine
            from photolib.pipeline.stages.first_pass import FirstPass

            first_pass = FirstPass(self.catalog, self.vision, self.embedder, self.keeper.stored_model(),
                                   photo_texts=self._photo_texts())
            engine = BatchEngine(self.catalog, jobs=jobs or self.settings.jobs, batch_size=self.settings.batch_size,
                                 progress=progress, on_commit=self.keeper.checkpoint())
            try:
                run_first_pass(engine, first_pass, todo, report)
                self.keeper.sync_and_save()  # searchable by description now; heavier stages follow
                report.stages = self._run_stages([str(root) for root in roots], progress, jobs)
                report.visual_search_hint = self._visual_search_hint()
                report.failed.extend((path, f"{stage.name}: {reason}") for stage in report.stages
                                     for path, reason in stage.failed)
            except KeyboardInterrupt:
                report.interrupted = True
                raise
            finally:
                self.sync_indexes()
        return report

    def _visual_search_hint(self) -> str | None:
        """Without an image model: the one line that says how to turn visual search on."""
        if self.image_embedder is not None or not self.settings.image.enabled:
            return None
        from photolib.models.registry import human_size, known_model

        try:
            size = f" (a {human_size(known_model(self.settings.image.model).download_bytes)} download)"
        except PhotolibError:
            size = ""
        return (f"Visual search is off: `photolib models pull {self.settings.image.model}`{size} lets photolib "
                "see what is in the photos, offline; the next `add` or `photolib enrich` embeds them.")

    def enrich(self, *, progress: Progress | None = None, retry_failed: bool = False,
               jobs: int | None = None) -> list["StageReport"]:
        """Work off every enabled stage's backlog library-wide (after enabling a stage or changing
        its model); no scan, no file outside the catalog is looked at."""
        with self.write_lock():
            try:
                return self._run_stages(None, progress, jobs, retry_failed)
            finally:
                self.sync_indexes()

    def _run_stages(self, roots: list[str] | None, progress: Progress | None, jobs: int | None,
                    retry_failed: bool = False) -> list["StageReport"]:
        from photolib.pipeline.engine import BatchEngine

        stages = self.stages()
        if not stages:
            return []
        engine = BatchEngine(self.catalog, batch_size=self.settings.batch_size,
                             jobs=min(jobs or self.settings.jobs, os.cpu_count() or 2),
                             progress=progress, on_commit=self.context.checkpoint())
        try:
            return engine.run(stages, roots=roots, retry_failed=retry_failed)
        finally:
            (progress or NoProgress()).finish()

    def _photo_texts(self) -> "Any":
        """Where the words found in photos come from for embedding: only a local embedder sees them
        (a remote one gets descriptions, not what OCR read on receipts and letters)."""
        if self.settings.embedding.provider != "local":
            return None
        from photolib.store.text import TextStore

        return TextStore(self.catalog).texts_for

    def _dry_run(self, roots: list[Path], report: AddReport, progress: Progress | None) -> AddReport:
        """What `add` would do and send; takes no lock and writes nothing, not even a new catalog."""
        catalog = self.catalog if (self.root / CATALOG_NAME).exists() else None
        if catalog is not None:
            self.check_embedder_matches()
        plan = self._scan(roots, catalog, progress)
        pending = photos_under(catalog.photos_needing_work(), roots) if catalog is not None else []
        plan_counts_for_dry_run(catalog, self.vision, plan, report, pending)
        return report

    def _scan(self, roots: list[Path], catalog: "Catalog | None", progress: Progress | None) -> "ScanPlan":
        from photolib.pipeline.pairs import PhotoFiles
        from photolib.pipeline.scan import RawMode, plan_scan

        scanning = progress or NoProgress()
        scanning.start(None, "Scanning")
        raw = RawMode(self.settings.raw_files)
        if catalog is None:
            plan = plan_scan(roots, {}, lambda hashes: {}, on_file=scanning.advance, raw=raw)
        else:
            plan = plan_scan(roots, catalog.file_states(), catalog.ids_by_hash, on_file=scanning.advance, raw=raw,
                             companions_known=PhotoFiles(catalog.db).states())
        scanning.finish()
        return plan

    def reindex(self, *, reembed: bool = False, space: str | None = None,
                progress: Progress | None = None) -> dict[str, Any]:
        """Rebuild each space's index (or `space`'s) from the catalog; with `reembed`, recompute the
        vectors first (description: from the stored descriptions; image: the image stage over every photo)."""
        from photolib.pipeline.reembed import reembed_all

        chosen = [space_named(space)] if space else None
        with self.write_lock():
            spaces = chosen or self.kept_spaces()
            embedded = 0
            if reembed and Space.DESCRIPTION in spaces:
                texts = (self.text_store.texts_for(self.text_store.photo_ids_with_text())
                         if self._photo_texts() else None)
                embedded += reembed_all(self.catalog, self.embedder, progress, texts)
            if reembed and Space.IMAGE in spaces:
                embedded += self._reembed_images(progress)
            result: dict[str, Any] = {"reembedded": embedded, "spaces": {}}
            for name in spaces:
                index = self.keeper_of(name).rebuild()
                self.keeper_of(name).save()
                result["spaces"][str(name)] = {"vectors": index.count, "model": index.model,
                                               "dimension": index.dimension}
        first = result["spaces"].get(str(Space.DESCRIPTION)) or next(iter(result["spaces"].values()))
        return {**first, **result}

    def _reembed_images(self, progress: Progress | None) -> int:
        from photolib.store.stage_states import StageStates
        from photolib.pipeline.engine import StageName

        if not any(stage.name == StageName.IMAGE for stage in self.stages()):
            raise UsageError("no image model is installed or configured: see `photolib models list`, "
                             "then `photolib models pull NAME`")
        with self.catalog.transaction():
            StageStates(self.catalog).forget_stage(StageName.IMAGE)
        reports = self._run_stages(None, progress, None)
        return sum(report.done for report in reports if report.name == StageName.IMAGE)

    def import_embedded(self, photos: "Iterable[EmbeddedPhoto]", model: str) -> int:
        """Add photos that already have descriptions and vectors (migrations, large test libraries)."""
        from photolib.pipeline.bulk import import_embedded

        with self.write_lock():
            try:
                return import_embedded(self.catalog, photos, model)
            finally:
                self.sync_indexes()
