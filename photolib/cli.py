"""The `photolib` command: parse arguments, call the Library, render.

Nothing here decides behaviour; each command is a few lines. Heavy modules
(numpy, faiss, Pillow, model clients) are imported only inside the library
calls, so `photolib --help` starts instantly. Every `PhotolibError` becomes a
one-line message and an exit code; a traceback is shown only with --verbose.
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any, List, Optional

import typer
from typer.core import TyperGroup
from typer.exceptions import Abort, Exit, TyperException

from photolib import __version__
from photolib.core.config import (DEFAULT_ALBUM_MIN_SIZE, DEFAULT_COLLAPSE, DEFAULT_JOBS, DEFAULT_NEAR_BITS,
                             DEFAULT_SEARCH_LIMIT, DEFAULT_SIMILAR_DISTANCE, DEFAULT_THRESHOLD)
from photolib.pipeline.registry import stages_help

if TYPE_CHECKING:
    from photolib.app.library import Library


class _ErrorHandlingGroup(TyperGroup):
    """Turns library errors into one-line messages for every command, nested ones included."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (Exit, Abort, TyperException):
            raise
        except KeyboardInterrupt:
            _render().error("interrupted; everything finished so far is saved, run the command again to continue")
            raise Exit(130) from None
        except Exception as exc:  # noqa: BLE001 - the one place errors become messages
            raise Exit(_report_error(ctx, exc)) from None


def _report_error(ctx: typer.Context, exc: Exception) -> int:
    from photolib.core.errors import PhotolibError

    verbose = bool(ctx.obj and ctx.obj.get("verbose"))
    if verbose:
        _render().stderr.print(_scrub("".join(traceback.format_exception(exc)), ctx), markup=False, highlight=False)
    if isinstance(exc, PhotolibError):
        _render().error(_scrub(str(exc), ctx))
        return exc.exit_code
    damaged = _damaged_catalog(ctx, exc)
    if damaged is not None:
        _render().error(damaged)
        return 1
    if _is_busy_database(exc):
        _render().error("the catalog stayed busy for 30 s: another photolib process is writing to this library; "
                        "try again when it has finished")
        return 1
    _render().error(_scrub(f"unexpected {type(exc).__name__}: {exc}", ctx)
                    + ("" if verbose else " (run with --verbose for details)"))
    return 1


def _damaged_catalog(ctx: typer.Context, exc: Exception) -> str | None:
    """The one-line message for SQLite reporting a damaged catalog in the middle of a command."""
    from photolib.store import damage

    library = (ctx.find_root().obj or {}).get("library")
    if library is None or not damage.is_corruption(exc):
        return None
    return str(damage.damaged(library.root / "catalog.db", str(exc)))


def _is_busy_database(exc: Exception) -> bool:
    import sqlite3

    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _scrub(text: str, ctx: typer.Context) -> str:
    """Remove any configured API key from text before it is shown."""
    settings = (ctx.obj or {}).get("settings")
    if settings is not None:
        for section in (settings.vision, settings.embedding, settings.generation, settings.imagine):
            if section is not None and section.api_key:
                text = text.replace(section.api_key, "***")
    return text


