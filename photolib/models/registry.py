"""The image–text models photolib knows, and where they live on this machine.

photolib runs the CLIP-family models that Immich publishes on Hugging Face
(`immich-app/<name>`), in their folder layout:

    config.json                    open_clip model config (embed_dim, text_cfg.context_length ...)
    visual/model.onnx              image tower: input `image` (1, 3, S, S) float32 -> unit vector
    visual/preprocess_cfg.json     size, interpolation, resize_mode, mean, std
    textual/model.onnx             text tower: `text` int32 (1, L), or `input_ids` + `attention_mask`
    textual/tokenizer.json         a `tokenizers` tokenizer
    textual/tokenizer_config.json  pad_token ...

A model is *installed* when those files are in the Hugging Face cache (put
there by `photolib models pull`, or by any other huggingface_hub user), or when
`[image] model_path` names such a folder. Nothing here opens a socket except
`pull`; finding and listing models only reads the cache folder.

Download sizes are estimates (float32 ONNX: 4 bytes per parameter, from
open_clip's model profiles; SigLIP2 text towers estimated from their Gemma
vocabulary), good enough to decide before a download. Recall is Immich's own
measure of its models (mean recall on Crossmodal-3600, English), where
published.

Identity. The model name stored with every image vector says which model made
it, and vectors of two names are never compared. A pulled model is its
repository name (`immich-app/ViT-B-32__laion2b-s34b-b79k`), the same name an
Immich machine-learning server running that model gives its vectors. A
`[image] model_path` folder is the configured name plus a fingerprint of the
folder's files (`name@1a2b3c4d5e6f`, `folder_fingerprint`): pointing
`model_path` at another model changes the identity, so the image space is
embedded again instead of mixing two models' vectors, and a model pulled later
under the same name never trusts vectors a folder made.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from photolib.core.errors import PhotolibError, UsageError

if TYPE_CHECKING:
    from photolib.core.config import ImageSettings

ORGANIZATION = "immich-app"
CONFIG_FILE = "config.json"
VISUAL_MODEL = "visual/model.onnx"
VISUAL_PREPROCESS = "visual/preprocess_cfg.json"
TEXTUAL_MODEL = "textual/model.onnx"
TOKENIZER = "textual/tokenizer.json"
TOKENIZER_CONFIG = "textual/tokenizer_config.json"
MODEL_FILES = (CONFIG_FILE, VISUAL_MODEL, VISUAL_PREPROCESS, TEXTUAL_MODEL, TOKENIZER, TOKENIZER_CONFIG)
# What `pull` fetches: the ONNX layout (external weight files of the largest
# models included), not the ARM NN / RKNN exports the same repositories hold.
PULL_PATTERNS = [CONFIG_FILE, "visual/*", "textual/*"]
PULL_IGNORE = ["*.armnn", "*.rknn", "*/rknpu/*", "*/armnn/*"]
FINGERPRINT_LENGTH = 12  # hex digits of the folder fingerprint kept in an identity
FINGERPRINT_CACHE = "fingerprints.json"


class ModelNotInstalledError(PhotolibError):
    """A named image model is not in the cache and no model_path points at it."""


class ModelDownloadError(PhotolibError):
    """`photolib models pull` could not fetch a model (offline, unknown name...)."""


@dataclass(frozen=True)
class KnownModel:
    """One model of the immich-app collection: what it is and what it costs."""

    name: str
    family: str  # "clip" | "siglip": selects the image space's calibrated threshold
    dimension: int
    image_mparams: float  # millions of parameters of the image tower
    text_mparams: float
    context_length: int  # text tokens, as in the model's config.json
    multilingual: bool = False
    note: str = ""
    recall: float | None = None  # Immich's mean recall on Crossmodal-3600 (English), where published

    @property
    def repo_id(self) -> str:
        return f"{ORGANIZATION}/{self.name}"

    @property
    def download_bytes(self) -> int:
        """Approximate download: float32 weights of both towers plus a few MB of tokenizer."""
        return int((self.image_mparams + self.text_mparams) * 4e6) + 3_000_000

    @property
    def text_tower_bytes(self) -> int:
        return int(self.text_mparams * 4e6)


KNOWN_MODELS: dict[str, KnownModel] = {
    model.name: model
    for model in (
        KnownModel("ViT-B-32__openai", "clip", 512, 87.85, 63.43, 77, note="the earlier default: laion2b has better recall",
                   recall=59.37),
        KnownModel("ViT-B-32__laion2b-s34b-b79k", "clip", 512, 87.85, 63.43, 77,
                   note="default: recall 68.78 vs openai's 59.37, same cost", recall=68.78),
        KnownModel("ViT-B-16__openai", "clip", 512, 86.19, 63.43, 77),
        KnownModel("ViT-L-14__openai", "clip", 768, 303.97, 123.65, 77),
        KnownModel("ViT-L-14-quickgelu__dfn2b", "clip", 768, 303.97, 123.65, 77),
        KnownModel("ViT-H-14-quickgelu__dfn5b", "clip", 1024, 632.08, 354.03, 77),
        KnownModel("RN50__openai", "clip", 1024, 38.32, 63.69, 77),
        KnownModel("XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k", "clip", 512, 87.85, 278.27, 77, True),
        KnownModel("XLM-Roberta-Large-ViT-H-14__frozen_laion5b_s13b_b90k", "clip", 1024, 632.08, 560.94, 77, True),
        KnownModel("XLM-Roberta-Large-Vit-B-32", "clip", 512, 87.85, 560.0, 77, True, "M-CLIP text tower"),
        KnownModel("XLM-Roberta-Large-Vit-B-16Plus", "clip", 640, 117.21, 560.0, 77, True, "M-CLIP text tower"),
        KnownModel("LABSE-Vit-L-14", "clip", 768, 303.97, 471.0, 77, True, "M-CLIP text tower"),
        KnownModel("ViT-B-16-SigLIP__webli", "siglip", 768, 92.88, 110.27, 64),
        KnownModel("ViT-B-16-SigLIP-384__webli", "siglip", 768, 93.18, 110.27, 64),
        KnownModel("ViT-B-16-SigLIP-i18n-256__webli", "siglip", 768, 92.93, 277.7, 64, True),
        KnownModel("ViT-SO400M-14-SigLIP-384__webli", "siglip", 1152, 428.23, 449.73, 64),
        KnownModel("ViT-B-32-SigLIP2-256__webli", "siglip", 768, 94.6, 282.0, 64, True,
                   "best recall, ~1.5x the cost, 3x larger text tower", recall=73.15),
        KnownModel("ViT-B-16-SigLIP2__webli", "siglip", 768, 92.9, 282.0, 64, True),
        KnownModel("ViT-L-16-SigLIP2-256__webli", "siglip", 1024, 316.0, 565.0, 64, True),
    )
}


def family_of(name: str, config: dict | None = None) -> str:
    """The model family: from the registry, else from the config (SigLIP has a logit bias) or the name."""
    known = KNOWN_MODELS.get(short_name(name))
    if known is not None:
        return known.family
    if config and ("init_logit_bias" in config or "siglip" in str(config.get("text_cfg", {})).lower()):
        return "siglip"
    return "siglip" if "siglip" in name.lower() else "clip"


def short_name(name: str) -> str:
    """"immich-app/ViT-B-32__openai" -> "ViT-B-32__openai" (a folder's fingerprint dropped too)."""
    name = name.split("@", 1)[0]
    prefix = f"{ORGANIZATION}/"
    return name[len(prefix):] if name.startswith(prefix) else name


def model_identity(name: str) -> str:
    """The name stored with vectors of a pulled model: `immich-app/<name>`, or a name that already has an owner."""
    return name if "/" in name else f"{ORGANIZATION}/{name}"


def folder_identity(name: str, folder: Path, cache_dir: Path | None = None) -> str:
    """The name stored with vectors a `model_path` folder makes: `<identity>@<fingerprint>`."""
    return f"{model_identity(name)}@{folder_fingerprint(folder, cache_dir)[:FINGERPRINT_LENGTH]}"


def folder_fingerprint(folder: Path, cache_dir: Path | None = None) -> str:
    """SHA-256 over the model files of a folder in Immich's layout (config.json and the files
    of visual/ and textual/, external weights included): names and contents, so a copy of the
    same model on another machine has the same fingerprint and any other model another one.

    Hashing a ViT-B/32 takes about a second; the digest of each file is kept in `cache_dir`
    (when given) under its path, size and modification time, so later starts only stat.
    """
    folder = Path(folder)
    files = sorted(path for path in [folder / CONFIG_FILE, *_files_in(folder / "visual"), *_files_in(folder / "textual")]
                   if path.is_file())
    cache_file = cache_dir / FINGERPRINT_CACHE if cache_dir else None
    known = _read_fingerprints(cache_file)
    digest = hashlib.sha256()
    changed = False
    for path in files:
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in known:
            known[key] = _file_digest(path)
            changed = True
        digest.update(f"{path.relative_to(folder).as_posix()}\0{known[key]}\0".encode())
    if changed and cache_file is not None:
        _write_fingerprints(cache_file, known)
    return digest.hexdigest()


def _files_in(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.is_file()] if folder.is_dir() else []


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_fingerprints(path: Path | None) -> dict[str, str]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_fingerprints(path: Path, known: dict[str, str]) -> None:
    """Best effort: a cache that cannot be written only means hashing again next time."""
    from photolib.core.files import atomic_write

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(known, indent=0, sort_keys=True))
    except OSError:
        pass


