"""`stats`, `doctor`, `backup` and `restore`: what state the library is in, and keeping it safe.

The file work (SQLite's backup API, salvage, snapshots put back) lives in
`photolib.maintenance`; here it gets the library's lock, its catalog and its
messages.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from photolib.app.context import UseCase
from photolib.core.errors import UsageError
from photolib.core.files import absolute

if TYPE_CHECKING:
    from photolib.store.salvage import RepairReport


class Care(UseCase):
    """Reports on the library, backups, and repairs."""

    def stats(self) -> dict[str, Any]:
        from photolib.app.views import library_stats, model_advice, space_stats, stage_counts, stage_problems

        result = library_stats(self.catalog, self.keeper, self.settings, self.providers, self.root)
        spaces = self.kept_spaces()
        description_index = self.keeper.current() if result["catalog_vectors"] and not any(
            "index cannot be used" in problem for problem in result["problems"]) else None
        result["spaces"], problems, repaired = space_stats(
            self.catalog, {space: self.keeper_of(space) for space in spaces},
            {space: self.index_folder_of(space) for space in spaces}, description_index)
        result["stages"] = stage_counts(self.catalog, self.stages(), self.settings, self.providers)
        result["problems"] += problems + stage_problems(result["stages"])
        result["repaired"] += repaired
        result["advice"] = model_advice(self.stored_image_model() or getattr(self.image_embedder, "model_name", None))
        from photolib.pipeline.pairs import PhotoFiles

        return result | {"thumbnails": self.thumbnails.usage().as_dict(), "raw_pairs": PhotoFiles(self.catalog.db).count()}

    def backup(self, destination: str | os.PathLike) -> dict[str, Any]:
        """A consistent snapshot (catalog via SQLite's backup API, plus the index) in `destination`."""
        from photolib.maintenance.backup import backup, check_destination

        destination = absolute(destination)
        check_destination(destination)
        with self.write_lock():
            return backup(self.catalog, self.index_folder, destination)

    def restore(self, source: str | os.PathLike, force: bool = False) -> dict[str, Any]:
        """Replace this library's catalog and index with a snapshot made by `backup`.

        The catalog is closed first and reopened on next use, on the restored files."""
        from photolib.maintenance.backup import check_snapshot, restore

        source = absolute(source)
        check_snapshot(source)
        with self.write_lock():
            if sum(self.catalog.status_counts().values()) and not force:
                raise UsageError(f"{self.root} already holds photos: restore into an empty library, or add --force "
                                 "to replace it (take a backup of it first)")
            self.context.close()
            try:
                return restore(source, self.root)
            finally:
                self.context.close()

    def doctor(self) -> dict[str, Any]:
        """`stats` plus SQLite's integrity check; a damaged catalog is reported, not raised (`photolib.maintenance.doctor`)."""
        from photolib.maintenance.doctor import doctor

        return doctor(self.root, stats=self.stats, integrity=lambda: self.catalog.integrity_check(),
                      close_catalog=self.context.close)

    def repair(self) -> "RepairReport":
        """Salvage a damaged catalog from its readable rows and the newest snapshot (`photolib.maintenance.repair`)."""
        from photolib.maintenance.repair import repair

        def rebuild_index() -> None:
            self.keeper.rebuild()
            self.keeper.save()

        return repair(self.root, write_lock=self.write_lock, close_catalog=self.context.close,
                      rebuild_index=rebuild_index, notify=self.notify, lock_timeout=self.settings.lock_timeout)

    def restore_snapshot(self, reference: str) -> dict[str, Any]:
        """Put one of the library's own snapshots (by day, name or `latest`) in place of its catalog."""
        from photolib.maintenance.restore import restore_snapshot

        return restore_snapshot(self.root, reference, write_lock=self.write_lock, close_catalog=self.context.close,
                                notify=self.notify, lock_timeout=self.settings.lock_timeout)
