"""Text in photos, offline: RapidOCR's PP-OCR models, shipped inside the `rapidocr` wheel.

Nothing is downloaded: the detection and recognition models are files of the
installed package, run by onnxruntime. Reading a whole photo costs 1.5-3 s on
two cores, and most photos hold no text, so a photo first goes through a cheap
gate: the text *detector* alone on a copy at most `GATE_SIDE` pixels wide
(0.1-0.3 s). Only when it finds a text region does the full pass (detection at
`DETECT_SIDE`, direction classifier, recognition) run.

What is kept is only confident text: a box is kept when the recogniser's
confidence is at least `min_confidence` (default 0.8) and it holds at least
three letters or digits (two for CJK ideographs). Textures read as text
otherwise: a cup of coffee is "8" at 0.95 confidence. Boxes are stored in 0-1
coordinates of the upright photo, so they stay true at any display size.

The shipped recognition model (PP-OCRv6 small) is multilingual: English,
Chinese, Japanese and about 45 Latin-script languages (French, German,
Spanish, Portuguese, Italian, Dutch, Polish, Turkish, Vietnamese...). Other
scripts need models the package would download, so they are not offered.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from photolib.core.records import PhotoText, TextBox

GATE_SIDE = 384  # longest side of the copy the gate's detector sees
DETECT_SIDE = 960  # longest side the full pass's detector works at
RECOGNITION_SIDE = 2000  # longest side of the copy that text crops are cut from
MIN_ALNUM = 3  # letters or digits a kept box must hold (2 when it holds CJK ideographs)
RULES_VERSION = "1"
DET_FILE, CLS_FILE, REC_FILE = "PP-OCRv6_det_small.onnx", "ch_ppocr_mobile_v2.0_cls_mobile.onnx", "PP-OCRv6_rec_small.onnx"  # bump when what is kept changes, so photos are read again

_engines: dict[str, Any] = {}
_lock = threading.Lock()


def model_name() -> str:
    """Which models and rules made a result: a result of another name is read again."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("rapidocr")
    except PackageNotFoundError:
        installed = "missing"
    return f"rapidocr-{installed}/PP-OCRv6-small/rules-{RULES_VERSION}"


class LocalTextReader:
    """The `TextReader` of this machine: RapidOCR's shipped models (`read_text`), nothing sent anywhere."""

    remote_host = None

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
    """The confident text of an upright PIL image (any mode), gated by a cheap detection pass."""
    import numpy as np

    rgb = image.convert("RGB")
    if not _gate_finds_text(rgb):
        return PhotoText(gated=True)
    scale = min(1.0, RECOGNITION_SIDE / max(rgb.size))
    work = _resized(rgb, scale)
    result = _engine("full")(np.asarray(work), use_det=True, use_cls=True, use_rec=True)
    boxes = []
    width, height = work.size
    for quad, text, score in zip(result.boxes if result.boxes is not None else [],
                                 result.txts or (), result.scores or ()):
        text = " ".join(str(text).split())
        if float(score) >= min_confidence and worth_keeping(text):
            boxes.append(TextBox(text, float(score), _unit_box(quad, width, height)))
    return PhotoText(boxes=boxes)


def worth_keeping(text: str) -> bool:
    """Enough letters or digits to be words, not a texture read as "0" or "8"."""
    alnum = [c for c in text if c.isalnum()]
    if len(alnum) >= MIN_ALNUM:
        return True
    return len(alnum) == 2 and any(ord(c) >= 0x2E80 for c in alnum)


def _gate_finds_text(rgb: Any) -> bool:
    import numpy as np

    small = _resized(rgb, min(1.0, GATE_SIDE / max(rgb.size)))
    result = _engine("gate")(np.asarray(small), use_det=True, use_cls=False, use_rec=False)
    return result.boxes is not None and len(result.boxes) > 0


def _resized(rgb: Any, scale: float) -> Any:
    from PIL import Image

    if scale >= 1.0:
        return rgb
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    return rgb.resize(size, Image.Resampling.BILINEAR)


def _unit_box(quad: Any, width: int, height: int) -> tuple[float, float, float, float]:
    xs = [float(point[0]) for point in quad]
    ys = [float(point[1]) for point in quad]

    def unit(value: float, size: int) -> float:
        return round(min(1.0, max(0.0, value / size)), 4)

    return unit(min(xs), width), unit(min(ys), height), unit(max(xs), width), unit(max(ys), height)


def _engine(kind: str) -> Any:
    """One RapidOCR per kind per process (loading the models takes a second)."""
    with _lock:
        if kind not in _engines:
            _engines[kind] = _build(kind)
        return _engines[kind]


def _build(kind: str) -> Any:
    from photolib.core.errors import ProviderUnavailableError

    try:
        import rapidocr
        from rapidocr import RapidOCR
    except ImportError as error:
        raise ProviderUnavailableError(f"OCR needs the rapidocr package ({error}): reinstall photolib, or set "
                                       "[ocr] enabled = false") from None
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    side = GATE_SIDE if kind == "gate" else DETECT_SIDE
    folder = Path(rapidocr.__file__).parent / "models"
    files = {"Det": DET_FILE, "Cls": CLS_FILE, "Rec": REC_FILE}
    missing = [name for name in files.values() if not (folder / name).is_file()]
    if missing:
        raise ProviderUnavailableError(f"the rapidocr package has no {', '.join(missing)} in {folder}: reinstall "
                                       "rapidocr (its wheel ships the models), or set [ocr] enabled = false")
    params = {f"{part}.model_path": str(folder / name) for part, name in files.items()}  # never a download
    params |= {
        "Global.log_level": "error",
        "Global.max_side_len": RECOGNITION_SIDE,
        "Global.use_cls": kind != "gate",
        "Global.use_rec": kind != "gate",
        "Det.limit_side_len": side,
        "Det.limit_type": "max",
    }
    engine = RapidOCR(params=params)
    logging.getLogger("RapidOCR").setLevel(logging.ERROR)
    return engine