app = typer.Typer(
    cls=_ErrorHandlingGroup,
    help="A photo library for the command line: import folders, describe and embed every photo, "
         "then search in plain words, group albums and imagine new images. Works offline by default.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
albums_app = typer.Typer(cls=_ErrorHandlingGroup, rich_markup_mode=None, help="Group similar photos into albums; `albums list`/`show` read saved ones.")
app.add_typer(albums_app, name="albums")
people_app = typer.Typer(cls=_ErrorHandlingGroup, rich_markup_mode=None,
                         help="People found in photos (faces, grouped offline); name, merge, show or forget them.")
app.add_typer(people_app, name="people")
models_app = typer.Typer(cls=_ErrorHandlingGroup, rich_markup_mode=None, no_args_is_help=True,
                         help="Local image models (CLIP family) for visual search: list, pull, remove.")
app.add_typer(models_app, name="models")
export_app = typer.Typer(cls=_ErrorHandlingGroup, rich_markup_mode=None,
                         help="Write what photolib knows for other tools: `export xmp` writes XMP sidecars.")
app.add_typer(export_app, name="export")


def _render() -> Any:
    from photolib.render import console as render

    return render


def _version(value: bool) -> None:
    if value:
        typer.echo(f"photolib {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    library: Optional[Path] = typer.Option(None, "--library", "-L", envvar="PHOTOLIB_LIBRARY",
                                           help="Library folder (catalog and index)."),
    config: Optional[Path] = typer.Option(None, "--config", envvar="PHOTOLIB_CONFIG",
                                          help="Config file (TOML)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show tracebacks and extra detail."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = {"library_flag": library, "config_flag": config, "verbose": verbose}


def _library(ctx: typer.Context) -> "Library":
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    obj = ctx.find_root().obj
    if "library" not in obj:
        obj["settings"] = load_settings(obj["config_flag"], obj["library_flag"])
        obj["library"] = Library(obj["settings"], notify=lambda text: _render().message(text, "yellow"),
                                 background_snapshots=True)
        ctx.find_root().call_on_close(obj["library"].finish)
    return obj["library"]


JSON = typer.Option(False, "--json", help="Print JSON for scripts instead of a table.")
HTML = typer.Option(None, "--html", help="Write the results to FILE as one self-contained HTML page (thumbnails inlined) instead of a table.")
OPEN = typer.Option(False, "--open", help="Open the written HTML in the default web browser.")
LONG = typer.Option(False, "--long", "-l", help="Every detail (full paths, tags), wrapped, instead of one line per photo.")
PREVIEW = typer.Option(None, "--preview/--no-preview",
                       help="Show thumbnails inline on a terminal (kitty, iTerm2/WezTerm, sixel, else coloured blocks); "
                            "default from [terminal] preview.")


def _table_extras(ctx: typer.Context, rows: list[dict], preview: Optional[bool]) -> dict:
    """What a photo table needs beyond the rows: each photo's added folder, and thumbnails when previewing."""
    library = _library(ctx)
    ids = [row["id"] for row in rows]
    extras: dict = {"roots": library.source_roots(ids)}
    wanted = library.settings.preview if preview is None else preview
    if wanted and _render().stdout.is_terminal:
        extras["previews"] = library.thumbnail_files(ids)
    return extras


def _html_out(ctx: typer.Context, file: Optional[Path], title: str, sections: list, open_page: bool) -> bool:
    """Write `--html FILE` for a listing (sections of (title or None, photo rows)); True when written.

    The shared helper of every command that lists photos."""
    if file is None:
        if open_page:
            from photolib.core.errors import UsageError

            raise UsageError("--open opens the page written by --html FILE: add --html")
        return False
    written = _write_photos_page(_library(ctx), file, title, sections)
    count = sum(len(rows) for _title, rows in sections)
    _render().message(f"Wrote {count} photo(s) to {written}.", "green")
    if open_page:
        _open_in_browser(written)
    return True


def _write_photos_page(library: "Library", file: Path, title: str, sections: list) -> str:
    """One self-contained page of photo rows (dicts with `id` and `path`), thumbnails inlined."""
    from photolib.core.files import absolute
    from photolib.render.html import PhotoSection, write_photos_page

    thumbnails = library.thumbnail_files([row["id"] for _title, rows in sections for row in rows])
    return str(write_photos_page(absolute(file), title, [PhotoSection(t, rows) for t, rows in sections], thumbnails))


def _write_imagine_page(library: "Library", file: Path, result: Any) -> str:
    """One self-contained page of an `imagine` run: the source photo beside what was made from it."""
    from photolib.app.views import photo_summary
    from photolib.core.files import absolute
    from photolib.render.html import write_imagine_page

    photo = library.resolve(result.photo_id)
    thumbnail = library.thumbnail_files([photo.id]).get(photo.id)
    return str(write_imagine_page(absolute(file), photo_summary(photo), thumbnail, result.as_dict()))


def _open_in_browser(path: str) -> None:
    import webbrowser

    from photolib.render.html import file_url

    if not webbrowser.open(file_url(path)):
        _render().message(f"No web browser found; open {path} yourself.", "yellow")

COLLAPSE = typer.Option(None, "--collapse-duplicates",
                        help="Show copies once, as their best photo: none, exact (same bytes) or marked (also near "
                             f"copies marked by `duplicates --mark`); default: [duplicates] collapse, else "
                             f"{DEFAULT_COLLAPSE}.")


WORKERS = typer.Option(None, "--workers", "-w", min=1,
                       help="Processes for the pixel stages, each on its own photo (default: [add] workers, else "
                            "one per core).")


@app.command()
def add(
    ctx: typer.Context,
    paths: List[Path] = typer.Argument(..., help="Folders (searched recursively) or photo files."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help=f"Parallel model calls (default: [add] jobs, else {DEFAULT_JOBS})."),
    workers: Optional[int] = WORKERS,
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be imported and sent; change nothing."),
    json_out: bool = JSON,
) -> None:
    """Import photos: read EXIF, describe with the vision model, embed; re-adding skips finished work."""
    library = _library(ctx)
    render = _render()
    host = library.vision.remote_host
    if host and not dry_run:
        render.message(f"Photos are sent to {host} ({library.vision.model_name}) for description.")
    _say_inference_servers(library, dry_run)
    report = library.add(paths, progress=render.RichProgress(enabled=not json_out), dry_run=dry_run, jobs=jobs,
                         workers=workers)
    render.print_json(report.as_dict()) if json_out else render.add_summary(report)
    if report.failed:
        raise typer.Exit(1)


def _say_inference_servers(library: Any, dry_run: bool = False) -> None:
    """One line naming the Immich machine-learning servers reduced copies of the photos go to, if any."""
    servers = library.inference_servers()
    if servers and not dry_run:
        _render().message("Reduced copies of the photos are sent to Immich machine-learning servers: "
                          + "; ".join(f"{hosts} for {what}" for what, hosts in servers.items()) + ".")


QUERY_HELP = ("Query: words, \"phrases\", -word, +word, 2:word, paths to image files (./pool.jpg, -./crowd.jpg), "
              "NOT word and filters like date:2019 place:Lisbon camera:canon tag:beach (see docs/query-language.md).")
SORT = typer.Option(None, "--sort", help="relevance, date, -date (newest first) or name; applied after the cutoff.")
OFFSET = typer.Option(0, "--offset", min=0, help="Skip this many results (paging).")
ALL = typer.Option(False, "--all", help="Ignore the adaptive cutoff (the first clear drop in scores); "
                                        "--threshold still applies.")
def with_filter_flags(command: Any) -> Any:
    """Give a command the --date/--place/... flags of the filters that have one
    (`photolib.query.filters.FILTERS`); they reach it as one `filters` dict, key -> value."""
    import builtins
    import functools
    import inspect

    from photolib.query.filters import flagged

    flags = {f.flag + ("_" if hasattr(builtins, f.flag) else ""): f for f in flagged()}  # parameter -> filter
    signature = inspect.signature(command)
    extra = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                               default=typer.Option(None, "--" + f.flag,
                                                    help=f"Same as {f.name}:VALUE ({f.flag_help})."))
             for name, f in flags.items()]
    params = [p for p in signature.parameters.values() if p.name != "filters"]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        filters = {f.name: kwargs.pop(name) for name, f in flags.items()}
        return command(*args, filters=filters, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=params + extra)  # type: ignore[attr-defined]
    return wrapper


