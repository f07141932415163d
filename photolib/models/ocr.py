"""Text in photos, offline: the PP-OCR models shipped inside the `rapidocr` wheel.

Nothing is downloaded: the detection, direction and recognition models are
files of the installed package, run by onnxruntime with RapidOCR's own pre-
and post-processing (`photolib.models.ppocr`). Most photos hold no text,
and many hold textures a text detector likes (brick, gravel, coins, foliage,
cells under a microscope), so a photo is read in three steps, each only when
the one before found something:

1. the gate: the text *detector* on a copy at most `GATE_SIDE` pixels wide
   (~40 ms on one core). Its boxes are judged by what the detector itself says
   of them (`text_like`): a box counts when the detector's mean text
   probability in it reaches `BOX_SCORE`, it is a line (at least `MIN_ASPECT`
   times longer than high, either way round, for vertical CJK) and it covers
   at most `MAX_AREA` of the photo. A texture makes one blob-shaped box or
   one over the whole frame; lines of text make long thin ones. No such box:
   the photo is done (`PhotoText.gated`);
2. the detector again on a copy at most `DETECT_SIDE` pixels wide (Immich's
   default, 736), for boxes accurate enough to read, judged by the same rule;
3. recognition (with the 0/180 degree direction classifier) only of the boxes
   that passed, each cut from the photo at up to `RECOGNITION_SIDE` pixels.

What is kept is only confident text: a box is kept when the recogniser's
confidence is at least `min_confidence` (default 0.8) and it holds at least
three letters or digits (two for CJK ideographs). Textures read as text
otherwise: a cup of coffee is "8" at 0.95 confidence. Boxes are stored in 0-1
coordinates of the upright photo, so they stay true at any display size.

The shipped recognition model (PP-OCRv6 small) is multilingual: English,
Chinese, Japanese and about 45 Latin-script languages (French, German,
Spanish, Portuguese, Italian, Dutch, Polish, Turkish, Vietnamese...). Other
scripts need models the package would download, so they are not offered.
The models run on `photolib.models.runtime.threads()` threads.
"""

from __future__ import annotations

import threading
from typing import Any

from photolib.core.records import PhotoText, TextBox

GATE_SIDE = 384  # longest side of the copy the gate's detector sees
DETECT_SIDE = 736  # longest side the detector reads a photo at once it passed the gate
RECOGNITION_SIDE = 2000  # longest side of the copy that text crops are cut from
BOX_SCORE = 0.6  # the detector's mean text probability inside a box that counts
MIN_ASPECT = 1.5  # a box that counts is a line: this many times longer than high (or high than long)
MAX_AREA = 0.3  # ... and covers at most this share of the photo (a texture's box covers most of it)
MIN_ALNUM = 3  # letters or digits a kept box must hold (2 when it holds CJK ideographs)
RULES_VERSION = "1"  # bump when what is kept changes, so photos are read again (here and from Immich's OCR)
GATE_VERSION = "2"  # bump when what reaches recognition here changes (the gate, the detector's sizes)

_engines: dict[str, Any] = {}
_lock = threading.Lock()


def model_name() -> str:
    """Which models and rules made a result: a result of another name is read again."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("rapidocr")
    except PackageNotFoundError:
        installed = "missing"
    return f"rapidocr-{installed}/PP-OCRv6-small/rules-{RULES_VERSION}/gate-{GATE_VERSION}"


class LocalTextReader:
    """The `TextReader` of this machine: the PP-OCR models rapidocr ships (`read_text`), nothing sent anywhere."""

    remote_host = None
    runs_in_workers = True  # settings only: the models load once in each worker process

    def __init__(self, settings: Any) -> None:
        self.model_name = model_name()
        self.min_confidence = settings.ocr_min_confidence

    def read_texts(self, images: Any) -> list[Any]:
        """Per image its `PhotoText`, or the `PhotolibError` saying why it could not be read."""
        return [_each(lambda: read_text(image, self.min_confidence), "OCR failed") for image in images]


def _each(work: Any, failure: str) -> Any:
    from photolib.core.errors import PhotolibError, ProviderError

    try:
        return work()
    except PhotolibError as error:
        return error
    except Exception as error:  # noqa: BLE001 - a model failure on one photo is that photo's
        return ProviderError(f"{failure} ({type(error).__name__}: {error})")


def read_text(image: Any, min_confidence: float = 0.8) -> PhotoText:
    """The confident text of an upright PIL image (any mode): gate, detection, recognition of what passed."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    if not _text_like_boxes(rgb, GATE_SIDE):
        return PhotoText(gated=True)
    boxes = _text_like_boxes(rgb, DETECT_SIDE)
    if not boxes:
        return PhotoText()
    return PhotoText(boxes=_recognised(rgb, boxes, min_confidence))


