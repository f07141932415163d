"""Shared fixtures: every test runs against its own user dirs and library, offline."""

from __future__ import annotations

import os
from pathlib import Path

import huggingface_hub.constants  # noqa: F401 - reads HF_HUB_OFFLINE once, before any test sets it
import pytest

SECRET_VARS = ("HF_TOKEN", "OPENAI_API_KEY", "PHOTOLIB_LIBRARY", "PHOTOLIB_CONFIG")
# One terminal for every test, whatever runs the suite (a wide terminal, CI with no terminal, a COLUMNS
# of the user's): Rich reads these when a console is made and each time it measures one, and commands
# run with CliRunner or in a child process print to the same 80 columns, uncoloured, as off a terminal.
TERMINAL = {"COLUMNS": "80", "LINES": "25"}
TERMINAL_UNSET = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES")
os.environ.update(TERMINAL)  # before any test imports photolib.render, whose consoles are made at import
for _name in TERMINAL_UNSET:
    os.environ.pop(_name, None)
# The pixel stages cost ~0.3 s a photo and seconds to load: off unless a test turns them on.
STAGES_OFF = {"PHOTOLIB_OCR_ENABLED": "false", "PHOTOLIB_FACES_ENABLED": "false"}
STAGES_ON = {"PHOTOLIB_OCR_ENABLED": "true", "PHOTOLIB_FACES_ENABLED": "true"}


@pytest.fixture(scope="session")
def geonames_cache(tmp_path_factory) -> Path:
    """The offline geocoder's parsed data, built once per session (parsing costs ~3 s a process)."""
    from photolib.media import geocode

    cache_home = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache_home))
        cache = geocode._cache_file(geocode._source_folder())
        if geocode._read_cache(cache) is None:
            geocode._parse_and_cache(geocode._source_folder(), cache)
    return cache


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch, geonames_cache):
    """Point config/data dirs at a temp folder and clear settings from the environment. The user
    cache starts with the geocoder's data, as on a machine where photolib ran before."""
    home = tmp_path_factory.mktemp("home")
    cached = home / ".cache" / geonames_cache.relative_to(geonames_cache.parents[2])
    cached.parent.mkdir(parents=True)
    cached.symlink_to(geonames_cache)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    for name in list(os.environ):
        if name.startswith("PHOTOLIB_") or name in SECRET_VARS:
            monkeypatch.delenv(name, raising=False)
    for name, value in STAGES_OFF.items():  # OCR and faces are tested in their own files, where they are on
        monkeypatch.setenv(name, value)
    for name, value in TERMINAL.items():  # restored for each test, should one have changed them
        monkeypatch.setenv(name, value)
    return home


@pytest.fixture(scope="session")
def embedder():
    """One loaded MiniLM for the whole session: loading weights is the slow part."""
    from photolib.core.protocols import ProviderSettings
    from photolib.models.minilm import MiniLMEmbedder

    model = MiniLMEmbedder(ProviderSettings(provider="local"))
    model.embed_query("warm up")
    return model


@pytest.fixture
def library_path(tmp_path) -> Path:
    return tmp_path / "library"


@pytest.fixture
def make_library(library_path, embedder):
    """Build a Library on the test's folder with local providers (shared embedder)."""
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    opened = []

    def build(**overrides):
        settings = load_settings(library_path=overrides.pop("path", library_path))
        for key, value in overrides.pop("settings", {}).items():
            setattr(settings, key, value)
        messages = []
        library = Library(settings, embedder=overrides.pop("embedder", embedder), notify=messages.append, **overrides)
        library.messages = messages
        opened.append(library)
        return library

    yield build
    for library in opened:
        library.close()


@pytest.fixture
def trips(tmp_path) -> Path:
    """Two small trips in their own folders, far apart in place, season and colour."""
    from datetime import datetime

    from tests.support.photos import make_trip

    root = tmp_path / "pics"
    make_trip(root, "Paris weekend", 3, start=datetime(2019, 4, 6, 11, 0), gps=(48.8566, 2.3522), color=(200, 180, 150))
    make_trip(root, "Sydney harbour", 3, start=datetime(2019, 7, 20, 9, 0), gps=(-33.8568, 151.2153), color=(30, 90, 200))
    return root


def table_cells(output: str) -> list[list[str]]:
    """A Rich table as printed, row by row, the header first: each cell's text with its lines joined and
    its whitespace removed, i.e. what the cell holds whatever width it was folded or wrapped at (compare
    with `"".join(text.split())`). A row starts at a line whose first cell is not empty, so the first
    column must be one that never wraps (an id)."""
    rows: list[list[str]] = []
    border = ""
    for line in output.splitlines():
        line = line.strip()
        if line[:1] not in ("┃", "│"):
            border = ""  # a rule or an edge: the next line starts a row
            continue
        cells = ["".join(cell.split()) for cell in line[1:-1].split(line[0])]
        if line[0] != border or cells[0]:
            rows.append(cells)
        else:
            rows[-1] = [joined + more for joined, more in zip(rows[-1], cells)]
        border = line[0]
    return rows
