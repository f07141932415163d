"""`photolib models`: list, pull and remove image models in the Hugging Face cache.

`pull` is the only place photolib downloads an image model: huggingface_hub's
`snapshot_download` of `immich-app/<name>` (ONNX files only), anonymously,
into the ordinary Hugging Face cache, with its progress bars and its resume of
interrupted downloads. `list` and `remove` only read and delete files.
Everything returns plain dicts for `--json` and the tables.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from photolib.models import registry as image_models
from photolib.models.registry import KNOWN_MODELS, ModelDownloadError, model_identity, short_name
from photolib.core.errors import UsageError


def list_models(image: Any, cache_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every known model (and a configured `model_path`), installed or not, and where; `recall` is
    Immich's Crossmodal-3600 figure where published (why the default is the default)."""
    configured = short_name(image.model)
    rows = []
    for model in KNOWN_MODELS.values():
        folder = image_models.installed_folder(model.name, cache_dir)
        rows.append({
            "name": model.name, "family": model.family, "dimension": model.dimension,
            "download_bytes": model.download_bytes, "download": "≈" + image_models.human_size(model.download_bytes),
            "context_length": model.context_length, "multilingual": model.multilingual,
            "installed": folder is not None, "path": str(folder) if folder else None,
            "configured": model.name == configured and image.model_path is None, "note": model.note,
            "recall": model.recall,
        })
    if image.model_path is not None or configured not in KNOWN_MODELS:
        folder = image.model_path or image_models.installed_folder(configured, cache_dir)
        complete = folder is not None and not image_models.missing_files(Path(folder))
        rows.append({
            "name": configured, "family": image_models.family_of(configured), "dimension": None,
            "download_bytes": None, "download": "", "context_length": None, "multilingual": None,
            "installed": complete, "path": str(folder) if folder else None, "configured": True,
            "note": "[image] model_path" if image.model_path is not None else "not in photolib's list",
            "recall": None,
        })
    return rows


def pull_model(name: str, cache_dir: Path | None = None, endpoint: str | None = None) -> dict[str, Any]:
    """Download `immich-app/<name>` (resuming a partial download) and check the layout is complete."""
    name = short_name(name.strip())
    if not name or "/" in name:
        raise UsageError(f"{name!r} is not a model name: use a name from `photolib models list`, e.g. ViT-B-32__openai")
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise ModelDownloadError(f"cannot download {model_identity(name)}: HF_HUB_OFFLINE is set; unset it, or copy "
                                 "the model folder from another machine and set [image] model_path")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    cache = cache_dir or image_models.hub_cache_dir()
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
    try:
        folder = Path(snapshot_download(
            model_identity(name), cache_dir=cache, endpoint=endpoint, token=False,
            allow_patterns=image_models.PULL_PATTERNS, ignore_patterns=image_models.PULL_IGNORE,
        ))
    except RepositoryNotFoundError:
        raise ModelDownloadError(f"{endpoint} has no model {model_identity(name)}: check the name "
                                 "(`photolib models list`)") from None
    except LocalEntryNotFoundError:
        raise ModelDownloadError(f"cannot reach {endpoint} to download {model_identity(name)}: check the network "
                                 "(or HF_ENDPOINT), or copy the model folder here and set [image] model_path") from None
    except (HfHubHTTPError, OSError) as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ModelDownloadError(f"downloading {model_identity(name)} from {endpoint} failed ({reason}); "
                                 "run the same command again to resume") from None
    missing = image_models.missing_files(folder)
    if missing:
        raise ModelDownloadError(f"{model_identity(name)} lacks {', '.join(missing)}: it is not in the immich-app "
                                 "CLIP layout photolib reads")
    return {"name": name, "path": str(folder), "bytes": _folder_bytes(folder)}


def remove_model(name: str, cache_dir: Path | None = None) -> dict[str, Any]:
    """Delete every cached revision of `immich-app/<name>` from the Hugging Face cache."""
    from huggingface_hub import scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    repo_id = model_identity(short_name(name.strip()))
    cache = cache_dir or image_models.hub_cache_dir()
    try:
        info = scan_cache_dir(cache)
    except CacheNotFound:
        info = None
    repos = [repo for repo in (info.repos if info else ()) if repo.repo_id == repo_id and repo.repo_type == "model"]
    if not repos:
        raise UsageError(f"{repo_id} is not in the Hugging Face cache ({cache}): nothing to remove")
    strategy = info.delete_revisions(*(revision.commit_hash for repo in repos for revision in repo.revisions))
    strategy.execute()
    leftover = cache / ("models--" + repo_id.replace("/", "--"))
    if leftover.exists():  # a repository without a complete revision (an interrupted pull)
        import shutil

        shutil.rmtree(leftover, ignore_errors=True)
    _forget_optimized_copies()
    return {"name": short_name(repo_id), "freed_bytes": strategy.expected_freed_size, "path": str(leftover)}


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _forget_optimized_copies() -> None:
    """Optimised copies of removed towers would only take disk space; any copy still needed is remade on use."""
    import shutil

    from photolib.models.clip import optimized_copies_folder

    shutil.rmtree(optimized_copies_folder(), ignore_errors=True)
