"""PP-OCR's three models on ONNX Runtime: text detector (DB), direction classifier, CTC recogniser.

The model files are those the `rapidocr` wheel ships (found without importing
the package). The pre- and post-processing follow RapidOCR's (PaddleOCR's)
exactly (`tests/models/test_ocr.py` checks the boxes and readings against
RapidOCR's own classes): images in BGR, the order the models were trained
on; the detector's input rounded to multiples of 32 and normalised to
[-1, 1], its probability map thresholded at 0.3, dilated, its contours turned
into minimum-area boxes scored by the mean probability inside (kept from
0.5), grown by the DB unclip ratio 1.6 and ordered top to bottom, left to
right; crops straightened by a perspective warp; the classifier at 48x192
(turning a crop it is more than 0.9 sure is upside down); the recogniser at
a height of 48, six crops a batch of similar widths, its output decoded
greedily (CTC: repeats and blanks dropped) with the mean probability of the
kept characters as the confidence.

Why not RapidOCR's own classes: importing them costs ~1.1-1.6 s a process
(measured here: its YAML model tables are parsed at import) and pulls in
urllib3, which opens a socket at import to probe for IPv6; every pixel
worker would pay both, and a local run is to open no socket. Loading
here costs the three sessions only, on `photolib.models.runtime.threads()`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

DET_FILE, CLS_FILE, REC_FILE = "PP-OCRv6_det_small.onnx", "ch_ppocr_mobile_v2.0_cls_mobile.onnx", "PP-OCRv6_rec_small.onnx"
BINARY_THRESHOLD, BOX_THRESHOLD, MAX_CANDIDATES, UNCLIP_RATIO = 0.3, 0.5, 1000, 1.6
MIN_BOX_SIDE = 3
CLS_SHAPE, CLS_THRESHOLD, CLS_BATCH = (48, 192), 0.9, 6
REC_HEIGHT, REC_WIDTH, REC_BATCH = 48, 320, 6
LINE_STEP = 10  # boxes whose tops differ by less are on one line (read left to right)


def model_folder() -> Path:
    """The `rapidocr` package's model folder, found without importing the package."""
    from importlib.util import find_spec

    spec = find_spec("rapidocr")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'rapidocr'")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


