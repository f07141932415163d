"""What the user sees of RAW, 16-bit and other odd files: thumbnails, terminal previews, the
pixels OCR and faces get. Each is compared with a reference conversion computed here (the RAW's
embedded preview turned upright; 16-bit values scaled by 1/257)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from photolib.media import read as media

from photolib.render import terminal
from photolib.render.html import image_data_url
from tests.support.format_files import make_dng, two_colour


def _difference(image: Image.Image, reference: Image.Image) -> float:
    """Mean absolute difference per channel after bringing the reference to the image's size."""
    reference = reference.convert("RGB").resize(image.size, Image.Resampling.BILINEAR)
    return float(np.abs(np.asarray(image.convert("RGB"), dtype=np.int16)
                        - np.asarray(reference, dtype=np.int16)).mean())


def _gradient16() -> np.ndarray:
    """A 16-bit RGB picture using the whole range (clipping or byte-dropping would show)."""
    y, x = np.mgrid[0:240, 0:320]
    return np.stack([x * 65535 // 319, y * 65535 // 239, np.full_like(x, 40000)], axis=-1).astype(np.uint16)


def _grey16() -> np.ndarray:
    y, x = np.mgrid[0:200, 0:300]
    return ((x + y) * 65535 // 498).astype(np.uint16)


def _reference8(values: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8))


@pytest.fixture
def odd_folder(tmp_path):
    """A DNG whose embedded preview is red|blue turned by EXIF orientation 6, a 16-bit RGB TIFF and
    a 16-bit grey PNG; with the references a viewer would show."""
    import tifffile

    folder = tmp_path / "odd"
    preview = two_colour((600, 400))
    make_dng(folder / "DSC_0001.dng", preview, orientation=6)
    tifffile.imwrite(folder / "scan16.tif", _gradient16(), photometric="rgb")
    Image.fromarray(_grey16()).save(folder / "grey16.png")
    references = {
        "DSC_0001.dng": preview.transpose(Image.Transpose.ROTATE_270),
        "scan16.tif": _reference8(_gradient16()),
        "grey16.png": _reference8(_grey16()).convert("RGB"),
    }
    return folder, references


def test_thumbnails_of_raw_and_16_bit_files_show_what_a_viewer_shows(make_library, odd_folder):
    folder, references = odd_folder
    library = make_library()
    report = library.add([folder])
    assert (report.new, report.failed) == (3, [])
    cache = library.thumbnails
    for photo in library.list_photos():
        name = photo["path"].rsplit("/", 1)[1]
        digest = library.catalog.get(photo["id"]).data["hash"]
        assert cache.has(digest), name
        for size in cache.sizes:
            with Image.open(cache.path(digest, size)) as thumbnail:
                thumbnail.load()
                reference = references[name]
                assert max(thumbnail.size) == min(size, max(reference.size)), name
                assert (thumbnail.width > thumbnail.height) == (reference.width > reference.height), name
                assert _difference(thumbnail, reference) <= 4, name


def test_dng_thumbnail_is_the_large_preview_not_the_small_ifd0_thumbnail(make_library, odd_folder):
    folder, _ = odd_folder
    library = make_library()
    library.add([folder])
    photo = next(p for p in library.list_photos() if p["path"].endswith(".dng"))
    digest = library.catalog.get(photo["id"]).data["hash"]
    with Image.open(library.thumbnails.path(digest, 256)) as small:
        top, bottom = small.convert("RGB").getpixel((small.width // 2, 5)), small.convert("RGB").getpixel(
            (small.width // 2, small.height - 5))
    assert top[0] > 180 and top[2] < 80  # red on top: the left half turned by orientation 6
    assert bottom[2] > 180 and bottom[0] < 80  # (the small IFD0 thumbnail is all green)


@pytest.mark.parametrize("name", ["DSC_0001.dng", "scan16.tif", "grey16.png"])
def test_terminal_previews_and_pixel_stage_input_use_the_same_decode(odd_folder, name):
    folder, references = odd_folder
    reference = references[name]
    with Image.open(io.BytesIO(terminal.image_bytes(folder / name))) as png:
        assert png.format == "PNG" and max(png.size) == 256
        assert _difference(png, reference) <= 3
    blocks = terminal.halfblocks(folder / name, columns=8)
    assert len(blocks.plain.splitlines()) == round(8 * reference.height / reference.width / 2)
    staged = media.upright_image(folder / name, 200)  # what OCR and faces get
    assert staged.mode == "RGB" and max(staged.size) == 200
    assert _difference(staged, reference) <= 3


def test_html_inline_images_decode_like_everything_else(odd_folder):
    folder, references = odd_folder
    url = image_data_url(folder / "grey16.png", longest=128)
    assert url and url.startswith("data:image/jpeg;base64,")
    import base64

    with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as inline:
        assert max(inline.size) == 128
        assert _difference(inline, references["grey16.png"]) <= 4


def test_cmyk_jpeg_with_an_icc_profile_converts_through_its_profile(tmp_path, make_library):
    """A print-shop JPEG: CMYK with its press profile embedded. Reference: Pillow's ImageCms (LittleCMS)
    from that profile to sRGB; the naive (1-C)(1-K) formula is far off for this profile."""
    from PIL import ImageCms

    from tests.support.format_files import cmyk_profile

    profile = cmyk_profile()
    rng = np.random.default_rng(11)
    cmyk = Image.fromarray(np.repeat(np.repeat(rng.integers(0, 255, (6, 8, 4)), 16, axis=0), 16, axis=1)
                           .astype(np.uint8), mode="CMYK")
    path = tmp_path / "press" / "flyer.jpg"
    path.parent.mkdir()
    cmyk.save(path, quality=98, icc_profile=profile)
    reference = ImageCms.profileToProfile(cmyk, ImageCms.ImageCmsProfile(io.BytesIO(profile)),
                                          ImageCms.createProfile("sRGB"), outputMode="RGB")
    assert _difference(cmyk.convert("RGB"), reference) > 20  # the profile matters
    assert _difference(media.decode_upright(path), reference) <= 2
    library = make_library()
    library.add([path.parent])
    digest = library.catalog.get(library.list_photos()[0]["id"]).data["hash"]
    with Image.open(library.thumbnails.path(digest)) as thumbnail:
        thumbnail.load()
        assert _difference(thumbnail, reference) <= 6


def test_heic_avif_and_animated_thumbnails_are_upright_first_frames(tmp_path, make_library):
    from tests.support.format_files import make_avif, make_heic

    folder = tmp_path / "phone"
    picture = two_colour((120, 80))
    make_heic(folder / "IMG_1.HEIC", picture, orientation=6)
    make_avif(folder / "IMG_2.avif", picture, orientation=3)
    frames = [Image.new("RGB", (60, 40), colour) for colour in ((250, 20, 20), (20, 20, 250))]
    frames[0].save(folder / "loop.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    references = {"IMG_1.HEIC": picture.transpose(Image.Transpose.ROTATE_270),
                  "IMG_2.avif": picture.transpose(Image.Transpose.ROTATE_180), "loop.gif": frames[0]}
    library = make_library()
    assert library.add([folder]).failed == []
    for photo in library.list_photos():
        name = photo["path"].rsplit("/", 1)[1]
        with Image.open(library.thumbnails.path(library.catalog.get(photo["id"]).data["hash"])) as thumbnail:
            thumbnail.load()
            assert thumbnail.size == references[name].size, name
            assert _difference(thumbnail, references[name]) <= 6, name


def _phone_photo(size=(2000, 1500)) -> Image.Image:
    """Smooth colour gradients with a block in one corner: any rotation or crop shows in the pixels."""
    x, y = np.meshgrid(np.linspace(0, 1, size[0]), np.linspace(0, 1, size[1]))
    pixels = np.stack([x * 230, y * 200, (1 - x) * 180 + 40], axis=-1).astype(np.uint8)
    pixels[: size[1] // 4, : size[0] // 4] = (250, 250, 40)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("orientation", [1, 6])
def test_a_heic_is_seen_through_its_thumbnail_where_that_is_large_enough(tmp_path, orientation):
    """A phone's HEIC carries a 320x240 thumbnail: the image model (224 px) and the first pass (64 px) decode
    that, upright, instead of the 12 MP photo; a stage that needs more decodes the photo itself."""
    from tests.support.format_files import make_heic

    picture = _phone_photo()
    path = make_heic(tmp_path / "IMG_0001.HEIC", picture, thumbnails=(320,), orientation=orientation)
    upright = picture.transpose(Image.Transpose.ROTATE_270) if orientation == 6 else picture
    small = media.decode_upright(path, 224)
    assert small.size == (upright.width * 320 // 2000, upright.height * 320 // 2000)  # 320x240, upright
    assert _difference(small, upright.resize(small.size, Image.Resampling.BOX)) <= 8
    assert media.decode_upright(path, 1000).size == upright.size  # larger than the thumbnail: the photo itself


def test_a_heic_without_a_large_enough_thumbnail_or_cut_short_is_decoded_as_before(tmp_path):
    from photolib.core.errors import UnreadablePhotoError
    from tests.support.format_files import make_heic

    picture = _phone_photo()
    plain = make_heic(tmp_path / "plain.heic", picture)
    assert media.decode_upright(plain, 224).size == picture.size
    tiny = make_heic(tmp_path / "tiny.heic", picture, thumbnails=(160,))
    assert media.decode_upright(tiny, 224).size == picture.size  # 160x120 is too small for 224
    cut = tmp_path / "cut.heic"
    cut.write_bytes(make_heic(tmp_path / "whole.heic", picture, thumbnails=(320,)).read_bytes()[:-20000])
    with pytest.raises(UnreadablePhotoError):
        media.decode_upright(cut, 224)  # not quietly its intact thumbnail: the photo is damaged


def test_the_first_pass_reads_a_heic_through_its_thumbnail_alike(tmp_path):
    """Colours and the perceptual hash from the thumbnail match those from the photo itself (so a HEIC and
    its JPEG copy are still found as duplicates)."""
    from tests.support.format_files import make_heic

    picture = _phone_photo()
    with_thumbnail = media.read_photo(make_heic(tmp_path / "a.heic", picture, thumbnails=(320,)))
    without = media.read_photo(make_heic(tmp_path / "b.heic", picture))
    assert with_thumbnail.dominant_colors == without.dominant_colors and with_thumbnail.dominant_colors
    assert bin(int(with_thumbnail.phash, 16) ^ int(without.phash, 16)).count("1") <= 4
