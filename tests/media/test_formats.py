"""Every photo a real library holds: HEIC and AVIF with their EXIF, RAW through its embedded preview,
and pixels converted as a viewer would (first frames, 16-bit, CMYK), checked against reference
conversions computed here with numpy."""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import pytest
from PIL import Image

from photolib.media.read import decode_upright, read_photo
from tests.support.format_files import make_avif, make_dng, make_heic, two_colour

PARIS = (48.8584, 2.2945)


def _close(image: Image.Image, reference: Image.Image, tolerance: float) -> bool:
    """Same size, and the mean absolute difference per channel within `tolerance` (lossy codecs)."""
    if image.size != reference.size:
        return False
    difference = np.abs(np.asarray(image, dtype=np.int16) - np.asarray(reference.convert("RGB"), dtype=np.int16))
    return float(difference.mean()) <= tolerance


@pytest.mark.parametrize("maker", [make_heic, make_avif], ids=["heic", "avif"])
def test_heic_and_avif_import_with_date_camera_gps_and_rotation(make_library, tmp_path, maker):
    folder = tmp_path / "phone"
    photo = maker(folder / f"IMG_4242.{'heic' if maker is make_heic else 'avif'}", two_colour((96, 64)),
                  taken_at=datetime(2023, 7, 14, 18, 30), make="Apple", model="iPhone 13", gps=PARIS, orientation=6)
    library = make_library()
    report = library.add([folder])
    assert (report.new, report.failed) == (1, [])
    shown = library.show(str(photo))
    assert shown["taken_at"].startswith("2023-07-14T18:30")
    assert shown["camera"] == "Apple iPhone 13"
    assert shown["gps"]["lat"] == pytest.approx(PARIS[0], abs=1e-3) and shown["gps"]["lon"] == pytest.approx(PARIS[1], abs=1e-3)
    assert "Paris" in (shown["place"] or "")
    assert (shown["oriented_width"], shown["oriented_height"]) == (64, 96)  # shown upright, like a JPEG
    upright = decode_upright(photo)
    assert _close(upright, two_colour((96, 64)).transpose(Image.Transpose.ROTATE_270), 4)


def test_dng_is_shown_through_its_embedded_preview_with_the_raw_exif(tmp_path):
    preview = two_colour((300, 200))
    dng = make_dng(tmp_path / "DSC_0001.dng", preview, orientation=6)
    meta = read_photo(dng)
    assert meta.format == "DNG"
    assert (meta.width, meta.height) == (300, 200)  # the preview, not the 30x20 green thumbnail in IFD0
    assert (meta.oriented_width, meta.oriented_height) == (200, 300)
    assert meta.taken_at == datetime(2022, 3, 4, 5, 6, 7) and meta.camera == "Canon EOS R6"
    assert set(meta.dominant_colors) == {"red", "blue"}
    upright = decode_upright(dng)
    assert _close(upright, preview.transpose(Image.Transpose.ROTATE_270), 3)
    small = decode_upright(dng, min_side=50)  # a reduced decode keeps at least what was asked for
    assert min(small.size) >= 50 and small.size[0] < small.size[1]


def test_raw_that_is_not_a_raw_fails_with_a_reason(make_library, tmp_path):
    folder = tmp_path / "cards"
    folder.mkdir()
    (folder / "IMG_0001.CR2").write_bytes(b"II*\x00" + bytes(range(256)) * 40)
    (folder / "IMG_0002.NEF").write_bytes(b"not a raw file at all" * 50)
    report = make_library().add([folder])
    assert report.new == 2 and len(report.failed) == 2
    assert all("RAW" in reason or "CR2" in reason or "NEF" in reason for _, reason in report.failed)
    assert report.not_imported()["unreadable"]["count"] == 2


def _frames(path, colours, **options):
    frames = [Image.new("RGB", (40, 30), colour) for colour in colours]
    frames[0].save(path, save_all=True, append_images=frames[1:], **options)
    return path