class PPOCR:
    """The three sessions of one process; `detect`, `straighten`, `upright` and `recognise` are thread-safe."""

    def __init__(self, folder: Path, threads: int) -> None:
        import onnxruntime as ort

        from photolib.models.runtime import session_options

        def session(name: str) -> Any:
            return ort.InferenceSession(str(folder / name), session_options(threads), providers=["CPUExecutionProvider"])

        self.detector, self.classifier, self.recogniser = session(DET_FILE), session(CLS_FILE), session(REC_FILE)
        characters = self.recogniser.get_modelmeta().custom_metadata_map["character"].splitlines()
        self.characters = ["blank", *characters, " "]

    # -- detection --------------------------------------------------------------------------------

    def detect(self, pixels: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Text boxes of a BGR array (the channel order the models were trained on) as (4x2 float quad in its
        pixels, score), top to bottom, left to right."""
        import cv2

        height, width = pixels.shape[:2]
        fed_height, fed_width = max(32, round(height / 32) * 32), max(32, round(width / 32) * 32)
        fed = cv2.resize(pixels, (fed_width, fed_height)).astype(np.float32) / 127.5 - 1.0
        feed = {self.detector.get_inputs()[0].name: fed.transpose(2, 0, 1)[np.newaxis]}
        probabilities = self.detector.run(None, feed)[0][0, 0]
        mask = cv2.dilate((probabilities > BINARY_THRESHOLD).astype(np.uint8), np.ones((2, 2), np.uint8))
        contours = cv2.findContours(mask * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[-2]
        found = []
        for contour in contours[:MAX_CANDIDATES]:
            points, short = _minimum_box(contour)
            if short < MIN_BOX_SIDE:
                continue
            score = _mean_inside(probabilities, points)
            if score < BOX_THRESHOLD:
                continue
            box, short = _minimum_box(_unclipped(points).reshape(-1, 1, 2))
            if short < MIN_BOX_SIDE + 2:
                continue
            box[:, 0] = np.clip(np.round(box[:, 0] / fed_width * width), 0, width)
            box[:, 1] = np.clip(np.round(box[:, 1] / fed_height * height), 0, height)
            quad = _clockwise(box.astype(np.int32).astype(np.float32))
            quad[:, 0] = np.clip(quad[:, 0], 0, width - 1).astype(np.int32)
            quad[:, 1] = np.clip(quad[:, 1], 0, height - 1).astype(np.int32)
            if int(np.linalg.norm(quad[0] - quad[1])) <= 3 or int(np.linalg.norm(quad[0] - quad[3])) <= 3:
                continue
            found.append((quad, float(score)))
        return _reading_order(found)

    # -- crops ------------------------------------------------------------------------------------

    @staticmethod
    def straighten(pixels: np.ndarray, quad: np.ndarray) -> np.ndarray:
        """The quad's pixels warped to an upright rectangle (a tall one turned to lie down)."""
        import cv2

        width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
        height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
        target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
        warped = cv2.warpPerspective(pixels, cv2.getPerspectiveTransform(quad.astype(np.float32), target),
                                     (width, height), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
        return np.rot90(warped) if warped.shape[0] / warped.shape[1] >= 1.5 else warped

    def upright(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Each crop, turned 180 degrees where the classifier is sure it is upside down."""
        import cv2

        crops = list(crops)
        order = np.argsort([crop.shape[1] / crop.shape[0] for crop in crops])
        for start in range(0, len(crops), CLS_BATCH):
            chosen = order[start:start + CLS_BATCH]
            batch = np.stack([_normalised(crops[i], CLS_SHAPE[0], CLS_SHAPE[1]) for i in chosen])
            out = self.classifier.run(None, {self.classifier.get_inputs()[0].name: batch})[0]
            for row, index in enumerate(chosen):
                if int(out[row].argmax()) == 1 and out[row, 1] > CLS_THRESHOLD:  # labels "0", "180"
                    crops[index] = cv2.rotate(crops[index], cv2.ROTATE_180)
        return crops

    def recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Each crop's text and confidence (the mean probability of its characters)."""
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        order = np.argsort([crop.shape[1] / crop.shape[0] for crop in crops])
        for start in range(0, len(crops), REC_BATCH):
            chosen = order[start:start + REC_BATCH]
            widest = max([REC_WIDTH / REC_HEIGHT] + [crops[i].shape[1] / crops[i].shape[0] for i in chosen])
            batch = np.stack([_normalised(crops[i], REC_HEIGHT, int(REC_HEIGHT * widest)) for i in chosen])
            out = self.recogniser.run(None, {self.recogniser.get_inputs()[0].name: batch})[0]
            for row, index in enumerate(chosen):
                results[index] = self._decoded(out[row])
        return results

    def _decoded(self, probabilities: np.ndarray) -> tuple[str, float]:
        tokens, confidence = probabilities.argmax(axis=1), probabilities.max(axis=1)
        kept = np.ones(len(tokens), dtype=bool)
        kept[1:] = tokens[1:] != tokens[:-1]
        kept &= tokens != 0
        text = "".join(self.characters[token] for token in tokens[kept])
        scores = [round(float(value), 5) for value in confidence[kept]] or [0.0]
        return text, round(float(np.mean(scores)), 5)


def _normalised(crop: np.ndarray, height: int, width: int) -> np.ndarray:
    """A crop resized to `height` (its shape kept, at most `width` wide), in [-1, 1], padded right with 0."""
    import cv2

    fitted = min(width, int(math.ceil(height * crop.shape[1] / crop.shape[0])))
    resized = cv2.resize(crop, (fitted, height)).astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    padded = np.zeros((3, height, width), dtype=np.float32)
    padded[:, :, :fitted] = resized
    return padded


def _minimum_box(contour: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle around a contour, corners from the top left, and its shorter side."""
    import cv2

    rectangle = cv2.minAreaRect(contour)
    points = sorted(list(cv2.boxPoints(rectangle)), key=lambda point: point[0])
    first, fourth = (0, 1) if points[1][1] > points[0][1] else (1, 0)
    second, third = (2, 3) if points[3][1] > points[2][1] else (3, 2)
    return np.array([points[first], points[second], points[third], points[fourth]]), min(rectangle[1])


def _mean_inside(probabilities: np.ndarray, box: np.ndarray) -> float:
    import cv2

    height, width = probabilities.shape[:2]
    left = int(np.clip(np.floor(box[:, 0].min()), 0, width - 1))
    right = int(np.clip(np.ceil(box[:, 0].max()), 0, width - 1))
    top = int(np.clip(np.floor(box[:, 1].min()), 0, height - 1))
    bottom = int(np.clip(np.ceil(box[:, 1].max()), 0, height - 1))
    mask = np.zeros((bottom - top + 1, right - left + 1), dtype=np.uint8)
    cv2.fillPoly(mask, (box - (left, top)).reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(probabilities[top:bottom + 1, left:right + 1], mask)[0]


def _unclipped(box: np.ndarray) -> np.ndarray:
    """The box grown by area x ratio / perimeter on every side (rounded corners), as DB does."""
    import pyclipper

    x, y = box[:, 0].astype(np.float64), box[:, 1].astype(np.float64)
    area = abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))) / 2
    perimeter = float(np.sum(np.hypot(np.roll(x, -1) - x, np.roll(y, -1) - y)))
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return np.array(offset.Execute(area * UNCLIP_RATIO / perimeter if perimeter else 0.0))


def _clockwise(points: np.ndarray) -> np.ndarray:
    """Top left, top right, bottom right, bottom left."""
    by_x = points[np.argsort(points[:, 0]), :]
    left, right = by_x[:2], by_x[2:]
    top_left, bottom_left = left[np.argsort(left[:, 1]), :]
    top_right, bottom_right = right[np.argsort(right[:, 1]), :]
    return np.array([top_left, top_right, bottom_right, bottom_left], dtype=np.float32)


def _reading_order(found: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """Top to bottom; boxes whose tops are within `LINE_STEP` pixels of the one above, left to right."""
    if not found:
        return found
    tops = np.array([quad[0, 1] for quad, _score in found])
    by_top = np.argsort(tops, kind="stable")
    lines = np.concatenate([[0], np.cumsum(np.diff(tops[by_top]) >= LINE_STEP)])
    lefts = np.array([found[index][0][0, 0] for index in by_top])
    return [found[by_top[index]] for index in np.lexsort((lefts, lines))]
