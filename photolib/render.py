"""Rich tables, panels, progress and JSON: everything the user sees.

Data goes to stdout, messages and progress to stderr. Text that comes from
files or models is shown literally: it is never parsed as Rich markup, and
control characters (ANSI escapes, newlines, bidi overrides) are made visible
instead of reaching the terminal.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any, Iterable

from rich.console import Console
from rich.panel import Panel
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskProgressColumn,
                           TextColumn, TimeElapsedColumn)
from rich.table import Table
from rich.text import Text

stdout = Console(soft_wrap=False, highlight=False)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

# Controls (C0, DEL, C1 incl. the one-byte CSI U+009B), bidi marks and overrides, line and
# paragraph separators, and zero-width characters that hide or reorder what is shown.
_UNSAFE_BEYOND_C0 = r"\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff"
_UNSAFE = re.compile(f"[\\x00-\\x1f{_UNSAFE_BEYOND_C0}]")
_UNSAFE_IN_JSON = re.compile(f"[{_UNSAFE_BEYOND_C0}]")  # json.dumps escapes C0 itself


def safe(value: Any) -> str:
    """Printable text: control and bidi characters become visible escapes."""
    text = "" if value is None else str(value)
    text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _UNSAFE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def cell(value: Any, style: str = "") -> Text:
    return Text(safe(value), style=style)


def print_json(data: Any) -> None:
    """JSON for scripts, readable (non-ASCII letters kept), but never a raw control or bidi character:
    those only occur inside strings, where a \\uXXXX escape means the same."""
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write(_UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


def message(text: str, style: str = "") -> None:
    stderr.print(Text(safe(text), style=style))


def error(text: str) -> None:
    stderr.print(Text("error: ", style="bold red") + Text(safe(text)))


def _table(title: str | None, columns: Iterable[tuple[str, dict]]) -> Table:
    """A table whose title is shown literally (it may hold a query or a path)."""
    table = Table(title=Text(safe(title)) if title else None, show_lines=False, header_style="bold")
    for name, options in columns:
        table.add_column(name, **options)
    return table


def _tags(tags: list[str], limit: int = 6) -> str:
    shown = ", ".join(tags[:limit])
    return shown + (f" +{len(tags) - limit}" if len(tags) > limit else "")


def hits_table(hits: list[dict[str, Any]], title: str) -> None:
    if not hits:
        message("No photos matched. Try other words or a larger --threshold.", "yellow")
        return
    table = _table(title, [("id", {"justify": "right"}), ("match", {"justify": "right"}),
                           ("distance", {"justify": "right"}), ("path", {"overflow": "fold"}),
                           ("caption", {"overflow": "fold"}), ("tags", {}), ("taken", {"no_wrap": True})])
    for hit in hits:
        score = hit.get("score")
        distance = hit.get("distance")
        table.add_row(cell(hit["id"]), cell("" if score is None else f"{score}%"),
                      cell("" if distance is None else f"{distance:.3f}"), cell(hit["path"], "cyan"),
                      cell(hit["caption"]), cell(_tags(hit["tags"])), cell((hit["taken_at"] or "")[:10]))
    stdout.print(table)


def explain_panel(explained: dict[str, Any]) -> None:
    """How a query was understood, one part per line, and how many photos its filters leave."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for line in explained["lines"]:
        table.add_row(cell(line["part"]), cell(line["meaning"]))
    table.add_row("photos", cell(f"{explained['allowed']} of {explained['photos']} pass the filters"))
    stdout.print(Panel(table, title=Text("Query: " + safe(explained["query"])), expand=False))


def photos_table(photos: list[dict[str, Any]]) -> None:
    if not photos:
        message("No photos match those filters.", "yellow")
        return
    table = _table(f"{len(photos)} photos", [("id", {"justify": "right"}), ("status", {}), ("taken", {"no_wrap": True}),
                                             ("path", {"overflow": "fold"}), ("caption", {"overflow": "fold"})])
    colours = {"ok": "green", "failed": "red", "pending": "yellow"}
    for photo in photos:
        table.add_row(cell(photo["id"]), cell(photo["status"], colours.get(photo["status"], "")),
                      cell((photo["taken_at"] or "")[:10]), cell(photo["path"], "cyan"), cell(photo["caption"]))
    stdout.print(table)


