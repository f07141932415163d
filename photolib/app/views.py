"""Plain-data views of catalog rows: the stable shapes behind `--json`.

Keeping the shapes here, apart from both the catalog and the renderer, is what
lets scripts rely on them: the table renderer and the JSON printer read the
same dicts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from photolib.store.catalog import Catalog, StoredPhoto
from photolib.core.config import PROVIDER_KINDS
from photolib.core.records import camera_name
from photolib.store.stage_states import StageStates

if TYPE_CHECKING:
    from photolib.core.config import Settings
    from photolib.store.keeper import IndexKeeper
    from photolib.providers.base import Providers


def photo_summary(photo: StoredPhoto) -> dict[str, Any]:
    data = photo.data
    return {"id": photo.id, "path": photo.path, "status": photo.status, "taken_at": data.get("taken_at"),
            "caption": data.get("caption") or "", "tags": photo.tags}


def photo_details(photo: StoredPhoto, catalog: Catalog) -> dict[str, Any]:
    data = photo.data
    gps = ({"lat": data["gps_lat"], "lon": data["gps_lon"]} if data.get("gps_lat") is not None else None)
    embedding = catalog.embedding_of(photo.id)
    image = catalog.embedding_of(photo.id, "image")
    camera = camera_name(data.get("camera_make"), data.get("camera_model"))
    user = catalog.user_metadata([photo.id]).get(photo.id)
    return {
        "user": user.as_dict() if user else None,  # the user's own words (XMP/IPTC), shown first
        "id": photo.id, "path": photo.path, "status": photo.status, "error": data.get("error"),
        "failed_stage": data.get("failed_stage"), "taken_at": data.get("taken_at"), "camera": camera,
        "camera_make": data.get("camera_make"), "camera_model": data.get("camera_model"),
        "lens": data.get("lens"), "gps": gps, "place": data.get("place"), "tags": photo.tags,
        "caption": data.get("caption"), "description": data.get("description"),
        "width": data.get("width"), "height": data.get("height"),
        "oriented_width": data.get("oriented_width"), "oriented_height": data.get("oriented_height"),
        "format": data.get("format"), "size": data.get("size"), "hash": data.get("hash"),
        "vision_model": data.get("vision_model"),
        "embedding_model": embedding[0] if embedding else None,
        "embedding_dimension": embedding[1] if embedding else None,
        "image_model": image[0] if image else None,
        "image_labels": _labels(data.get("image_labels")),
        "stages": StageStates(catalog).of_photo(photo.id),
        "raw_output": data.get("raw_output"), "added_at": data.get("added_at"),
        "updated_at": data.get("updated_at"),
        "generations": [{"id": g["id"], "path": g["path"], "model": g["model"], "created_at": g["created_at"],
                         "prompt": g["prompt"], "seed": g["seed"]}
                        for g in catalog.generations(photo.id)],
        "files": _files(photo, catalog),
    }


def _labels(stored: str | None) -> list[str]:
    import json

    try:
        return list(json.loads(stored or "[]"))
    except ValueError:
        return []


def _files(photo: StoredPhoto, catalog: Catalog) -> list[dict[str, Any]]:
    """Every file of the photo: the one shown first, then second files (the RAW of a RAW+JPEG pair)."""
    from photolib.store.photo_files import PhotoFiles

    shown = {"path": photo.path, "role": "shown", "size": photo.data.get("size"), "hash": photo.data.get("hash")}
    return [shown, *PhotoFiles(catalog.db).of_photos([photo.id]).get(photo.id, [])]


def library_stats(catalog: Catalog, keeper: "IndexKeeper", settings: "Settings", providers: "Providers",
                  root: Path) -> dict[str, Any]:
    """Counts, configuration and every inconsistency found, each with the command that fixes it.

    The index is opened as any command opens it (caught up with the catalog,
    or rebuilt with a message), so what is reported is what a search would use,
    and `repaired` lists what opening it fixed.
    """
    from photolib.core.errors import PhotolibError

    counts = catalog.status_counts()
    models = catalog.embedding_models()
    index, index_error, repaired = None, None, []
    if models:
        try:
            index, repaired = keeper.current_and_repairs()
        except PhotolibError as error:
            index_error = str(error)
    return {
        "photos": sum(counts.values()), "ok": counts["ok"], "failed": counts["failed"], "pending": counts["pending"],
        "index_vectors": index.count if index else 0,
        "embedding_model": models[0][0] if models else None,
        "dimension": models[0][1] if models else None,
        "catalog_vectors": sum(n for _m, _d, n in models),
        "catalog_revision": catalog.revision,
        "index_revision": index.revision if index else None,
        "index_model": index.model if index else None,
        "index_dimension": index.dimension if index else None,
        "index_kind": index.kind if index else None,
        "library": str(root),
        "config": str(settings.config_path) if settings.config_path else None,
        "providers": {kind: _provider_line(settings, providers, kind) for kind in PROVIDER_KINDS},
        "problems": _problems(settings, providers, counts, models, index, index_error),
        "repaired": repaired,
        "snapshots": _snapshots(root),
    }


def space_stats(catalog: Catalog, keepers: dict[str, "IndexKeeper"], folders: dict[str, Path],
                description_index: Any) -> tuple[dict[str, Any], list[str], list[str]]:
    """Each kept space (`keepers`): its catalog vectors and its index, opened as a search would;
    and its problems and repairs. The description index is the one `library_stats` opened."""
    from photolib.core.errors import PhotolibError
    from photolib.core.spaces import Space

    spaces, problems, repaired = {}, [], []
    for space, keeper in keepers.items():
        models = catalog.embedding_models(space)
        index = description_index if space == Space.DESCRIPTION else None
        if space != Space.DESCRIPTION and models:
            try:
                index, fixed = keeper.current_and_repairs()
                repaired.extend(fixed)
            except PhotolibError as failure:
                problems.append(f"the {space} index cannot be used: {failure}")
            vectors = sum(n for _m, _d, n in models)
            if index is not None and index.count != vectors:
                problems.append(f"the {space} index holds {index.count} vectors, the catalog {vectors}: "
                                f"run `photolib reindex --space {space}`")
        spaces[str(space)] = {
            "catalog_vectors": sum(n for _m, _d, n in models),
            "model": models[0][0] if models else None, "dimension": models[0][1] if models else None,
            "index_vectors": index.count if index else 0, "index_model": index.model if index else None,
            "index_revision": index.revision if index else None,
            "index_folder": str(folders[space]),
        }
    return spaces, problems, repaired


def stage_counts(catalog: Catalog, stages: list[Any], settings: "Settings",
                 providers: "Providers") -> list[dict[str, Any]]:
    """done / failed / pending of every stage: the first pass's from the photo rows, the
    registry's stages from their states (`stages`: the enabled ones; a stage that is not
    enabled shows what it did before), with what each found (`findings` of its class)."""
    from photolib.pipeline.registry import FIRST_PASS, STAGES, StageName

    states = StageStates(catalog)
    counts = states.first_pass_counts()
    total, read_failed, read_done = counts["photos"], counts["read_failed"], counts["read"]
    described, vision_failed = counts["described"], counts["vision_failed"]
    embedded, embed_failed = counts["embedded"], counts["embedding_failed"]
    first = {
        StageName.READ: (None, read_done, read_failed, max(0, total - read_done - read_failed)),
        StageName.DESCRIBE: (_provider_line(settings, providers, "vision"), described, vision_failed,
                             max(0, total - read_failed - described - vision_failed)),
        StageName.EMBED: (_provider_line(settings, providers, "embedding"), embedded, embed_failed,
                          max(0, total - read_failed - embedded - embed_failed)),
    }
    rows = [{"stage": str(name), "model": first[name][0], "done": first[name][1], "failed": first[name][2],
             "pending": first[name][3]} for name in FIRST_PASS]
    enabled = {str(stage.name): stage.model for stage in stages}
    findings = {stage.name: stage.findings for stage in STAGES}
    names = [*findings, *(name for name in enabled if name not in findings and name not in FIRST_PASS)]
    for name in names:
        found = states.counts(name, enabled.get(name))
        if name in enabled or found["done"] or found["failed"]:
            rows.append({"stage": name, "model": enabled.get(name), **found, "enabled": name in enabled,
                         **(findings[name](catalog) if name in findings else {})})
    return rows


def model_advice(image_model: str | None) -> list[str]:
    """What `stats` suggests beyond problems: a known image model of the same cost that finds more
    than the one the image space uses (the library keeps its model until told otherwise)."""
    from photolib.models.registry import better_model, short_name

    better = better_model(image_model) if image_model else None
    if better is None:
        return []
    current = short_name(image_model)
    from photolib.models.registry import KNOWN_MODELS

    return [f"the image space uses {current}; {better.name} finds more at the same cost (recall {better.recall:g} vs "
            f"{KNOWN_MODELS[current].recall:g} on Crossmodal-3600): set [image] model = \"{better.name}\", run "
            f"`photolib models pull {better.name}`, then `photolib enrich` (embeds the image space again)"]


def stage_problems(stages: list[dict[str, Any]]) -> list[str]:
    from photolib.pipeline.registry import FIRST_PASS

    problems = []
    for row in stages:
        if row["stage"] in FIRST_PASS:
            continue
        if row["pending"]:
            problems.append(f"{row['pending']} photos wait for the {row['stage']} stage: run `photolib enrich`")
        if row["failed"]:
            problems.append(f"{row['failed']} photos failed in the {row['stage']} stage: `photolib enrich "
                            "--retry-failed` retries them")
    return problems
def _snapshots(root: Path) -> list[dict[str, Any]]:
    from photolib.store.snapshots import list_snapshots

    return [snapshot.as_dict() for snapshot in list_snapshots(root)]


def _provider_line(settings: "Settings", providers: "Providers", kind: str) -> str | None:
    """"local (photolib-local-vision)": the provider and the model it uses, configured or default."""
    section = settings.provider_settings(kind)
    if section is None:
        return None
    model = section.model or providers.model_name(kind)
    return f"{section.provider} ({model})" if model else section.provider


def _problems(settings: "Settings", providers: "Providers", counts: dict[str, int], models: list, index: Any,
              index_error: str | None) -> list[str]:
    problems = []
    vectors = sum(n for _m, _d, n in models)
    if len(models) > 1:
        problems.append("embeddings of several models are mixed: run `photolib reindex --reembed`")
    configured = settings.embedding.model or providers.model_name("embedding")
    if models and configured and models[0][0] != configured:
        problems.append(f"catalog vectors are {models[0][0]} but the configured embedder is {configured}: "
                        "run `photolib reindex --reembed`")
    if index_error and len(models) <= 1:
        problems.append(f"the index cannot be used: {index_error}")
    elif index is not None and index.count != vectors:
        problems.append(f"the index holds {index.count} vectors, the catalog {vectors}: run `photolib reindex`")
    if counts["pending"]:
        problems.append(f"{counts['pending']} photos are pending: run `photolib add` on their folder to finish them")
    if counts["failed"]:
        problems.append(f"{counts['failed']} photos failed: see `photolib list --status failed`; "
                        "`photolib add` retries model failures")
    return problems
