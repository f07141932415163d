"""`photolib export xmp`: photolib's tags and caption written into XMP sidecars that
digiKam, Lightroom and darktable read, merged into what is already there.

The photo file itself is never opened for writing. What photolib writes is
marked as its own in the sidecar, so the next `add` does not read it back as
the user's keywords.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from photolib.media.xmp import MalformedSidecarError, SidecarChange, plan_sidecar, sidecar_for, sidecar_signature, \
    sidecar_candidates, write_atomically


@dataclass
class ExportReport:
    changes: list[SidecarChange] = field(default_factory=list)
    unchanged: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"written": 0 if self.dry_run else len(self.changes), "would_write": len(self.changes) if self.dry_run else 0,
                "unchanged": self.unchanged, "dry_run": self.dry_run,
                "changes": [c.as_dict() for c in self.changes],
                "skipped": [{"path": p, "reason": r} for p, r in self.skipped]}


def export_sidecars(catalog: Any, photos: Sequence[Any], style: str, dry_run: bool) -> ExportReport:
    """Write (or with `dry_run`, only plan) one sidecar per described photo."""
    report = ExportReport(dry_run=dry_run)
    for photo in photos:
        if not photo.data.get("vision_model"):
            continue  # nothing of photolib's to write yet
        path = Path(photo.path)
        if not path.exists():
            report.skipped.append((photo.path, "the photo file is gone (run `photolib prune`)"))
            continue
        sidecar = sidecar_for(path, style)
        try:
            change, data = plan_sidecar(sidecar, photo.tags, photo.data.get("caption"))
        except MalformedSidecarError as error:
            report.skipped.append((str(sidecar), f"existing sidecar left as it is: {error}"))
            continue
        except OSError as error:
            report.skipped.append((str(sidecar), f"cannot read the sidecar ({error.strerror or error})"))
            continue
        if data is None:
            report.unchanged += 1
            continue
        report.changes.append(change)
        if dry_run:
            continue
        try:
            write_atomically(sidecar, data)
        except OSError as error:
            report.changes.pop()
            report.skipped.append((str(sidecar), f"cannot write the sidecar ({error.strerror or error})"))
            continue
        existing = [p for p in sidecar_candidates(path) if p.is_file()]
        catalog.store_sidecar_signature(photo.id, sidecar_signature(existing))
    return report
