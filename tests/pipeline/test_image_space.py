"""The image space end to end: a camera roll whose names say nothing, found by what the pixels show.

The image model is the tiny ONNX model of tests/support/onnx_models.py in Immich's
layout (its image tower sends a photo's mean colour to a direction, its text
tower sends colour words to the same directions), run through the real
tokenizer, ONNX Runtime, preprocessing, stage pipeline and per-space index.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from photolib.core.config import ImageSettings
from tests.support.onnx_models import build_tiny_clip
from tests.support.photos import make_photo

ROLL = {"IMG_0001.JPG": (210, 30, 35), "IMG_0002.JPG": (35, 70, 210), "IMG_0003.JPG": (205, 35, 30),
        "IMG_0004.JPG": (40, 160, 50), "IMG_0005.JPG": (30, 75, 205), "IMG_0006.JPG": (215, 25, 40)}
RED = {"IMG_0001.JPG", "IMG_0003.JPG", "IMG_0006.JPG"}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


@pytest.fixture
def camera_roll(tmp_path):
    folder = tmp_path / "DCIM" / "100CANON"
    for name, colour in ROLL.items():
        make_photo(folder / name, color=colour, size=(320, 240))
    return tmp_path / "DCIM"


@pytest.fixture
def seeing_library(make_library, tiny_model):
    def build(**overrides):
        image = ImageSettings(model="test/tiny-clip", model_path=tiny_model)
        return make_library(settings={"image": image, **overrides.pop("settings", {})}, **overrides)
    return build


def _names(hits):
    return {hit.path.rsplit("/", 1)[-1] for hit in hits}


def test_search_finds_red_photos_by_their_pixels(seeing_library, camera_roll):
    library = seeing_library()
    report = library.add([camera_roll])
    assert [(s.name, s.done, s.failed) for s in report.stages] == [("thumbnails", 6, []), ("image", 6, [])]
    # Names and EXIF say nothing of strawberries; the pixels do (red, in the tiny model's eyes), and so
    # does the label the image model gave from the shipped vocabulary.
    seen = library.search("strawberry", space="image")
    assert seen and all("strawberry" in library.catalog.get(h.id).data["image_labels"] for h in seen)
    hits = library.search("strawberry")
    assert _names(hits[:3]) == RED
    assert all(set(h.distances) == {"description", "image"} for h in hits)
    assert all(h.distances["image"] < 0.2 and h.distance in h.distances.values() for h in hits[:3])
    assert _names(library.search("strawberry", space="image")) == RED
    assert _names(library.search("blue", space="image")) == {"IMG_0002.JPG", "IMG_0005.JPG"}
    assert library.index_of("image").count == 6 and library.index().count == 6


def test_a_second_add_embeds_nothing_and_a_new_photo_only_itself(seeing_library, camera_roll):
    seeing_library().add([camera_roll])
    again = seeing_library()
    assert [(s.done, s.failed) for s in again.add([camera_roll]).stages] == [(0, []), (0, [])]
    make_photo(camera_roll / "100CANON" / "IMG_0007.JPG", color=(200, 30, 30), size=(320, 240))
    report = again.add([camera_roll])
    assert report.new == 1 and [s.done for s in report.stages] == [1, 1]
    assert "IMG_0007.JPG" in _names(again.search("strawberry", space="image"))


def test_the_label_vocabulary_is_embedded_once_per_machine(seeing_library, camera_roll, tmp_path):
    """The first library embeds the shipped vocabulary into the user's cache, keyed by the model; a second
    library with the same model labels its photos without embedding a single prompt."""
    from photolib.models.labels import labels_cache_dir

    first = seeing_library()
    first.add([camera_roll])
    assert len(list(labels_cache_dir().glob("labels-test_tiny-clip*.npy"))) == 1
    assert not list(first.root.rglob("labels-*.npy"))
    second = seeing_library(path=tmp_path / "second")
    embedder, prompts = second.image_embedder, []
    real = embedder.embed_texts
    embedder.embed_texts = lambda texts: prompts.extend(texts) or real(texts)
    assert [(s.name, s.done) for s in second.add([camera_roll]).stages] == [("thumbnails", 6), ("image", 6)]
    assert prompts == []
    labelled = [second.catalog.get(hit.id).data["image_labels"] for hit in second.search("strawberry", space="image")]
    assert labelled and all("strawberry" in labels for labels in labelled)


def test_similar_uses_the_pixels_and_accepts_a_file_outside_the_library(seeing_library, camera_roll, tmp_path):
    library = seeing_library()
    library.add([camera_roll])
    red = library.resolve(str(camera_roll / "100CANON" / "IMG_0001.JPG"))
    assert _names(library.similar(str(red.id))) == RED - {"IMG_0001.JPG"}
    outside = make_photo(tmp_path / "elsewhere" / "x.jpg", color=(40, 70, 200), size=(200, 150))
    before = library.catalog.status_counts()
    assert _names(library.similar(str(outside))) == {"IMG_0002.JPG", "IMG_0005.JPG"}
    assert library.catalog.status_counts() == before and library.catalog.get_by_path(str(outside)) is None


def test_without_an_image_model_everything_works_as_before(make_library, camera_roll):
    library = make_library()
    report = library.add([camera_roll])
    assert report.stage("image") is None and library.image_embedder is None
    hits = library.search("red")
    assert hits and all(hit.distances is None and hit.fusion is None for hit in hits)  # nothing fused
    with pytest.raises(Exception, match="photolib models"):
        library.search("red", space="image")
    assert [row["stage"] for row in library.stats()["stages"]] == ["read", "describe", "embed", "thumbnails"]


def test_cli_search_json_stats_and_reindex_per_space(seeing_library, camera_roll, library_path, tiny_model,
                                                    tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'[image]\nmodel = "test/tiny-clip"\nmodel_path = "{tiny_model}"\n', encoding="utf-8")
    runner = CliRunner()

    def run(*args):
        result = runner.invoke(app, ["--config", str(config), "-L", str(library_path), *args])
        assert result.exit_code == 0, result.output
        return result

    run("add", str(camera_roll))
    hits = json.loads(run("search", "strawberry", "--space", "image", "--json").stdout)
    assert {hit["path"].rsplit("/", 1)[-1] for hit in hits} == RED and len(hits) == 3
    assert {"distance", "distances", "fusion"} <= set(hits[0])
    fusion = [hit["fusion"] for hit in hits]
    assert fusion == sorted(fusion, reverse=True) and fusion[-1] > 0
    stats = json.loads(run("stats", "--json").stdout)
    image = [row for row in stats["stages"] if row["stage"] == "image"][0]
    assert (image["done"], image["pending"], image["failed"]) == (6, 0, 0)
    assert stats["spaces"]["image"]["index_vectors"] == 6 and not stats["problems"]
    rebuilt = json.loads(run("reindex", "--space", "image", "--json").stdout)
    assert list(rebuilt["spaces"]) == ["image"] and rebuilt["spaces"]["image"]["vectors"] == 6
    assert (library_path / "index" / "image" / "stamp.json").is_file()
    bad = runner.invoke(app, ["--config", str(config), "-L", str(library_path), "search", "red", "--space", "pixels"])
    assert bad.exit_code == 2 and "not a vector space" in bad.output


def test_labels_become_tags_and_caption_words_and_stay_through_a_new_description(seeing_library, tmp_path,
                                                                                   monkeypatch):
    """The tiny model's vocabulary: colour words. A label is a tag marked as the image model's, the first
    word of the local caption, found by exact-word search, and kept when the photo is described again."""
    from photolib.models import labels

    vocabulary = labels.parse_vocabulary("@template a photo of {}.\nred\nblue\ngreen\nyellow\n")
    monkeypatch.setattr(labels, "default_vocabulary", lambda: vocabulary)
    folder = tmp_path / "DCIM"
    make_photo(folder / "IMG_0001.JPG", color=(210, 30, 35), size=(320, 240), pattern=False)
    make_photo(folder / "IMG_0002.JPG", color=(128, 128, 128), size=(320, 240), pattern=False)
    library = seeing_library()
    library.add([folder])
    red, grey = library.resolve(str(folder / "IMG_0001.JPG")), library.resolve(str(folder / "IMG_0002.JPG"))
    shown = library.show(red.id)
    assert shown["image_labels"] == ["red"] and shown["tags"][0] == "red"
    assert shown["caption"].startswith("Red. ")
    assert shown["stages"]["image"]["status"] == "done"
    assert library.show(grey.id)["image_labels"] == []  # a photo of nothing in particular gets no label
    assert [h.id for h in library.search("red", space="description")][:1] == [red.id]
    stored = library.catalog.embedding_states([red.id], library.embedder.model_name)[red.id][0]
    from photolib.pipeline.importer import text_hash
    from photolib.core.records import Description

    labelled = library.catalog.get(red.id)
    assert stored == text_hash(Description(labelled.tags, labelled.data["caption"],
                                           labelled.data["description"]).embedding_text())
    library.catalog.mark_pending([red.id])  # described again (as after a move with the local vision)
    library.add([folder])
    again = library.show(red.id)
    assert again["tags"].count("red") == 1 and again["caption"].startswith("Red. ") and "Red. Red." not in again["caption"]


def test_albums_use_the_pixels_and_keep_every_photo_once(seeing_library, tmp_path):
    """Two trips whose folders and dates say nothing apart; the pixels split them, the same way every time."""
    from datetime import datetime, timedelta

    roll = tmp_path / "DCIM"
    for number in range(8):
        make_photo(roll / "100A" / f"IMG_{number:04d}.JPG", color=[(210, 30, 35), (35, 70, 210)][number % 2],
                   taken_at=datetime(2021, 5, 1, 10, 0) + timedelta(minutes=number), size=(320, 240),
                   make="Canon", model="Canon EOS R6")
    library = seeing_library()
    library.add([roll])
    first = library.albums(threshold=1.5, min_size=2, seed=None)
    second = library.albums(threshold=1.5, min_size=2, seed=None)
    assert [a.photo_ids for a in first.albums] == [a.photo_ids for a in second.albums]
    placed = [pid for album in first.albums for pid in album.photo_ids] + first.singletons
    assert sorted(placed) == sorted(library.catalog.embedded_ids())
    colours = {pid: library.show(pid)["image_labels"] for pid in placed}
    for album in first.albums:
        assert len({tuple(colours[pid]) for pid in album.photo_ids}) == 1  # never red and blue together


def test_backup_and_restore_carry_every_space(seeing_library, camera_roll, tmp_path):
    library = seeing_library()
    library.add([camera_roll])
    library.backup(tmp_path / "snapshot")
    assert (tmp_path / "snapshot" / "index" / "image" / "stamp.json").is_file()
    restored = seeing_library(path=tmp_path / "restored")
    restored.restore(tmp_path / "snapshot")
    assert _names(restored.search("strawberry", space="image")) == RED
    assert not any("rebuilt" in message for message in restored.messages)
    assert [row["pending"] for row in restored.stats()["stages"] if row["stage"] == "image"] == [0]


def test_an_image_the_model_fails_on_fails_alone(seeing_library, camera_roll):
    """One photo the model cannot take is recorded as failed with the reason; its batch-mates are embedded."""
    library = seeing_library(settings={"batch_size": 3, "workers": 1})  # one worker: a thread of this process
    embedder = library.image_embedder
    real = embedder.embed_images

    def picky(images):
        if any(image.width < image.height for image in images):  # the one portrait photo, at any decoded size
            raise RuntimeError("ONNXRuntimeError: bad input")
        return real(images)

    embedder.embed_images = picky
    make_photo(camera_roll / "100CANON" / "IMG_0009.JPG", color=(210, 30, 35), size=(240, 320))
    report = library.add([camera_roll])
    image = report.stage("image")
    assert image.done == 6 and [path.rsplit("/", 1)[-1] for path, _ in image.failed] == ["IMG_0009.JPG"]
    assert "bad input" in image.failed[0][1]
    assert [row["failed"] for row in library.stats()["stages"] if row["stage"] == "image"] == [1]


def test_duplicates_similar_groups_photos_whose_pixels_look_alike(seeing_library, camera_roll):
    """`duplicates --similar` by image vectors: the red photos are one group, the blue ones another."""
    library = seeing_library()
    library.add([camera_roll])
    groups = library.duplicates(similar=True, similar_distance=0.05)
    found = sorted((str(g.kind), sorted(p.path.rsplit("/", 1)[-1] for p in g.photos)) for g in groups)
    assert found == [("similar", ["IMG_0001.JPG", "IMG_0003.JPG", "IMG_0006.JPG"]),
                     ("similar", ["IMG_0002.JPG", "IMG_0005.JPG"])]


def test_another_model_folder_embeds_the_image_space_again(seeing_library, camera_roll, tmp_path):
    """[image] model_path names a folder: its identity is the name plus a fingerprint of its files, so
    pointing the same name at another model makes the image stage embed every photo again instead of
    mixing two models' vectors (a copy of the same files changes nothing)."""
    import shutil

    from photolib.core.config import ImageSettings

    library = seeing_library()
    library.add([camera_roll])
    first = library.catalog.embedding_models("image")
    assert len(first) == 1 and first[0][0].startswith("test/tiny-clip@")
    copy = shutil.copytree(library.image_embedder.folder, tmp_path / "copy")
    same = seeing_library(settings={"image": ImageSettings(model="test/tiny-clip", model_path=copy)})
    assert same.image_embedder.model_name == first[0][0]
    assert [s.done for s in same.enrich() if s.name == "image"] == [0]
    other = build_tiny_clip(tmp_path / "other", multilingual=True)
    moved = seeing_library(settings={"image": ImageSettings(model="test/tiny-clip", model_path=other)})
    assert moved.image_embedder.model_name != first[0][0]
    assert [s.done for s in moved.enrich() if s.name == "image"] == [6]
    assert [m[0] for m in moved.catalog.embedding_models("image")] == [moved.image_embedder.model_name]
    assert _names(moved.search("strawberry", space="image")) == RED


