"""Typed settings from flags, environment, config file and defaults.

Precedence is flag > environment > config file > built-in default. Every
mistake (unknown key, wrong type, unknown provider) is a `ConfigError` naming
the file, the key and the fix, because a config typo should never surface as a
traceback three commands later.
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from photolib.core.files import absolute
from photolib.core.errors import ConfigError
from photolib.core.protocols import ProviderSettings, provider_names

APP_NAME = "photolib"
PROVIDER_KINDS = ("vision", "embedding", "generation")
COMMON_PROVIDER_KEYS = {"provider": str, "model": str, "base_url": str, "api_key_env": str}
DEFAULT_KEY_ENV = {"huggingface": "HF_TOKEN", "openai": "OPENAI_API_KEY"}

# Backend options a section may carry beyond the common keys, with their types.
_REMOTE_OPTIONS = {"timeout": float, "max_retries": int, "inference_provider": str}
PROVIDER_OPTIONS: dict[str, dict[str, type]] = {
    "vision": {**_REMOTE_OPTIONS, "max_side": int, "structured_output": bool},
    "embedding": {
        **_REMOTE_OPTIONS,
        "model_path": str,
        "batch_size": int,
        "query_instruction": str,
        "dimensions": int,
    },
    "generation": {**_REMOTE_OPTIONS, "width": int, "height": int, "steps": int, "guidance": float},
}
# `imagine` writes its prompts with its own vision provider when [imagine] says so; unset keys come from [vision].
PROVIDER_OPTIONS["imagine"] = PROVIDER_OPTIONS["vision"]
DEFAULT_PROVIDERS = {"vision": "local", "embedding": "local", "generation": ""}
# immich-app/ViT-B-32__laion2b-s34b-b79k: small and fast, recall 68.78 on Crossmodal-3600 where the earlier
# default ViT-B-32__openai has 59.37 at the same cost (Immich's table). A library keeps the model its image
# vectors were made with until [image] model says otherwise (`photolib.models.registry.model_in_use`).
DEFAULT_IMAGE_MODEL = "ViT-B-32__laion2b-s34b-b79k"

# Settings that make no sense below 1 (a count or a size); other numbers must not be negative.
AT_LEAST_ONE = {"jobs", "batch_size", "limit", "min_size", "max_side", "width", "height", "steps", "dimensions",
                "in_flight"}
AT_MOST = {"near_bits": 32, "min_confidence": 1}  # a perceptual hash has 64 bits; unrelated photos differ in ~32

# The built-in defaults: the one home of each value (config.example.toml, the CLI's help and the
# library's own defaults read these).
DEFAULT_LOCK_TIMEOUT = 10.0  # seconds a second writer waits for the first
DEFAULT_SNAPSHOT_INTERVAL = 24.0  # hours between automatic catalog snapshots
DEFAULT_SNAPSHOT_KEEP = 3  # automatic snapshots kept; 0 takes none
DEFAULT_JOBS = 16  # parallel model calls in `add`
DEFAULT_BATCH_SIZE = 32  # photos committed per transaction in `add`
DEFAULT_WORKERS = 0  # processes for the pixel stages (thumbnails, image, OCR, faces); 0: one per core
DEFAULT_SEARCH_LIMIT = 10
DEFAULT_THRESHOLD = 1.5  # squared L2 (cosine 0.25 on unit vectors), the seed service's value
# Relative weights of the signals search fuses (photolib.search.fusion), chosen on the labelled set of
# tests/support/relevance_set.py (docs/search.md has the figures): the two spaces alike; exact words half a space.
DEFAULT_DESCRIPTION_WEIGHT = 1.0
DEFAULT_IMAGE_WEIGHT = 1.0
DEFAULT_WORDS_WEIGHT = 0.5
DEFAULT_ALBUM_MIN_SIZE = 2
DEFAULT_XMP_SIDECAR = "photo.jpg.xmp"  # name of new sidecars: photo.jpg.xmp (digiKam, darktable) or photo.xmp
DEFAULT_NEAR_BITS = 12  # perceptual-hash bits (of 64) within which photos are near copies; unrelated ~32
DEFAULT_SIMILAR_DISTANCE = 0.25  # squared L2 of image vectors for `duplicates --similar` (cos >= 0.875)
DEFAULT_COLLAPSE = "exact"  # which copies search/similar/albums show once: none, exact, marked
DEFAULT_OCR_MIN_CONFIDENCE = 0.8  # recogniser confidence of a kept line of text (photolib.models.ocr)
DEFAULT_FACE_THRESHOLD = 0.6  # descriptor distance within which a face joins a person (dlib's usual)
DEFAULT_FACE_MIN_SCORE = 0.3  # HOG detector score of a kept face
# Immich machine-learning servers (`url` of [image], [ocr], [faces], or of [ml] for all three).
DEFAULT_SERVER_OCR_MODEL = "PP-OCRv5_mobile"  # Immich's default OCR model
DEFAULT_SERVER_FACE_MODEL = "buffalo_l"  # Immich's default face model (InsightFace, 512-d ArcFace)
DEFAULT_SERVER_FACE_THRESHOLD = 1.0  # L2 of unit ArcFace vectors: cosine distance 0.5, Immich's maxDistance
DEFAULT_SERVER_FACE_MIN_SCORE = 0.7  # Immich's detection minScore
DEFAULT_IN_FLIGHT = 8  # requests in flight per server: enough to keep one GPU busy between round trips
DEFAULT_SERVER_TIMEOUT = 120.0  # seconds for one answer (a server loads a model on its first request)
DEFAULT_SERVER_RETRIES = 3  # further attempts for a photo nobody answered, with backoff


class Urls(tuple):
    """A config value that is one URL or a list of URLs (read as a tuple of URLs; empty: none)."""

DEFAULT_RAW = "pair"  # [add] raw: a RAW beside a JPEG of the same name is part of its photo

# Plain sections: key -> (type, default).
PLAIN_SECTIONS: dict[str, dict[str, tuple[type, Any]]] = {
    "library": {"path": (str, None), "lock_timeout": (float, DEFAULT_LOCK_TIMEOUT),
                "snapshot_interval": (float, DEFAULT_SNAPSHOT_INTERVAL), "snapshot_keep": (int, DEFAULT_SNAPSHOT_KEEP)},
    "add": {"jobs": (int, DEFAULT_JOBS), "batch_size": (int, DEFAULT_BATCH_SIZE), "raw": (str, DEFAULT_RAW),
            "workers": (int, DEFAULT_WORKERS)},
    "search": {"limit": (int, DEFAULT_SEARCH_LIMIT), "threshold": (float, DEFAULT_THRESHOLD),
               "image_threshold": (float, None), "description_weight": (float, DEFAULT_DESCRIPTION_WEIGHT),
               "image_weight": (float, DEFAULT_IMAGE_WEIGHT), "words_weight": (float, DEFAULT_WORDS_WEIGHT)},
    "albums": {"threshold": (float, DEFAULT_THRESHOLD), "min_size": (int, DEFAULT_ALBUM_MIN_SIZE)},
    "thumbnails": {"enabled": (bool, True), "large": (int, 1024)},
    "terminal": {"preview": (bool, False)},
    "xmp": {"sidecar": (str, DEFAULT_XMP_SIDECAR)},
    "duplicates": {"near_bits": (int, DEFAULT_NEAR_BITS), "similar_distance": (float, DEFAULT_SIMILAR_DISTANCE),
                   "collapse": (str, DEFAULT_COLLAPSE)},
    "ocr": {"enabled": (bool, True), "min_confidence": (float, DEFAULT_OCR_MIN_CONFIDENCE), "url": (Urls, None),
            "model": (str, DEFAULT_SERVER_OCR_MODEL)},
    "faces": {"enabled": (bool, True), "threshold": (float, None), "min_score": (float, None), "url": (Urls, None),
              "model": (str, DEFAULT_SERVER_FACE_MODEL)},
    "image": {"enabled": (bool, True), "model": (str, DEFAULT_IMAGE_MODEL), "model_path": (str, None),
              "url": (Urls, None)},
    "ml": {"url": (Urls, None), "in_flight": (int, DEFAULT_IN_FLIGHT), "timeout": (float, DEFAULT_SERVER_TIMEOUT),
           "max_retries": (int, DEFAULT_SERVER_RETRIES)},
}
# The stages whose model may run on Immich machine-learning servers: their `url`, else [ml] url.
SERVER_SECTIONS = ("image", "ocr", "faces")
# String settings that take one of a few values.
CHOICES = {("xmp", "sidecar"): ("photo.jpg.xmp", "photo.xmp"), ("duplicates", "collapse"): ("none", "exact", "marked"),
           ("add", "raw"): ("pair", "separate", "skip")}


# The image space's calibrated distances (squared L2 on unit vectors, d = 2 - 2 cos), per model family:
# (text query -> photo, photo -> photo). CLIP's text-image cosine is ~0.3 for a good match and ~0.15-0.2 for
# an unrelated photo, so 1.56 (cos >= 0.22) keeps matches; SigLIP's sigmoid-trained scores sit lower (a match
# ~0.1-0.2, unrelated ~0). Photo-to-photo similarities are higher: 0.6 is cos >= 0.7 (same scene or subject).
IMAGE_THRESHOLDS: dict[str, tuple[float, float]] = {"clip": (1.56, 0.6), "siglip": (1.84, 0.6)}
DEFAULT_IMAGE_FAMILY = "clip"


def image_threshold(settings: "Settings", family: str | None) -> float:
    """The image space's cut-off for text queries: `[search] image_threshold`, else the family's calibrated one."""
    if settings.search_image_threshold is not None:
        return settings.search_image_threshold
    return IMAGE_THRESHOLDS.get(family or DEFAULT_IMAGE_FAMILY, IMAGE_THRESHOLDS[DEFAULT_IMAGE_FAMILY])[0]


def image_similar_threshold(settings: "Settings", family: str | None) -> float:
    """The image space's cut-off between two photos (`similar`), calibrated per family."""
    return IMAGE_THRESHOLDS.get(family or DEFAULT_IMAGE_FAMILY, IMAGE_THRESHOLDS[DEFAULT_IMAGE_FAMILY])[1]