@pytest.mark.parametrize("name,options", [
    ("anim.gif", {"duration": 100, "loop": 0}),
    ("anim.webp", {"duration": 100, "loop": 0, "lossless": True}),
    ("anim.avif", {"duration": 100, "quality": 95}),
    ("pages.tif", {}),
])
def test_animations_and_multi_page_files_use_their_first_frame(tmp_path, name, options):
    path = _frames(tmp_path / name, [(250, 20, 20), (20, 20, 250), (20, 250, 20)], **options)
    with Image.open(path) as opened:
        assert getattr(opened, "n_frames", 1) == 3  # really a sequence
    decoded = np.asarray(decode_upright(path), dtype=np.int16)
    assert np.abs(decoded - np.array([250, 20, 20])).mean() < 6
    assert read_photo(path).dominant_colors == ["red"]


def test_16_bit_greys_are_scaled_not_clipped(tmp_path):
    values = (np.arange(64 * 32).reshape(32, 64) * 32).astype(np.uint16)  # 0 .. 65504
    Image.fromarray(values).save(tmp_path / "grey16.png")
    decoded = np.asarray(decode_upright(tmp_path / "grey16.png"))
    reference = np.clip(np.round(values / 257.0), 0, 255).astype(np.uint8)
    assert np.abs(decoded[..., 0].astype(int) - reference).max() <= 1
    assert (decoded[..., 0] == decoded[..., 2]).all()
    assert read_photo(tmp_path / "grey16.png").brightness == pytest.approx(reference.mean() / 255, abs=0.02)


def test_16_bit_rgb_tiff_keeps_its_colours(tmp_path):
    import tifffile

    rng = np.random.default_rng(3)
    values = rng.integers(0, 65535, (24, 32, 3)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "rgb16.tif", values, photometric="rgb")
    decoded = np.asarray(decode_upright(tmp_path / "rgb16.tif")).astype(int)
    assert np.abs(decoded - values / 257.0).max() <= 1


@pytest.mark.parametrize("suffix,tolerance", [("tif", 1), ("jpg", 6)])
def test_cmyk_converts_like_the_reference_formula(tmp_path, suffix, tolerance):
    rng = np.random.default_rng(5)
    cmyk = np.repeat(np.repeat(rng.integers(0, 255, (6, 8, 4)), 8, axis=0), 8, axis=1).astype(np.uint8)
    path = tmp_path / f"print.{suffix}"
    Image.fromarray(cmyk, mode="CMYK").save(path, **({"quality": 98} if suffix == "jpg" else {}))
    with Image.open(path) as opened:
        assert opened.mode == "CMYK"
    c, m, y, k = (cmyk[..., i].astype(float) / 255 for i in range(4))
    reference = np.stack([(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)], axis=-1) * 255
    decoded = np.asarray(decode_upright(path)).astype(float)
    assert np.abs(decoded - reference).mean() <= tolerance


def test_transparency_is_laid_on_white(tmp_path):
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    image.paste((200, 0, 0, 255), (0, 0, 10, 20))
    image.save(tmp_path / "logo.png")
    decoded = decode_upright(tmp_path / "logo.png")
    assert decoded.getpixel((15, 5)) == (255, 255, 255) and decoded.getpixel((2, 5)) == (200, 0, 0)


def test_the_dng_preview_is_found_by_photolib_itself_without_libraw(tmp_path, monkeypatch):
    from photolib.media import formats

    def no_libraw(*_args):
        raise AssertionError("LibRaw was asked, the TIFF walk should have found the preview")

    monkeypatch.setattr(formats, "_rawpy_preview", no_libraw)
    preview = formats.raw_preview(make_dng(tmp_path / "a.dng", two_colour((300, 200))))
    assert preview.jpeg is not None and formats.jpeg_size(preview.jpeg) == (300, 200)
    with Image.open(io.BytesIO(preview.jpeg)) as image:
        assert _close(image.convert("RGB"), two_colour((300, 200)), 3)
