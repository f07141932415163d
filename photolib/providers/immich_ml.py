"""Immich machine-learning servers as providers: image and query vectors, text in photos, faces.

Immich's machine-learning service (`immich-machine-learning`: FastAPI over
ONNX Runtime on CPU, CUDA, OpenVINO, ROCm, ARM NN or RKNN) runs the same
`immich-app` models photolib runs locally. With `[image] url`, `[ocr] url`
or `[faces] url` (or `[ml] url` for all three) set, that stage's model runs
there; the catalog stays local. The protocol, as Immich's own server speaks it:

* `GET /ping` -> `pong`;
* `POST /predict`, multipart form: `entries`, a JSON
  `{task: {type: {"modelName": ..., "options": {...}}}}`, and either `image`
  (a file: the JPEG's bytes) or `text` (a form string);
* CLIP: `{"clip": {"visual": ...}}` with an image, or `{"clip": {"textual": ...}}`
  with a text -> `{"clip": "[floats, as a JSON string]"}`;
* OCR: `{"ocr": {"detection": ..., "recognition": ...}}` -> `{"ocr": {"text": [...],
  "box": [8 floats per box, 0-1, flat], "boxScore": [...], "textScore": [...]}}`;
* faces: `{"facial-recognition": {"detection": ..., "recognition": ...}}` ->
  `{"facial-recognition": [{"boundingBox": {"x1", "y1", "x2", "y2"}, "embedding":
  "[...]", "score": s}], "imageHeight": h, "imageWidth": w}` (pixels of the image sent).

What is sent: per photo one JPEG of the upright photo, reduced to what the
model needs (`CLIP_SIDE` on its shortest side for an image vector; at most
`PREVIEW_SIDE` on its longest side for OCR and faces, the size of Immich's own
previews), without any metadata (no EXIF, no GPS, no file name); and the text
of a search query. Nothing else leaves the machine: not the original file, its
path, its description, or anything of the catalog.

Identities: an image vector made by a server running `immich-app/<model>` is
stored under the same name as the model pulled locally, so a library moves
between the two without embedding again. Text read by a server is stored with
`immich-app/<ocr model>` and photolib's rules version (the same filter of
confident, word-like lines as local OCR). Faces from `buffalo_l` live in
another face space than dlib's (512-d ArcFace vectors, unit length); switching
re-runs the face stage, and named people keep their names (see
`photolib.store.faces`).

Failures per photo (see `photolib.providers.inference_servers`): nobody
answered -> `ServerUnansweredError` (pending, sent again next run); an
error status or an answer of the wrong shape (not JSON, missing fields, a vector
of the wrong size, numbers that are not finite) -> that photo's failure with
the reason.
"""

from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

import numpy as np

from photolib.core.errors import MalformedOutputError, NoServerAnswersError, PhotolibError, ServerUnansweredError
from photolib.core.protocols import Provider
from photolib.models.registry import KNOWN_MODELS, family_of, model_identity, short_name
from photolib.providers.inference_servers import ServerPool
from photolib.providers.remote_common import host_of

if TYPE_CHECKING:
    from PIL import Image

    from photolib.core.config import ServerSettings, Settings
    from photolib.core.records import FoundFace, PhotoText

CLIP_SIDE = 384  # shortest side of the JPEG sent for an image vector (CLIP takes 224, SigLIP up to 384)
PREVIEW_SIDE = 1440  # longest side of the JPEG sent for OCR and faces: Immich's own preview size
JPEG_QUALITY = 90
OCR_DETECTION_OPTIONS = {"minScore": 0.5, "maxResolution": 736}  # Immich's defaults
FACE_DIMENSIONS = {"buffalo_l": 512, "buffalo_m": 512, "buffalo_s": 512, "antelopev2": 512}  # ArcFace


def reduced_jpeg(image: "Image.Image", *, shortest: int | None = None, longest: int | None = None) -> tuple[bytes, tuple[int, int]]:
    """The upright image as JPEG bytes, scaled down so its shortest side is at most `shortest` (or its
    longest side at most `longest`), never up; no metadata. Returns the bytes and the size sent."""
    from PIL import Image

    rgb = image if image.mode == "RGB" else image.convert("RGB")
    side = min(rgb.size) if shortest else max(rgb.size)
    limit = shortest or longest or side
    if side > limit:
        scale = limit / side
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                         Image.Resampling.BICUBIC, reducing_gap=3.0)
    out = io.BytesIO()
    rgb.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue(), rgb.size


