"""Faces in photos, offline: dlib's HOG detector, 5-point landmarks and ResNet descriptor.

The model files come from the `face-recognition-models` package and dlib from
the prebuilt `dlib-bin` wheel: nothing is downloaded, nothing leaves the
machine. Only the **5-point** landmark model is used (it is what aligns a face
for the descriptor); the 68-point model's training data forbids commercial use
and is never loaded.

Detection runs on a grey copy at most `DETECT_SIDE` pixels wide (dlib's HOG
features of a grey image cost a third less than of a colour one, and a
reduced copy costs what its pixels cost: 1280 px is ~2.5x cheaper than 1600),
boxes mapped back. The detector's window is 80 px, so faces down to ~1/16 of
a large photo's long side are found. Upsampling (once) is kept for where a
face would be too small at that size: small pictures (under `UPSAMPLE_BELOW`
pixels), whose faces may be only ~40 px, and where it is cheap. A photo
without a face costs one detector pass. Landmarks and descriptors are computed
on the colour copy. Each face gets a 128-d descriptor:
two photos of one person are usually 0.0-0.4 apart, two people ~0.6-0.9
(dlib's usual same-person threshold is 0.6).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from photolib.core.records import FACE_DIMENSION, FoundFace

if TYPE_CHECKING:
    from pathlib import Path

DETECTOR = "dlib-hog/5-point/resnet-v1"  # the face space: faces of one detector are compared
DETECT_SIDE = 1280  # longest side of the copy faces are looked for in
UPSAMPLE_BELOW = 640_000  # pixels: smaller copies are upsampled once (finds smaller faces, 4x the cost)
DIMENSION = FACE_DIMENSION
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"  # never the 68-point model (non-commercial data)
DESCRIPTOR_FILE = "dlib_face_recognition_resnet_model_v1.dat"

_models: dict[str, Any] = {}
_lock = threading.Lock()


class LocalFaceReader:
    """The `FaceReader` of this machine: dlib's detector and 128-d descriptors (`find_faces`); its
    `model_name` is the face space of the faces it finds."""

    remote_host = None
    runs_in_workers = True  # settings only: the models load once in each worker process
    model_name = DETECTOR
    dimension = DIMENSION

    def __init__(self, settings: Any) -> None:
        from photolib.core.config import face_min_score, face_threshold

        self.threshold = face_threshold(settings)
        self.min_score = face_min_score(settings)

    def find_faces(self, images: Any) -> list[Any]:
        """Per image its faces, or the `PhotolibError` saying why they could not be looked for."""
        from photolib.core.errors import PhotolibError, ProviderError

        results: list[Any] = []
        for image in images:
            try:
                results.append(find_faces(image, self.min_score))
            except PhotolibError as error:
                results.append(error)
            except Exception as error:  # noqa: BLE001 - a model failure on one photo is that photo's
                results.append(ProviderError(f"face detection failed ({type(error).__name__}: {error})"))
        return results


def find_faces(image: Any, min_score: float = 0.3) -> list[FoundFace]:
    """Faces of an upright PIL image (any mode, any size), left to right."""
    import numpy as np

    from photolib.media.read import reduced_by

    scale = DETECT_SIDE / max(image.size)
    small = reduced_by(image.convert("L"), scale)
    grey = np.ascontiguousarray(np.asarray(small))
    detector, landmarks, encoder = _load()
    upsample = 1 if small.width * small.height <= UPSAMPLE_BELOW else 0
    with _lock:  # dlib's objects are not documented as thread-safe
        rectangles, scores, _kinds = detector.run(grey, upsample, 0.0)
        kept = [(rectangle, score) for rectangle, score in zip(rectangles, scores) if score >= min_score]
        found = []
        if kept:  # landmarks and descriptors from the colour copy, only where there are faces
            pixels = np.ascontiguousarray(np.asarray(reduced_by(image.convert("RGB"), scale)))
            for rectangle, score in kept:
                shape = landmarks(pixels, rectangle)
                descriptor = np.asarray(encoder.compute_face_descriptor(pixels, shape), dtype=np.float32)
                found.append(FoundFace(_unit_box(rectangle, *small.size), float(score), descriptor))
    return sorted(found, key=lambda face: (face.box[0], face.box[1]))


def _unit_box(rectangle: Any, width: int, height: int) -> tuple[float, float, float, float]:
    def unit(value: float, size: int) -> float:
        return round(min(1.0, max(0.0, value / size)), 4)

    return (unit(rectangle.left(), width), unit(rectangle.top(), height),
            unit(rectangle.right() + 1, width), unit(rectangle.bottom() + 1, height))


def _model_folder() -> "Path":
    """The package's model folder, found without importing it (its __init__ needs pkg_resources,
    which new setuptools no longer has)."""
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'face_recognition_models'")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    for name in (LANDMARKS_FILE, DESCRIPTOR_FILE):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder / name} is missing")
    return folder


def _load() -> tuple[Any, Any, Any]:
    """The detector and the two model files, once per process."""
    with _lock:
        if not _models:
            from photolib.core.errors import ProviderUnavailableError

            try:
                import dlib

                folder = _model_folder()
            except (ImportError, FileNotFoundError) as error:
                raise ProviderUnavailableError(
                    f"face detection needs dlib-bin and face-recognition-models ({error}): reinstall photolib, "
                    "or set [faces] enabled = false") from None
            _models["detector"] = dlib.get_frontal_face_detector()
            _models["landmarks"] = dlib.shape_predictor(str(folder / LANDMARKS_FILE))
            _models["encoder"] = dlib.face_recognition_model_v1(str(folder / DESCRIPTOR_FILE))
        return _models["detector"], _models["landmarks"], _models["encoder"]
