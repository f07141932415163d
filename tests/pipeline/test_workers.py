"""The pixel stages on every core (`photolib.pipeline.workers`): the same results whatever the number of
worker processes, a photo that kills its worker fails alone, the image stage goes over the library first,
and a search while `add` runs sees each stage's results as they are committed."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from photolib.core.config import ImageSettings
from photolib.core.progress import NoProgress
from photolib.core.spaces import Space
from photolib.pipeline import registry
from photolib.pipeline.stage import Outcome, StageBase
from tests.support import stage_photos
from tests.support.onnx_models import build_tiny_clip
from tests.support.photos import make_photo


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    """Text, two photos of one face and a photo of another, red and blue photos, a file that is no photo."""
    root = tmp_path_factory.mktemp("workers") / "pics"
    stage_photos.receipt(root / "a_receipt.jpg")
    make_photo(root / "b_red.jpg", color=(210, 30, 35), size=(320, 240))
    stage_photos.save(stage_photos.astronaut().resize((320, 320)), root / "c_astronaut.jpg")
    make_photo(root / "d_blue.jpg", color=(35, 70, 210), size=(320, 240))
    stage_photos.save(stage_photos.astronaut().rotate(4).resize((300, 300)), root / "e_astronaut_again.jpg")
    stage_photos.save(stage_photos.other_person(1), root / "f_other.jpg")
    make_photo(root / "g_red.jpg", color=(205, 35, 30), size=(240, 320))
    stage_photos.shop_sign(root / "h_sign.jpg")
    (root / "i_not_a_photo.jpg").write_bytes(b"\xff\xd8 this is no JPEG")
    stage_photos.text_on_texture(root / "z_poster.jpg")
    return root


@pytest.fixture
def stages_library(make_library, tiny_model):
    """A library with every pixel stage on: thumbnails, the tiny image model, OCR and faces."""
    def build(**settings):
        image = ImageSettings(model="test/tiny-clip", model_path=tiny_model)
        path = settings.pop("path", None)
        return make_library(**({"path": path} if path else {}), settings={
            "image": image, "ocr_enabled": True, "faces_enabled": True, **settings})
    return build


def what_it_found(library) -> dict[str, dict]:
    """Per file name: its text, its faces (box and person), its image vector and its thumbnails' bytes."""
    from photolib.store.faces import FaceStore
    from photolib.store.text import TextStore

    texts, faces = TextStore(library.catalog), FaceStore(library.catalog)
    found = {}
    for photo in library.catalog.get_many([row[0] for row in library.catalog.db.execute("SELECT id FROM photos")]).values():
        vector = library.catalog.vectors_for([photo.id], Space.IMAGE).get(photo.id)
        digest = photo.data.get("hash")
        thumbnails = sorted(path.read_bytes() for path in library.thumbnails.folder.rglob(f"{digest}-*.jpg")) \
            if digest else []
        found[photo.path.rsplit("/", 1)[-1]] = {
            "text": (texts.text_of(photo.id) or {}).get("text"),
            "faces": [(tuple(round(v, 3) for v in face["box"]), face["person_id"]) for face in faces.faces_of_photo(photo.id)],
            "vector": None if vector is None else np.frombuffer(vector, dtype=np.float32),
            "thumbnails": hashlib.sha256(b"".join(thumbnails)).hexdigest(),
            "labels": photo.data.get("image_labels"),
        }
    return found


def test_results_do_not_depend_on_the_number_of_workers(stages_library, pictures, tmp_path):
    """One worker (a thread of this process) and three worker processes: the same texts, the same faces
    grouped into the same people, the same image vectors, labels and thumbnails."""
    found = {}
    for workers in (1, 3):
        library = stages_library(path=tmp_path / f"library-{workers}", workers=workers, batch_size=3)
        report = library.add([pictures])
        assert [(stage.name, stage.done, len(stage.failed)) for stage in report.stages] == [
            ("thumbnails", 9, 0), ("image", 9, 0), ("ocr", 9, 0), ("faces", 9, 0)]
        found[workers] = what_it_found(library)
        library.close()
    one = found[1]
    assert one["a_receipt.jpg"]["text"].startswith("INVOICE 2023-117") and one["z_poster.jpg"]["text"] == "GARDEN PARTY"
    assert one["h_sign.jpg"]["text"] == "ACME BAKERY" and one["b_red.jpg"]["text"] == ""
    people = {name: [person for _box, person in item["faces"]] for name, item in one.items() if item["faces"]}
    assert people["c_astronaut.jpg"] == people["e_astronaut_again.jpg"] != people["f_other.jpg"]
    assert "strawberry" in one["b_red.jpg"]["labels"]
    for workers in (3,):
        assert found[workers].keys() == one.keys()
        for name, item in found[workers].items():
            for key in ("text", "faces", "thumbnails", "labels"):
                assert item[key] == one[name][key], (workers, name, key)
            assert (item["vector"] is None) == (one[name]["vector"] is None), (workers, name)
            if item["vector"] is not None:
                assert np.allclose(item["vector"], one[name]["vector"], atol=1e-5), (workers, name)


