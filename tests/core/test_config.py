"""Configuration: precedence, validation messages, and where things live."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from photolib.core.config import load_settings
from photolib.core.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_defaults_use_user_dirs(isolated_user_dirs):
    settings = load_settings()
    assert settings.library_path == isolated_user_dirs / ".local" / "share" / "photolib" / "library"
    assert settings.vision.provider == "local" and settings.embedding.provider == "local"
    assert settings.generation is None and settings.search_threshold == 1.5 and settings.jobs == 16


def test_precedence_flag_over_env_over_file(tmp_path, isolated_user_dirs):
    config = write(isolated_user_dirs / ".config" / "photolib" / "config.toml",
                   '[library]\npath = "/from/file"\n[search]\nlimit = 3\n[add]\njobs = 2\n')
    env = {"PHOTOLIB_LIBRARY": "/from/env", "PHOTOLIB_SEARCH_LIMIT": "7"}
    assert load_settings(environ={}).library_path == Path("/from/file")
    from_env = load_settings(environ=env)
    assert from_env.library_path == Path("/from/env") and from_env.search_limit == 7 and from_env.jobs == 2
    assert load_settings(library_path=Path("/from/flag"), environ=env).library_path == Path("/from/flag")
    other = write(tmp_path / "other.toml", "[search]\nlimit = 4\n")
    assert load_settings(config_path=other, environ={}).search_limit == 4
    assert load_settings(environ={"PHOTOLIB_CONFIG": str(other)}).search_limit == 4
    assert load_settings(environ={}).config_path == config  # found in the user config dir without being named


def test_api_key_comes_from_named_env_var_and_is_hidden(tmp_path):
    config = write(tmp_path / "c.toml", '[vision]\nprovider = "openai"\napi_key_env = "MY_KEY"\nbase_url = "http://127.0.0.1:9/v1"\n')
    settings = load_settings(config_path=config, environ={"MY_KEY": "sk-secret-123"})
    assert settings.vision.api_key == "sk-secret-123"
    assert "sk-secret-123" not in repr(settings)
    hf = load_settings(config_path=write(tmp_path / "h.toml", '[embedding]\nprovider = "huggingface"\n'),
                       environ={"HF_TOKEN": "hf_x"})
    assert hf.embedding.api_key_env == "HF_TOKEN" and hf.embedding.api_key == "hf_x"


@pytest.mark.parametrize("text, fragment", [
    ("[serach]\nlimit = 3\n", "unknown section [serach]"),
    ("[search]\nlimt = 3\n", "unknown key 'limt' in [search]"),
    ("[search]\nlimit = \"many\"\n", "[search] limit = 'many' must be a whole number"),
    ("[vision]\nprovider = \"magic\"\n", "unknown provider 'magic'"),
    ("[generation]\nprovider = \"local\"\n", "unknown provider 'local'"),
    ("[search\n", "not valid TOML"),
    ("[embedding]\nbatch_size = -4\n", "batch_size = -4 must be at least 1"),
    ("[library]\nlock_timeout = -1.0\n", "lock_timeout = -1.0 must be at least 0"),
    ("[search]\nthreshold = nan\n", "must be a finite number"),
    ("[vision]\nstructured_output = \"yes\"\n", "structured_output = 'yes' must be true or false"),
])
def test_config_errors_name_file_and_key(tmp_path, text, fragment):
    config = write(tmp_path / "bad.toml", text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config_path=config, environ={})
    assert fragment in str(caught.value) and str(config) in str(caught.value)


@pytest.mark.parametrize("name, value", [("PHOTOLIB_ADD_JOBS", "lots"), ("PHOTOLIB_ADD_JOBS", "0"),
                                         ("PHOTOLIB_LIBRARY_LOCK_TIMEOUT", "-5"), ("PHOTOLIB_SEARCH_THRESHOLD", "nan")])
def test_bad_env_value_names_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings(environ={name: value})


def test_relative_library_path_is_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_settings(library_path=Path("lib"), environ={}).library_path == tmp_path / "lib"


def test_cli_reports_config_error_in_one_line(tmp_path):
    config = write(tmp_path / "bad.toml", "[search]\nlimt = 3\n")
    result = CliRunner().invoke(app, ["--config", str(config), "stats"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "limt" in result.output
    missing = CliRunner().invoke(app, ["--config", str(tmp_path / "nope.toml"), "stats"])
    assert missing.exit_code == 2 and "does not exist" in missing.output


EXAMPLE = Path(__file__).parents[2] / "config.example.toml"


def _documented_keys(example: str) -> dict[str, set[str]]:
    """Section -> keys written as `key = ...` (set or commented out) inside it; "*providers" -> the keys
    of the shared provider notes (`#   key   what it does`) that every provider section takes."""
    import re

    documented: dict[str, set[str]] = {"*providers": set()}
    section = None
    for line in example.splitlines():
        header = re.match(r"^\[(\w+)\]", line)
        if header:
            section = header.group(1)
            documented[section] = set()
        elif section and (key := re.match(r"^#?\s*(\w+)\s*=", line)):
            documented[section].add(key.group(1))
        elif section is not None and (note := re.match(r"^#\s{3}(\w+)\s", line)):
            documented["*providers"].add(note.group(1))
    return documented


def test_example_config_documents_every_key_in_its_section(tmp_path):
    from photolib.core.config import COMMON_PROVIDER_KEYS, PLAIN_SECTIONS, PROVIDER_KINDS, PROVIDER_OPTIONS

    documented = _documented_keys(EXAMPLE.read_text())
    for section, keys in PLAIN_SECTIONS.items():
        assert set(keys) - documented[section] == set(), f"[{section}] keys undocumented"
    for kind in PROVIDER_KINDS:
        wanted = set(COMMON_PROVIDER_KEYS) | set(PROVIDER_OPTIONS[kind])
        assert wanted - documented[kind] - documented["*providers"] == set(), f"[{kind}] keys undocumented"
    imagine = _section_text(EXAMPLE.read_text(), "imagine")  # lists the keys it takes from [vision] in prose
    for key in set(COMMON_PROVIDER_KEYS) | set(PROVIDER_OPTIONS["imagine"]):
        assert key in documented["imagine"] or re.search(rf"\b{key}\b", imagine), f"[imagine] {key} undocumented"


def _section_text(example: str, name: str) -> str:
    return example.split(f"\n[{name}]\n", 1)[1].split("\n[", 1)[0]


def test_docs_config_table_holds_every_key_of_the_example():
    """docs/configuration.md's key table (generated from the loader) has every key config.example.toml
    documents, in its section: the example documents no key the loader would refuse."""
    from photolib.core.config import PROVIDER_KINDS

    page = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    documented = _documented_keys(EXAMPLE.read_text())
    provider_notes = documented.pop("*providers")
    assert provider_notes and documented and all(documented.values())  # every section documents a key
    for section, keys in documented.items():
        for key in keys | (provider_notes if section in PROVIDER_KINDS else set()):
            assert f"| `[{section}] {key}` |" in page, f"[{section}] {key} is not in docs/configuration.md"


def test_the_documented_key_check_tells_lock_timeout_from_timeout():
    documented = _documented_keys("[library]\nlock_timeout = 10.0\n[vision]\n# max_side = 1024\n")
    assert documented["library"] == {"lock_timeout"} and "timeout" not in documented["library"]
    assert documented["vision"] == {"max_side"}


def test_example_config_states_the_built_in_defaults(tmp_path):
    import tomllib

    from photolib.core.config import PLAIN_SECTIONS

    example = tomllib.loads(EXAMPLE.read_text())
    for section, keys in PLAIN_SECTIONS.items():
        for key, (_type, default) in keys.items():
            if key in example.get(section, {}):
                assert example[section][key] == default, f"[{section}] {key}: example says {example[section][key]}"
    loaded = load_settings(config_path=EXAMPLE, environ={})
    assert (loaded.jobs, loaded.batch_size, loaded.search_limit, loaded.lock_timeout) == (16, 32, 10, 10.0)


def test_remote_provider_without_key_says_which_variable(tmp_path, library_path):
    config = write(tmp_path / "remote.toml", '[vision]\nprovider = "huggingface"\n')
    result = CliRunner().invoke(app, ["--config", str(config), "--library", str(library_path), "add", str(tmp_path)])
    assert result.exit_code == 2
    assert "HF_TOKEN" in result.output and "[vision]" in result.output and "Traceback" not in result.output
    assert str(config) in result.output  # the file to edit