class ImmichProvider(Provider):
    """What the three providers share: the stage's server pool, and where photos go."""

    needs_key: ClassVar[bool] = False
    runs_in_workers: ClassVar[bool] = False  # its calls wait on the network: made from the engine's own process
    section: ClassVar[str]  # "image", "ocr" or "faces": the config section whose url it serves
    what: ClassVar[str]  # named in messages ("image vectors")

    def __init__(self, servers: "ServerSettings") -> None:
        self.pool = ServerPool(servers, self.what)
        self.remote_host = ", ".join(filter(None, (host_of(url) for url in servers.urls)))

    def check(self) -> int:
        """Ping the servers: how many serve (`NoServerAnswersError` when none does)."""
        return self.pool.check()

    def serving(self) -> tuple[int, int]:
        """(servers serving now, servers configured): what the progress line shows."""
        return self.pool.serving(), len(self.pool.servers)

    def stopped(self) -> PhotolibError | None:
        """The run-stopping error once every server is set aside (None while one serves)."""
        return self.pool.none_answers() if self.pool.all_set_aside() else None

    def _each(self, function: Any, items: Sequence[Any]) -> list[Any]:
        """`function` over `items` on the servers; raises `NoServerAnswersError` (with what was answered)
        when photos went unanswered because every server stopped answering."""
        results = self.pool.map(function, items)
        if any(isinstance(result, ServerUnansweredError) for result in results) and self.pool.all_set_aside():
            stop = self.pool.none_answers()
            stop.results = results
            raise stop
        return results

    def close(self) -> None:
        self.pool.close()


class ImmichImageEmbedder(ImmichProvider):
    """An `ImageEmbedder` whose CLIP-family model runs on Immich machine-learning servers."""

    section = "image"
    what = "image vectors"
    input_side = None  # the server resizes: the stage sends its usual reduced copy

    def __init__(self, settings: "Settings") -> None:
        super().__init__(settings.image.servers)
        self.server_model = short_name(settings.image.model)
        self.model_name = model_identity(settings.image.model)
        self.family = family_of(settings.image.model)
        known = KNOWN_MODELS.get(self.server_model)
        self._dimension: int | None = known.dimension if known else None
        self._queries = _query_cache(self.model_name)

    @property
    def dimension(self) -> int:
        """The model's vector size: known for the immich-app models, else learnt from a query's vector."""
        if self._dimension is None:
            self.embed_texts(["a photo"])
        return int(self._dimension)  # type: ignore[arg-type]

    def embed_each(self, images: Sequence["Image.Image"]) -> list[np.ndarray | PhotolibError]:
        entries = {"clip": {"visual": {"modelName": self.server_model}}}
        if self._dimension is None and images:  # a model photolib does not know: its size, before any photo's
            try:
                self.embed_texts(["a photo"])
            except NoServerAnswersError as stop:
                stop.results = [ServerUnansweredError(str(stop)) for _ in images]
                raise

        def one(image: "Image.Image") -> np.ndarray:
            jpeg, _size = reduced_jpeg(image, shortest=CLIP_SIDE)
            return self._vector(self.pool.predict(entries, image=jpeg))

        return self._each(one, images)

    def embed_images(self, images: Sequence["Image.Image"]) -> np.ndarray:
        results = self.embed_each(images)
        for result in results:
            if isinstance(result, PhotolibError):
                raise result
        return np.stack(results).astype(np.float32) if results else np.zeros((0, self.dimension), np.float32)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Query (and label) vectors from the servers' text tower; recent queries come from a cache on disk."""
        cleaned = [" ".join(str(text).split()) for text in texts]
        if not cleaned:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        found = self._queries.get(cleaned) if self._queries else {}
        todo = sorted({text for text in cleaned if text not in found})
        entries = {"clip": {"textual": {"modelName": self.server_model}}}
        answers = self.pool.map(lambda text: self._vector(self.pool.predict(entries, text=text)), todo)
        failed = [answer for answer in answers if isinstance(answer, PhotolibError)]
        if failed:
            raise self.stopped() or failed[0]
        fresh = dict(zip(todo, answers))
        if self._queries and fresh:
            self._queries.put(fresh)  # type: ignore[arg-type]
        found.update(fresh)  # type: ignore[arg-type]
        vectors = np.stack([found[text] for text in cleaned]).astype(np.float32)
        if self._dimension is None:  # all of them came from the cache
            self._dimension = vectors.shape[1]
        return vectors

    def _vector(self, answer: Any) -> np.ndarray:
        if not isinstance(answer, dict) or "clip" not in answer:
            raise MalformedOutputError(f"the server's answer has no \"clip\" field: {_short(answer)}")
        vector = _floats(answer["clip"], "the image vector")
        if self._dimension is None:
            self._dimension = len(vector)
        if len(vector) != self._dimension:
            raise MalformedOutputError(f"the server's {self.server_model} answered a vector of {len(vector)} numbers, "
                                       f"not {self._dimension}: does it run another model than [image] model?")
        return _unit(vector)