@dataclass
class ServerSettings:
    """Where one stage's model runs when it runs on Immich machine-learning servers, and how hard to use
    them: the stage's `url` (else `[ml] url`), with `[ml] in_flight`, `timeout` and `max_retries`.

    A photo or a query leaves the machine only for these URLs; with no URL
    (`urls` empty) the stage runs locally and opens no socket."""

    urls: tuple[str, ...] = ()
    in_flight: int = DEFAULT_IN_FLIGHT
    timeout: float = DEFAULT_SERVER_TIMEOUT
    max_retries: int = DEFAULT_SERVER_RETRIES
    origin: str = ""  # the setting the URLs came from ("/path/config.toml: [ml] url"), named in messages


@dataclass
class ImageSettings:
    """The `[image]` section: the image–text model that embeds pixels, local or on servers.

    `enabled` means "use it when a model is installed": with no model pulled and
    no `model_path`, the image stage simply does not run. Nothing is downloaded
    implicitly; `photolib models pull` is the only download. With `servers.urls`,
    `model` names the model the Immich machine-learning servers run instead.
    """

    enabled: bool = True
    model: str = DEFAULT_IMAGE_MODEL
    model_path: Path | None = None  # a folder in Immich's layout, for machines without internet
    origin: str = ""  # where the section came from, named in error messages
    servers: ServerSettings = field(default_factory=ServerSettings)
    model_set: bool = False  # the user named the model (config or environment); a model other than the default is

    def __post_init__(self) -> None:
        self.model_set = self.model_set or self.model != DEFAULT_IMAGE_MODEL


