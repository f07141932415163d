"""Reading photos safely, and what the offline vision provider says about them."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from photolib.errors import UnreadablePhotoError
from photolib.media import encode_for_upload, file_hash, read_photo
from photolib.models import PhotoForVision
from photolib.providers.base import ProviderSettings
from photolib.providers.local import LocalVision, name_words
from tests.photos import EXIF_IFD, GPS_IFD, make_photo


def test_exif_round_trip(tmp_path):
    photo = make_photo(tmp_path / "a.jpg", size=(800, 600), taken_at=datetime(2021, 6, 5, 7, 45),
                       make="NIKON CORPORATION", model="NIKON Z 6", lens="NIKKOR Z 24-70mm f/4 S",
                       gps=(-22.9519, -43.2105), orientation=6)
    meta = read_photo(photo)
    assert (meta.width, meta.height, meta.oriented_width, meta.oriented_height) == (800, 600, 600, 800)
    assert meta.taken_at == datetime(2021, 6, 5, 7, 45) and meta.orientation == 6
    assert meta.camera == "NIKON CORPORATION NIKON Z 6" and meta.lens == "NIKKOR Z 24-70mm f/4 S"
    assert meta.gps_lat == pytest.approx(-22.9519, abs=1e-4) and meta.gps_lon == pytest.approx(-43.2105, abs=1e-4)
    assert meta.format == "JPEG"


def test_large_jpeg_keeps_its_real_size(tmp_path):
    photo = make_photo(tmp_path / "big.jpg", size=(4000, 3000), pattern=False)
    meta = read_photo(photo)
    assert (meta.width, meta.height) == (4000, 3000)


@pytest.mark.parametrize("color, expected, grayscale", [
    ((250, 250, 250), "white", True), ((10, 10, 10), "black", True), ((40, 80, 210), "blue", False),
])
def test_colour_facts(tmp_path, color, expected, grayscale):
    meta = read_photo(make_photo(tmp_path / "c.png", color=color, pattern=False))
    assert meta.dominant_colors[0] == expected and meta.grayscale is grayscale
    assert 0.0 <= meta.brightness <= 1.0


@pytest.mark.parametrize("fmt", ["png", "webp", "tiff", "gif", "bmp"])
def test_other_formats(tmp_path, fmt):
    meta = read_photo(make_photo(tmp_path / f"x.{fmt}", size=(120, 90)))
    assert (meta.width, meta.height) == (120, 90)


def _exif_photo(tmp_path, fill) -> Path:
    image = Image.new("RGB", (64, 48), (90, 90, 200))
    exif = Image.Exif()
    fill(exif)
    path = tmp_path / "odd.jpg"
    image.save(path, exif=exif.tobytes())
    return path


@pytest.mark.parametrize("fill", [
    lambda e: e.get_ifd(EXIF_IFD).__setitem__(0x9003, "9999:99:99 99:99:99"),
    lambda e: e.get_ifd(EXIF_IFD).__setitem__(0x9003, "0000:00:00 00:00:00"),
    lambda e: e.__setitem__(0x0110, b"\x00\xff\xfe binary \x01 garbage" * 30),
    lambda e: e.get_ifd(GPS_IFD).update({1: "N", 2: (400.0, 0.0, 0.0), 3: "E", 4: (10.0, 0.0, 0.0)}),
    lambda e: e.get_ifd(GPS_IFD).update({1: "N", 2: (10.0, 0.0, 0.0)}),  # latitude without longitude
    lambda e: e.__setitem__(0x0112, 77),
])
def test_absurd_exif_never_crashes(tmp_path, fill):
    meta = read_photo(_exif_photo(tmp_path, fill))
    assert meta.width == 64
    assert meta.taken_at is None and meta.gps_lat is None and meta.orientation == 1
    assert meta.camera_model is None or (len(meta.camera_model) <= 200 and meta.camera_model.isprintable())


def test_bad_files_raise_one_line_reasons(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    good = make_photo(tmp_path / "good.jpg", size=(600, 400)).read_bytes()
    (tmp_path / "half.jpg").write_bytes(good[: len(good) // 2])
    expected = {"empty.jpg": "empty", "text.jpg": "not an image", "half.jpg": "truncated"}
    for name, fragment in expected.items():
        with pytest.raises(UnreadablePhotoError, match=fragment) as caught:
            read_photo(tmp_path / name)
        assert "\n" not in str(caught.value)


def test_bomb_limit_is_kept(tmp_path, monkeypatch):
    photo = make_photo(tmp_path / "wide.png", size=(300, 300))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 20_000)
    with pytest.raises(UnreadablePhotoError, match="decompression bomb"):
        read_photo(photo)


def test_encode_for_upload_is_small_upright_jpeg(tmp_path):
    photo = make_photo(tmp_path / "r.jpg", size=(3000, 2000), orientation=6)
    data = encode_for_upload(photo, max_side=1024)
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG" and max(image.size) <= 1024
        assert image.size[1] > image.size[0]  # rotated upright: portrait
        assert not image.getexif()


def test_file_hash_follows_content(tmp_path):
    a = make_photo(tmp_path / "a.jpg")
    b = tmp_path / "b.jpg"
    b.write_bytes(a.read_bytes())
    assert file_hash(a) == file_hash(b) and len(file_hash(a)) == 32
    make_photo(b, color=(1, 2, 3))
    assert file_hash(a) != file_hash(b)


def describe(path: Path, root: Path, place: str | None = None):
    meta = read_photo(path)
    return LocalVision(ProviderSettings(provider="local")).describe(PhotoForVision(path, meta, place, root))


def test_local_description_uses_names_place_and_season(tmp_path):
    root = tmp_path / "Pictures"
    photo = make_photo(root / "Lisbon beach trip" / "IMG_1234.jpg", taken_at=datetime(2023, 7, 14, 19, 0),
                       gps=(38.7223, -9.1393), make="Canon", model="Canon EOS R6")
    result = describe(photo, root, "Lisbon, Lisbon, Portugal")
    for tag in ("lisbon", "beach", "trip", "portugal", "summer", "july", "2023", "evening"):
        assert tag in result.tags
    assert not {"img", "1234", "pictures"} & set(result.tags)
    assert "\n" not in result.caption and "Lisbon" in result.caption
    assert "Friday" in result.description and "Canon EOS R6" in result.description


def test_southern_hemisphere_flips_seasons_and_gray_is_black_and_white(tmp_path):
    photo = make_photo(tmp_path / "x" / "DSC_0042.jpg", taken_at=datetime(2020, 7, 1, 13, 0),
                       gps=(-33.86, 151.21), color=(128, 128, 128), pattern=False)
    result = describe(photo, tmp_path / "x")
    assert "winter" in result.tags and "summer" not in result.tags
    assert "black and white" in result.tags and "afternoon" in result.tags


def test_name_words_drop_camera_noise():
    words = name_words(Path("/p/Holidays/2019_Rome-FoodTour/PXL_20190403_123456789.jpg"), Path("/p/Holidays"))
    assert words == ["holidays", "rome", "food", "tour"]


def test_imagine_prompt_is_name_free(tmp_path):
    photo = make_photo(tmp_path / "Emma birthday" / "a.jpg", taken_at=datetime(2024, 3, 3, 15, 0))
    vision = LocalVision(ProviderSettings(provider="local"))
    prompt = vision.imagine_prompt(PhotoForVision(photo, read_photo(photo), "Paris, France", tmp_path))
    assert "emma" not in prompt.lower() and "paris" not in prompt.lower() and "photograph" in prompt
