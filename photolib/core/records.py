"""Plain data shared by the catalog, the providers and the renderers.

These are the shapes every layer agrees on; they carry no behaviour beyond
small conversions, so tests and other programs can build them directly.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Iterable


class PhotoStatus(StrEnum):
    """A photo's state in the catalog (`photos.status`)."""

    PENDING = "pending"  # to be read, described or embedded
    OK = "ok"  # described and embedded with the current models
    FAILED = "failed"  # see `failed_stage` and `error`


class FailedStep(StrEnum):
    """The step of the first pass a photo failed at (`photos.failed_stage`).

    Not a stage name: the first pass is one stage of the pipeline whose steps
    are named read, describe and embed in progress, `stats` and the engine;
    these are the values the catalog has always stored for them.
    """

    READ = "read"  # the file could not be read as a photo: retried only when its bytes change
    VISION = "vision"  # the describe step: the vision model failed; retried by the next `add`
    EMBEDDING = "embedding"  # the embed step: the embedder failed; retried by the next `add`


RETRIED_STEPS = (FailedStep.VISION, FailedStep.EMBEDDING)  # model failures, worth another `add`


@dataclass
class PhotoMetadata:
    """What can be known about a photo file without any model.

    `width`/`height` are the stored pixel size; `oriented_*` are the size as
    displayed after applying the EXIF orientation. Colour facts come from a
    small thumbnail, so they are cheap and approximate.
    """

    width: int
    height: int
    oriented_width: int
    oriented_height: int
    format: str = ""
    taken_at: datetime | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    orientation: int = 1
    brightness: float | None = None  # mean luminance 0..1
    dominant_colors: list[str] = field(default_factory=list)  # colour names, most common first
    grayscale: bool = False
    phash: str | None = None  # perceptual hash of the upright photo (photolib.media.phash)
    user: Any = None  # the user's words embedded in the file (UserMetadata), never a model's
    xmp_warning: str | None = None  # why embedded XMP was ignored

    @property
    def camera(self) -> str | None:
        return camera_name(self.camera_make, self.camera_model)


_CORPORATE = re.compile(r"\b(corporation|corp|company|co|ltd|inc|imaging|optical|electronics)\b\.?,?", re.I)


def camera_name(make: str | None, model: str | None) -> str | None:
    """"Canon EOS R6", "NIKON Z 6", "Apple iPhone 13": the make once, without its company suffix."""
    make = " ".join(_CORPORATE.sub(" ", make or "").split())
    model = " ".join((model or "").split())
    if make and model and any(word.lower() in model.lower().split() for word in make.split()):
        return model
    return " ".join(part for part in (make, model) if part) or None


@dataclass
class PhotoForVision:
    """Everything a vision provider may look at for one photo."""

    path: Path
    metadata: PhotoMetadata
    place: str | None = None  # offline reverse-geocoded "City, Region, Country"
    source_root: Path | None = None  # the folder given to `add`; names below it are meaningful


@dataclass
class Description:
    """A vision model's answer, in the schema every provider must produce."""

    tags: list[str]
    caption: str
    description: str

    def embedding_text(self, user_words: str = "") -> str:
        """The text that is embedded: the user's own words (XMP keywords, title, caption) when there
        are any, then the model's tags, caption and description."""
        return ". ".join(part for part in (user_words, ", ".join(self.tags), self.caption, self.description)
                         if part)


def with_photo_text(embedded: str, photo_text: str | None) -> str:
    """The text embedded for a photo whose pixels hold words: its description's text, then those words."""
    words = " ".join((photo_text or "").split())
    return f"{embedded}. Text in the photo: {words}" if words else embedded


def text_hash(text: str) -> str:
    """What a description vector was made from, stored beside it: the same text under the same
    model is never embedded twice (a first pass, a stage or `reindex --reembed` compare it)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


MAX_KEYWORDS = 500


@dataclass
class UserMetadata:
    """What the user (or their other tools) said about a photo. Never written by a model."""

    keywords: list[str] = field(default_factory=list)  # hierarchies kept, "/"-separated
    title: str | None = None
    caption: str | None = None
    rating: int | None = None  # 0..5; -1 is "rejected" in Lightroom
    people: list[str] = field(default_factory=list)  # names of MWG face regions

    def is_empty(self) -> bool:
        return not (self.keywords or self.title or self.caption or self.rating is not None or self.people)

    def words(self) -> str:
        """What the description embedding and exact-word search see of the user's words."""
        parts = [self.title or "", self.caption or "", ", ".join(k.replace("/", " ") for k in self.keywords),
                 ", ".join(self.people)]
        return ". ".join(part for part in parts if part)

    def merged(self, other: "UserMetadata") -> "UserMetadata":
        """`self` wins for single values (the sidecar is read first); keywords and people are united."""
        return UserMetadata(
            keywords=merge_keywords([*self.keywords, *other.keywords]),
            title=self.title or other.title, caption=self.caption or other.caption,
            rating=self.rating if self.rating is not None else other.rating,
            people=unique_casefold([*self.people, *other.people]),
        )

    def as_dict(self) -> dict[str, Any]:
        return {"keywords": self.keywords, "title": self.title, "caption": self.caption, "rating": self.rating,
                "people": self.people}


def merge_keywords(keywords: Iterable[str]) -> list[str]:
    """One list, no duplicates (case-insensitive), hierarchies kept ("Places/Portugal/Lisbon").

    A flat keyword that is a level of a kept hierarchy ("Lisbon", "Portugal")
    is the same keyword written twice by the tool that wrote both fields.
    """
    cleaned = [" / ".join(p.strip() for p in k.split("/") if p.strip()).replace(" / ", "/") for k in keywords]
    cleaned = [k for k in cleaned if k]
    levels = {part.casefold() for k in cleaned if "/" in k for part in k.split("/")}
    hierarchies = {k.casefold() for k in cleaned if "/" in k}
    kept = []
    for keyword in cleaned:
        folded = keyword.casefold()
        if "/" not in keyword and folded in levels:
            continue
        if "/" in keyword and any(other.startswith(folded + "/") for other in hierarchies):
            continue  # "Places/Portugal" is a level of "Places/Portugal/Lisbon"
        kept.append(keyword)
    return unique_casefold(kept)[:MAX_KEYWORDS]


def unique_casefold(items: Iterable[str]) -> list[str]:
    seen, result = set(), []
    for item in items:
        if item.casefold() not in seen:
            seen.add(item.casefold())
            result.append(item)
    return result


@dataclass
class TextBox:
    """One line of text: what it says, how sure the model is, where it is (0-1, upright photo)."""

    text: str
    confidence: float
    box: tuple[float, float, float, float]  # left, top, right, bottom

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "confidence": round(self.confidence, 4), "box": list(self.box)}


@dataclass
class PhotoText:
    """What the OCR stage learnt about one photo."""

    boxes: list[TextBox] = field(default_factory=list)
    gated: bool = False  # True: the gate found no text, recognition did not run

    @property
    def text(self) -> str:
        return "\n".join(box.text for box in self.boxes)


FACE_DIMENSION = 128  # dlib's ResNet face descriptor (faces from Immich's servers: 512, see FaceReader.dimension)


@dataclass
class FoundFace:
    """A face: where it is (0-1 of the upright photo), how sure the detector is, its descriptor."""

    box: tuple[float, float, float, float]  # left, top, right, bottom
    score: float
    descriptor: Any  # float32 array of the face model's dimension (FACE_DIMENSION for dlib)
