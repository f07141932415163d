"""Photos for the OCR and face tests: text the tests render, faces from scikit-image's sample data.

Everything here ships in installed packages (scikit-image's astronaut, cat,
coffee and LFW subset; Pillow's default font): nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ORIENTATION = 0x0112


def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def receipt(path: Path, size=(480, 640)) -> Path:
    """A scanned receipt: dark print on paper."""
    image = Image.new("RGB", size, (246, 243, 236))
    draw = ImageDraw.Draw(image)
    draw.text((30, 40), "INVOICE 2023-117", fill=(25, 25, 25), font=font(40))
    draw.text((30, 120), "Coffee beans   12.40", fill=(25, 25, 25), font=font(26))
    draw.text((30, 170), "Total due      42.50", fill=(25, 25, 25), font=font(26))
    return _save(image, path)


def shop_sign(path: Path, size=(640, 427)) -> Path:
    """A shop sign: white letters on a red board over a blue facade."""
    image = Image.new("RGB", size, (50, 90, 150))
    draw = ImageDraw.Draw(image)
    draw.rectangle([60, 110, 580, 250], fill=(190, 30, 35))
    draw.text((95, 145), "ACME BAKERY", fill=(255, 255, 255), font=font(60))
    return _save(image, path)


def text_on_texture(path: Path, words: str = "GARDEN PARTY") -> Path:
    """Words over a textured photo (scikit-image's brick wall), outlined like a poster."""
    from skimage import data

    image = Image.fromarray(data.brick()).convert("RGB").resize((640, 640))
    draw = ImageDraw.Draw(image)
    draw.text((40, 270), words, fill=(255, 240, 80), font=font(64), stroke_width=4, stroke_fill=(0, 0, 0))
    return _save(image, path)


def sample(name: str) -> Image.Image:
    from skimage import data

    return Image.fromarray(getattr(data, name)()).convert("RGB")


def astronaut() -> Image.Image:
    return sample("astronaut")


ASTRONAUT_FACE = (0.342, 0.148, 0.520, 0.326)  # where dlib finds her face in astronaut(), 0-1


def other_person(index: int = 1) -> Image.Image:
    """Another person: a face of scikit-image's LFW subset (25x25 grey), enlarged."""
    from skimage import data

    faces = np.load(Path(data.data_dir) / "lfw_subset.npy")
    return Image.fromarray((faces[index] * 255).astype(np.uint8)).resize((200, 200), Image.BICUBIC).convert("RGB")


def with_orientation(image: Image.Image, path: Path, orientation: int) -> Path:
    """Save `image` as a camera would with EXIF orientation 6 (stored turned left) or 3 (upside down)."""
    stored = {6: image.rotate(90, expand=True), 8: image.rotate(-90, expand=True), 3: image.rotate(180)}[orientation]
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    path.parent.mkdir(parents=True, exist_ok=True)
    stored.save(path, exif=exif, quality=92)
    return path


def huge_with_face(path: Path) -> Path:
    """A 6000x4000 photo with the astronaut's face enlarged somewhere in it (detected on a smaller copy)."""
    canvas = Image.new("RGB", (6000, 4000), (90, 110, 80))
    canvas.paste(astronaut().resize((2048, 2048)), (3000, 1200))
    return _save(canvas, path, quality=80)


def _save(image: Image.Image, path: Path, **options) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        options.setdefault("quality", 92)
    image.save(path, **options)
    return path


def save(image: Image.Image, path: Path, **options) -> Path:
    return _save(image, path, **options)


# Scenes of the bench's camera roll (bench/camera_roll.py) and of the before/after tests of OCR and faces:
# the text each one holds, as the OCR read it before its gate was changed (and must still read it).
SCENE_TEXTS = {"receipt": "INVOICE 2023-117\nCoffee beans 12.40\nTotal due 42.50", "shop": "ACME BAKERY",
               "poster": "GARDEN PARTY"}
TEXTURES = ["retina", "immunohistochemistry", "coins", "clock", "cell", "colorwheel", "brick", "gravel", "grass"]
SCENE_FACES = {"astronaut": 1, "people": 3}  # faces found before the face detector's input was changed


def scene(kind: str) -> Image.Image:
    """A photo's content, at the sample's own size: a scikit-image sample, a receipt scan, a shop sign over
    a street (the rocket), a poster on a brick wall, or three people (LFW faces) before a brick wall."""
    from tempfile import TemporaryDirectory

    with TemporaryDirectory() as folder:
        parts = Path(folder)
        if kind == "receipt":
            return Image.open(receipt(parts / "receipt.png")).convert("RGB").resize((900, 1200), Image.BICUBIC)
        if kind == "shop":
            street = sample("rocket").resize((1280, 854), Image.BICUBIC)
            street.paste(Image.open(shop_sign(parts / "sign.png")).convert("RGB").resize((480, 320)), (420, 110))
            return street
        if kind == "poster":
            return Image.open(text_on_texture(parts / "poster.jpg")).convert("RGB")
    if kind == "people":
        wall = sample("brick").resize((1200, 900))
        draw = ImageDraw.Draw(wall)
        for index, left in enumerate((150, 500, 850)):
            draw.rectangle([left - 10, 290, left + 230, 520], fill=(60, 60, 60))
            wall.paste(other_person(index * 7 + 1).resize((220, 220), Image.BICUBIC), (left, 300))
        return wall
    return sample(kind)


def camera_copy(image: Image.Image, side: int = 1600) -> Image.Image:
    """A scene as a camera photo decoded for the stages: enlarged to `side` on the long side, through JPEG."""
    import io

    scale = side / max(image.size)
    buffer = io.BytesIO()
    image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC).save(buffer, "JPEG",
                                                                                                 quality=90)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