def photo_panel(photo: dict[str, Any]) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    gps = photo.get("gps")
    user = photo.get("user") or {}
    rows = [
        ("title", user.get("title")), ("keywords", ", ".join(user.get("keywords") or [])),
        ("your caption", user.get("caption")),
        ("rating", "★" * user["rating"] if (user.get("rating") or 0) > 0 else user.get("rating")),
        ("people", ", ".join(user.get("people") or [])),
        ("path", photo["path"]), ("status", photo["status"]), ("error", photo.get("error")),
        ("taken", photo.get("taken_at")), ("camera", photo.get("camera")), ("lens", photo.get("lens")),
        ("gps", f"{gps['lat']:.5f}, {gps['lon']:.5f}" if gps else None), ("place", photo.get("place")),
        ("size", _size(photo)),
        ("tags", ", ".join(photo.get("tags") or [])), ("caption", photo.get("caption")),
        ("description", photo.get("description")), ("vision model", photo.get("vision_model")),
        ("embedding model", _with_dimension(photo)), ("raw model output", photo.get("raw_output")),
        ("hash", photo.get("hash")), ("added", photo.get("added_at")),
    ]
    for name, value in rows:
        if value not in (None, ""):
            table.add_row(name, cell(value))
    for second in (photo.get("files") or [])[1:]:
        table.add_row(f"{second['role']} file", cell(second["path"]))
    for generation in photo.get("generations") or []:
        table.add_row("generated", cell(f"{generation['path']} ({generation['model']})"))
    stdout.print(Panel(table, title=Text(f"photo {photo['id']}"), expand=False))


def _size(photo: dict[str, Any]) -> str | None:
    """Pixel size as stored, and as seen once the EXIF orientation is applied when that differs."""
    if not photo.get("width"):
        return None
    size = f"{photo['width']}×{photo['height']} px"
    upright = (photo.get("oriented_width"), photo.get("oriented_height"))
    if upright[0] and upright != (photo["width"], photo["height"]):
        size += f" (shown upright: {upright[0]}×{upright[1]})"
    return size


def _with_dimension(photo: dict[str, Any]) -> str | None:
    if not photo.get("embedding_model"):
        return None
    return f"{photo['embedding_model']} ({photo['embedding_dimension']}-d)"


def add_summary(report: Any) -> None:
    if report.dry_run:
        table = _table("Dry run: nothing was sent or written", [("", {"style": "bold"}), ("", {"justify": "right"})])
        for name, value in [("new photos", report.new), ("changed photos", report.updated), ("moved", report.moved),
                            ("unchanged", report.unchanged), ("pending/failed to retry", report.retried),
                            ("vision calls", report.to_describe), ("photos to embed", report.to_embed),
                            ("photos sent to", report.remote_host or "nowhere (local providers)")]:
            table.add_row(name, cell(value))
        stdout.print(table)
        not_imported(report.not_imported())
        return
    table = _table("Import summary", [("new", {"justify": "right"}), ("updated", {"justify": "right"}),
                                      ("moved", {"justify": "right"}), ("unchanged", {"justify": "right"}),
                                      ("retried", {"justify": "right"}), ("failed", {"justify": "right"}),
                                      ("vision calls", {"justify": "right"})])
    failed_style = "red" if report.failed else ""
    table.add_row(str(report.new), str(report.updated), str(report.moved), str(report.unchanged),
                  str(report.retried), Text(str(len(report.failed)), style=failed_style), str(report.described))
    stdout.print(table)
    if report.failed:
        failures = _table("Failed files", [("path", {"overflow": "fold"}), ("reason", {"overflow": "fold"})])
        for path, reason in report.failed:
            failures.add_row(cell(path, "cyan"), cell(reason))
        stdout.print(failures)
    if report.paired:
        stdout.print(f"RAW+JPEG: {report.paired} RAW files kept as the second file of their JPEG's photo.")
    not_imported(report.not_imported())
    if report.sidecars_changed:
        message(f"{report.sidecars_changed} photos had a changed XMP sidecar: their keywords were read again.")
    for path, reason in report.warnings:
        message(f"warning: {safe(path)}: {safe(reason)}" if not reason.startswith(path) else f"warning: {safe(reason)}",
                "yellow")
    if report.elsewhere:
        message(f"{report.elsewhere} photos elsewhere in the library still need work: "
                "run `photolib add` on their folders to finish them.", "yellow")