def model_in_use(image: "ImageSettings", stored: str | None) -> str:
    """The model a library uses: the configured one, except that a library whose image vectors a
    known pulled model made keeps that model while the configuration leaves `[image] model` at
    its default. A new default never re-embeds a library behind its owner's back; `stats` tells
    of the better model (`better_model`)."""
    if image.model_set or image.model_path is not None or not stored or "@" in stored:
        return image.model
    known = KNOWN_MODELS.get(short_name(stored))
    if known is None or stored != model_identity(known.name):
        return image.model
    return known.name


def better_model(name: str) -> KnownModel | None:
    """A known model of the same cost and family with better recall than `name`, if there is one."""
    current = KNOWN_MODELS.get(short_name(name))
    if current is None or current.recall is None:
        return None
    same_cost = [model for model in KNOWN_MODELS.values()
                 if model.family == current.family and model.recall is not None and model.recall > current.recall
                 and model.download_bytes <= current.download_bytes * 1.05]
    return max(same_cost, key=lambda model: model.recall, default=None)


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved now (not at import) the way huggingface_hub resolves it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    cache_home = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache_home) / "huggingface" / "hub"


def missing_files(folder: Path) -> list[str]:
    """The layout files a folder lacks (empty list: complete)."""
    return [name for name in MODEL_FILES if not (folder / name).is_file()]


def installed_folder(name: str, cache_dir: Path | None = None) -> Path | None:
    """The complete snapshot folder of `immich-app/<name>` in the HF cache, or None.

    Reads `refs/main` first (what a pull fetched last); falls back to the
    newest complete snapshot. Only reads the file system.
    """
    repo = (cache_dir or hub_cache_dir()) / ("models--" + model_identity(name).replace("/", "--"))
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / "main"
    if ref.is_file():
        folder = snapshots / ref.read_text(encoding="utf-8").strip()
        if folder.is_dir() and not missing_files(folder):
            return folder
    complete = [folder for folder in snapshots.iterdir() if folder.is_dir() and not missing_files(folder)]
    return max(complete, key=lambda folder: folder.stat().st_mtime) if complete else None


def known_model(name: str) -> KnownModel:
    """The registry entry for a name, or a UsageError listing some known names."""
    model = KNOWN_MODELS.get(short_name(name))
    if model is None:
        raise UsageError(
            f"unknown image model {name!r}; `photolib models list` shows the known ones "
            f"(any immich-app model folder also works through [image] model_path)"
        )
    return model


def human_size(size: int) -> str:
    """"605 MB", "1.3 GB"."""
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{max(1, round(size / 1e6))} MB"