@dataclass(frozen=True)
class KillOnMagenta:
    """A pixel job that kills its own process on a magenta photo, as a crash in a native library would."""

    failure: ClassVar[str] = "measuring failed"

    def __call__(self, image):
        red, green, blue = np.asarray(image.convert("RGB")).reshape(-1, 3).mean(axis=0)
        if red > 200 and blue > 200 and green < 60:
            os.kill(os.getpid(), signal.SIGKILL)
        return float(red)


class CrashingStage(StageBase):
    """A stage whose worker dies on one photo."""

    name = "crashing"
    label = "Crashing"
    needs_pixels = True
    min_side = 32
    model = "crash-test-1"

    @classmethod
    def build(cls, context):
        return cls()

    def pixel_job(self):
        return KillOnMagenta()

    def process(self, work):
        return [Outcome(item.photo.id, value=item.made[self.name]) for item in work]

    def store(self, catalog, outcomes):
        return {"measured": len(outcomes)}


def test_a_photo_that_kills_its_worker_fails_alone(make_library, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "STAGES", (registry.STAGES[0], CrashingStage))
    folder = tmp_path / "pics"
    for number in range(7):
        make_photo(folder / f"p{number}.jpg", color=(230, 20, 230) if number == 3 else (20 + number * 30, 120, 90),
                   pattern=False)
    library = make_library(settings={"workers": 2, "batch_size": 3})
    report = library.add([folder])
    crashing = report.stage("crashing")
    assert crashing.done == 6 and [path.rsplit("/", 1)[-1] for path, _ in crashing.failed] == ["p3.jpg"]
    assert "worker process" in crashing.failed[0][1]
    assert report.stage("thumbnails").done == 6  # decoded in the same worker: it died with it
    again = library.add([folder])
    assert again.stage("crashing").done == 0 and again.stage("thumbnails").done == 0  # failed: not retried by itself


class Recorder(NoProgress):
    """A `Progress` that records which stage's line advanced, in order (one entry per committed batch)."""

    def __init__(self, pause_at: str | None = None) -> None:
        self.events: list[str] = []
        self.pause_at = pause_at
        self.paused, self.resume = threading.Event(), threading.Event()

    def line(self, description, total):
        recorder, label = self, description.split(":")[0]

        class Line(NoProgress):
            def advance(self, count=1, **counters):
                recorder.events.append(label)
                if label == recorder.pause_at and not recorder.paused.is_set():
                    recorder.paused.set()
                    assert recorder.resume.wait(300)

        return Line()


def test_the_image_stage_runs_first_and_a_search_while_add_runs_sees_what_is_committed(stages_library, pictures):
    """The image stage goes over every photo before thumbnails, OCR and faces start. Paused right after the
    first batch of text was committed, another library object (as another process would) finds every photo
    by its pixels and the text of that first batch; the rest once `add` is done."""
    writer = stages_library(batch_size=2, workers=2)
    progress = Recorder(pause_at="Text in photos")
    added = []
    thread = threading.Thread(target=lambda: added.append(writer.add([pictures], progress=progress)), daemon=True)
    thread.start()
    try:
        assert progress.paused.wait(300), "the OCR stage never committed a batch"
        reader = stages_library()
        red = {hit.path.rsplit("/", 1)[-1] for hit in reader.search("strawberry", space="image")}
        assert {"b_red.jpg", "g_red.jpg"} <= red
        assert [hit.path.rsplit("/", 1)[-1] for hit in reader.search("has:text")] == ["a_receipt.jpg"]
    finally:
        progress.resume.set()
        thread.join(300)
    assert added and {hit.path.rsplit("/", 1)[-1] for hit in reader.search("has:text")} == {
        "a_receipt.jpg", "h_sign.jpg", "z_poster.jpg"}
    stages = [event for event in progress.events if event != "Describing and embedding"]
    assert stages[:5] == ["Image embedding"] * 5  # 9 photos in batches of 2
    assert set(stages[5:]) == {"Thumbnails", "Text in photos", "Faces"}
