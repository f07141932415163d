"""Faces and people: dlib's real models on faces from scikit-image's sample data."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from photolib.models import faces
from photolib.cli import app
from tests.support import stage_photos
from tests.conftest import STAGES_ON


def distance(a, b) -> float:
    return float(np.linalg.norm(a.descriptor - b.descriptor))


@pytest.fixture(scope="module")
def reference():
    found = faces.find_faces(stage_photos.astronaut())
    assert len(found) == 1
    return found[0]


def test_finds_the_astronaut_where_she_is(reference):
    for got, want in zip(reference.box, stage_photos.ASTRONAUT_FACE):
        assert abs(got - want) < 0.02
    assert reference.descriptor.shape == (128,) and reference.descriptor.dtype == np.float32


@pytest.mark.parametrize("kind", sorted(stage_photos.SCENE_FACES))
def test_camera_photos_have_the_faces_found_before_the_smaller_detector_input(kind):
    """At 12 MP-like sizes the detector reads a grey 1280 px copy now (1600 px in colour before): the same
    faces, each a different person."""
    found = faces.find_faces(stage_photos.camera_copy(stage_photos.scene(kind), side=3000))
    assert len(found) == stage_photos.SCENE_FACES[kind]
    assert all(distance(a, b) > 0.6 for i, a in enumerate(found) for b in found[i + 1:])


def test_the_huge_photo_and_the_upsampled_portrait_keep_their_faces(reference, tmp_path):
    """6000x4000 with a face of ~6% of its width (found on the reduced copy), and a 200 px portrait whose
    35 px face is found because so small a picture is upsampled."""
    from photolib.media import read as media

    huge = faces.find_faces(media.upright_image(stage_photos.huge_with_face(tmp_path / "huge.jpg"), 2000))
    small = faces.find_faces(stage_photos.astronaut().resize((200, 200)))
    assert len(huge) == len(small) == 1
    assert distance(huge[0], reference) < 0.4 and distance(small[0], reference) < 0.4


@pytest.mark.parametrize("variant", ["crop", "grey", "small", "webp"])
def test_the_same_face_in_other_crops_sizes_and_formats(reference, variant, tmp_path):
    image = stage_photos.astronaut()
    if variant == "crop":
        image = image.crop((100, 0, 400, 300))
    elif variant == "grey":
        image = image.convert("L")
    elif variant == "small":
        image = image.resize((200, 200))  # a face of ~35 px: found because small pictures are upsampled
    else:
        image.save(tmp_path / "a.webp", quality=70)
        image = Image.open(tmp_path / "a.webp")
    found = faces.find_faces(image)
    assert len(found) == 1
    assert distance(found[0], reference) < 0.4


@pytest.mark.parametrize("orientation", [6, 3])
def test_exif_rotated_photos_are_read_upright(reference, orientation, tmp_path):
    from photolib.media import read as media

    path = stage_photos.with_orientation(stage_photos.astronaut(), tmp_path / "turned.jpg", orientation)
    found = faces.find_faces(media.upright_image(path, 2000))
    assert len(found) == 1
    assert distance(found[0], reference) < 0.4
    for got, want in zip(found[0].box, stage_photos.ASTRONAUT_FACE):  # boxes are of the upright photo
        assert abs(got - want) < 0.03


def test_a_huge_photo_is_searched_on_a_smaller_copy(reference, tmp_path):
    from photolib.media import read as media

    path = stage_photos.huge_with_face(tmp_path / "huge.jpg")
    found = faces.find_faces(media.upright_image(path, 2000))
    assert len(found) == 1
    assert distance(found[0], reference) < 0.4
    left, top, right, bottom = found[0].box  # mapped back: the face is at (3000 + 0.342*2048, ...) of 6000x4000
    assert abs(left - (3000 + 0.342 * 2048) / 6000) < 0.02 and abs(top - (1200 + 0.148 * 2048) / 4000) < 0.02


def test_another_person_is_far(reference):
    found = faces.find_faces(stage_photos.other_person())
    assert len(found) == 1
    assert distance(found[0], reference) > 0.6


@pytest.mark.parametrize("name", ["chelsea", "coffee", "camera"])
def test_photos_without_a_face(name):
    assert faces.find_faces(stage_photos.sample(name)) == []


def test_only_the_five_point_model_is_loaded():
    faces._load()
    assert faces.LANDMARKS_FILE == "shape_predictor_5_face_landmarks.dat"
    assert "68" not in faces.LANDMARKS_FILE and "mmod" not in faces.DESCRIPTOR_FILE


# -- people, through the CLI -----------------------------------------------------------------

FACES_ONLY = {**STAGES_ON, "PHOTOLIB_OCR_ENABLED": "false"}


def run(library, *args):
    return CliRunner().invoke(app, ["-L", str(library), *args], env=FACES_ONLY, catch_exceptions=False)


def people(library) -> list[dict]:
    return json.loads(run(library, "people", "--json").stdout)


@pytest.fixture(scope="module")
def face_library(tmp_path_factory, embedder):
    """Three photos of the astronaut (crop, EXIF-rotated, greyscale PNG), one of another person, a cat."""
    from photolib.core.config import load_settings
    from photolib.app.library import Library

    root = tmp_path_factory.mktemp("faces")
    pictures = root / "pics"
    astronaut = stage_photos.astronaut()
    stage_photos.save(astronaut.crop((60, 0, 460, 400)), pictures / "a" / "portrait.jpg")
    stage_photos.with_orientation(astronaut, pictures / "a" / "turned.jpg", 6)
    stage_photos.save(astronaut.convert("L"), pictures / "a" / "grey.png")
    stage_photos.save(stage_photos.other_person(), pictures / "b" / "friend.jpg")
    stage_photos.save(stage_photos.sample("chelsea"), pictures / "b" / "cat.jpg")
    (root / "config.toml").write_text("[ocr]\nenabled = false\n")
    settings = load_settings(config_path=root / "config.toml", library_path=root / "library", environ={})
    library = Library(settings, embedder=embedder)
    report = library.add([pictures])
    library.close()
    return root / "library", pictures, report.as_dict()


def test_faces_are_grouped_into_people(face_library):
    library, _pictures, report = face_library
    assert report["stages"]["faces"]["faces"] == 4
    found = people(library)
    assert [(p["faces"], p["photos"], p["name"]) for p in found] == [(3, 3, None), (1, 1, None)]
    assert all(p["sample_photo"] for p in found)


def test_naming_listing_and_showing_a_person(face_library):
    library, pictures, _report = face_library
    astronaut = people(library)[0]
    assert run(library, "people", "name", str(astronaut["id"]), "Eileen").exit_code == 0
    listed = json.loads(run(library, "list", "--person", "eileen", "--json").stdout)
    assert sorted(p["path"] for p in listed) == sorted(
        str(pictures / "a" / name) for name in ("portrait.jpg", "turned.jpg", "grey.png"))
    shown = json.loads(run(library, "people", "show", "Eileen", "--json").stdout)
    assert shown["faces"] == 3 and len(shown["photo_list"]) == 3
    photo = json.loads(run(library, "show", str(listed[0]["id"]), "--json").stdout)
    assert [face["person"] for face in photo["faces"]] == ["Eileen"]
    assert "Eileen" in run(library, "show", str(listed[0]["id"])).stdout
    hits = json.loads(run(library, "search", "portrait", "--person", "Eileen", "--json").stdout)
    assert hits and {h["path"] for h in hits} <= {p["path"] for p in listed}
    assert "Eileen" in run(library, "people").stdout


def test_people_html_has_a_section_of_photos_per_person(face_library, tmp_path):
    library, pictures, _report = face_library
    found = people(library)
    page = tmp_path / "people.html"
    result = run(library, "people", "--html", str(page))
    assert result.exit_code == 0 and "Wrote 4 photo(s)" in " ".join(result.output.split())
    document = page.read_text()
    assert "2 people" in document
    for person in found:
        assert f"{person['faces']} faces in {person['photos']} photos" in document
    for name in ("portrait.jpg", "turned.jpg", "grey.png", "friend.jpg"):
        assert name in document
    assert "cat.jpg" not in document and document.count("data:image/jpeg;base64,") == 4
    one = tmp_path / "one.html"
    assert run(library, "people", "show", str(found[0]["id"]), "--html", str(one)).exit_code == 0
    assert one.read_text().count("data:image/jpeg;base64,") == 3
    assert run(library, "people", "--open").exit_code == 2  # --open needs --html


def test_unknown_person_is_one_line(face_library):
    library, _pictures, _report = face_library
    result = CliRunner().invoke(app, ["-L", str(library), "list", "--person", "Nobody"], env=FACES_ONLY)
    assert result.exit_code == 2
    assert "no person 'Nobody'" in result.output and "Traceback" not in result.output


def test_a_named_person_survives_new_photos_and_regrouping(tmp_path, make_library):
    """Adding photos later neither renames nor splits a named person; regrouping keeps their faces."""
    pictures = tmp_path / "pics"
    astronaut = stage_photos.astronaut()
    stage_photos.save(astronaut, pictures / "first" / "one.jpg")
    library = make_library(settings={"ocr_enabled": False, "faces_enabled": True})
    library.add([pictures])
    [person] = library.people()
    library.name_person(person.id, "Anna")
    stage_photos.save(astronaut.crop((100, 0, 400, 300)), pictures / "later" / "two.jpg")
    stage_photos.save(astronaut.resize((300, 300)).convert("L"), pictures / "later" / "three.png")
    stage_photos.save(stage_photos.other_person(), pictures / "later" / "friend.jpg")
    library.add([pictures])
    anna = library.face_store.person("Anna")
    assert (anna.id, anna.faces, anna.photos) == (person.id, 3, 3)
    assert len(library.people()) == 2
    regrouped = library.recluster_people(threshold=0.3)
    assert library.face_store.person("Anna").faces == 3
    assert [p.name for p in regrouped].count("Anna") == 1


def test_merge_and_forget(tmp_path, make_library):
    pictures = tmp_path / "pics"
    stage_photos.save(stage_photos.astronaut(), pictures / "one.jpg")
    stage_photos.save(stage_photos.other_person(), pictures / "two.jpg")
    library = make_library(settings={"ocr_enabled": False, "faces_enabled": True})
    library.add([pictures])
    first, second = library.people()
    library.name_person(second.id, "Bob")
    merged = library.merge_people(first.id, "Bob")
    assert (merged.id, merged.name, merged.faces, merged.photos) == (first.id, "Bob", 2, 2)
    assert [p.id for p in library.people()] == [first.id]
    result = library.forget_person("Bob")
    assert result["faces_dropped"] == 2
    assert library.people() == []
    assert library.list_photos(person=None) and library.catalog.db.execute("SELECT count(*) FROM faces").fetchone()[0] == 0
    report = library.add([pictures])
    assert report.stage("faces").done == 0  # forgotten faces are not found again: their photos were scanned
