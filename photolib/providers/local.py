"""Offline vision: an honest description from what can be known without a model.

No pixels are interpreted beyond brightness and colour. The description is
built from the taken date (season by hemisphere, time of day), the camera, the
place (offline reverse geocoding), the shape and colours of the image, and the
words people put in folder and file names ("Lisbon beach holiday/IMG_1234.jpg"
says more than any EXIF tag). Those name words lead, because the text is what
search and albums compare, so words that say nothing about the photo are kept
out: camera and app file names (IMG_1234, DSC, WhatsApp Image), editing
suffixes (edited, copy), file extensions, and generic container folders
(Pictures, DCIM, Camera Roll, Downloads) that would otherwise start every
caption and make unrelated photos look alike.
"""

from __future__ import annotations

import re
from pathlib import Path

from photolib.core.records import Description, PhotoForVision, PhotoMetadata, camera_name
from photolib.core.protocols import ProviderSettings, VisionProvider
from photolib.core.vocabulary import GRAYSCALE, MONTHS, mood, season, shape, time_of_day

NOISE = re.compile(  # words in file and folder names that say nothing about the photo
    r"^(img|dsc|dscn|dscf|pxl|mvimg|vid|pict|pic|pics|photo|photos|image|images|picture|pictures|"
    r"screenshot|screenshots|wp|gopr|dji|whatsapp|burst|cover|portrait_mode|"
    r"edit|edited|edits|copy|final|export|exported|untitled|thumb|thumbs|thumbnail|thumbnails|"
    r"resized|original|orig|crop|cropped|retouched|enhanced|"
    r"jpg|jpeg|jpe|jfif|png|heic|heif|tif|tiff|webp|bmp|gif|avif|"
    r"raw|dng|raf|cr2|cr3|nef|arw|orf|rw2|pef|srw|xmp)$"
)
CONTAINERS = {  # whole folder names (letters only, lower case) that hold photos rather than name them
    "pictures", "mypictures", "savedpictures", "photos", "myphotos", "pics", "pix", "images", "image",
    "img", "downloads", "download", "desktop", "documents", "dcim", "camera", "cameraroll",
    "camerauploads", "screenshots", "screenshot", "whatsapp", "whatsappimages", "telegram",
    "telegramimages", "icloudphotos", "googlephotos", "photolibrary", "photoslibrary", "gallery",
    "media", "sdcard", "internalstorage", "newfolder", "untitledfolder", "untitled", "misc", "unsorted",
    "import", "imports", "export", "exports", "uploads", "upload", "takeout", "backup", "backups",
    "dropbox", "onedrive", "phone", "iphone", "android",
}
STOPWORDS = {"the", "and", "of", "in", "at", "on", "with", "for", "to", "from", "my", "our", "de", "la", "le"}
MAX_NAME_WORDS = 8


class LocalVision(VisionProvider):
    """The `Vision` that needs no network: photos never leave the machine."""

    needs_key = False
    prompt_version = "2"  # 2: no container folders, extensions or make repeats
    remote_host = None
    describes_from_path = True  # folder and file words: a moved or copied file is described again

    def __init__(self, settings: ProviderSettings) -> None:
        self.model_name = settings.model or "photolib-local-vision"

    def describe(self, photo: PhotoForVision) -> Description:
        facts = _Facts(photo)
        return Description(tags=facts.tags(), caption=facts.caption(), description=facts.sentences())

    def imagine_prompt(self, photo: PhotoForVision) -> str:
        """A name-free prompt: shape, light, mood and colours only (no places, no file names)."""
        facts = _Facts(photo)
        colours = " and ".join(photo.metadata.dominant_colors[:2])
        parts = [f"a {facts.shape} photograph"]
        if facts.season or facts.time_of_day:
            parts.append(" ".join(p for p in (facts.season, facts.time_of_day) if p) + " light")
        parts.append(facts.mood)
        if photo.metadata.grayscale:
            parts.append("black and white, rich tonal contrast")
        elif colours:
            parts.append(f"dominant {colours} tones")
        parts.append("natural composition, similar in spirit but not a copy")
        return ", ".join(parts)


