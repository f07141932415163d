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
vocabulary), good enough to decide before a download.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from photolib.core.errors import PhotolibError, UsageError

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
        KnownModel("ViT-B-32__openai", "clip", 512, 87.85, 63.43, 77, note="default: small and fast"),
        KnownModel("ViT-B-32__laion2b-s34b-b79k", "clip", 512, 87.85, 63.43, 77, note="same cost, better recall"),
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
        KnownModel("ViT-B-32-SigLIP2-256__webli", "siglip", 768, 94.6, 282.0, 64, True),
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
    """"immich-app/ViT-B-32__openai" -> "ViT-B-32__openai"."""
    prefix = f"{ORGANIZATION}/"
    return name[len(prefix):] if name.startswith(prefix) else name


def model_identity(name: str) -> str:
    """The name stored with vectors: `immich-app/<name>`, or a name that already has an owner."""
    return name if "/" in name else f"{ORGANIZATION}/{name}"


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
