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
from rich.markup import escape
from rich.panel import Panel
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskProgressColumn,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
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


def hits_table(hits: list[dict[str, Any]], title: str, *, roots: dict[int, str] | None = None, long: bool = False,
               previews: dict[int, Any] | None = None) -> None:
    """Search or similar results: one line per photo that fits the terminal, or every detail with `long`."""
    if not hits:
        message("No photos matched. Try other words or a larger --threshold.", "yellow")
        return
    if previews is not None and _show_previews(hits, title, roots or {}, previews, distance=True):
        return
    # A filter-only query has neither score nor distance: those columns are shown only when some hit has them.
    scored = any(hit.get("score") is not None for hit in hits)
    measured = any(hit.get("distance") is not None for hit in hits)
    if long:
        columns = [("id", {"justify": "right"})]
        columns += [("match", {"justify": "right"})] if scored else []
        columns += [("distance", {"justify": "right"})] if measured else []
        table = _table(title, columns + [("path", {"overflow": "fold"}), ("caption", {"overflow": "fold"}),
                                         ("tags", {"overflow": "fold"}), ("taken", {"no_wrap": True})])
        for hit in hits:
            values = [cell(hit["id"])]
            values += [cell(_score(hit))] if scored else []
            values += [cell(_distance(hit))] if measured else []
            table.add_row(*values, cell(hit["path"], "cyan"), cell(hit["caption"]), cell(", ".join(hit["tags"])),
                          cell((hit["taken_at"] or "")[:10]))
        stdout.print(table)
        return
    fixed = [("id", 0)] + ([("match", 1)] if scored else []) + ([("dist", 2)] if measured else []) + [("taken", 3)]
    rows = [(str(hit["id"]), _score(hit), _distance(hit), (hit["taken_at"] or "")[:10], hit) for hit in hits]
    stdout.print(_fitted_table(title, fixed, rows, roots or {}))


def _score(hit: dict[str, Any]) -> str:
    return "" if hit.get("score") is None else f"{hit['score']}%"


def _distance(hit: dict[str, Any]) -> str:
    return "" if hit.get("distance") is None else f"{hit['distance']:.3f}"




