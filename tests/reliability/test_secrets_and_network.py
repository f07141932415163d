"""Keys never leak; local providers never touch the network; the library is private."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.support.fake_servers import FakeModelServer, Reply
from tests.support.photos import make_photo, make_trip
from tests.reliability.conftest import TRIALS
from tests.reliability.helpers import ROOT, child_env, permission_bits_apply, photolib

CANARY = "sk-canary-5d41402abc4b2a76"


def leaked(text: str) -> bool:
    """The key, or any 12-character piece of it (what a message cut short would keep)."""
    return any(CANARY[i:i + 12] in text for i in range(len(CANARY) - 11))


def long_errors() -> list[Reply]:
    """Server errors that echo the key, longer than photolib's 300-character cut of a message, with the key
    repeated from a shifting start: for one of the four shifts the cut falls 12 or more characters into a
    copy of the key, so scrubbing after cutting would leave a piece of it."""
    replies = []
    for shift in (0, 7, 14, 21):
        message = f"upstream echoed Authorization: Bearer {CANARY} " + "x" * shift + CANARY * 14
        replies += [Reply(500, {"error": {"message": message}}, {"Retry-After": "0"})] * 2  # both attempts of a photo
    return replies


def test_canary_key_never_reaches_output_catalog_or_index(tmp_path):
    pictures = tmp_path / "pics"
    make_trip(pictures, "Bridge", 3, start=datetime(2020, 2, 2, 8), gps=(37.8, -122.4), color=(200, 60, 30))
    library = tmp_path / "library"
    with FakeModelServer(dimension=16) as server:
        config = tmp_path / "config.toml"
        config.write_text(f'[vision]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nmax_retries = 1\n'
                          f'[embedding]\nprovider = "openai"\nbase_url = "{server.url}/v1"\nmax_retries = 1\n')
        replies = long_errors()
        server.script("/v1/chat/completions", *replies, *replies,
                      Reply(401, {"error": {"message": f"Incorrect API key provided: {CANARY}"}}))
        outputs = []
        runner = CliRunner()
        for args in (["add", str(pictures), "--jobs", "1"], ["add", str(pictures), "--jobs", "1"],
                     ["add", str(pictures)], ["search", "bridge"], ["stats"], ["show", "1", "--json"],
                     ["show", "2", "--json"], ["show", "3"], ["list", "--status", "failed"], ["list", "--json"]):
            result = runner.invoke(app, ["--verbose", "--config", str(config), "--library", str(library), *args],
                                   env={"OPENAI_API_KEY": CANARY})
            outputs.append(result.output + (str(result.exception) if result.exception else ""))
        assert server.requests and all(r.headers["authorization"] == f"Bearer {CANARY}" for r in server.requests)
        assert sum(r.path == "/v1/chat/completions" for r in server.requests) >= len(replies) * 2
    assert any("vision failed: HTTP 500" in text for text in outputs), "the scripted errors were not shown"
    assert not [text for text in outputs if leaked(text)]
    for path in library.rglob("*"):
        if path.is_file():
            assert not leaked(path.read_bytes().decode("latin-1")), path


# -- no network with local providers ------------------------------------------------------------

GUARD = r"""
import os, socket, sys

LOG = os.environ["NETWORK_GUARD_LOG"]


def refuse(what):
    def guarded(*args, **kwargs):
        detail = f"{what}{args[1:] if what.startswith('socket.') else args}"
        with open(LOG, "a") as log:
            log.write(detail + "\n")
        sys.stderr.write(f"NETWORK GUARD: {detail}\n")
        raise OSError(f"network disabled by the test: {detail}")
    return guarded