def test_a_library_keeps_its_image_model_and_stats_names_the_better_one(make_library, camera_roll, tmp_path,
                                                                        monkeypatch):
    """The default image model is ViT-B-32__laion2b-s34b-b79k now; a library embedded with the earlier
    default keeps it (no silent re-embedding) until [image] model says otherwise, and `stats` says why
    the other one is better."""
    from photolib.core.config import ImageSettings

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    for name in ("ViT-B-32__openai", "ViT-B-32__laion2b-s34b-b79k"):
        repo = tmp_path / "hub" / f"models--immich-app--{name}"
        build_tiny_clip(repo / "snapshots" / "0123abcd")
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text("0123abcd")
    old = make_library(settings={"image": ImageSettings(model="ViT-B-32__openai")})
    old.add([camera_roll])
    assert [m[0] for m in old.catalog.embedding_models("image")] == ["immich-app/ViT-B-32__openai"]
    reopened = make_library()  # the default configuration
    assert reopened.image_embedder.model_name == "immich-app/ViT-B-32__openai"
    make_photo(camera_roll / "100CANON" / "IMG_0007.JPG", color=(200, 30, 30), size=(320, 240))
    report = reopened.add([camera_roll])
    assert report.new == 1 and report.stage("image").done == 1  # the new photo only
    advice = reopened.stats()["advice"]
    assert len(advice) == 1 and "ViT-B-32__laion2b-s34b-b79k" in advice[0] and "68.78" in advice[0]
    switched = make_library(settings={"image": ImageSettings(model="ViT-B-32__laion2b-s34b-b79k", model_set=True)})
    assert switched.image_embedder.model_name == "immich-app/ViT-B-32__laion2b-s34b-b79k"
    assert [s.done for s in switched.enrich() if s.name == "image"] == [7] and not switched.stats()["advice"]
