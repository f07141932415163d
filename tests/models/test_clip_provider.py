"""The local image–text provider, through the real tokenizer, ONNX Runtime and preprocessing.

Models are the tiny ones of tests/support/onnx_models.py, written in exactly the
immich-app folder layout: the image tower sends a photo's mean colour to a
direction, the text tower sends colour words to the same directions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from photolib.core.config import load_settings
from photolib.core.errors import ConfigError
from photolib.core.protocols import ImageEmbedder
from photolib.models.clip import ClipEmbedder, Preprocessor, make_image_embedder
from tests.support.onnx_models import COLOURS, GREY, build_tiny_clip, direction, solid_photo


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


def _settings(tmp_path, **image):
    lines = ["[image]"] + [f"{key} = {value!r}" if not isinstance(value, bool) else f"{key} = {str(value).lower()}"
                           for key, value in image.items()]
    config = tmp_path / "config.toml"
    config.write_text("\n".join(lines).replace("'", '"') + "\n", encoding="utf-8")
    return load_settings(config_path=config, library_path=tmp_path / "library")


def test_red_photo_and_the_word_red_meet_in_one_space(tmp_path, tiny_folder):
    embedder = make_image_embedder(_settings(tmp_path, model="test/tiny-clip", model_path=str(tiny_folder)))
    assert isinstance(embedder, ImageEmbedder)
    name, _, fingerprint = embedder.model_name.partition("@")
    assert (name, len(fingerprint), embedder.dimension, embedder.family) == ("test/tiny-clip", 12, 8, "clip")
    photos = embedder.embed_images([solid_photo(rgb, size) for rgb, size in
                                    zip(COLOURS.values(), [(64, 48), (48, 64), (100, 100), (31, 200), (300, 40), (33, 33)])])
    words = embedder.embed_texts(list(COLOURS))
    assert photos.dtype == np.float32 and photos.shape == (6, 8)
    assert np.allclose(np.linalg.norm(photos, axis=1), 1.0, atol=1e-5)
    similarity = photos @ words.T
    assert list(similarity.argmax(axis=1)) == list(range(len(COLOURS)))  # each photo's best word is its colour
    assert similarity.diagonal().min() > 0.99
    assert embedder.embed_texts(["A photo of a   STRAWBERRY."]) @ photos[0] > 0.99  # lower-cased, whitespace collapsed


def test_a_grey_photo_is_near_no_colour(tmp_path, tiny_folder):
    embedder = ClipEmbedder(tiny_folder, "test/tiny-clip")
    grey = embedder.embed_images([solid_photo(GREY)])[0]
    assert np.allclose(grey, direction("nothing"), atol=1e-3)
    assert (embedder.embed_texts(list(COLOURS)) @ grey).max() < 0.01


def test_multilingual_model_takes_input_ids_and_attention_mask(tmp_path):
    folder = build_tiny_clip(tmp_path / "m-clip", multilingual=True)
    embedder = ClipEmbedder(folder, "test/m-clip")
    red, blue = embedder.embed_images([solid_photo(COLOURS["red"]), solid_photo(COLOURS["blue"])])
    rot, bleu, mixed = embedder.embed_texts(["rot", "ciel bleu", "rouge und blau"])
    assert rot @ red > 0.99 and bleu @ blue > 0.99
    assert mixed @ red == pytest.approx(math.sqrt(0.5), abs=1e-3)  # mean pooling over the mask, not the padding


def test_dynamic_batch_and_int64_text_give_the_same_vectors(tmp_path, tiny_folder):
    fixed = ClipEmbedder(tiny_folder, "a")
    dynamic = ClipEmbedder(build_tiny_clip(tmp_path / "dynamic", batch=None, text_dtype="int64"), "b")
    photos = [solid_photo(rgb) for rgb in COLOURS.values()] * 3  # more than one batch of 8
    assert np.allclose(fixed.embed_images(photos), dynamic.embed_images(photos), atol=1e-6)
    assert np.allclose(fixed.embed_texts(["green", "snow"]), dynamic.embed_texts(["green", "snow"]), atol=1e-6)
    assert fixed.embed_images([]).shape == (0, 8) and fixed.embed_texts([]).shape == (0, 8)


def test_siglip_config_sets_the_family_and_canonicalizes_text(tmp_path):
    embedder = ClipEmbedder(build_tiny_clip(tmp_path / "sig", siglip=True), "test/ViT-tiny-SigLIP")
    assert embedder.family == "siglip"
    assert embedder._clean("  A Photo, of RED!  ") == "a photo of red"


def test_any_image_mode_is_converted_to_rgb(tiny_folder):
    embedder = ClipEmbedder(tiny_folder, "t")
    rgba = Image.new("RGBA", (40, 40), (*COLOURS["yellow"], 255))
    palette = solid_photo(COLOURS["blue"]).convert("P")
    vectors = embedder.embed_images([rgba, palette, Image.new("L", (40, 40), 250)])
    assert list(vectors.argmax(axis=1)) == [3, 2, 4]  # yellow, blue, white


# -- settings -----------------------------------------------------------------

def test_no_model_installed_means_no_image_embedder_and_no_download(tmp_path):
    assert make_image_embedder(_settings(tmp_path)) is None
    assert make_image_embedder(_settings(tmp_path, enabled=False, model_path=str(tmp_path))) is None


def test_model_path_missing_files_is_a_config_error_naming_them(tmp_path):
    (tmp_path / "half" / "visual").mkdir(parents=True)
    with pytest.raises(ConfigError, match=r"model_path.*lacks .*textual/model.onnx"):
        make_image_embedder(_settings(tmp_path, model_path=str(tmp_path / "half")))


def test_a_model_path_is_known_by_its_files_not_its_name(tmp_path, tiny_folder):
    """Another folder under the same name is another model (its vectors are made again); a copy of the
    same files elsewhere is the same model (a library moved to another machine keeps its vectors)."""
    import shutil

    first = make_image_embedder(_settings(tmp_path, model="test/tiny-clip", model_path=str(tiny_folder)))
    copy = shutil.copytree(tiny_folder, tmp_path / "copied")
    other = build_tiny_clip(tmp_path / "other", multilingual=True)
    assert make_image_embedder(_settings(tmp_path, model="test/tiny-clip", model_path=str(copy))).model_name \
        == first.model_name
    assert make_image_embedder(_settings(tmp_path, model="test/tiny-clip", model_path=str(other))).model_name \
        != first.model_name


def _pulled(tmp_path, name):
    repo = tmp_path / "hub" / f"models--immich-app--{name}"
    build_tiny_clip(repo / "snapshots" / "0123abcd")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123abcd")
    return repo / "snapshots" / "0123abcd"


def test_a_pulled_model_is_found_in_the_hugging_face_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    folder = _pulled(tmp_path, "ViT-B-32__laion2b-s34b-b79k")
    embedder = make_image_embedder(_settings(tmp_path))
    assert embedder is not None and embedder.model_name == "immich-app/ViT-B-32__laion2b-s34b-b79k"  # the default
    assert embedder.folder == folder


def test_a_library_keeps_the_model_its_vectors_were_made_with(tmp_path, monkeypatch):
    """The default moved to laion2b; a library whose image space holds ViT-B-32__openai vectors keeps that
    model until [image] model names another (the library applies `model_in_use`): no silent re-embedding."""
    from photolib.models.registry import model_in_use

    stored = "immich-app/ViT-B-32__openai"
    assert model_in_use(_settings(tmp_path).image, stored) == "ViT-B-32__openai"
    assert model_in_use(_settings(tmp_path).image, None) == "ViT-B-32__laion2b-s34b-b79k"
    assert model_in_use(_settings(tmp_path, model="ViT-B-32__laion2b-s34b-b79k").image, stored) \
        == "ViT-B-32__laion2b-s34b-b79k"  # named in the config: switch
    assert model_in_use(_settings(tmp_path).image, "test/tiny@0123abcd4567") == "ViT-B-32__laion2b-s34b-b79k"
    monkeypatch.setenv("PHOTOLIB_IMAGE_MODEL", "ViT-B-32__laion2b-s34b-b79k")
    assert model_in_use(_settings(tmp_path).image, stored) == "ViT-B-32__laion2b-s34b-b79k"


def test_image_section_is_validated_like_the_others(tmp_path, monkeypatch):
    (tmp_path / "bad.toml").write_text('[image]\nenabled = "yes"\n')
    with pytest.raises(ConfigError, match=r"\[image\] enabled .* must be true or false"):
        load_settings(config_path=tmp_path / "bad.toml")
    (tmp_path / "typo.toml").write_text('[image]\nmodle = "x"\n')
    with pytest.raises(ConfigError, match="unknown key 'modle' in \\[image\\]"):
        load_settings(config_path=tmp_path / "typo.toml")
    monkeypatch.setenv("PHOTOLIB_IMAGE_ENABLED", "off")
    monkeypatch.setenv("PHOTOLIB_IMAGE_MODEL", "ViT-B-16-SigLIP2__webli")
    settings = load_settings(library_path=tmp_path)
    assert (settings.image.enabled, settings.image.model, settings.image.model_path) == (False, "ViT-B-16-SigLIP2__webli", None)


# -- cold text tower --------------------------------------------------------------

def test_a_repeated_query_never_loads_the_text_tower(tmp_path, tiny_folder):
    first = ClipEmbedder(tiny_folder, "test/tiny-clip", cache_dir=tmp_path / "cache")
    vector = first.embed_texts(["blue"])
    assert "textual_load" in first.timings
    second = ClipEmbedder(tiny_folder, "test/tiny-clip", cache_dir=tmp_path / "cache")  # a new `photolib search`
    assert np.array_equal(second.embed_texts(["blue"]), vector)
    assert "textual_load" not in second.timings
    other_model = ClipEmbedder(tiny_folder, "test/other", cache_dir=tmp_path / "cache")
    other_model.embed_texts(["blue"])
    assert "textual_load" in other_model.timings  # the cache is keyed by model


def test_text_tower_reloads_from_an_optimized_copy(tmp_path, tiny_folder):
    first = ClipEmbedder(tiny_folder, "m", cache_dir=tmp_path / "cache")
    expected = first.embed_texts(["yellow"])
    copies = list((tmp_path / "cache" / "optimized").glob("textual-model.onnx-*/model.onnx"))
    assert len(copies) == 1 and copies[0].with_name("model.onnx.data").is_file()  # weights outside: memory-mapped
    second = ClipEmbedder(tiny_folder, "m", cache_dir=tmp_path / "cache2")
    second._cache_dir = tmp_path / "cache"  # same optimized copy, fresh query cache
    assert np.allclose(second.embed_texts(["yellow"]), expected)
    copies[0].write_bytes(b"damaged")
    third = ClipEmbedder(tiny_folder, "m", cache_dir=tmp_path / "cache3")
    third._cache_dir = tmp_path / "cache"
    assert np.allclose(third.embed_texts(["yellow"]), expected)  # a damaged copy is dropped, not fatal
    fourth = ClipEmbedder(tiny_folder, "m", cache_dir=tmp_path / "cache4")
    fourth._cache_dir = tmp_path / "cache"
    assert np.allclose(fourth.embed_texts(["yellow"]), expected) and copies[0].read_bytes() != b"damaged"  # remade


# -- preprocessing against an independent numpy reference -------------------------

def _filter(name):
    if name == "bicubic":
        def cubic(x, a=-0.5):
            x = abs(x)
            if x < 1:
                return ((a + 2) * x - (a + 3)) * x * x + 1
            if x < 2:
                return (((x - 5) * x + 8) * x - 4) * a
            return 0.0
        return cubic, 2.0
    if name == "bilinear":
        return (lambda x: max(0.0, 1.0 - abs(x))), 1.0
    raise ValueError(name)


def _resample_axis(array, out_size, name, axis):
    """Antialiased separable resampling along one axis (the textbook convolution Pillow also uses)."""
    kernel, support = _filter(name)
    in_size = array.shape[axis]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support *= filterscale
    matrix = np.zeros((out_size, in_size))
    for out in range(out_size):
        center = (out + 0.5) * scale
        low = max(int(center - support + 0.5), 0)
        high = min(int(center + support + 0.5), in_size)
        weights = np.array([kernel((x - center + 0.5) / filterscale) for x in range(low, high)])
        matrix[out, low:high] = weights / weights.sum()
    return np.moveaxis(np.tensordot(matrix, np.moveaxis(array, axis, 0), axes=1), 0, axis)


def _reference(image, size, interpolation, resize_mode, mean, std):
    pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    height, width = pixels.shape[:2]
    if resize_mode == "squash":
        new_w = new_h = size
    elif width < height:
        new_w, new_h = size, int(height / width * size)
    else:
        new_w, new_h = int(width / height * size), size
    pixels = _resample_axis(_resample_axis(pixels, new_w, interpolation, 1), new_h, interpolation, 0)
    top, left = int(new_h / 2 - size / 2), int(new_w / 2 - size / 2)
    pixels = np.clip(pixels[top:top + size, left:left + size], 0, 255) / 255.0
    return ((pixels - np.array(mean)) / np.array(std)).transpose(2, 0, 1)


@pytest.mark.parametrize("shape, interpolation, resize_mode", [
    ((97, 61), "bicubic", "shortest"),   # portrait, odd sizes: crop offsets matter
    ((120, 77), "bicubic", "shortest"),  # landscape
    ((50, 90), "bilinear", "squash"),
    ((20, 16), "bicubic", "shortest"),   # smaller than the model input: upscaled
])
def test_preprocessing_matches_an_independent_numpy_reference(shape, interpolation, resize_mode):
    rng = np.random.default_rng(7)
    smooth = rng.integers(0, 256, size=(shape[1] // 4 + 2, shape[0] // 4 + 2, 3)).astype(np.uint8)
    image = Image.fromarray(smooth).resize(shape, Image.Resampling.BILINEAR)  # textured, not pure noise
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    cfg = {"size": [32, 32], "interpolation": interpolation, "resize_mode": resize_mode, "mean": mean, "std": std}
    ours = Preprocessor(cfg)(image)
    expected = _reference(image, 32, interpolation, resize_mode, mean, std)
    assert ours.shape == expected.shape == (3, 32, 32) and ours.dtype == np.float32
    # Pillow rounds to 8 bits between its two passes: allow 2 grey levels.
    assert np.abs(ours - expected).max() <= 2.0 / 255 / min(std) + 1e-6
    assert np.abs(ours - expected).mean() < 0.5 / 255 / min(std)
