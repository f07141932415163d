"""The first pass: read each photo, describe it, embed the description.

It makes a photo searchable by its description as soon as possible; the
enrichment stages follow in the same `add`. It runs through the batch engine
(`photolib.pipeline.engine`) like every other stage: reading and describing
happen per photo in the engine's workers (vision calls wait on the network,
so `[add] jobs` of them are in flight), embedding once per batch, and each
batch is committed in one transaction together with its vectors, so an
interrupted run keeps every finished batch and the next `add` picks up the
photos still `pending`. Descriptions are cached per (content hash, model,
prompt version) and embeddings per (text hash, model): re-adding the same
folder makes no model call at all.

Its state is kept on the photo row, as catalogs always kept it: `status`
pending / ok / failed, and for a failure the `FailedStep` (read, vision,
embedding) in `failed_stage` with the reason. A file that cannot be read is
retried only when its bytes change; a model failure by the next `add`. A
rejected key or a missing model (`RUN_STOPPING`) stops the run once: what the
batch already paid for (metadata, descriptions) is kept, its photos stay
pending. Its steps are named read, describe and embed in `stats`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from photolib.core.errors import (MalformedOutputError, PhotolibError, ProviderAuthError, ProviderError,
                                  ProviderUnavailableError)
from photolib.core.records import Description, FailedStep, PhotoForVision, text_hash, with_photo_text
from photolib.pipeline.stage import Outcome, PhotoWork, RunControl, StageBase

if TYPE_CHECKING:
    from photolib.core.protocols import Embedder, Vision
    from photolib.store.catalog import Catalog, StoredPhoto

RUN_STOPPING = (ProviderAuthError, ProviderUnavailableError)  # every further call would fail the same way
STEPS = ("read", "describe", "embed")  # the first pass's rows in `stats`, in order


@dataclass
class Prepared:
    """One photo as the first pass made it: read and described in a worker, embedded with its batch."""

    photo: "StoredPhoto"
    description: Description | None = None
    metadata: tuple | None = None  # (PhotoMetadata, place)
    error: str | None = None
    step: FailedStep = FailedStep.READ
    raw: str | None = None
    called_vision: bool = False
    vision_description: Description | None = None  # as the vision model (or its cache) gave it, without labels
    user: Any = None  # records.UserMetadata: the user's words from the file and its sidecars
    sidecar_sig: str | None = None
    warnings: list[str] = field(default_factory=list)
    text_hash: str | None = None  # of the text embedded in this run, with `vector`
    vector: Any = None

    def embedding_text(self) -> str:
        return self.description.embedding_text(self.user.words() if self.user is not None else "")


class PhotoRowBook:
    """The first pass's states, on the photo rows: pending, ok, or failed at a step."""

    def __init__(self, catalog: "Catalog") -> None:
        self.catalog = catalog

    def backlog(self, stage: StageBase, roots: Sequence[str] | None = None,
                retry_failed: bool = False) -> list[int]:
        """Pending photos and those a model failed on (a file that cannot be read waits for new bytes)."""
        photos = self.catalog.photos_needing_work()
        if roots is not None:
            prefixes = tuple(root.rstrip(os.sep) + os.sep for root in roots)
            photos = [p for p in photos if p.path in roots or p.path.startswith(prefixes)]
        return [photo.id for photo in photos]

    def record(self, stage: StageBase, outcomes: list[Outcome], hashes: dict[int, str | None],
               finished: bool = True) -> None:
        for outcome in outcomes:
            if outcome.error:
                self.catalog.mark_failed(outcome.photo_id, outcome.value.step, outcome.error, outcome.value.raw)
        if finished:
            self.catalog.store_ok([outcome.photo_id for outcome in outcomes if outcome.error is None])