@dataclass
class Settings:
    """Everything a command needs to know about where and how to work."""

    library_path: Path
    config_path: Path | None
    vision: ProviderSettings
    embedding: ProviderSettings
    generation: ProviderSettings | None
    imagine: ProviderSettings | None = None  # None: imagine prompts come from the [vision] provider
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT
    snapshot_interval: float = DEFAULT_SNAPSHOT_INTERVAL
    snapshot_keep: int = DEFAULT_SNAPSHOT_KEEP
    jobs: int = DEFAULT_JOBS
    batch_size: int = DEFAULT_BATCH_SIZE
    workers: int = DEFAULT_WORKERS  # 0: one per core
    raw_files: str = DEFAULT_RAW  # [add] raw: "pair" | "separate" | "skip"
    search_limit: int = DEFAULT_SEARCH_LIMIT
    search_threshold: float = DEFAULT_THRESHOLD
    search_image_threshold: float | None = None  # None: calibrated for the image model's family
    search_description_weight: float = DEFAULT_DESCRIPTION_WEIGHT  # fusion weights (photolib.search.fusion)
    search_image_weight: float = DEFAULT_IMAGE_WEIGHT
    search_words_weight: float = DEFAULT_WORDS_WEIGHT
    albums_threshold: float = DEFAULT_THRESHOLD
    albums_min_size: int = DEFAULT_ALBUM_MIN_SIZE
    thumbnails_enabled: bool = True
    thumbnails_large: int = 1024  # longest side of the photo-page thumbnail; 0: none
    preview: bool = False  # inline thumbnails in search/similar/show tables on a terminal
    xmp_sidecar: str = DEFAULT_XMP_SIDECAR
    duplicates_near_bits: int = DEFAULT_NEAR_BITS
    duplicates_similar_distance: float = DEFAULT_SIMILAR_DISTANCE
    collapse_duplicates: str = DEFAULT_COLLAPSE
    ocr_enabled: bool = True
    ocr_min_confidence: float = DEFAULT_OCR_MIN_CONFIDENCE
    ocr_model: str = DEFAULT_SERVER_OCR_MODEL  # the servers' OCR model (with [ocr] url)
    ocr_servers: ServerSettings = field(default_factory=ServerSettings)
    faces_enabled: bool = True
    faces_threshold: float | None = None  # None: the face model's own (see `face_threshold`)
    faces_min_score: float | None = None  # None: the face model's own
    faces_model: str = DEFAULT_SERVER_FACE_MODEL  # the servers' face model (with [faces] url)
    faces_servers: ServerSettings = field(default_factory=ServerSettings)
    image: ImageSettings = field(default_factory=ImageSettings)
    sources: dict[str, str] = field(default_factory=dict)  # setting -> where it came from

    def servers(self, section: str) -> ServerSettings:
        """The Immich machine-learning servers of "image", "ocr" or "faces" (no URLs: the stage is local)."""
        return {"image": self.image.servers, "ocr": self.ocr_servers, "faces": self.faces_servers}[section]

    def provider_settings(self, kind: str) -> ProviderSettings | None:
        """The `[vision]`, `[embedding]` or `[generation]` section (None: no generator configured)."""
        return {"vision": self.vision, "embedding": self.embedding, "generation": self.generation}[kind]