socket.socket.connect = refuse("socket.connect")
socket.socket.connect_ex = refuse("socket.connect_ex")
socket.socket.sendto = refuse("socket.sendto")
socket.create_connection = refuse("create_connection")
socket.getaddrinfo = refuse("getaddrinfo")
socket.gethostbyname = refuse("gethostbyname")
socket.gethostbyname_ex = refuse("gethostbyname_ex")
sys.argv = ["photolib", *sys.argv[1:]]
from photolib.cli import main
main()
"""
OFFLINE_SWITCHES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HTTP_PROXY", "HTTPS_PROXY",
                    "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy")


def guarded_photolib(tmp_path, library, config, *args) -> tuple[subprocess.CompletedProcess, list[str]]:
    """`photolib args` in a fresh process whose every way to the network is replaced by a recorder,
    installed before photolib is imported. Offline switches are unset: they must not be what keeps it off."""
    log = tmp_path / f"network-{len(list(tmp_path.glob('network-*')))}.log"
    env = child_env({"NETWORK_GUARD_LOG": str(log), "PHOTOLIB_CONFIG": str(config)})
    for name in OFFLINE_SWITCHES:
        env.pop(name, None)
    result = subprocess.run([sys.executable, "-c", GUARD, "-L", str(library), *args], capture_output=True,
                            text=True, env=env, cwd=ROOT, timeout=300)
    return result, log.read_text().splitlines() if log.exists() else []


def test_local_providers_make_no_network_connection(tmp_path):
    pictures = tmp_path / "pics"
    make_trip(pictures, "Island", 4, start=datetime(2019, 6, 6, 12), gps=(28.1, -15.4), color=(30, 160, 200))
    make_trip(pictures, "Snow", 4, start=datetime(2019, 12, 6, 12), gps=(46.5, 8.0), color=(230, 230, 240))
    library, config = tmp_path / "library", tmp_path / "config.toml"
    config.write_text("")
    for args in (["add", str(pictures), "--json"], ["search", "island beach", "--json"], ["albums", "--save"],
                 ["reindex"]):
        result, attempts = guarded_photolib(tmp_path, library, config, *args)
        assert attempts == [], (args, attempts)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
        if args[0] == "add":
            assert json.loads(result.stdout)["new"] == 8
        if args[0] == "search":
            assert json.loads(result.stdout), "search found nothing"
        TRIALS["guarded local commands (no connection attempted)"] += 1


IMAGE_MODEL_USE = """
from pathlib import Path
from PIL import Image
from photolib.core.config import load_settings
from photolib.models.labels import labels_for
from photolib.models.clip import make_image_embedder

embedder = make_image_embedder(load_settings())
vectors = embedder.embed_images([Image.new("RGB", (40, 30), (210, 30, 35))])
print(labels_for(embedder, vectors, Path(sys.argv[1]))[0], float(embedder.embed_texts(["red"])[0] @ vectors[0]))
"""


def test_local_image_model_makes_no_network_connection(tmp_path):
    """`models list`, and the image model with its tokenizer, ONNX Runtime, labels and caches, stay off the
    network; so do `add` and `search` with an image model configured."""
    from tests.support.onnx_models import build_tiny_clip

    pictures = tmp_path / "pics"
    make_trip(pictures, "Red", 2, start=datetime(2019, 6, 6, 12), gps=(48.2, 16.4), color=(210, 30, 35))
    library, config = tmp_path / "library", tmp_path / "config.toml"
    config.write_text("")
    result, attempts = guarded_photolib(tmp_path, library, config, "models", "list", "--json")
    assert attempts == [] and result.returncode == 0, (attempts, result.stderr)
    folder = build_tiny_clip(tmp_path / "tiny")
    config.write_text(f'[image]\nmodel = "test/tiny"\nmodel_path = "{folder}"\n')
    for args in (["models", "list", "--json"], ["add", str(pictures), "--json"], ["search", "red", "--json"]):
        result, attempts = guarded_photolib(tmp_path, library, config, *args)
        assert attempts == [] and result.returncode == 0 and "Traceback" not in result.stderr, (args, attempts, result.stderr)
        TRIALS["guarded local commands (no connection attempted)"] += 1
    log = tmp_path / "network-provider.log"
    env = child_env({"NETWORK_GUARD_LOG": str(log), "PHOTOLIB_CONFIG": str(config)})
    for name in OFFLINE_SWITCHES:
        env.pop(name, None)
    script = GUARD.split("sys.argv = ")[0] + IMAGE_MODEL_USE
    used = subprocess.run([sys.executable, "-c", script, str(tmp_path / "label-cache")], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=300)
    assert not log.exists(), log.read_text()
    assert used.returncode == 0 and used.stdout.startswith("['strawberry'] 0.99"), used.stderr


def test_network_guard_catches_a_remote_provider(tmp_path):
    """The guard is not blind: a configured remote provider's connection attempt is caught and recorded."""
    make_photo(tmp_path / "pics" / "one.jpg")
    config = tmp_path / "config.toml"
    config.write_text('[vision]\nprovider = "openai"\nbase_url = "http://127.0.0.1:9/v1"\nmax_retries = 0\n')
    result, attempts = guarded_photolib(tmp_path, tmp_path / "library", config, "add", str(tmp_path / "pics"))
    assert attempts, result.stderr
    assert "Traceback" not in result.stderr