class ImmichTextReader(ImmichProvider):
    """A `TextReader` whose OCR models run on Immich machine-learning servers."""

    section = "ocr"
    what = "OCR"

    def __init__(self, settings: "Settings") -> None:
        from photolib.models.ocr import RULES_VERSION

        super().__init__(settings.ocr_servers)
        self.server_model = short_name(settings.ocr_model)
        self.model_name = f"{model_identity(settings.ocr_model)}/rules-{RULES_VERSION}"
        self.min_confidence = settings.ocr_min_confidence
        self.entries = {"ocr": {
            "detection": {"modelName": self.server_model, "options": dict(OCR_DETECTION_OPTIONS)},
            "recognition": {"modelName": self.server_model, "options": {"minScore": self.min_confidence}}}}

    def read_texts(self, images: Sequence["Image.Image"]) -> list["PhotoText | PhotolibError"]:
        def one(image: "Image.Image") -> "PhotoText":
            jpeg, _size = reduced_jpeg(image, longest=PREVIEW_SIDE)
            return self._text(self.pool.predict(self.entries, image=jpeg))

        return self._each(one, images)

    def _text(self, answer: Any) -> "PhotoText":
        from photolib.core.records import PhotoText, TextBox
        from photolib.models.ocr import worth_keeping

        found = answer.get("ocr") if isinstance(answer, dict) else None
        if not isinstance(found, dict):
            raise MalformedOutputError(f"the server's answer has no \"ocr\" object: {_short(answer)}")
        texts, boxes = found.get("text"), found.get("box")
        scores = found.get("textScore")
        if not isinstance(texts, list) or not isinstance(scores, list) or len(scores) != len(texts):
            raise MalformedOutputError(f"the server's OCR answer lacks text or textScore of one length: {_short(found)}")
        corners = _floats(boxes if boxes is not None else [], "the text boxes", allow_empty=True)
        if len(corners) != 8 * len(texts):
            raise MalformedOutputError(f"the server's OCR answer has {len(corners)} box numbers for {len(texts)} "
                                       "lines (8 per line)")
        kept = []
        for index, (text, score) in enumerate(zip(texts, scores)):
            if not isinstance(text, str) or not _number(score):
                raise MalformedOutputError(f"the server's OCR line {index} is not text with a score: {_short(text)}")
            line = " ".join(text.split())
            if float(score) >= self.min_confidence and worth_keeping(line):
                quad = corners[8 * index:8 * index + 8]
                xs, ys = quad[0::2], quad[1::2]
                kept.append(TextBox(line, float(score), (_unit_coordinate(min(xs)), _unit_coordinate(min(ys)),
                                                         _unit_coordinate(max(xs)), _unit_coordinate(max(ys)))))
        return PhotoText(boxes=kept)


