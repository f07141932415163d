"""`imagine`: a new image inspired by a photo, in two steps.

First the vision provider writes an aesthetic, name-free prompt from the photo
(subjects, composition, style, mood, colours: similar, not identical); then
the generation provider renders it. Every image is written atomically under
the library (or `out`) and recorded in the catalog with its prompt, model and
seed, so a generation can be found and repeated later.
"""

from __future__ import annotations

import itertools
import os
import random
import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photolib.core.errors import MalformedOutputError
from photolib.media.read import png_bytes
from photolib.core.records import PhotoForVision

if TYPE_CHECKING:
    from photolib.store.catalog import Catalog, StoredPhoto
    from photolib.providers.base import Providers
    from photolib.core.protocols import Vision


@dataclass
class ImagineRequest:
    prompt: str | None = None  # skip step 1 when given
    prompt_only: bool = False
    count: int = 1
    seed: int | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    out: Path | None = None


@dataclass
class ImagineResult:
    photo_id: int
    prompt: str
    model: str | None = None
    images: list[dict[str, Any]] = field(default_factory=list)  # {path, seed, id}

    def as_dict(self) -> dict[str, Any]:
        return {"photo_id": self.photo_id, "prompt": self.prompt, "model": self.model, "images": self.images}


def imagine(photo: "StoredPhoto", request: ImagineRequest, *, catalog: "Catalog", providers: "Providers",
            options: dict[str, Any], folder: Path) -> ImagineResult:
    """Images inspired by `photo`, written under `folder` and recorded in `catalog`.

    `options` are the `[generation]` settings (width, height, steps, guidance)
    that the request does not override.
    """
    # The generator is resolved first: without one, the photo is not sent to the vision model for nothing.
    generator = None if request.prompt_only else providers.generator
    prompt = request.prompt or _prompt_from_photo(providers.imagine_vision, photo, catalog)
    result = ImagineResult(photo.id, prompt)
    if generator is None:
        return result
    folder.mkdir(parents=True, exist_ok=True)
    # A generator that takes no seed (OpenAI's GPT Image models) gets none, and none is recorded.
    seeded = generator.supports_seed
    first_seed = request.seed if request.seed is not None else random.randrange(2**31)
    result.model = generator.model_name
    for number in range(max(1, request.count)):
        seed = first_seed + number if seeded else None
        image = generator.generate(
            prompt, seed=seed, width=request.width or options.get("width"),
            height=request.height or options.get("height"), steps=request.steps or options.get("steps"),
            guidance=request.guidance if request.guidance is not None else options.get("guidance"),
        )
        stem = f"photo{photo.id}-{datetime.now():%Y%m%d-%H%M%S}" + (f"-seed{seed}" if seed is not None else "")
        path = _write_png(image, folder, stem)
        with catalog.transaction():
            generation_id = catalog.record_generation(photo.id, prompt, generator.model_name, seed, str(path))
        result.images.append({"id": generation_id, "path": str(path), "seed": seed})
    return result


def _prompt_from_photo(vision: "Vision", photo: "StoredPhoto", catalog: "Catalog") -> str:
    """The imagine prompt of a photo: from the cache per (content hash, model, prompt version), else
    from the imagine vision provider (then cached, so asking again makes no call)."""
    from photolib.media import geocode
    from photolib.media import read as media
    from photolib.providers.prompts import IMAGINE_PROMPT_VERSION

    digest = photo.data.get("hash")
    cacheable = bool(digest) and not vision.describes_from_path
    if cacheable:
        cached = catalog.cached_description(digest, vision.model_name, IMAGINE_PROMPT_VERSION)
        if cached is not None and cached.description:
            return cached.description
    path = Path(photo.path)
    metadata = media.read_photo(path)
    place = geocode.place_name(metadata.gps_lat, metadata.gps_lon) if metadata.gps_lat is not None else None
    prompt = vision.imagine_prompt(PhotoForVision(path, metadata, place, path.parent))
    if not prompt or not prompt.strip():
        raise MalformedOutputError(f"the vision model gave an empty prompt for photo {photo.id}: try again or pass --prompt")
    if cacheable:
        from photolib.core.records import Description

        with catalog.transaction():  # stored beside descriptions, under the imagine prompt's own version
            catalog.cache_description(digest, vision.model_name, IMAGINE_PROMPT_VERSION,
                                              Description(tags=[], caption="", description=prompt.strip()))
    return prompt.strip()


def _write_png(data: bytes, folder: Path, stem: str) -> Path:
    """Check the bytes are an image and store them as `<stem>.png`, atomically and under a new name.

    An existing file is never replaced: when the name is taken (same photo and
    seed in the same second, or another run), `-2`, `-3`... is added. The name
    is claimed with a hard link, which fails rather than overwrite.
    """
    png = png_bytes(data)
    handle, temp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(png)
            out.flush()
            os.fsync(out.fileno())
        for number in itertools.count(1):
            path = folder / (f"{stem}.png" if number == 1 else f"{stem}-{number}.png")
            if _claim(temp, path):
                return path
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    raise AssertionError("unreachable")


def _claim(temp: str, path: Path) -> bool:
    """Give the written file the name `path` if nothing has it yet; never replaces a file."""
    try:
        os.link(temp, path)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here (some network or FAT file systems): reserve the name, then fill it
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return False
        os.replace(temp, path)
        return True