@app.command(help="Run every enabled stage's backlog library-wide (after enabling a stage or changing its "
                  "model). " + stages_help())
def enrich(
    ctx: typer.Context,
    retry_failed: bool = typer.Option(False, "--retry-failed", help="Also retry photos a stage failed on."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Parallel decodes (default from config)."),
    workers: Optional[int] = WORKERS,
    json_out: bool = JSON,
) -> None:
    render = _render()
    library = _library(ctx)
    _say_inference_servers(library)
    reports = library.enrich(progress=render.RichProgress(enabled=not json_out), retry_failed=retry_failed, jobs=jobs,
                             workers=workers)
    render.print_json({r.name: r.as_dict() for r in reports}) if json_out else render.enrich_summary(reports)
    if any(r.failed for r in reports):
        raise typer.Exit(1)


@app.command()
@with_filter_flags
def search(
    ctx: typer.Context,
    query: str = typer.Argument("", help=QUERY_HELP),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1,
                                        help=f"Most results to show (default {DEFAULT_SEARCH_LIMIT})."),
    threshold: Optional[float] = typer.Option(None, "--threshold", "-t", min=0.0, max=4.0,
                                              help="Squared L2 distance in the description space (the image "
                                                   "space with --space image): 0 same, 2 unrelated; every hit must "
                                                   "score at least what a photo at that distance scores there "
                                                   f"(default {DEFAULT_THRESHOLD}: 10 points)."),
    image_threshold: Optional[float] = typer.Option(None, "--image-threshold", min=0.0, max=4.0,
                                                    help="Largest distance at which the image space proposes photos "
                                                         "(default: any, the score decides; alone, its threshold: "
                                                         "calibrated for the image model, 1.56 for CLIP)."),
    space: str = typer.Option("all", "--space", help="Search the description space, the image space, or all "
                                                     "(fused with exact-word matches)."),
    exact: bool = typer.Option(False, "--exact", help="Exact search even when the library uses an approximate index."),
    sort: Optional[str] = SORT,
    offset: int = OFFSET,
    all_results: bool = ALL,
    tag: Optional[str] = typer.Option(None, "--tag", help="Same as tag:TAG."),
    explain: bool = typer.Option(False, "--explain", help="Also print how the query was understood and how each "
                                                          "space and exact words made the score."),
    collapse: Optional[str] = COLLAPSE,
    person: Optional[str] = typer.Option(None, "--person", help="Only photos of this person (name or number from `people`)."),
    json_out: bool = JSON,
    html: Optional[Path] = HTML,
    open_page: bool = OPEN,
    long: bool = LONG,
    preview: Optional[bool] = PREVIEW,
    filters: Optional[dict] = None,
) -> None:
    """Search in plain words, image terms and filters: descriptions, pixels (with an image model) and exact
    words (also words read in photos), fused into one 0-100 match score per hit."""
    from photolib.query.parser import with_flags

    library = _library(ctx)
    text = with_flags(query, {"tag": tag, **(filters or {})})
    explained = library.explain(with_flags(text, {"person": person})) if explain else None
    hits = [h.as_dict(parts=explain) for h in library.search(
        text, limit=limit, threshold=threshold, exact=exact, sort=sort, offset=offset, all_results=all_results,
        space=space, image_threshold=image_threshold, collapse=_collapse(collapse), person=person)]
    if explained is not None:
        explained["fusion"] = getattr(library, "last_parts", [])
    title = f"Search: {with_flags(text, {'person': person})}"
    if _html_out(ctx, html, title, [(None, hits)], open_page) and not json_out:
        return
    if json_out:
        _render().print_json({"explain": explained, "hits": hits} if explain else hits)
        return
    if explained:
        _render().explain_panel(explained)
    _render().hits_table(hits, title, long=long, **_table_extras(ctx, hits, preview))
    if explained and hits:
        _render().contributions_table(hits, explained["fusion"])


