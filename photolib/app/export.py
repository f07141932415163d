"""`export-xmp`: photolib's tags and caption written into XMP sidecars for the user's other tools."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from photolib.app.context import UseCase, photos_under
from photolib.core.errors import UsageError
from photolib.core.files import absolute

if TYPE_CHECKING:
    from photolib.media.sidecars import ExportReport


class Export(UseCase):
    """Sidecars beside the photos (never the photos themselves)."""

    def export_xmp(self, paths: list[str | os.PathLike] | None = None, *, style: str | None = None,
                   dry_run: bool = False) -> "ExportReport":
        """Write photolib's tags and caption into XMP sidecars beside the photos (never into the photos)."""
        from photolib.media.sidecars import export_sidecars

        style = style or self.settings.xmp_sidecar
        if style not in ("photo.jpg.xmp", "photo.xmp"):
            raise UsageError(f"--style {style!r} is not a sidecar name style: use photo.jpg.xmp or photo.xmp")
        from photolib.store.catalog import PhotoFilter

        photos = self.catalog.find_photos(PhotoFilter(described=True))
        if paths:
            photos = photos_under(photos, [absolute(p) for p in paths])
        if dry_run:
            return export_sidecars(self.catalog, photos, style, dry_run=True)
        with self.write_lock():
            with self.catalog.transaction():
                return export_sidecars(self.catalog, photos, style, dry_run=False)