class _Facts:
    """What one photo's metadata and names say, as words."""

    def __init__(self, photo: PhotoForVision) -> None:
        meta: PhotoMetadata = photo.metadata
        self.meta = meta
        self.words = name_words(photo.path, photo.source_root)
        self.place_parts = [p.strip() for p in (photo.place or "").split(",") if p.strip()]
        taken = meta.taken_at
        self.month = MONTHS[taken.month - 1] if taken else None
        self.year = str(taken.year) if taken else None
        self.weekday = taken.strftime("%A") if taken else None
        self.season = season(taken.month, meta.gps_lat) if taken else None
        self.time_of_day = time_of_day(taken.hour) if taken else None
        self.shape = shape(meta.oriented_width, meta.oriented_height)
        self.mood = mood(meta.brightness)
        self.camera = camera_name(meta.camera_make, meta.camera_model)

    def tags(self) -> list[str]:
        tags = [*self.words, *(p.lower() for p in self.place_parts), self.season, self.month, self.year,
                self.time_of_day, *self.meta.dominant_colors, self.shape]
        if self.meta.grayscale:
            tags.append(GRAYSCALE)
        if self.camera:
            tags.append(self.camera.lower())
        return list(dict.fromkeys(t.lower() for t in tags if t))[:25]

    def caption(self) -> str:
        subject = " ".join(self.words).capitalize() if self.words else f"{self.shape.capitalize()} photo"
        where = f" in {', '.join(self.place_parts)}" if self.place_parts else ""
        when = ", ".join(p for p in (" ".join(p for p in (self.season, self.time_of_day) if p),
                                     " ".join(p for p in (self.month, self.year) if p)) if p)
        return f"{subject}{where}" + (f" — {when}" if when else "")

    def sentences(self) -> str:
        meta = self.meta
        out = []
        if self.words:
            out.append(f"{' '.join(self.words).capitalize()}.")
        if meta.taken_at:
            out.append(f"Taken on {self.weekday} {meta.taken_at.day} {self.month} {self.year} in the "
                       f"{self.time_of_day}, in {self.season}.")
        if self.place_parts:
            out.append(f"Place: {', '.join(self.place_parts)}.")
        look = "black-and-white" if meta.grayscale else " and ".join(meta.dominant_colors[:2])
        out.append(f"A {self.mood} {self.shape} image" + (f", mostly {look}." if look else "."))
        if self.camera:
            out.append(f"Camera: {self.camera}" + (f"; lens: {meta.lens}." if meta.lens else "."))
        return " ".join(out)


def name_words(path: Path, source_root: Path | None) -> list[str]:
    """Meaningful lower-case words from the folder names below the root, and the file name.

    The folder given to `add` is usually a container (Pictures, a drive, an export)
    whose name every imported photo would share; it names only the photos directly in it."""
    path = Path(path)
    root = Path(source_root) if source_root else path.parent
    try:
        relative = path.relative_to(root)
    except ValueError:
        root, relative = path.parent, Path(path.name)
    folders = relative.parent.parts or (root.name,)
    words: list[str] = []
    for name in [*folders, Path(relative.name).stem]:
        for word in _split(name):
            if word not in words:
                words.append(word)
    return words[:MAX_NAME_WORDS]


def _split(name: str) -> list[str]:
    if re.sub(r"[^a-z]", "", name.lower()) in CONTAINERS:
        return []
    words = []
    for token in re.split(r"[\s_\-.,;:()\[\]{}+&#@!'\"/\\]+", name):
        if not NOISE.match(token.lower()):
            words += [part.lower() for part in re.sub(r"([a-z])([A-Z])", r"\1 \2", token).split()]
    return [word for word in words if _meaningful(word)]


def _meaningful(token: str) -> bool:
    if len(token) < 3 or token in STOPWORDS or NOISE.match(token):
        return False
    if any(ch.isdigit() for ch in token):
        return False  # numbers, dates, counters, hashes
    return token.isalpha()