@app.command()
@with_filter_flags
def similar(
    ctx: typer.Context,
    photo: str = typer.Argument(..., help="Photo id or path, or the path of an image file not in the library."),
    query: str = typer.Argument("", help="Optional query: its filters restrict the neighbours, its words, "
                                         "+/- terms and image terms (-./crowd.jpg) move the comparison."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1,
                                        help=f"Most results to show (default {DEFAULT_SEARCH_LIMIT})."),
    threshold: Optional[float] = typer.Option(None, "--threshold", "-t", min=0.0, max=4.0,
                                              help=f"Largest squared L2 distance kept (default {DEFAULT_THRESHOLD} "
                                                   "by description; 0.6 by image)."),
    exact: bool = typer.Option(False, "--exact", help="Exact search even when the library uses an approximate index."),
    sort: Optional[str] = SORT,
    offset: int = OFFSET,
    tag: Optional[str] = typer.Option(None, "--tag", help="Same as tag:TAG."),
    collapse: Optional[str] = COLLAPSE,
    json_out: bool = JSON,
    html: Optional[Path] = HTML,
    open_page: bool = OPEN,
    long: bool = LONG,
    preview: Optional[bool] = PREVIEW,
    filters: Optional[dict] = None,
) -> None:
    """Photos nearest to a given photo, by its pixels when the library has an image space (optionally only
    those a query allows)."""
    from photolib.query.parser import with_flags

    text = with_flags(query, {"tag": tag, **(filters or {})})
    hits = [h.as_dict() for h in _library(ctx).similar(photo, limit=limit, threshold=threshold, exact=exact,
                                                       query=text, sort=sort, offset=offset,
                                                       collapse=_collapse(collapse))]
    if _html_out(ctx, html, f"Similar to {photo}", [(None, hits)], open_page) and not json_out:
        return
    if json_out:
        _render().print_json(hits)
    else:
        _render().hits_table(hits, f"Similar to {photo}", long=long, **_table_extras(ctx, hits, preview))


@app.command()
def show(ctx: typer.Context, photo: str = typer.Argument(..., help="Photo id or path."), json_out: bool = JSON,
         preview: Optional[bool] = PREVIEW) -> None:
    """Everything known about one photo: EXIF, place, description, text in it, faces, status, models."""
    details = _library(ctx).show(photo)
    if json_out:
        _render().print_json(details)
        return
    extras = _table_extras(ctx, [details], preview)
    _render().photo_panel(details, preview=(extras.get("previews") or {}).get(details["id"]))


@app.command("list")
@with_filter_flags
def list_command(
    ctx: typer.Context,
    query: str = typer.Argument("", help="Optional query (filters, words...): " + QUERY_HELP),
    tag: Optional[str] = typer.Option(None, "--tag", help="Only photos with this tag."),
    since: Optional[str] = typer.Option(None, "--since", help="Taken on or after this date (YYYY-MM-DD)."),
    until: Optional[str] = typer.Option(None, "--until", help="Taken on or before this date (YYYY-MM-DD)."),
    status: Optional[str] = typer.Option(None, "--status", help="ok, failed or pending."),
    rating: Optional[int] = typer.Option(None, "--rating", min=-1, max=5,
                                         help="Only photos you rated at least this (XMP rating, 0-5)."),
    keyword: Optional[str] = typer.Option(None, "--keyword",
                                          help="Only photos with this keyword of yours (XMP/IPTC), or a level of one "
                                               "(Lisbon matches Places/Portugal/Lisbon)."),
    limit: Optional[int] = typer.Option(None, "--limit", "-n", min=1, help="Most photos to list."),
    sort: Optional[str] = typer.Option(None, "--sort", help="date (default), -date, name or relevance."),
    offset: int = OFFSET,
    has_text: bool = typer.Option(False, "--has-text", help="Only photos with text in them (read by OCR); same as has:text."),
    person: Optional[str] = typer.Option(None, "--person", help="Only photos of this person (name or number from "
                                                               "`people`); same as person:NAME."),
    json_out: bool = JSON,
    html: Optional[Path] = HTML,
    open_page: bool = OPEN,
    long: bool = LONG,
    filters: Optional[dict] = None,
) -> None:
    """List photos, oldest first, with filters (and words, ranked as search does, then sorted)."""
    photos = _library(ctx).list_photos(query, tag=tag, since=since, until=until, status=status, limit=limit,
                                       sort=sort, offset=offset, filters=filters, rating=rating, keyword=keyword,
                                       has_text=has_text, person=person)
    if _html_out(ctx, html, f"{len(photos)} photos", [(None, photos)], open_page) and not json_out:
        return
    if json_out:
        _render().print_json(photos)
    else:
        _render().photos_table(photos, long=long, roots=_table_extras(ctx, photos, False)["roots"])


@app.command()
def remove(ctx: typer.Context, photo: str = typer.Argument(..., help="Photo id, photo path or folder."),
           json_out: bool = JSON) -> None:
    """Forget photos from the catalog. Files on disk are never deleted."""
    removed = _library(ctx).remove(photo)
    _render().print_json(removed) if json_out else _render().message(f"Removed {len(removed)} photo(s) from the catalog; files untouched.")


@app.command()
def prune(ctx: typer.Context, json_out: bool = JSON) -> None:
    """Forget photos whose files no longer exist."""
    removed = _library(ctx).prune()
    _render().print_json(removed) if json_out else _render().message(f"Pruned {len(removed)} missing photo(s).")