def default_config_path() -> Path:
    from platformdirs import user_config_path

    return user_config_path(APP_NAME) / "config.toml"


def default_library_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path(APP_NAME) / "library"


def load_settings(
    config_path: Path | None = None,
    library_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve settings; `config_path`/`library_path` are the command-line flags."""
    env = os.environ if environ is None else environ
    path, explicit = _choose_config_path(config_path, env)
    data = _read_toml(path, explicit)
    _check_sections(data, path)
    plain = {name: _plain_section(name, data.get(name, {}), path, env) for name in PLAIN_SECTIONS}
    if plain["search"]["description_weight"] + plain["search"]["image_weight"] <= 0:
        raise ConfigError(f"{path}: [search] description_weight and image_weight are both 0: give at least one "
                          "space a weight above 0 (defaults 1.0 and 1.0)")
    library, library_source = _choose_library(library_path, env, plain["library"]["path"], path)
    providers = {kind: _provider_section(kind, data.get(kind, {}), path, env) for kind in PROVIDER_KINDS}
    servers = {section: _server_settings(section, plain, path, env) for section in SERVER_SECTIONS}
    return Settings(
        library_path=library,
        config_path=path if path.exists() else None,
        vision=providers["vision"],
        embedding=providers["embedding"],
        generation=providers["generation"] if providers["generation"].provider else None,
        imagine=_imagine_section(data.get("imagine", {}), path, env, providers["vision"]),
        lock_timeout=plain["library"]["lock_timeout"],
        snapshot_interval=plain["library"]["snapshot_interval"],
        snapshot_keep=plain["library"]["snapshot_keep"],
        jobs=plain["add"]["jobs"],
        batch_size=plain["add"]["batch_size"],
        workers=plain["add"]["workers"],
        raw_files=plain["add"]["raw"],
        search_limit=plain["search"]["limit"],
        search_threshold=plain["search"]["threshold"],
        search_image_threshold=plain["search"]["image_threshold"],
        search_description_weight=plain["search"]["description_weight"],
        search_image_weight=plain["search"]["image_weight"],
        search_words_weight=plain["search"]["words_weight"],
        albums_threshold=plain["albums"]["threshold"],
        albums_min_size=plain["albums"]["min_size"],
        thumbnails_enabled=plain["thumbnails"]["enabled"],
        thumbnails_large=plain["thumbnails"]["large"],
        preview=plain["terminal"]["preview"],
        xmp_sidecar=plain["xmp"]["sidecar"],
        duplicates_near_bits=plain["duplicates"]["near_bits"],
        duplicates_similar_distance=plain["duplicates"]["similar_distance"],
        collapse_duplicates=plain["duplicates"]["collapse"],
        ocr_enabled=plain["ocr"]["enabled"],
        ocr_min_confidence=plain["ocr"]["min_confidence"],
        ocr_model=_model_name("ocr", plain["ocr"]["model"], path, env),
        ocr_servers=servers["ocr"],
        faces_enabled=plain["faces"]["enabled"],
        faces_threshold=plain["faces"]["threshold"],
        faces_min_score=plain["faces"]["min_score"],
        faces_model=_model_name("faces", plain["faces"]["model"], path, env),
        faces_servers=servers["faces"],
        image=_image_settings(plain["image"], data.get("image", {}), path, env, servers["image"]),
        sources={"library": library_source, "config": str(path)},
    )


def _image_settings(values: dict[str, Any], section: dict[str, Any], path: Path, env: Mapping[str, str],
                    servers: ServerSettings) -> ImageSettings:
    model = _model_name("image", values["model"], path, env)
    model_path = values["model_path"]
    return ImageSettings(
        enabled=values["enabled"],
        model=model,
        model_path=absolute(model_path) if model_path else None,
        origin=str(path) if path.exists() else "",
        servers=servers,
        model_set=_env_or_file("image", "model", section, env, path)[0] is not None,
    )


def _model_name(section: str, value: str, path: Path, env: Mapping[str, str]) -> str:
    model = value.strip()
    if not model:
        hint = "see `photolib models list`" if section == "image" else "the model the servers run"
        raise ConfigError(f"{_origin(section, 'model', path, env)} is empty: name a model ({hint})")
    return model


def _server_settings(section: str, plain: dict[str, dict[str, Any]], path: Path,
                     env: Mapping[str, str]) -> ServerSettings:
    """The stage's own `url` when set (`url = ""` or `[]` keeps the stage local), else `[ml] url`."""
    own = plain[section]["url"]
    urls, key = (own, section) if own is not None else (plain["ml"]["url"] or (), "ml")
    ml = plain["ml"]
    return ServerSettings(urls=tuple(urls), in_flight=ml["in_flight"], timeout=ml["timeout"],
                          max_retries=ml["max_retries"], origin=_origin(key, "url", path, env) if urls else "")


def face_threshold(settings: "Settings") -> float:
    """The distance within which a face joins a person: `[faces] threshold`, else the face model's own
    (dlib's 0.6 locally; 1.0 for the servers' ArcFace vectors, i.e. Immich's cosine distance 0.5)."""
    if settings.faces_threshold is not None:
        return settings.faces_threshold
    return DEFAULT_SERVER_FACE_THRESHOLD if settings.faces_servers.urls else DEFAULT_FACE_THRESHOLD


def face_min_score(settings: "Settings") -> float:
    """The detector score a kept face reaches: `[faces] min_score`, else the face model's own."""
    if settings.faces_min_score is not None:
        return settings.faces_min_score
    return DEFAULT_SERVER_FACE_MIN_SCORE if settings.faces_servers.urls else DEFAULT_FACE_MIN_SCORE


def _choose_config_path(flag: Path | None, env: Mapping[str, str]) -> tuple[Path, bool]:
    if flag is not None:
        return Path(flag).expanduser(), True
    if env.get("PHOTOLIB_CONFIG"):
        return Path(env["PHOTOLIB_CONFIG"]).expanduser(), True
    return default_config_path(), False


def _read_toml(path: Path, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError(f"config file {path} does not exist: create it (see config.example.toml) or drop --config/PHOTOLIB_CONFIG")
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"config file {path} is not valid TOML ({error}): fix the syntax") from None
    except OSError as error:
        raise ConfigError(f"cannot read config file {path} ({error.strerror}): check its permissions") from None


def _check_sections(data: dict[str, Any], path: Path) -> None:
    known = set(PLAIN_SECTIONS) | set(PROVIDER_KINDS) | {"imagine"}
    for name, value in data.items():
        if name not in known:
            raise ConfigError(f"{path}: unknown section [{name}]; known sections: {', '.join(sorted(known))}")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {name} must be a [{name}] table, not a value")


def _plain_section(name: str, section: dict[str, Any], path: Path, env: Mapping[str, str]) -> dict[str, Any]:
    spec = PLAIN_SECTIONS[name]
    _reject_unknown_keys(name, section, spec, path)
    values = {}
    for key, (kind, default) in spec.items():
        raw, origin = _env_or_file(name, key, section, env, path)
        values[key] = default if raw is None else _coerce(raw, kind, origin, key)
        allowed = CHOICES.get((name, key))
        if raw is not None and allowed and values[key] not in allowed:
            raise ConfigError(f"{origin} = {raw!r} must be one of: {', '.join(allowed)}")
    return values


def _provider_section(kind: str, section: dict[str, Any], path: Path, env: Mapping[str, str]) -> ProviderSettings:
    spec = {**COMMON_PROVIDER_KEYS, **PROVIDER_OPTIONS[kind]}
    _reject_unknown_keys(kind, section, spec, path)
    values: dict[str, Any] = {}
    for key, key_type in spec.items():
        raw, origin = _env_or_file(kind, key, section, env, path)
        if raw is not None:
            values[key] = _coerce(raw, key_type, origin, key)
    provider = values.pop("provider", DEFAULT_PROVIDERS[kind])
    if provider and provider not in provider_names(kind):
        raise ConfigError(
            f"{_origin(kind, 'provider', path, env)}: unknown provider {provider!r}; use one of: {', '.join(provider_names(kind))}"
        )
    key_env = values.pop("api_key_env", None) or DEFAULT_KEY_ENV.get(provider)
    return ProviderSettings(
        provider=provider,
        model=values.pop("model", None),
        base_url=values.pop("base_url", None),
        api_key_env=key_env,
        api_key=env.get(key_env) if key_env else None,
        options=values,
        origin=str(path) if path.exists() else "",
    )


def _imagine_section(section: dict[str, Any], path: Path, env: Mapping[str, str],
                     vision: ProviderSettings) -> ProviderSettings | None:
    """[imagine]: the vision provider that writes imagine prompts; None when nothing is set (use [vision]).

    Keys left out are taken from [vision] when both name the same provider;
    another provider starts from its own defaults (a base_url or model of
    [vision] would mean nothing to it)."""
    spec = {**COMMON_PROVIDER_KEYS, **PROVIDER_OPTIONS["imagine"]}
    _reject_unknown_keys("imagine", section, spec, path)
    given: dict[str, Any] = {}
    for key, key_type in spec.items():
        raw, origin = _env_or_file("imagine", key, section, env, path)
        if raw is not None:
            given[key] = _coerce(raw, key_type, origin, key)
    if not given:
        return None
    provider = given.pop("provider", vision.provider)
    if provider not in provider_names("vision"):
        raise ConfigError(f"{_origin('imagine', 'provider', path, env)}: unknown provider {provider!r}; "
                          f"use one of: {', '.join(provider_names('vision'))}")
    inherited = provider == vision.provider
    key_env = given.pop("api_key_env", None) or (vision.api_key_env if inherited else DEFAULT_KEY_ENV.get(provider))
    options = {**(vision.options if inherited else {}), **{k: v for k, v in given.items()
                                                           if k not in COMMON_PROVIDER_KEYS}}
    return ProviderSettings(
        provider=provider,
        model=given.get("model", vision.model if inherited else None),
        base_url=given.get("base_url", vision.base_url if inherited else None),
        api_key_env=key_env,
        api_key=env.get(key_env) if key_env else None,
        options=options,
        origin=str(path) if path.exists() else "",
    )


def _reject_unknown_keys(section_name: str, section: dict[str, Any], spec: Mapping[str, Any], path: Path) -> None:
    for key in section:
        if key not in spec:
            raise ConfigError(
                f"{path}: unknown key '{key}' in [{section_name}]; allowed keys: {', '.join(spec)} (see config.example.toml)"
            )


def _env_or_file(section: str, key: str, data: dict[str, Any], env: Mapping[str, str], path: Path) -> tuple[Any, str]:
    env_name = f"PHOTOLIB_{section.upper()}_{key.upper()}"
    if env.get(env_name) not in (None, ""):
        return env[env_name], f"environment variable {env_name}"
    if key in data:
        return data[key], f"{path}: [{section}] {key}"
    return None, ""


def _origin(section: str, key: str, path: Path, env: Mapping[str, str]) -> str:
    env_name = f"PHOTOLIB_{section.upper()}_{key.upper()}"
    return f"environment variable {env_name}" if env.get(env_name) else f"{path}: [{section}] {key}"


_TYPE_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "a string",
               Urls: "a URL or a list of URLs"}