def _fitted_table(title: str | None, fixed: list[tuple[str, int]], rows: list[tuple], roots: dict[int, str],
                  styles: dict[str, str] | None = None) -> Table:
    """A table of one line per photo that fits the console: the fixed columns (ids, dates...), then the
    path relative to its added folder and shortened in the middle, then the caption cut at the end."""
    from rich import box

    from photolib.render.terminal import caption_beyond_path, display_path, middle_ellipsis

    styles = styles or {}
    shown = [safe(display_path(row[-1]["path"], roots.get(row[-1]["id"]))) for row in rows]
    captions = [safe(caption_beyond_path(row[-1].get("caption") or "", path)) for row, path in zip(rows, shown)]
    table = Table(title=Text(safe(title)) if title else None, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  header_style="bold", title_justify="left")
    widths = []
    for name, position in fixed:
        width = max([len(name)] + [len(row[position]) for row in rows])
        widths.append(width)
        table.add_column(name, justify="right" if name in ("id", "match", "dist") else "left", no_wrap=True, min_width=width)
    table.add_column("path", no_wrap=True, overflow="ellipsis")
    table.add_column("caption", no_wrap=True, overflow="ellipsis")
    padding = 2 * len(table.columns) - 2  # one space each side of a column, none at the edges
    free = stdout.width - table._extra_width - padding - sum(widths)
    path_need = max([4] + [len(p) for p in shown])
    caption_need = max([7] + [len(c) for c in captions])
    if path_need + caption_need <= free:
        path_width, caption_width = path_need, caption_need
    else:
        path_width = max(12, min(path_need, max(free * 11 // 20, free - caption_need)))
        caption_width = max(7, free - path_width)
    table.columns[-2].width, table.columns[-1].width = path_width, caption_width
    for row, path, caption in zip(rows, shown, captions):
        values = [Text(row[position], style=styles.get(row[position], "")) for _name, position in fixed]
        table.add_row(*values, Text(middle_ellipsis(path, path_width), style="cyan"), Text(caption))
    return table


def _preview_above(thumbnail: Any) -> None:
    """One thumbnail on its own, above what follows (`show --preview`)."""
    import os

    from photolib.render.terminal import halfblocks, image_protocol

    protocol = image_protocol(os.environ, stdout.is_terminal)
    if protocol == "blocks":
        stdout.print(halfblocks(thumbnail, columns=32))
    elif protocol is not None:
        stdout.file.write(_image_sequence(protocol, thumbnail, 32, 12) + "\n")
        stdout.file.flush()


def _image_sequence(protocol: str, thumbnail: Any, columns: int, rows: int) -> str:
    """The escape sequence that draws `thumbnail` in about `columns` x `rows` cells."""
    from photolib.render.terminal import image_bytes, iterm_image, kitty_image, sixel_image

    if protocol == "kitty":
        return kitty_image(image_bytes(thumbnail), columns, rows)
    if protocol == "sixel":
        return sixel_image(thumbnail, columns, rows)
    return iterm_image(image_bytes(thumbnail, "JPEG"), columns, rows)


def _show_previews(photos: list[dict[str, Any]], title: str | None, roots: dict[int, str],
                   previews: dict[int, Any], distance: bool = False) -> bool:
    """Each photo with its thumbnail beside (half-blocks) or above (image protocols) its line.
    False when this output cannot show images (not a terminal, NO_COLOR, TERM=dumb)."""
    import os

    from photolib.render.terminal import (PREVIEW_COLUMNS, PREVIEW_ROWS, caption_beyond_path, display_path, halfblocks,
                                   image_protocol)

    protocol = image_protocol(os.environ, stdout.is_terminal)
    if protocol is None:
        return False
    if title:
        stdout.print(Text(safe(title), style="bold"))
    for photo in photos:
        path = display_path(photo["path"], roots.get(photo["id"]))
        lines = Text(f"{photo['id']}  ", style="bold") + Text(safe(path), style="cyan")
        scores = [f"match {_score(photo)}" if distance and photo.get("score") is not None else "",
                  f"distance {_distance(photo)}" if distance and photo.get("distance") is not None else ""]
        details = [*scores, (photo.get("taken_at") or "")[:10],
                   caption_beyond_path(photo.get("caption") or "", path)]
        lines += Text("\n" + safe("  ".join(d for d in details if d)))
        thumbnail = previews.get(photo["id"])
        if thumbnail is None:
            stdout.print(lines)
        elif protocol == "blocks":
            grid = Table.grid(padding=(0, 2))
            grid.add_column(width=PREVIEW_COLUMNS, no_wrap=True)
            grid.add_column(overflow="fold")
            grid.add_row(halfblocks(thumbnail), lines)
            stdout.print(grid)
        else:
            stdout.file.write(_image_sequence(protocol, thumbnail, PREVIEW_COLUMNS, PREVIEW_ROWS) + "\n")
            stdout.file.flush()
            stdout.print(lines)
    return True


def explain_panel(explained: dict[str, Any]) -> None:
    """How a query was understood, one part per line, and how many photos its filters leave."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for line in explained["lines"]:
        table.add_row(cell(line["part"]), cell(line["meaning"]))
    table.add_row("photos", cell(f"{explained['allowed']} of {explained['photos']} pass the filters"))
    for signal, line in fusion_lines(explained.get("fusion") or []):
        table.add_row(cell(signal), cell(line))
    stdout.print(Panel(table, title=Text("Query: " + safe(explained["query"])), expand=False))


def fusion_lines(parts: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(signal, how it took part) for the explain panel: weight x confidence -> share of the score."""
    return [(part["signal"], f"weight {part['weight']:g} x confidence {part['confidence']:.2f} -> "
                             f"{round(100 * part['share'])}% of the score ({part['calibration']})")
            for part in parts]


def contributions_table(hits: list[dict[str, Any]], parts: list[dict[str, Any]]) -> None:
    """Each hit's score as the sum of what each signal gave it (in score points)."""
    names = [part["signal"] for part in parts if part["share"] > 0]
    if not names or not any(hit.get("contributions") for hit in hits):
        return
    table = _table("Score = sum of each part", [("id", {"justify": "right"}), ("score", {"justify": "right"})]
                   + [(name, {"justify": "right"}) for name in names])
    for hit in hits:
        given = hit.get("contributions") or {}
        table.add_row(cell(hit["id"]), cell(_score(hit)), *[cell(f"{100 * given.get(name, 0.0):.1f}") for name in names])
    stdout.print(table)


def photos_table(photos: list[dict[str, Any]], *, roots: dict[int, str] | None = None, long: bool = False) -> None:
    if not photos:
        message("No photos match those filters.", "yellow")
        return
    colours = {"ok": "green", "failed": "red", "pending": "yellow"}
    if long:
        table = _table(f"{len(photos)} photos", [("id", {"justify": "right"}), ("status", {}), ("taken", {"no_wrap": True}),
                                                 ("path", {"overflow": "fold"}), ("caption", {"overflow": "fold"})])
        for photo in photos:
            table.add_row(cell(photo["id"]), cell(photo["status"], colours.get(photo["status"], "")),
                          cell((photo["taken_at"] or "")[:10]), cell(photo["path"], "cyan"), cell(photo["caption"]))
        stdout.print(table)
        return
    rows = [(str(photo["id"]), photo["status"], (photo["taken_at"] or "")[:10], photo) for photo in photos]
    stdout.print(_fitted_table(f"{len(photos)} photos", [("id", 0), ("status", 1), ("taken", 2)], rows, roots or {},
                               styles=colours))


def photo_panel(photo: dict[str, Any], preview: Any = None) -> None:
    if preview is not None:
        _preview_above(preview)
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
        ("image labels", ", ".join(photo.get("image_labels") or []) + " (from the image model)"
         if photo.get("image_labels") else None),
        ("embedding model", _with_dimension(photo)), ("image model", photo.get("image_model")),
        ("raw model output", photo.get("raw_output")),
        ("hash", photo.get("hash")), ("added", photo.get("added_at")),
    ]
    for name, value in rows:
        if value not in (None, ""):
            table.add_row(name, cell(value))
    for stage, state in (photo.get("stages") or {}).items():
        table.add_row(f"{stage} stage", cell(f"{state['status']} ({state['model']})"
                                             + (f": {state['error']}" if state.get("error") else "")))
    for second in (photo.get("files") or [])[1:]:
        table.add_row(f"{second['role']} file", cell(second["path"]))
    if photo.get("text"):
        table.add_row("text in photo", cell(" / ".join(photo["text"].splitlines())))
    for face in photo.get("faces") or []:
        box = ", ".join(f"{v:.2f}" for v in face["box"])
        table.add_row("face", cell(f"{face['person'] or 'not grouped yet'} (person {face['person_id']}) at {box}"))
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
                            ("RAW files to pair with their JPEG", report.paired),
                            ("vision calls", report.to_describe), ("photos to embed", report.to_embed),
                            ("photos sent to", report.remote_host or "nowhere (local providers)")]:
            table.add_row(name, cell(value))
        stdout.print(table)
        not_imported(report.not_imported())
        _xmp_line(report.xmp_sidecars())
        return
    table = _table("Import summary", [("new", {"justify": "right"}), ("updated", {"justify": "right"}),
                                      ("moved", {"justify": "right"}), ("unchanged", {"justify": "right"}),
                                      ("retried", {"justify": "right"}), ("failed", {"justify": "right"}),
                                      ("vision calls", {"justify": "right"})])
    failed_style = "red" if report.failed else ""
    table.add_row(str(report.new), str(report.updated), str(report.moved), str(report.unchanged),
                  str(report.retried), Text(str(len(report.failed)), style=failed_style), str(report.described))
    stdout.print(table)
    stage_lines([stage for stage in report.stages if stage.done or stage.failed])
    if report.failed:
        failures = _table("Failed files", [("path", {"overflow": "fold"}), ("reason", {"overflow": "fold"})])
        for path, reason in report.failed:
            failures.add_row(cell(path, "cyan"), cell(reason))
        stdout.print(failures)
    if report.visual_search_hint:
        message(report.visual_search_hint)
    if report.paired:
        stdout.print(f"RAW+JPEG: {report.paired} RAW files kept as the second file of their JPEG's photo.")
    not_imported(report.not_imported())
    _xmp_line(report.xmp_sidecars())
    if report.sidecars_changed:
        message(f"{report.sidecars_changed} photos had a changed XMP sidecar: their keywords were read again.")
    for path, reason in report.warnings:
        message(f"warning: {safe(path)}: {safe(reason)}" if not reason.startswith(path) else f"warning: {safe(reason)}",
                "yellow")
    if report.elsewhere:
        message(f"{report.elsewhere} photos elsewhere in the library still need work: "
                "run `photolib add` on their folders to finish them.", "yellow")


FOUND_WORDS = {"ocr": "with text", "faces": "with faces"}  # what a stage's "found" counts


def stage_lines(stages: list[Any]) -> None:
    """One line per pipeline stage that ran: what it did, found and what failed."""
    for stage in stages:
        found = (f", {stage.counts['found']} {FOUND_WORDS.get(stage.name, 'found')}"
                 if "found" in stage.counts else "")
        if "faces" in stage.counts:
            found += f" ({stage.counts['faces']} faces)"
        failed = f", {len(stage.failed)} failed" if stage.failed else ""
        message(f"{stage.name}: {stage.done} done with {safe(stage.model)}{found}{failed}",
                "red" if stage.failed else "")


def enrich_summary(stages: list[Any]) -> None:
    if not stages:
        message("No enrichment stage is enabled: nothing to do.", "yellow")
        return
    if not any(stage.done or stage.failed for stage in stages):
        message("Every stage is up to date: nothing to do.", "green")
        return
    stage_lines(stages)
    failures = [(path, f"{stage.name}: {reason}") for stage in stages for path, reason in stage.failed]
    if failures:
        table = _table("Failed files", [("path", {"overflow": "fold"}), ("reason", {"overflow": "fold"})])
        for path, reason in failures:
            table.add_row(cell(path, "cyan"), cell(reason))
        stdout.print(table)


def _xmp_line(count: int) -> None:
    if count:
        message(f"{_plural(count, 'XMP sidecar')} beside the photos: read as their keywords, captions and "
                "ratings (not counted as files left out).", "dim")


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


def duplicates_title(groups: list[dict[str, Any]]) -> str:
    stacks = sum(1 for group in groups if group["kind"] == "pair")
    title = f"{len(groups) - stacks} groups of copies"
    return title + (f", {stacks} RAW+JPEG pairs" if stacks else "")


def duplicate_sections(groups: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """`--html` sections: a group of copies shows its photos best first; a pair shows each of its files."""
    sections = []
    for group in groups:
        if group["kind"] == "pair":
            rows = [{"id": file["photo"], "path": file["path"],
                     "caption": "RAW file" if file["role"] == "raw" else "shown file"} for file in group["files"]]
            sections.append((f"RAW+JPEG pair: {group['reason']}", rows))
        else:
            sections.append((f"{group['kind']} copies: keep {group['best']} ({group['reason']})", group["photos"]))
    return sections


def duplicates_table(groups: list[dict[str, Any]]) -> None:
    stacks = [group for group in groups if group["kind"] == "pair"]
    groups = [group for group in groups if group["kind"] != "pair"]
    if not groups:
        message("No duplicates found.", "green")
    else:
        _copies_table(groups)
    if stacks:
        table = _table(f"{len(stacks)} RAW+JPEG pairs (one shot, two files: keep both)",
                       [("id", {"justify": "right"}), ("shown file", {"overflow": "fold"}),
                        ("RAW file", {"overflow": "fold"})])
        for group in stacks:
            shown = [file for file in group["files"] if file["role"] != "raw"]
            for position, raw in enumerate(file for file in group["files"] if file["role"] == "raw"):
                table.add_row(cell(group["best"]) if position == 0 else Text(""),
                              cell(shown[0]["path"], "cyan") if shown and position == 0 else Text(""),
                              cell(raw["path"], "dim"))
        stdout.print(table)


def _copies_table(groups: list[dict[str, Any]]) -> None:
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
        ("snapshots", _snapshot_lines(stats.get("snapshots", []))),
    ] + [(f"{name} space", f"{space['catalog_vectors']} vectors of {space['model'] or '-'}, index {space['index_vectors']}")
         for name, space in stats.get("spaces", {}).items() if name != "description"]:
        table.add_row(name, cell(value))
    for name, line in _stage_lines(stats.get("stages") or []):
        table.add_row(name, cell(line))
    if "thumbnails" in stats:
        thumbs = stats["thumbnails"]
        table.add_row("thumbnails", cell(f"{thumbs['photos']} photos, {_megabytes(thumbs['bytes'])}"))
    if stats.get("raw_pairs"):
        table.add_row("RAW+JPEG pairs", cell(f"{stats['raw_pairs']} photos with a RAW second file"))
    stdout.print(Panel(table, title="photolib", expand=False))
    stages = _table("Stages", [("stage", {"style": "bold"}), ("model", {"overflow": "fold"}), ("done", {"justify": "right"}),
                               ("pending", {"justify": "right"}), ("failed", {"justify": "right"})])
    for row in stats.get("stages", []):
        model = row["model"] if row.get("enabled", True) else "(not enabled)"
        stages.add_row(cell(row["stage"]), cell(model or "-"), str(row["done"]), str(row["pending"]),
                       Text(str(row["failed"]), style="red" if row["failed"] else ""))
    stdout.print(stages)
    for problem in stats["problems"]:
        message(f"! {problem}", "yellow")
    if not stats["problems"]:
        message("Everything is consistent" + (" now." if stats["repaired"] else "."), "green")
    for advice in stats.get("advice", []):
        message(f"Tip: {advice}")


def _stage_lines(stages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """What the OCR and face stages found (their done / pending / failed are in the Stages table)."""
    lines = []
    for row in stages:
        if row["stage"] == "ocr":
            lines.append(("text in photos", f"{row['with_text']} photos with text"))
        elif row["stage"] == "faces":
            lines.append(("faces", f"{row['faces']} faces of {row['people']} people"))
    return lines


def _megabytes(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count / 1000:.0f} kB"


def _snapshot_lines(snapshots: list[dict[str, Any]]) -> str:
    if not snapshots:
        return "(none yet)"
    return "\n".join(f"{s['taken_at'].replace('T', ' ').replace('+00:00', ' UTC')}  {s['photos']} photos  "
                     f"{s['size'] / 1e6:.1f} MB  {s['name']}" for s in snapshots)


def doctor_panel(result: dict[str, Any]) -> None:
    """`stats` for a sound catalog, plus the integrity verdict; for a damaged one, what was found and what helps."""
    if not result["damaged"]:
        stats_panel(result)
        message("Catalog integrity check: ok.", "green")
        return
    if "photos" in result:
        stats_panel(result)
    else:
        for problem in result["problems"]:
            message(f"! {problem}", "yellow")
    findings = [line for line in result["integrity"] if line != "ok"]
    message(f"integrity_check of {result.get('catalog') or result['library']}: "
            + ("; ".join(findings[:3]) + (f" (and {len(findings) - 3} more)" if len(findings) > 3 else "")), "red")
    message("snapshots: " + (_snapshot_lines(result["snapshots"]).replace("\n", "; ")), "yellow")


def repair_summary(report: dict[str, Any]) -> None:
    if not report["needed"]:
        message("The catalog opens and passes SQLite's check: nothing to repair.", "green")
        return
    message(f"The damaged catalog is kept at {report['kept_aside']}.")
    base = (f"the snapshot of {report['snapshot_taken_at']}" if report["snapshot"] else "no snapshot (none usable)")
    if report["wal_left_out"]:
        message("Its -wal file did not belong with it (from another copy of the library?) and was left out.", "yellow")
    if report["nothing_recovered"]:
        message("Nothing could be recovered: the new catalog is empty.", "red")
        roots = report["source_roots"]
        message("Run `photolib add` on your photo folders again"
                + (": " + ", ".join(roots) if roots else "") + ".", "yellow")
        return
    message(f"Recovered {report['photos']} photos: {report['photos_from_damaged']} read from the damaged catalog, "
            f"{report['photos_from_snapshot_only']} only from {base}; {report['described']} described.", "green")
    if report["albums"]:
        message(f"Saved albums: {', '.join(report['albums'])}.", "green")
    lost = {table: count for table, count in report["unreadable"].items() if count}
    if lost:
        message("Unreadable places (rows lost unless the snapshot had them): "
                + ", ".join(f"{table} {count}" for table, count in sorted(lost.items())) + ".", "yellow")
    if report["to_describe"] or report["to_embed"]:
        roots = report["source_roots"]
        message(f"{report['to_describe']} photos must be described again and {report['to_embed']} embedded again: "
                "run `photolib add` on " + (", ".join(roots) if roots else "their folders") + ".", "yellow")


class RichProgress:
    """Adapter from the library's Progress hooks to a Rich progress bar on stderr.

    `start` begins a new single-line phase; `line` adds a line beside the others
    (one per pipeline stage), each with its own count, rate, time spent and time left.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress: Progress | None = None
        self._task: Any = None

    def _open(self) -> Progress:
        if self._progress is None:
            self._progress = Progress(
                SpinnerColumn(), TextColumn("[progress.description]{task.description}"), BarColumn(),
                MofNCompleteColumn(), TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[calls]}"), TimeElapsedColumn(), TextColumn("left"),
                TimeRemainingColumn(),
                console=stderr, transient=False,
            )
            self._progress.start()
        return self._progress

    def start(self, total: int | None, description: str) -> None:
        if not self.enabled:
            return
        self.finish()
        self._task = self._open().add_task(escape(safe(description)), total=total, rate="", calls="")

    def advance(self, count: int = 1, **counters: int) -> None:
        if self._progress is not None and self._task is not None:
            _advance(self._progress, self._task, count, counters)

    def line(self, description: str, total: int | None) -> "_ProgressLine | RichProgress":
        if not self.enabled:
            return RichProgress(enabled=False)
        progress = self._open()
        return _ProgressLine(progress, progress.add_task(escape(safe(description)), total=total, rate="", calls=""))

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress, self._task = None, None


class _ProgressLine:
    """One stage's line in a shared Rich progress display."""

    def __init__(self, progress: Progress, task: Any) -> None:
        self._progress, self._task = progress, task

    def start(self, total: int | None, description: str) -> None:
        self._progress.update(self._task, total=total, description=escape(safe(description)))

    def advance(self, count: int = 1, **counters: int) -> None:
        _advance(self._progress, self._task, count, counters)

    def line(self, description: str, total: int | None) -> "_ProgressLine":
        return _ProgressLine(self._progress, self._progress.add_task(escape(safe(description)), total=total, rate="", calls=""))

    def finish(self) -> None:
        self._progress.refresh()


def _advance(progress: Progress, task_id: Any, count: int, counters: dict[str, int]) -> None:
    progress.advance(task_id, count)
    task = next(t for t in progress.tasks if t.id == task_id)
    speed = task.finished_speed or task.speed
    calls = " ".join(f"{name}: {value}" for name, value in counters.items())
    progress.update(task_id, rate=f"{speed:.1f} photos/s" if speed else "", calls=calls)


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


def people_table(people: list[dict[str, Any]]) -> None:
    if not people:
        message("No people yet: faces are found by `photolib add` (see [faces] in the config).", "yellow")
        return
    table = _table(f"{len(people)} people", [("#", {"justify": "right"}), ("name", {"overflow": "fold"}),
                                             ("faces", {"justify": "right"}), ("photos", {"justify": "right"}),
                                             ("sample photo", {"justify": "right"})])
    for person in people:
        table.add_row(cell(person["id"]), cell(person["name"] or "(unnamed)", "bold" if person["name"] else "dim"),
                      cell(person["faces"]), cell(person["photos"]), cell(person["sample_photo"] or ""))
    stdout.print(table)


def models_table(rows: list[dict[str, Any]]) -> None:
    table = _table("Image models (immich-app on Hugging Face)", [
        ("", {"no_wrap": True}), ("name", {"overflow": "fold", "min_width": 14}), ("family", {"no_wrap": True}),
        ("dim", {"justify": "right", "no_wrap": True}), ("download", {"justify": "right", "no_wrap": True}),
        ("recall", {"justify": "right", "no_wrap": True}),
        ("installed", {"overflow": "fold", "min_width": 9}), ("note", {"overflow": "fold", "min_width": 8})])
    for row in rows:
        where = row["path"] if row["installed"] else "no"
        recall = f"{row['recall']:.1f}" if row.get("recall") is not None else ""
        table.add_row(cell("*" if row["configured"] else ""), cell(row["name"], "cyan"), cell(row["family"]),
                      cell(row["dimension"] or ""), cell(row["download"]), cell(recall),
                      cell(where, "green" if row["installed"] else "dim"),
                      cell(", ".join(part for part in (row["note"], "multilingual" if row["multilingual"] else "") if part)))
    stdout.print(table)
    message("* = [image] model. recall: Immich's mean recall on Crossmodal-3600 (higher finds more). "
            "Download one with `photolib models pull NAME`; nothing is downloaded otherwise.")