@app.command()
def reindex(ctx: typer.Context,
            reembed: bool = typer.Option(False, "--reembed", help="Recompute the vectors first: the description space "
                                                                  "from stored descriptions with the configured embedder "
                                                                  "(after changing embedding model; no vision calls), the "
                                                                  "image space with the image model."),
            space: Optional[str] = typer.Option(None, "--space", help="Only this vector space: description or image "
                                                                      "(default: every space the library holds)."),
            json_out: bool = JSON) -> None:
    """Rebuild the search indexes from the catalog."""
    result = _library(ctx).reindex(reembed=reembed, space=space, progress=_render().RichProgress(enabled=not json_out))
    if json_out:
        _render().print_json(result)
    else:
        for name, index in result["spaces"].items():
            _render().message(f"Index rebuilt ({name}): {index['vectors']} vectors of {index['model']} "
                              f"({index['dimension']}-d).", "green")
        if reembed:
            _render().message(f"{result['reembedded']} re-embedded.", "green")


@app.command()
def stats(ctx: typer.Context, json_out: bool = JSON) -> None:
    """Counts, configured providers, index health and what to run to fix any problem."""
    result = _library(ctx).stats()
    _render().print_json(result) if json_out else _render().stats_panel(result)


@app.command()
def doctor(ctx: typer.Context,
           repair: bool = typer.Option(False, "--repair", help="Salvage a damaged catalog: keep it aside, rebuild it "
                                                               "from the newest snapshot and every readable row."),
           json_out: bool = JSON) -> None:
    """What `stats` shows, plus SQLite's integrity check of the catalog; --repair salvages a damaged one."""
    library = _library(ctx)
    if repair:
        report = library.repair()
        _render().print_json(report.as_dict()) if json_out else _render().repair_summary(report.as_dict())
        return
    result = library.doctor()
    _render().print_json(result) if json_out else _render().doctor_panel(result)
    if result["damaged"]:
        raise typer.Exit(1)


@app.command()
def backup(ctx: typer.Context, destination: Path = typer.Argument(..., help="New or empty folder for the snapshot.")) -> None:
    """Snapshot the catalog and index (consistent, while nothing else writes)."""
    result = _library(ctx).backup(destination)
    _render().message(f"Backed up {result['photos']} photos to {result['path']}.", "green")


@app.command()
def restore(ctx: typer.Context,
            source: Optional[Path] = typer.Argument(None, help="A folder made by `photolib backup`."),
            snapshot: Optional[str] = typer.Option(None, "--snapshot", help="Instead: one of the library's own "
                                                   "snapshots, by day (YYYY-MM-DD), name or `latest` (see `stats`)."),
            force: bool = typer.Option(False, "--force", help="Replace a library that already holds photos.")) -> None:
    """Restore a backup made by `photolib backup`, or one of the library's snapshots (checked first)."""
    from photolib.core.errors import UsageError

    if (source is None) == (snapshot is None):
        raise UsageError("restore needs a backup folder or --snapshot DAY|NAME|latest (one of them)")
    if snapshot is not None:
        result = _library(ctx).restore_snapshot(snapshot)
        _render().message(f"Restored {result['photos']} photos from the snapshot of {result['taken_at']}"
                          + (f"; the catalog it replaced is kept at {result['kept_aside']}." if result["kept_aside"]
                             else "."), "green")
        return
    result = _library(ctx).restore(source, force=force)
    _render().message(f"Restored {result['photos']} photos from {result['path']}.", "green")