def _coerce(raw: Any, kind: type, origin: str, key: str) -> Any:
    """Convert env strings, check TOML types strictly, and check the range, naming the setting on failure."""
    if kind is Urls:
        return _urls(raw, origin)
    value = _from_env_text(raw, kind, origin) if origin.startswith("environment") else raw
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ConfigError(f"{origin} = {raw!r} must be {_TYPE_NAMES[kind]}")
    if kind in (int, float):
        if not math.isfinite(value):
            raise ConfigError(f"{origin} = {raw!r} must be a finite number")
        lowest = 1 if key in AT_LEAST_ONE else 0
        if value < lowest:
            raise ConfigError(f"{origin} = {raw!r} must be at least {lowest}")
        if key in AT_MOST and value > AT_MOST[key]:
            raise ConfigError(f"{origin} = {raw!r} must be at most {AT_MOST[key]}")
    return value


def _urls(raw: Any, origin: str) -> Urls:
    """One URL, a list of them, or (environment) several separated by commas or spaces; each
    http(s)://host[:port][/path]; "" or [] is none."""
    from urllib.parse import urlparse

    if isinstance(raw, str):
        items = raw.replace(",", " ").split() if origin.startswith("environment") else ([raw] if raw.strip() else [])
    elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        items = raw
    else:
        raise ConfigError(f"{origin} = {raw!r} must be {_TYPE_NAMES[Urls]}")
    urls = []
    for item in items:
        url = item.strip().rstrip("/")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigError(f"{origin}: {item!r} is not a URL: write it as http://host:3003 "
                              "(the address of an Immich machine-learning server)")
        if url not in urls:
            urls.append(url)
    return Urls(urls)


def _from_env_text(raw: Any, kind: type, origin: str) -> Any:
    """Environment values are text: read them as the setting's type."""
    if kind is str:
        return raw
    text = str(raw).strip().lower()
    if kind is bool:
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
    else:
        try:
            return kind(text)
        except ValueError:
            pass
    raise ConfigError(f"{origin} = {raw!r} must be {_TYPE_NAMES[kind]}")


def _choose_library(
    flag: Path | None, env: Mapping[str, str], from_file: str | None, path: Path
) -> tuple[Path, str]:
    if flag is not None:
        return absolute(flag), "--library"
    if env.get("PHOTOLIB_LIBRARY"):
        return absolute(env["PHOTOLIB_LIBRARY"]), "PHOTOLIB_LIBRARY"
    if from_file:
        return absolute(from_file), f"{path} [library] path"
    return default_library_path(), "default"