class ImmichFaceReader(ImmichProvider):
    """A `FaceReader` whose detection and recognition models (`buffalo_l`...) run on Immich servers."""

    section = "faces"
    what = "faces"

    def __init__(self, settings: "Settings") -> None:
        from photolib.core.config import face_min_score, face_threshold

        super().__init__(settings.faces_servers)
        self.server_model = short_name(settings.faces_model)
        self.model_name = model_identity(settings.faces_model)
        self.threshold = face_threshold(settings)
        self.min_score = face_min_score(settings)
        self._dimension: int | None = FACE_DIMENSIONS.get(self.server_model)
        self.entries = {"facial-recognition": {
            "detection": {"modelName": self.server_model, "options": {"minScore": self.min_score}},
            "recognition": {"modelName": self.server_model}}}

    @property
    def dimension(self) -> int:
        return int(self._dimension or 512)

    def find_faces(self, images: Sequence["Image.Image"]) -> list["list[FoundFace] | PhotolibError"]:
        def one(image: "Image.Image") -> "list[FoundFace]":
            jpeg, size = reduced_jpeg(image, longest=PREVIEW_SIDE)
            return self._faces(self.pool.predict(self.entries, image=jpeg), size)

        return self._each(one, images)

    def _faces(self, answer: Any, sent: tuple[int, int]) -> "list[FoundFace]":
        from photolib.core.records import FoundFace

        found = answer.get("facial-recognition") if isinstance(answer, dict) else None
        if not isinstance(found, list):
            raise MalformedOutputError(f"the server's answer has no \"facial-recognition\" list: {_short(answer)}")
        width, height = answer.get("imageWidth", sent[0]), answer.get("imageHeight", sent[1])
        if not (_number(width) and _number(height)) or width <= 0 or height <= 0:
            raise MalformedOutputError(f"the server's answer has no usable imageWidth/imageHeight: {_short(answer)}")
        faces = []
        for index, face in enumerate(found):
            box = face.get("boundingBox") if isinstance(face, dict) else None
            if not isinstance(box, dict) or not all(_number(box.get(key)) for key in ("x1", "y1", "x2", "y2")) \
                    or not _number(face.get("score")):
                raise MalformedOutputError(f"the server's face {index} lacks a boundingBox or a score: {_short(face)}")
            vector = _floats(face.get("embedding"), "a face embedding")
            if self._dimension is None:
                self._dimension = len(vector)
            if len(vector) != self._dimension:
                raise MalformedOutputError(f"the server's {self.server_model} answered a face embedding of "
                                           f"{len(vector)} numbers, not {self._dimension}")
            if float(face["score"]) < self.min_score:
                continue
            unit_box = (_unit_coordinate(box["x1"] / width), _unit_coordinate(box["y1"] / height),
                        _unit_coordinate(box["x2"] / width), _unit_coordinate(box["y2"] / height))
            faces.append(FoundFace(unit_box, float(face["score"]), _unit(vector)))
        return sorted(faces, key=lambda face: (face.box[0], face.box[1]))


def _floats(value: Any, what: str, allow_empty: bool = False) -> np.ndarray:
    """A flat float32 array from Immich's serialised array (a JSON string) or a plain list; finite."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise MalformedOutputError(f"{what} is not a JSON array: {_short(value)}") from None
    if not isinstance(value, list) or (not value and not allow_empty) \
            or not all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in value):
        raise MalformedOutputError(f"{what} is not a list of numbers: {_short(value)}")
    array = np.asarray(value, dtype=np.float32)
    if not np.isfinite(array).all():
        raise MalformedOutputError(f"{what} holds numbers that are not finite")
    return array


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm == 0.0:
        raise MalformedOutputError("the server answered a vector of zeros")
    return (vector / norm).astype(np.float32)


def _unit_coordinate(value: float) -> float:
    return round(min(1.0, max(0.0, float(value))), 4)


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 120 else text[:117] + "..."


def _query_cache(model_name: str) -> Any:
    """Recent query vectors on disk (the servers' text tower is asked once per query), per model."""
    from platformdirs import user_cache_path

    from photolib.store.query_cache import QueryCache

    return QueryCache(user_cache_path("photolib") / "image-models" / "queries.sqlite", f"{model_name}|immich-ml")