@app.command()
def imagine(
    ctx: typer.Context,
    photo: Optional[str] = typer.Argument(None, help="Photo id or path to draw inspiration from."),
    prompt_only: bool = typer.Option(False, "--prompt-only", help="Print the prompt the vision model writes; generate nothing."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Use this prompt instead of asking the vision model."),
    count: int = typer.Option(1, "--count", "-c", min=1, max=16, help="Images to generate."),
    seed: Optional[int] = typer.Option(None, "--seed", help="First seed (then seed+1, ...); random if unset."),
    width: Optional[int] = typer.Option(None, "--width", min=64, max=4096, help="Image width in pixels."),
    height: Optional[int] = typer.Option(None, "--height", min=64, max=4096, help="Image height in pixels."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, max=200, help="Inference steps."),
    guidance: Optional[float] = typer.Option(None, "--guidance", min=0.0, max=50.0, help="Guidance scale."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for the PNGs (default: the library's generated/)."),
    list_past: bool = typer.Option(False, "--list", help="List past generations instead."),
    json_out: bool = JSON,
    html: Optional[Path] = typer.Option(None, "--html", help="Also write the run as an HTML page: the source photo "
                                                             "beside the generated images, prompt, model and seeds."),
    open_page: bool = OPEN,
) -> None:
    """Generate new images inspired by a photo (vision prompt, then FLUX or another generator)."""
    from photolib.core.errors import UsageError
    from photolib.app.imagine import ImagineRequest

    library = _library(ctx)
    if list_past:
        rows = library.generations()
        _render().print_json(rows) if json_out else _render().generations_table(rows)
        return
    if photo is None:
        raise UsageError("imagine needs a photo id or path (or --list): see `photolib list`")
    request = ImagineRequest(prompt=prompt, prompt_only=prompt_only, count=count, seed=seed, width=width,
                             height=height, steps=steps, guidance=guidance, out=out.absolute() if out else None)
    if open_page and html is None:
        raise UsageError("--open opens the page written by --html FILE: add --html")
    result = library.imagine(photo, request)
    _render().print_json(result.as_dict()) if json_out else _render().imagine_panel(result.as_dict())
    if html is not None:
        written = _write_imagine_page(library, html, result)
        _render().message(f"Wrote {written}.", "green")
        if open_page:
            _open_in_browser(written)


@albums_app.callback(invoke_without_command=True)
def albums(
    ctx: typer.Context,
    threshold: Optional[float] = typer.Option(None, "--threshold", "-t", min=0.0, max=4.0,
                                              help=f"Largest squared L2 distance within an album (default {DEFAULT_THRESHOLD})."),
    min_size: Optional[int] = typer.Option(None, "--min-size", min=1, help=f"Smaller groups are listed as singletons (default {DEFAULT_ALBUM_MIN_SIZE})."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Vary the grouping; same seed, same albums."),
    save: bool = typer.Option(False, "--save", help="Store these albums in the catalog (replacing saved ones)."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write one folder per album of symlinks here."),
    copy: bool = typer.Option(False, "--copy", help="With --export: copy files instead of symlinking."),
    query: Optional[str] = typer.Option(None, "--query", "-q", help="Group only the photos this query matches "
                                                                    "(e.g. 'year:2019 place:Lisbon')."),
    collapse: Optional[str] = COLLAPSE,
    json_out: bool = JSON,
    html: Optional[Path] = HTML,
    open_page: bool = OPEN,
) -> None:
    """Group the library into albums of similar photos (deterministic unless --seed)."""
    if ctx.invoked_subcommand is not None:
        return
    library = _library(ctx)
    result = library.albums(threshold=threshold, min_size=min_size, seed=seed, save=save, export=export, copy=copy,
                            query=query, collapse=_collapse(collapse))
    data = [a.as_dict() for a in result.albums]
    if html is not None:
        _albums_html(ctx, html, result, open_page)
    elif open_page:
        _html_out(ctx, None, "", [], True)
    if json_out:
        _render().print_json(data + ([{"name": "singletons", "size": len(result.singletons),
                                       "photo_ids": result.singletons, "singletons": True}] if result.singletons else []))
    else:
        if html is None:
            _render().albums_table(data, result.singletons, result.threshold)
        if save:
            _render().message(f"Saved {len(data)} albums; see `photolib albums list`.", "green")
        if export:
            _render().message(f"Exported {len(data)} album folders to {export.absolute()}.", "green")
            if result.not_exported:
                _render().message(f"{len(result.not_exported)} photos were left out, their files are gone "
                                  f"(first: {result.not_exported[0]}); `photolib prune` forgets them.", "yellow")


def _albums_html(ctx: typer.Context, file: Path, result: Any, open_page: bool) -> None:
    library = _library(ctx)
    ids = [pid for album in result.albums for pid in album.photo_ids] + list(result.singletons)
    rows = {pid: library.summary(pid) for pid in ids}
    sections = [(album.name, [rows[pid] for pid in album.photo_ids if rows.get(pid)]) for album in result.albums]
    if result.singletons:
        sections.append(("Singletons", [rows[pid] for pid in result.singletons if rows.get(pid)]))
    _html_out(ctx, file, f"{len(result.albums)} albums", sections, open_page)


@app.command()
def gallery(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="Folder for the site (new, empty, or made by gallery before)."),
    open_page: bool = typer.Option(False, "--open", help="Open the gallery in the default web browser."),
    json_out: bool = JSON,
) -> None:
    """Write the whole library as a static web site: albums, a page per photo, offline."""
    from photolib.core.files import absolute
    from photolib.render.gallery import check_folder, write_gallery

    library = _library(ctx)
    folder = absolute(folder)
    check_folder(folder)
    report = write_gallery(folder, library.gallery_input())
    if json_out:
        _render().print_json(report.as_dict())
    else:
        _render().message(f"Wrote a gallery of {report.photos} photos and {report.albums} albums: "
                          f"{report.as_dict()['index']}", "green")
        if report.without_thumbnail:
            _render().message(f"{report.without_thumbnail} photos have no thumbnail (their files cannot be read).",
                              "yellow")
    if open_page:
        _open_in_browser(report.as_dict()["index"])


@albums_app.command("list")
def albums_list(ctx: typer.Context, json_out: bool = JSON) -> None:
    """Albums saved with `albums --save`, and smart albums (marked, with their query)."""
    albums = _library(ctx).albums_listing()
    _render().print_json(albums) if json_out else _render().albums_table(albums, [])


@albums_app.command("show")
def albums_show(ctx: typer.Context,
                album: str = typer.Argument(..., help="Album number from `albums list` (saved or smart), or "
                                                      "an album name (smart albums are shown as their query "
                                                      "matches now)."),
                sort: Optional[str] = typer.Option(None, "--sort", help="date (default), -date, name or relevance."),
                export: Optional[Path] = typer.Option(None, "--export", help="Also write the album as a folder of "
                                                                             "symlinks in this folder."),
                copy: bool = typer.Option(False, "--copy", help="With --export: copy files instead of symlinking."),
                json_out: bool = JSON, html: Optional[Path] = HTML, open_page: bool = OPEN,
                long: bool = LONG) -> None:
    """The photos of one saved or smart album."""
    name, photos = _library(ctx).saved_album(album, sort=sort, export=export, copy=copy)
    if _html_out(ctx, html, name, [(None, photos)], open_page) and not json_out:
        pass
    elif json_out:
        _render().print_json({"name": name, "photos": photos})
    else:
        _render().photos_table(photos, long=long, roots=_table_extras(ctx, photos, False)["roots"])
    if export and not json_out:
        _render().message(f"Exported {name!r} ({len(photos)} photos) to {export.absolute()}.", "green")


@albums_app.command("smart")
def albums_smart(ctx: typer.Context,
                 name: str = typer.Argument(..., help="Album name."),
                 query: str = typer.Argument(..., help="The album's query, e.g. 'beach year:2019 -people'."),
                 replace: bool = typer.Option(False, "--replace", help="Change the query of an existing smart album."),
                 json_out: bool = JSON) -> None:
    """Save a query as a smart album: shown as whatever matches it at the time, new photos included."""
    album = _library(ctx).smart_album(name, query, replace=replace)
    if json_out:
        _render().print_json(album)
    else:
        _render().message(f"Smart album {album['name']!r} saved: {album['size']} photos match "
                          f"{album['query']!r} now; see `photolib albums show {album['name']!r}`.", "green")


@albums_app.command("delete")
def albums_delete(ctx: typer.Context,
                  album: str = typer.Argument(..., help="Album name or number (as `albums list` shows it)."),
                  json_out: bool = JSON) -> None:
    """Delete a smart or saved album (its photos stay in the library)."""
    deleted = _library(ctx).delete_album(album)
    _render().print_json(deleted) if json_out else _render().message(
        f"Deleted {'smart ' if deleted['smart'] else ''}album {deleted['name']!r}; photos untouched.", "green")


@people_app.callback(invoke_without_command=True)
def people(ctx: typer.Context, json_out: bool = JSON, html: Optional[Path] = HTML, open_page: bool = OPEN) -> None:
    """List people: number, name, faces, photos and a sample photo id (unnamed people are numbered)."""
    if ctx.invoked_subcommand is not None:
        return
    found = [person.as_dict() for person in _library(ctx).people()]
    sections = [(f"{person['label']}: {person['faces']} faces in {person['photos']} photos",
                 _library(ctx).person(person["id"])["photo_list"]) for person in found] if html else []
    written = _html_out(ctx, html, f"{len(found)} people", sections, open_page)
    if json_out:
        _render().print_json(found)
    elif not written:
        _render().people_table(found)


@people_app.command("name")
def people_name(ctx: typer.Context, person: str = typer.Argument(..., help="Person number (or current name)."),
                name: str = typer.Argument(..., help="The name to give."), json_out: bool = JSON) -> None:
    """Name a person; the name stays through later imports and regrouping."""
    named = _library(ctx).name_person(person, name).as_dict()
    _render().print_json(named) if json_out else _render().message(f"Person {named['id']} is now {named['name']}.", "green")


@people_app.command("merge")
def people_merge(ctx: typer.Context, keep: str = typer.Argument(..., help="Person that stays (number or name)."),
                 other: str = typer.Argument(..., help="Person whose faces join the first."),
                 json_out: bool = JSON) -> None:
    """Merge two people who are one: the second's faces join the first."""
    merged = _library(ctx).merge_people(keep, other).as_dict()
    _render().print_json(merged) if json_out else _render().message(
        f"Merged: {merged['label']} now has {merged['faces']} faces in {merged['photos']} photos.", "green")


@people_app.command("show")
def people_show(ctx: typer.Context, person: str = typer.Argument(..., help="Person number or name."),
                json_out: bool = JSON, html: Optional[Path] = HTML, open_page: bool = OPEN) -> None:
    """One person's faces and the photos they are in."""
    found = _library(ctx).person(person)
    written = _html_out(ctx, html, f"{found['label']}: {found['faces']} faces in {found['photos']} photos",
                        [(None, found["photo_list"])], open_page)
    if json_out:
        _render().print_json(found)
    elif not written:
        _render().message(f"{found['label']}: {found['faces']} faces in {found['photos']} photos.", "bold")
        _render().photos_table(found["photo_list"])


@people_app.command("forget")
def people_forget(ctx: typer.Context, person: str = typer.Argument(..., help="Person number or name."),
                  json_out: bool = JSON) -> None:
    """Drop a person and their faces from the catalog; photos and files stay."""
    result = _library(ctx).forget_person(person)
    _render().print_json(result) if json_out else _render().message(
        f"Forgot person {result['id']} and {result['faces_dropped']} faces; photos untouched.", "green")


@people_app.command("recluster")
def people_recluster(ctx: typer.Context,
                     threshold: Optional[float] = typer.Option(None, "--threshold", "-t", min=0.0, max=2.0,
                                                               help="Largest face distance within a person (default: [faces] threshold, else "
                                                                    "0.6 for local faces, 1.0 for faces from Immich servers)."),
                     json_out: bool = JSON) -> None:
    """Group the faces of unnamed people again (named people keep their faces and names)."""
    found = [person.as_dict() for person in _library(ctx).recluster_people(threshold)]
    _render().print_json(found) if json_out else _render().people_table(found)


def _settings(ctx: typer.Context) -> Any:
    from photolib.core.config import load_settings

    obj = ctx.find_root().obj
    if "settings" not in obj:
        obj["settings"] = load_settings(obj["config_flag"], obj["library_flag"])
    return obj["settings"]


@models_app.command("list")
def models_list(ctx: typer.Context, json_out: bool = JSON) -> None:
    """Known image models: download size, installed or not, where; the configured one is marked."""
    from photolib.models.download import list_models

    rows = list_models(_settings(ctx).image)
    _render().print_json(rows) if json_out else _render().models_table(rows)


@models_app.command("pull")
def models_pull(ctx: typer.Context, name: str = typer.Argument(..., help="Model name from `photolib models list`."),
                json_out: bool = JSON) -> None:
    """Download an image model from Hugging Face (immich-app/NAME) into its cache; resumes if interrupted."""
    from photolib.models.download import pull_model

    settings = _settings(ctx)
    result = pull_model(name)
    if json_out:
        _render().print_json(result)
        return
    _render().message(f"{result['name']} is installed in {result['path']}.", "green")
    if result["name"] != settings.image.model.split("/")[-1] or settings.image.model_path is not None:
        _render().message(f"To use it: set [image] model = \"{result['name']}\" in your config "
                          f"(or PHOTOLIB_IMAGE_MODEL={result['name']}).")


@models_app.command("remove")
def models_remove(ctx: typer.Context, name: str = typer.Argument(..., help="Model name."), json_out: bool = JSON) -> None:
    """Delete an image model from the Hugging Face cache (vectors already in libraries stay)."""
    from photolib.models.registry import human_size
    from photolib.models.download import remove_model

    result = remove_model(name)
    _render().print_json(result) if json_out else _render().message(
        f"Removed {result['name']}, {human_size(result['freed_bytes'])} freed.", "green")


def _collapse(value: str | None) -> str | None:
    from photolib.core.errors import UsageError

    if value is not None and value not in ("none", "exact", "marked"):
        raise UsageError(f"--collapse-duplicates {value!r}: use none, exact or marked")
    return value


@app.command()
def duplicates(
    ctx: typer.Context,
    similar: bool = typer.Option(False, "--similar", help="Also visually similar shots (bursts, retakes), from "
                                                           "image vectors; needs the image model."),
    bits: Optional[int] = typer.Option(None, "--bits", min=0, max=32,
                                       help="Near copies: perceptual hashes at most this many bits apart, of 64 "
                                            f"(default: [duplicates] near_bits, else {DEFAULT_NEAR_BITS})."),
    distance: Optional[float] = typer.Option(None, "--distance", min=0.0, max=4.0,
                                             help="With --similar: largest squared L2 distance of image vectors "
                                                  f"(default: [duplicates] similar_distance, else {DEFAULT_SIMILAR_DISTANCE})."),
    mark: bool = typer.Option(False, "--mark", help="Remember near/similar groups so search and albums can show "
                                                    "one photo per group (--collapse-duplicates marked)."),
    export: Optional[Path] = typer.Option(None, "--export", help="Write the groups as CSV here, for your own tools."),
    pairs: bool = typer.Option(True, "--pairs/--no-pairs", help="Also list RAW+JPEG pairs as stacks "
                                                                "(one shot, two files, both kept)."),
    json_out: bool = JSON,
    html: Optional[Path] = HTML,
    open_page: bool = OPEN,
) -> None:
    """Find copies: exact (same bytes), near (resized, recompressed, slightly cropped or rotated) and,
    with --similar, similar shots. Each group best first, with why; then RAW+JPEG pairs as stacks.
    Nothing is ever deleted or moved."""
    render = _render()
    groups = _library(ctx).duplicates(similar=similar, near_bits=bits, similar_distance=distance, mark=mark,
                                      export=export, progress=render.RichProgress(enabled=not json_out), pairs=pairs)
    data = [g.as_dict() for g in groups]
    written = _html_out(ctx, html, render.duplicates_title(data), render.duplicate_sections(data), open_page)
    if json_out:
        render.print_json(data)
    elif not written:
        render.duplicates_table(data)
    if export is not None and not json_out:
        render.message(f"Wrote the list of {len(groups)} groups to {export.absolute()}.", "green")


@export_app.command("xmp")
def export_xmp(
    ctx: typer.Context,
    paths: Optional[List[Path]] = typer.Argument(None, help="Folders or photos (default: the whole library)."),
    style: Optional[str] = typer.Option(None, "--style", help="Name of new sidecars: photo.jpg.xmp (digiKam, "
                                                               "darktable; default) or photo.xmp (Lightroom)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would change; write nothing."),
    json_out: bool = JSON,
) -> None:
    """Write photolib's tags and caption into XMP sidecars that digiKam, Lightroom and darktable read.
    Existing sidecars are merged (your fields are kept); photo files are never touched."""
    report = _library(ctx).export_xmp(paths or None, style=style, dry_run=dry_run).as_dict()
    _render().print_json(report) if json_out else _render().export_summary(report)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="photolib")


if __name__ == "__main__":
    sys.exit(main())