def text_like(quad: Any, score: float, width: int, height: int) -> bool:
    """Whether a detector box is a line of text by what the detector says of it: its score, its shape
    and its area (`width` x `height`: the image the box is in)."""
    import numpy as np

    points = np.asarray(quad, dtype=np.float32)
    long_side = float(max(np.linalg.norm(points[0] - points[1]), np.linalg.norm(points[2] - points[3])))
    short_side = float(max(np.linalg.norm(points[0] - points[3]), np.linalg.norm(points[1] - points[2])))
    long_side, short_side = max(long_side, short_side), min(long_side, short_side)
    if score < BOX_SCORE or short_side <= 0:
        return False
    return long_side / short_side >= MIN_ASPECT and long_side * short_side <= MAX_AREA * width * height


def worth_keeping(text: str) -> bool:
    """Enough letters or digits to be words, not a texture read as "0" or "8"."""
    alnum = [c for c in text if c.isalnum()]
    if len(alnum) >= MIN_ALNUM:
        return True
    return len(alnum) == 2 and any(ord(c) >= 0x2E80 for c in alnum)


def _text_like_boxes(rgb: Any, side: int) -> list[tuple[Any, float]]:
    """The text-like boxes the detector finds on a copy at most `side` wide, as (quad in 0-1 of the
    photo, score)."""
    from photolib.media.read import reduced_by

    small = reduced_by(rgb, side / max(rgb.size))
    width, height = small.size
    return [(quad / (width, height), score) for quad, score in _models().detect(_bgr(small))
            if text_like(quad, score, width, height)]


def _recognised(rgb: Any, boxes: list[tuple[Any, float]], min_confidence: float) -> list[TextBox]:
    """Read each box from the photo at up to `RECOGNITION_SIDE` px; keep what is confident words."""
    from photolib.media.read import reduced_by

    source = reduced_by(rgb, RECOGNITION_SIDE / max(rgb.size))
    pixels = _bgr(source)
    width, height = source.size
    models = _models()
    crops = [models.straighten(pixels, quad * (width, height)) for quad, _score in boxes]
    kept = []
    for (quad, _score), (text, confidence) in zip(boxes, models.recognise(models.upright(crops))):
        text = " ".join(str(text).split())
        if float(confidence) >= min_confidence and worth_keeping(text):
            kept.append(TextBox(text, float(confidence), _unit_box(quad)))
    return kept


def _bgr(rgb: Any) -> Any:
    """An RGB image as the BGR array PP-OCR's models were trained on (OpenCV's order; RapidOCR feeds them so)."""
    import numpy as np

    return np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])


def _unit_box(quad: Any) -> tuple[float, float, float, float]:
    """A quad in 0-1 coordinates as (left, top, right, bottom), clipped to the photo."""

    def unit(value: float) -> float:
        return round(min(1.0, max(0.0, float(value))), 4)

    return unit(quad[:, 0].min()), unit(quad[:, 1].min()), unit(quad[:, 0].max()), unit(quad[:, 1].max())


def _models() -> Any:
    """The PP-OCR models of this process, loaded on first use."""
    with _lock:
        if "models" not in _engines:
            _engines["models"] = _build()
        return _engines["models"]


def _build() -> Any:
    from photolib.core.errors import ProviderUnavailableError
    from photolib.models import ppocr
    from photolib.models.runtime import threads

    try:
        import cv2  # noqa: F401 - rapidocr's dependencies: what the models' pre- and post-processing use
        import pyclipper  # noqa: F401

        folder = ppocr.model_folder()
    except ImportError as error:
        raise ProviderUnavailableError(f"OCR needs the rapidocr package ({error}): reinstall photolib, or set "
                                       "[ocr] enabled = false") from None
    files = (ppocr.DET_FILE, ppocr.CLS_FILE, ppocr.REC_FILE)
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise ProviderUnavailableError(f"the rapidocr package has no {', '.join(missing)} in {folder}: reinstall "
                                       "rapidocr (its wheel ships the models), or set [ocr] enabled = false")
    return ppocr.PPOCR(folder, threads())
