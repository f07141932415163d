"""The parts of docs/ that are generated from the code, called from the pages' cog blocks.

    python -m cogapp -r -I docs docs/*.md        # rewrite the generated parts
    python -m cogapp --check -I docs docs/*.md   # fail (exit 5) when a page is stale: CI, tests/cli/test_docs.py

Each function returns the Markdown of one generated part and reads one home in the
code (the Typer app, the filter table, the stage registry, the config loader's
tables), so pointing a part at a new home is a change to one function here.
Output is deterministic: help is rendered at a fixed width without colour,
whatever the terminal.
"""

from __future__ import annotations

from typing import Any

HELP_WIDTH = 100  # columns of the rendered --help


def commands() -> list[tuple[tuple[str, ...], Any]]:
    """(path, click command) of the program and every command and subcommand, in --help order."""
    from typer.main import get_command

    from photolib.cli import app

    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(path: tuple[str, ...], command: Any) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk((*path, name), sub)

    walk((), get_command(app))
    return found


def help_text(path: tuple[str, ...]) -> str:
    """`photolib PATH --help` as a user sees it on a terminal HELP_WIDTH columns wide."""
    from typer.testing import CliRunner

    from photolib.cli import app

    result = CliRunner().invoke(app, [*path, "--help"], prog_name="photolib", color=False,
                                terminal_width=HELP_WIDTH, max_content_width=HELP_WIDTH)
    if result.exit_code != 0:
        raise RuntimeError(f"photolib {' '.join(path)} --help failed: {result.output}")
    return "\n".join(line.rstrip() for line in result.output.strip("\n").splitlines()) + "\n"


def cli_reference() -> str:
    """A section per command: its --help in a code block; subcommands one heading level down."""
    parts = []
    for path, _command in commands():
        level = "#" * (2 + max(0, len(path) - 1))
        parts.append(f"{level} `{' '.join(('photolib', *path))}`\n\n```\n{help_text(path)}```\n")
    return "\n".join(parts)


def filter_table() -> str:
    """The query language's filters, from the filter registry (`photolib.query.filters.FILTERS`)."""
    from photolib.query.filters import FILTERS

    rows = ["| filter | value | also written as |", "|---|---|---|"]
    for key, entry in FILTERS.items():
        also = ", ".join(f"`{key}{op}`" for op in entry.operators) or ""
        rows.append(f"| `{key}:` | {_cell(entry.expects)} | {also} |")
    return "\n".join(rows) + "\n"


def filter_examples() -> str:
    """A row per filter: what it keeps, examples and its option (`photolib.query.filters.markdown_table`)."""
    from photolib.query.filters import markdown_table

    return markdown_table()


def stage_table() -> str:
    """The stages of `add`, from the stage registry (`photolib.pipeline.registry`): each stage's class
    gives its name, progress line, config section and `has:` value, in running order."""
    from photolib.pipeline.registry import FIRST_PASS, STAGES

    rows = ["| stage | part of | runs | progress line | turned off by | makes true |", "|---|---|---|---|---|---|"]
    for name in FIRST_PASS:
        rows.append(f"| `{name}` | first pass | first, over every new photo | — | — | — |")
    for stage in STAGES:
        section = f"`[{stage.config_section}] enabled`" if stage.config_section else "—"
        has = f"`has:{stage.has_value}`" if stage.has_value else "—"
        runs = "next, over its whole backlog" if stage.runs_ahead else "then, together"
        rows.append(f"| `{stage.name}` | enrichment | {runs} | {stage.label} | {section} | {has} |")
    classes = ", ".join(f"`{stage.__module__}.{stage.__name__}`" for stage in STAGES)
    ahead = ", ".join(f"`{stage.name}`" for stage in STAGES if stage.runs_ahead)
    return "\n".join(rows) + (f"\n\nThe enrichment stages are built in this order: {classes}; "
                               f"those that run ahead ({ahead}) go over their whole backlog before the others "
                               "start.\n")


def config_table() -> str:
    """Every key the config loader accepts (`photolib.core.config`), with its type, default and variable."""
    from photolib.core import config

    types = {int: "integer", float: "number", bool: "true/false", str: "string", config.Urls: "URL or list of URLs"}
    rows = ["| key | type | default | environment variable |", "|---|---|---|---|"]

    def row(section: str, key: str, kind: type, default: Any) -> None:
        choices = config.CHOICES.get((section, key))
        kind_text = " / ".join(f'`"{c}"`' for c in choices) if choices else types[kind]
        shown = "—" if default is None else f"`{_toml(default)}`"
        rows.append(f"| `[{section}] {key}` | {kind_text} | {shown} | `PHOTOLIB_{section.upper()}_{key.upper()}` |")

    for section, keys in config.PLAIN_SECTIONS.items():
        for key, (kind, default) in keys.items():
            row(section, key, kind, default)
    for section in (*config.PROVIDER_KINDS, "imagine"):
        spec = {**config.COMMON_PROVIDER_KEYS, **config.PROVIDER_OPTIONS[section]}
        for key, kind in spec.items():
            default = config.DEFAULT_PROVIDERS.get(section) or None if key == "provider" else None
            row(section, key, kind, default)
    return "\n".join(rows) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")