# -- a private library ---------------------------------------------------------------------------


def test_library_files_have_user_only_modes(tmp_path):
    library = tmp_path / "lib"
    CliRunner().invoke(app, ["--library", str(library), "stats"])
    assert (library.stat().st_mode & 0o777) == 0o700
    assert ((library / "catalog.db").stat().st_mode & 0o777) == 0o600


def test_other_users_cannot_read_the_library(tmp_path):
    """Permission bits really keep others out: once the library belongs to someone else, a process for
    which permission bits apply can neither list its photos nor read its catalog."""
    prefix = permission_bits_apply()
    if prefix is None:
        pytest.skip("running as root without setpriv: permission bits cannot apply")
    if os.geteuid() != 0:
        pytest.skip("needs root to hand the library to another user")
    photo = make_photo(tmp_path / "pics" / "private holiday.jpg")
    library = tmp_path / "library"
    assert photolib(library, "add", str(photo), prefix=prefix).returncode == 0
    own = photolib(library, "list", "--json", prefix=prefix)
    assert own.returncode == 0 and "private holiday" in own.stdout  # the owner can
    for path in [library, *library.rglob("*")]:
        os.chown(path, 65534, 65534, follow_symlinks=False)
    other = photolib(library, "list", "--json", prefix=prefix)
    assert other.returncode != 0 and "private holiday" not in other.stdout + other.stderr
    assert "Traceback" not in other.stderr
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([*prefix, "cat", str(library / "catalog.db")], check=True, capture_output=True)


# -- Immich machine-learning servers: only the configured URL -------------------------------------

ALLOWING_GUARD = r"""
import os, socket, sys

LOG = os.environ["NETWORK_GUARD_LOG"]
HOST, PORT = os.environ["NETWORK_GUARD_ALLOW"].rsplit(":", 1)
PORT = int(PORT)
real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo


def note(detail):
    with open(LOG, "a") as log:
        log.write(detail + "\n")


def connect(self, address, *args):
    where = f"{address[0]}:{address[1]}" if isinstance(address, tuple) else str(address)
    note(f"connect {where}")
    if isinstance(address, tuple) and tuple(address[:2]) == (HOST, PORT):
        return real_connect(self, address, *args)
    raise OSError(f"network disabled by the test: {where}")


def getaddrinfo(host, port, *args, **kwargs):
    note(f"getaddrinfo {host}:{port}")
    if (host, int(port or 0)) == (HOST, PORT):
        return real_getaddrinfo(host, port, *args, **kwargs)
    raise OSError(f"network disabled by the test: {host}")


def refuse(what):
    def guarded(*args, **kwargs):
        note(f"{what}{args[1:]}")
        raise OSError(f"network disabled by the test: {what}")
    return guarded


socket.socket.connect = connect
socket.getaddrinfo = getaddrinfo
socket.socket.connect_ex = refuse("socket.connect_ex")
socket.socket.sendto = refuse("socket.sendto")
socket.gethostbyname = refuse("gethostbyname")
socket.gethostbyname_ex = refuse("gethostbyname_ex")
sys.argv = ["photolib", *sys.argv[1:]]
from photolib.cli import main
main()
"""