NOT_IMPORTED_LABELS = (
    ("unsupported", "unsupported type"), ("not_photos", "not photos (videos)"),
    ("sidecars", "sidecar files (.xmp, .aae)"), ("raw_skipped", 'RAW, skipped ([add] raw = "skip")'),
    ("needs_package", "needs a package"), ("hidden", "hidden"), ("too_large", "too large"),
    ("unreadable", "unreadable"),
)


def not_imported(counts: dict[str, Any]) -> None:
    """One line per reason a file was not imported, with the extensions seen: nothing skipped in silence."""
    if not counts.get("count"):
        return
    table = _table(f"Not imported: {counts['count']} files", [("why", {"style": "bold"}), ("files", {"justify": "right"}),
                                                              ("", {"overflow": "fold"})])
    for key, label in NOT_IMPORTED_LABELS:
        kind = counts.get(key) or {}
        if not kind.get("count"):
            continue
        detail = ", ".join(f"{ext} x{n}" for ext, n in (kind.get("extensions") or {}).items())
        if key == "hidden":
            detail = ", ".join(part for part in (_plural(kind["files"], "file"),
                                                  _plural(kind["folders"], "folder") + " (not entered)"
                                                  if kind["folders"] else "") if part and part != "0 files")
        elif key == "needs_package":
            detail += "; install " + " and ".join(kind["install"])
        elif key in ("too_large", "unreadable"):
            detail = "listed under Failed files"
        table.add_row(label, str(kind["count"]), cell(detail))
    stdout.print(table)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def albums_table(albums: list[dict[str, Any]], singletons: list[int], threshold: float | None = None) -> None:
    title = f"{len(albums)} albums" + (f" at threshold {threshold}" if threshold is not None else "")
    table = _table(title, [("#", {"justify": "right"}), ("album", {"overflow": "fold"}), ("photos", {"justify": "right"}),
                           ("ids", {"overflow": "fold"})])
    for number, album in enumerate(albums, 1):
        ids = album["photo_ids"]
        shown = ", ".join(map(str, ids[:12])) + (" …" if len(ids) > 12 else "")
        name = cell(album["name"], "bold")
        if album.get("smart"):
            name.append(f"  (smart: {safe(album['query'])})", style="magenta")
        table.add_row("" if album.get("smart") else str(album.get("id") or number), name, str(album["size"]), shown)
    stdout.print(table)
    if singletons:
        message(f"{len(singletons)} photos fit no album (singletons): {', '.join(map(str, singletons[:30]))}"
                + (" …" if len(singletons) > 30 else ""))


def duplicates_table(groups: list[dict[str, Any]]) -> None:
    if not groups:
        message("No duplicates found.", "green")
        return
    table = _table(f"{len(groups)} groups of copies (best first; nothing is deleted)",
                   [("group", {"justify": "right"}), ("kind", {}), ("id", {"justify": "right"}),
                    ("path", {"overflow": "fold"}), ("size", {"no_wrap": True}), ("why first", {"overflow": "fold"})])
    for number, group in enumerate(groups, 1):
        for position, photo in enumerate(group["photos"]):
            pixels = f"{photo['width']}×{photo['height']}" if photo.get("width") else ""
            table.add_row(str(number) if position == 0 else "", group["kind"] if position == 0 else "",
                          cell(photo["id"]), cell(photo["path"], "cyan" if position == 0 else "dim"), pixels,
                          cell(group["reason"]) if position == 0 else Text(""))
    stdout.print(table)


def export_summary(report: dict[str, Any]) -> None:
    verb = "Would write" if report["dry_run"] else "Wrote"
    changes = report["changes"]
    table = _table(f"{verb} {len(changes)} sidecars; {report['unchanged']} already up to date",
                   [("sidecar", {"overflow": "fold"}), ("", {}), ("adds", {"overflow": "fold"})])
    for change in changes:
        adds = ", ".join(change["added_keywords"]) + (f"; caption: {change['caption']}" if change["caption"] else "")
        table.add_row(cell(change["sidecar"], "cyan"), "new" if change["created"] else "merged", cell(adds))
    if changes:
        stdout.print(table)
    else:
        message(f"Nothing to write: {report['unchanged']} sidecars already up to date.", "green")
    for item in report["skipped"]:
        message(f"skipped {safe(item['path'])}: {safe(item['reason'])}", "yellow")


