"""Reading photos safely, and what the offline vision provider says about them."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from photolib.core.errors import UnreadablePhotoError
from photolib.media.geocode import place_name
from photolib.media.read import encode_for_upload, file_hash, read_photo
from photolib.core.records import PhotoForVision
from photolib.core.protocols import ProviderSettings
from photolib.providers.local import LocalVision, name_words
from tests.support.photos import EXIF_IFD, GPS_IFD, make_photo


def test_exif_round_trip(tmp_path):
    photo = make_photo(tmp_path / "a.jpg", size=(800, 600), taken_at=datetime(2021, 6, 5, 7, 45),
                       make="NIKON CORPORATION", model="NIKON Z 6", lens="NIKKOR Z 24-70mm f/4 S",
                       gps=(-22.9519, -43.2105), orientation=6)
    meta = read_photo(photo)
    assert (meta.width, meta.height, meta.oriented_width, meta.oriented_height) == (800, 600, 600, 800)
    assert meta.taken_at == datetime(2021, 6, 5, 7, 45) and meta.orientation == 6
    assert meta.camera == "NIKON Z 6" and meta.lens == "NIKKOR Z 24-70mm f/4 S"
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
    assert words == ["rome", "food", "tour"]  # the folder given to `add` holds the trips, it names none


@pytest.mark.parametrize("path, expected", [
    ("Pics/2023 Lisbon beach holiday/IMG_1234-edited.jpg", ["lisbon", "beach", "holiday"]),
    ("Pics/Family/Emma birthday party/IMG_20240303_1500 copy.jpg", ["family", "emma", "birthday", "party"]),
    ("Pics/Trips/Holiday/IMG_0001.jpg", ["trips", "holiday"]),
    ("Pics/DCIM/Camera/PXL_20230101_123456.jpg", []),
    ("Pics/Camera Roll/IMG_1001.jpg", []),
    ("Pics/WhatsApp/Media/WhatsApp Images/IMG-20230101-WA0001.jpg", []),
    ("Pics/Downloads/WhatsApp Image 2023-05-01 at 12.00.01.jpeg", []),
    ("Pics/Screenshots/Screenshot_20230101-101010.png", []),
    ("Pics/Untitled/untitled-1_thumbnail.tif", []),
    ("Pics/Fuji/DSCF1234.RAF.jpg", ["fuji"]),
    ("Pics/Formats/a_tiff_x.tiff", ["formats"]),
    ("Pics/Formats/a_webp_x.webp", ["formats"]),
])
def test_name_words_keep_meaning_and_drop_containers_apps_edits_and_extensions(path, expected):
    assert name_words(Path("/home/me") / path, Path("/home/me/Pics")) == expected


def test_the_added_folder_names_only_the_photos_directly_in_it():
    assert name_words(Path("/x/Lisbon beach holiday/IMG_1.jpg"), Path("/x/Lisbon beach holiday")) == [
        "lisbon", "beach", "holiday"]
    assert name_words(Path("/x/Downloads/IMG_1.jpg"), Path("/x/Downloads")) == []


def test_caption_does_not_start_with_the_imported_folder(tmp_path):
    root = tmp_path / "Pics"
    photo = make_photo(root / "Chamonix hiking" / "photo_000.jpg", taken_at=datetime(2021, 8, 3, 7, 0))
    assert describe(photo, root).caption.startswith("Chamonix hiking")


@pytest.mark.parametrize("make, model, camera", [
    ("Apple", "iPhone 13", "Apple iPhone 13"),
    ("Canon", "Canon EOS R6", "Canon EOS R6"),
    ("NIKON CORPORATION", "NIKON Z 6", "NIKON Z 6"),
    ("OLYMPUS IMAGING CORP.", "E-M5", "OLYMPUS E-M5"),
])
def test_camera_is_named_once_without_a_wrong_article(tmp_path, make, model, camera):
    photo = make_photo(tmp_path / "x" / "a.jpg", make=make, model=model)
    result = describe(photo, tmp_path / "x")
    assert f"Camera: {camera}." in result.description and camera.lower() in result.tags
    assert result.description.count(camera.split()[0]) == 1 and " a Apple" not in result.description


def test_imagine_prompt_is_name_free(tmp_path):
    photo = make_photo(tmp_path / "Emma birthday" / "a.jpg", taken_at=datetime(2024, 3, 3, 15, 0))
    vision = LocalVision(ProviderSettings(provider="local"))
    prompt = vision.imagine_prompt(PhotoForVision(photo, read_photo(photo), "Paris, France", tmp_path))
    assert "emma" not in prompt.lower() and "paris" not in prompt.lower() and "photograph" in prompt


@pytest.mark.parametrize("lat, lon, city, country", [
    (48.8584, 2.2945, "Paris", "France"),  # the Eiffel Tower, not a suburb or a district
    (38.7223, -9.1393, "Lisbon", "Portugal"),
    (35.6762, 139.6503, "Tokyo", "Japan"),
    (45.9237, 6.8694, "Chamonix-Mont-Blanc", "France"),  # a small town keeps its own name
    (48.8049, 2.1204, "Versailles", "France"),
])
def test_place_is_the_sizable_town_nearby(lat, lon, city, country):
    place = place_name(lat, lon)
    assert place.split(", ")[0] == city and place.endswith(country)


@pytest.mark.parametrize("lat, lon", [(30.0, -40.0), (85.0, 0.0), (-60.0, -120.0)])
def test_no_place_far_from_land(lat, lon):
    assert place_name(lat, lon) is None


def test_place_names_come_back_the_same_from_the_cache_and_despite_a_damaged_one(tmp_path, monkeypatch):
    """The parsed GeoNames data is cached (a new process reads it back instead of parsing ~3 s of JSON);
    a damaged cache file is rebuilt, never trusted."""
    from photolib.media import geocode

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(geocode, "_places", {})
    cache = geocode._cache_file(geocode._source_folder())
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"PK\x03\x04 not a numpy archive")
    geocode._lookup.cache_clear()
    assert place_name(48.8584, 2.2945).startswith("Paris")  # parsed, and the bad cache replaced
    assert geocode._read_cache(cache) is not None

    monkeypatch.setattr(geocode, "_places", {})
    geocode._lookup.cache_clear()
    assert place_name(48.8584, 2.2945).startswith("Paris") and place_name(38.7223, -9.1393) == "Lisbon, Portugal"
    geocode._lookup.cache_clear()