class FirstPass(StageBase):
    """Read (EXIF, place, the user's words), describe (the vision model, or its cache), embed the description.

    It writes only to the catalog (the index catches up from the catalog
    afterwards). `stored` is the (model, dimension) of the vectors already in the library;
    `photo_texts` gives the words already found in photos (OCR), embedded
    after the description (only a local embedder is given them). Built by
    `add` with the library's providers, not from the registry.
    """

    name = "first-pass"  # the engine's key; its rows in `stats` are its STEPS
    label = "Describing and embedding"
    steps = STEPS
    run_stopping = RUN_STOPPING
    progress_counts = ("vision", "embedded")

    def __init__(self, catalog: "Catalog", vision: "Vision", embedder: "Embedder", stored: tuple[str, int] | None,
                 photo_texts: Callable[[list[int]], dict[int, str]] | None = None) -> None:
        self.catalog = catalog  # read on the committing thread: which descriptions are embedded already
        self.vision = vision
        self.embedder = embedder
        self.stored = stored
        self.photo_texts = photo_texts
        self.model = vision.model_name

    def state_book(self, catalog: "Catalog") -> PhotoRowBook:
        return PhotoRowBook(catalog)

    def progress_title(self) -> str:
        return self.label

    def prefetch(self, catalog: "Catalog", photos: list["StoredPhoto"]) -> dict[int, Any]:
        """The cached description of each photo's content, if this model and prompt made one before."""
        if self.vision.describes_from_path:
            return {}
        found = {}
        for photo in photos:
            digest = photo.data.get("hash")
            if digest:
                found[photo.id] = catalog.cached_description(digest, self.vision.model_name,
                                                             self.vision.prompt_version)
        return found

    def process_photo(self, work: PhotoWork, run: RunControl) -> None:
        work.made[self.name] = self._prepare(work.photo, work.inputs.get(self.name), run)

    def _prepare(self, photo: "StoredPhoto", cached: Description | None, run: RunControl) -> Prepared:
        """Read the file and get its description (cached or from the vision model), with the labels
        the image model gave the photo (if any) merged in.

        Runs in worker threads, so it never touches the catalog.
        """
        from photolib.pipeline.stages.image import with_labels

        result = self._describe(photo, cached, run)
        labels = photo.data.get("image_labels")
        result.vision_description = result.description
        if result.description is not None and labels:
            local = getattr(self.vision, "remote_host", None) is None
            result.description = with_labels(result.description, json.loads(labels), local)
        return result

    def _describe(self, photo: "StoredPhoto", cached: Description | None, run: RunControl) -> Prepared:
        from photolib.media import geocode
        from photolib.media import read as media

        result = Prepared(photo)
        path = Path(photo.path)
        try:
            metadata = media.read_photo(path)
        except PhotolibError as error:
            result.error = str(error)
            return result
        except OSError as error:
            result.error = f"cannot read file: {error.strerror or error}"
            return result
        result.step = FailedStep.VISION
        _read_user_words(result, path, metadata)
        place = geocode.place_name(metadata.gps_lat, metadata.gps_lon) if metadata.gps_lat is not None else None
        result.metadata = (metadata, place)
        if cached is not None:
            result.description = cached
            return result
        vision_input = PhotoForVision(path, metadata, place, Path(photo.data.get("source_root") or path.parent))
        if run.stopping:
            result.error = "not described: the run was stopped"
            return result
        try:
            result.called_vision = True
            result.description = self.vision.describe(vision_input)
        except RUN_STOPPING:
            raise
        except MalformedOutputError as error:
            result.error, result.raw = f"unusable model output: {error}", error.raw
        except PhotolibError as error:
            result.error = f"vision failed: {error}"
        return result

    def process(self, work: list[PhotoWork]) -> list[Outcome]:
        """Embed the batch's descriptions whose text (or model) changed; failures mark the photo failed."""
        prepared = [item.made[self.name] for item in work]
        self._embed([item for item in prepared if item.description is not None])
        return [_outcome(item) for item in prepared]

    def unfinished(self, work: list[PhotoWork]) -> list[Outcome]:
        """A stopped run keeps what was paid for (metadata, descriptions); nothing is embedded."""
        return [_outcome(item.made[self.name]) for item in work if self.name in item.made]

    def _embed(self, described: list[Prepared]) -> None:
        texts = {item.photo.id: item.embedding_text() for item in described}
        if self.photo_texts is not None and texts:
            words = self.photo_texts(list(texts))
            texts = {pid: with_photo_text(text, words.get(pid)) for pid, text in texts.items()}
        existing = self.catalog.embedding_states(list(texts), self.embedder.model_name)
        todo = [item for item in described
                if existing.get(item.photo.id, ("",))[0] != text_hash(texts[item.photo.id])]
        if not todo:
            return
        try:
            matrix = self.embedder.embed_documents([texts[item.photo.id] for item in todo])
            self._check_dimension(matrix)
        except RUN_STOPPING:
            raise
        except PhotolibError as error:
            for item in todo:
                item.error, item.step = f"embedding failed: {error}", FailedStep.EMBEDDING
            return
        for row, item in enumerate(todo):
            item.text_hash, item.vector = text_hash(texts[item.photo.id]), matrix[row]

    def _check_dimension(self, matrix: Any) -> None:
        """Every vector of a library has one size: the one stored, or else the first this run made."""
        if self.stored is None:
            self.stored = (self.embedder.model_name, int(matrix.shape[1]))
        elif matrix.shape[1] != self.stored[1]:
            raise ProviderError(
                f"the embedder returned {matrix.shape[1]}-d vectors but the library holds {self.stored[1]}-d "
                f"vectors of {self.stored[0]} (if the model changed, run `photolib reindex --reembed`)"
            )

    def store(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int]:
        import numpy as np

        items = [outcome.value for outcome in outcomes]
        for item in items:
            self._store_one(catalog, item)
        rows = [(item.photo.id, self.embedder.model_name, item.text_hash, item.vector.astype(np.float32).tobytes(),
                 item.vector.shape[0]) for item in items if item.vector is not None]
        if rows:
            catalog.store_embeddings(rows)
        return {"vision": sum(1 for item in items if item.called_vision), "embedded": len(rows)}

    def keep_failed(self, catalog: "Catalog", outcomes: list[Outcome]) -> dict[str, int]:
        """A failed photo keeps what was read of it, and a description whose embedding failed."""
        items = [outcome.value for outcome in outcomes]
        for item in items:
            self._store_one(catalog, item)
        return {"vision": sum(1 for item in items if item.called_vision)}

    def _store_one(self, catalog: "Catalog", item: Prepared) -> None:
        if item.metadata is not None:
            catalog.store_metadata(item.photo.id, *item.metadata)
            catalog.store_user_metadata(item.photo.id, item.user, item.sidecar_sig)
        if item.description is not None:
            catalog.store_description(item.photo.id, item.description, self.vision.model_name, item.raw)
            if item.called_vision:
                catalog.cache_description(item.photo.data["hash"], self.vision.model_name,
                                          self.vision.prompt_version, item.vision_description or item.description)


def _outcome(item: Prepared) -> Outcome:
    return Outcome(item.photo.id, value=item, error=item.error, warnings=item.warnings)


def _read_user_words(result: Prepared, path: Path, metadata: Any) -> None:
    """The user's own words: sidecars first (what their tools edit), then what the file embeds."""
    from photolib.core.records import UserMetadata
    from photolib.media.xmp import read_sidecars, sidecar_candidates, sidecar_signature

    sidecars = [p for p in sidecar_candidates(path) if p.is_file()]
    from_sidecars, warnings = read_sidecars(sidecars)
    result.user = from_sidecars.merged(metadata.user or UserMetadata())
    result.sidecar_sig = sidecar_signature(sidecars)
    result.warnings = warnings + ([metadata.xmp_warning] if metadata.xmp_warning else [])