def stats_panel(stats: dict[str, Any]) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    providers = stats["providers"]
    for name, value in [
        ("library", stats["library"]), ("config", stats["config"] or "(none, defaults)"),
        ("photos", f"{stats['photos']} ({stats['ok']} ok, {stats['pending']} pending, {stats['failed']} failed)"),
        ("vision", providers["vision"]), ("embedding", providers["embedding"]),
        ("generation", providers["generation"] or "(not configured)"),
        ("catalog vectors", f"{stats['catalog_vectors']} of {stats['embedding_model'] or '-'}"
                            + (f" ({stats['dimension']}-d)" if stats["dimension"] else "")),
        ("index", f"{stats['index_vectors']} vectors of {stats['index_model'] or '-'}"
                  + (f" ({stats['index_dimension']}-d)" if stats["index_dimension"] else "")
                  + (f", {stats['index_kind']}" if stats["index_kind"] else "")),
    ]:
        table.add_row(name, cell(value))
    stdout.print(Panel(table, title="photolib", expand=False))
    for problem in stats["problems"]:
        message(f"! {problem}", "yellow")
    if not stats["problems"]:
        message("Everything is consistent" + (" now." if stats["repaired"] else "."), "green")


class RichProgress:
    """Adapter from the library's Progress hooks to a Rich progress bar on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None

    def start(self, total: int | None, description: str) -> None:
        if not self.enabled:
            return
        self.finish()
        self._progress = Progress(
            SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
            MofNCompleteColumn(), TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[calls]}"), TimeElapsedColumn(),
            console=stderr, transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(description, total=total, rate="", calls="")

    def advance(self, count: int = 1, **counters: int) -> None:
        if self._progress is None:
            return
        self._progress.advance(self._task, count)
        task = self._progress.tasks[0]
        speed = task.finished_speed or task.speed
        calls = " ".join(f"{name}: {value}" for name, value in counters.items())
        self._progress.update(self._task, rate=f"{speed:.1f} photos/s" if speed else "", calls=calls)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def imagine_panel(result: dict[str, Any]) -> None:
    body = Text("Prompt\n", style="bold") + Text(safe(result["prompt"]))
    if result["images"]:
        body += Text(f"\n\nImages ({safe(result['model'])})\n", style="bold")
        body += Text("\n".join(f"{safe(image['path'])}  (seed {image['seed']})" for image in result["images"]))
    stdout.print(Panel(body, title=f"imagine: photo {result['photo_id']}", expand=False))


def generations_table(rows: list[dict[str, Any]]) -> None:
    if not rows:
        message("No images generated yet: try `photolib imagine <photo-id>`.", "yellow")
        return
    table = _table(f"{len(rows)} generations", [("id", {"justify": "right"}), ("photo", {"justify": "right"}),
                                                ("when", {"no_wrap": True}), ("model", {}), ("seed", {"justify": "right"}),
                                                ("path", {"overflow": "fold"}), ("prompt", {"overflow": "fold"})])
    for row in rows:
        table.add_row(cell(row["id"]), cell(row["photo_id"]), cell((row["created_at"] or "")[:19]), cell(row["model"]),
                      cell(row["seed"]), cell(row["path"], "cyan"), cell((row["prompt"] or "")[:120]))
    stdout.print(table)


def models_table(rows: list[dict[str, Any]]) -> None:
    table = _table("Image models (immich-app on Hugging Face)", [
        ("", {"no_wrap": True}), ("name", {"overflow": "fold", "min_width": 14}), ("family", {"no_wrap": True}),
        ("dim", {"justify": "right", "no_wrap": True}), ("download", {"justify": "right", "no_wrap": True}),
        ("installed", {"overflow": "fold", "min_width": 9}), ("note", {"overflow": "fold", "min_width": 8})])
    for row in rows:
        where = row["path"] if row["installed"] else "no"
        table.add_row(cell("*" if row["configured"] else ""), cell(row["name"], "cyan"), cell(row["family"]),
                      cell(row["dimension"] or ""), cell(row["download"]),
                      cell(where, "green" if row["installed"] else "dim"),
                      cell(", ".join(part for part in (row["note"], "multilingual" if row["multilingual"] else "") if part)))
    stdout.print(table)
    message("* = [image] model. Download one with `photolib models pull NAME`; nothing is downloaded otherwise.")