MODULES_GUARD = GUARD.replace("from photolib.cli import main\nmain()", """import atexit
atexit.register(lambda: open(LOG + ".modules", "w").write(" ".join(sorted(
    name for name in sys.modules if name in ("photolib.providers.immich_ml", "photolib.providers.inference_servers",
                                             "httpx2")))))
from photolib.cli import main
main()""")


def test_with_local_settings_the_server_client_is_not_even_imported(tmp_path):
    """Local image, OCR and face models (no url anywhere): no connection is attempted and the Immich client
    and its HTTP library are never imported, through add (every stage) and search."""
    from tests.support.onnx_models import build_tiny_clip

    pictures = tmp_path / "pics"
    make_trip(pictures, "Red", 2, start=datetime(2019, 6, 6, 12), gps=(48.2, 16.4), color=(210, 30, 35))
    library, config = tmp_path / "library", tmp_path / "config.toml"
    config.write_text(f'[image]\nmodel = "test/tiny"\nmodel_path = "{build_tiny_clip(tmp_path / "tiny")}"\n')
    log = tmp_path / "network-local.log"
    env = child_env({"NETWORK_GUARD_LOG": str(log), "PHOTOLIB_CONFIG": str(config), "PHOTOLIB_OCR_ENABLED": "true",
                     "PHOTOLIB_FACES_ENABLED": "true"})
    for name in OFFLINE_SWITCHES:
        env.pop(name, None)
    for args in (["add", str(pictures), "--json"], ["search", "red", "--json"], ["enrich"]):
        result = subprocess.run([sys.executable, "-c", MODULES_GUARD, "-L", str(library), *args], capture_output=True,
                                text=True, env=env, cwd=ROOT, timeout=300)
        assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
        assert not log.exists(), log.read_text()
        assert Path(f"{log}.modules").read_text() == "", args
        TRIALS["guarded local commands (no connection attempted)"] += 1


def test_photos_and_queries_go_only_to_the_configured_server(tmp_path):
    """With [ml] url, every connection attempted is to that server: the pixels of add (image, OCR, faces)
    and the query of search; and the server got them."""
    from tests.support.immich_server import ImmichMLServer
    from tests.support.onnx_models import build_tiny_clip

    pictures = tmp_path / "pics"
    make_trip(pictures, "Red", 2, start=datetime(2019, 6, 6, 12), gps=(48.2, 16.4), color=(210, 30, 35))
    library, config = tmp_path / "library", tmp_path / "config.toml"
    with ImmichMLServer({"tiny-clip": build_tiny_clip(tmp_path / "tiny")}) as server:
        config.write_text(f'[ml]\nurl = "{server.url}"\n[image]\nmodel = "tiny-clip"\n')
        log = tmp_path / "network-server.log"
        env = child_env({"NETWORK_GUARD_LOG": str(log), "PHOTOLIB_CONFIG": str(config),
                         "NETWORK_GUARD_ALLOW": server.url.split("//")[1], "PHOTOLIB_OCR_ENABLED": "true",
                         "PHOTOLIB_FACES_ENABLED": "true"})
        for name in OFFLINE_SWITCHES:
            env.pop(name, None)
        for args in (["add", str(pictures), "--json"], ["search", "strawberry", "--json"]):
            result = subprocess.run([sys.executable, "-c", ALLOWING_GUARD, "-L", str(library), *args],
                                    capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
            assert result.returncode == 0 and "Traceback" not in result.stderr, (args, result.stderr)
        attempts = set(log.read_text().splitlines())
        tasks = [next(iter(p.entries)) for p in server.predictions]
        texts = [p.text for p in server.predictions if p.text]
    address = server.url.split("//")[1]
    assert attempts and attempts <= {f"connect {address}", f"getaddrinfo {address}"}, attempts
    assert {"clip", "ocr", "facial-recognition"} <= set(tasks)
    assert "strawberry" in texts
    assert json.loads(result.stdout), "the search found nothing"
