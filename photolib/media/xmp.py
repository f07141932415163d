"""The user's own words about a photo: XMP (embedded and sidecars) and IPTC.

People tag photos in digiKam, Lightroom, darktable or on their phone long
before photolib sees them. This module reads those words — keywords, title,
caption, rating, named people regions — and writes photolib's tags back into
sidecars those tools read, without ever touching the photo file.

Every XML document is untrusted: it is parsed with defusedxml (no entity
expansion, no external entities, no DTDs). A sidecar that cannot be parsed is
reported as a warning by the caller; it never fails the photo.

photolib marks what it wrote in its own namespace (`photolib:subjects`,
`photolib:caption`), so its re-read of a sidecar it wrote does not mistake its
own tags for the user's keywords.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence
from xml.etree import ElementTree

from photolib.core.errors import PhotolibError
from photolib.core.files import atomic_write
from photolib.core.records import MAX_KEYWORDS, UserMetadata, merge_keywords, unique_casefold

NS = {
    "x": "adobe:ns:meta/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "dc": "http://purl.org/dc/elements/1.1/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "lr": "http://ns.adobe.com/lightroom/1.0/",
    "digiKam": "http://www.digikam.org/ns/1.0/",
    "mwg-rs": "http://www.metadataworkinggroup.com/schemas/regions/",
    "stArea": "http://ns.adobe.com/xmp/sType/Area#",
    "stDim": "http://ns.adobe.com/xap/1.0/sType/Dimensions#",
    "photolib": "http://ns.photolib.dev/xmp/1.0/",
}
PHOTOLIB_ROOT = "photolib"  # root of photolib's tags in hierarchical keyword fields
MAX_XMP_BYTES = 4 << 20  # a sidecar or packet larger than this is not a keyword list
MAX_TEXT = 2000
XPACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
XPACKET_END = '\n<?xpacket end="w"?>\n'
SIDECAR_STYLES = ("photo.jpg.xmp", "photo.xmp")


class MalformedSidecarError(PhotolibError):
    """A sidecar or embedded XMP packet that is not well-formed, or is hostile, XML."""


def _q(prefix: str, name: str) -> str:
    return f"{{{NS[prefix]}}}{name}"


# -- reading ------------------------------------------------------------------


def sidecar_candidates(photo: Path) -> list[Path]:
    """`photo.jpg.xmp` (digiKam, darktable) and `photo.xmp` (Lightroom, Capture One), in that order."""
    return [photo.with_name(photo.name + ".xmp"), photo.with_suffix(".xmp")]


def parse_xmp(data: bytes | str) -> ElementTree.Element:
    """The root element of an XMP document; `MalformedSidecarError` for anything else."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_XMP_BYTES:
        raise MalformedSidecarError(f"larger than {MAX_XMP_BYTES >> 20} MB")
    data = _strip_xpacket(data)
    try:
        return fromstring(data, forbid_dtd=True)
    except DefusedXmlException as error:
        raise MalformedSidecarError(f"refused unsafe XML ({type(error).__name__})") from None
    except ElementTree.ParseError as error:
        raise MalformedSidecarError(f"not well-formed XML ({error})") from None
    except (ValueError, RecursionError) as error:
        raise MalformedSidecarError(f"unreadable XML ({type(error).__name__})") from None


def _strip_xpacket(data: bytes) -> bytes:
    """XMP packets are wrapped in processing instructions, sometimes after padding or a BOM."""
    data = data.lstrip(b"\xef\xbb\xbf \t\r\n\x00")
    return re.sub(rb"<\?xpacket[^>]*\?>", b"", data).strip(b" \t\r\n\x00")


def read_xmp_document(root: ElementTree.Element) -> UserMetadata:
    """Keywords, title, caption, rating and people of one XMP document, minus what photolib wrote."""
    descriptions = list(root.iter(_q("rdf", "Description")))
    own_subjects = {s.casefold() for s in _values(descriptions, "photolib", "subjects")}
    own_caption = _first(_values(descriptions, "photolib", "caption"))
    flat = [s.replace("|", "/") for s in _values(descriptions, "dc", "subject") if s.casefold() not in own_subjects]
    hierarchical = [k.replace("|", "/") for k in _values(descriptions, "lr", "hierarchicalSubject")]
    hierarchical += _values(descriptions, "digiKam", "TagsList")
    hierarchical = [k for k in hierarchical if not _is_own(k)]
    caption = _first(_values(descriptions, "dc", "description"))
    if caption is not None and own_caption is not None and caption.strip() == own_caption.strip():
        caption = None
    return UserMetadata(
        keywords=merge_keywords([*hierarchical, *flat]),
        title=_first(_values(descriptions, "dc", "title")),
        caption=caption,
        rating=_rating(_first(_values(descriptions, "xmp", "Rating"))),
        people=_people(root),
    )


def _is_own(keyword: str) -> bool:
    return keyword.split("/", 1)[0].strip().casefold() == PHOTOLIB_ROOT


def _values(descriptions: Sequence[ElementTree.Element], prefix: str, name: str) -> list[str]:
    """A property's values whether written as an attribute, a simple element, or an rdf Bag/Seq/Alt."""
    tag, found = _q(prefix, name), []
    for description in descriptions:
        if tag in description.attrib:
            found.append(description.attrib[tag])
        for element in description.findall(tag):
            items = element.findall(f"{_q('rdf', 'Bag')}/{_q('rdf', 'li')}") + \
                element.findall(f"{_q('rdf', 'Seq')}/{_q('rdf', 'li')}") + \
                element.findall(f"{_q('rdf', 'Alt')}/{_q('rdf', 'li')}")
            if items:
                found.extend(item.text or "" for item in items)
            elif element.text and element.text.strip():
                found.append(element.text)
    return [_clean(value) for value in found if _clean(value)][:MAX_KEYWORDS]


def _clean(value: str) -> str:
    text = "".join(ch for ch in (value or "") if ch.isprintable() or ch in "\n\t")
    return " ".join(text.split())[:MAX_TEXT]


def _first(values: list[str]) -> str | None:
    return values[0] if values else None


def _rating(value: str | None) -> int | None:
    try:
        rating = int(float(value)) if value is not None else None
    except ValueError:
        return None
    return rating if rating is not None and -1 <= rating <= 5 else None


def _people(root: ElementTree.Element) -> list[str]:
    """Names of MWG face regions (Lightroom, digiKam, Picasa and phones write these)."""
    names = []
    for description in root.iter(_q("rdf", "Description")):
        kind = description.attrib.get(_q("mwg-rs", "Type")) or _text_of(description, "mwg-rs", "Type")
        name = description.attrib.get(_q("mwg-rs", "Name")) or _text_of(description, "mwg-rs", "Name")
        if name and (kind or "Face") == "Face":
            names.append(_clean(name))
    return unique_casefold([n for n in names if n])


def _text_of(element: ElementTree.Element, prefix: str, name: str) -> str | None:
    child = element.find(_q(prefix, name))
    return child.text if child is not None else None


def embedded_xmp(image: Any) -> bytes | None:
    """The XMP packet Pillow found in a JPEG, PNG, WebP, TIFF or HEIF/AVIF file, as bytes."""
    info = getattr(image, "info", {}) or {}
    for key in ("xmp", "XML:com.adobe.xmp"):
        value = info.get(key)
        if value:
            return value.encode("utf-8") if isinstance(value, str) else bytes(value)
    tiff_tags = getattr(image, "tag_v2", None)
    if tiff_tags is not None:
        value = tiff_tags.get(700)
        if value:
            return value if isinstance(value, bytes) else str(value).encode("utf-8")
    return None


def iptc_metadata(image: Any) -> UserMetadata:
    """IPTC-IIM keywords (2:25), caption (2:120) and object name (2:05) of a JPEG or TIFF."""
    from PIL import IptcImagePlugin

    try:
        iptc = IptcImagePlugin.getiptcinfo(image) or {}
    except Exception:  # noqa: BLE001 - broken IPTC must not cost the photo
        return UserMetadata()

    def texts(key: tuple[int, int]) -> list[str]:
        value = iptc.get(key)
        values = value if isinstance(value, list) else [value] if value else []
        return [_clean(_decode(v)) for v in values if _clean(_decode(v))]

    return UserMetadata(keywords=merge_keywords(texts((2, 25))), caption=_first(texts((2, 120))),
                        title=_first(texts((2, 5))))


def _decode(value: Any) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return value.decode("latin-1")
    return str(value)


def read_embedded(image: Any) -> tuple[UserMetadata, str | None]:
    """The user's words embedded in an open image, and a warning when its XMP is malformed."""
    found, warning = UserMetadata(), None
    packet = embedded_xmp(image)
    if packet:
        try:
            found = read_xmp_document(parse_xmp(packet))
        except MalformedSidecarError as error:
            warning = f"embedded XMP ignored: {error}"
    return found.merged(iptc_metadata(image)), warning


def read_sidecars(paths: Sequence[Path]) -> tuple[UserMetadata, list[str]]:
    """The user's words from existing sidecars (first wins for single values), and one warning per bad one."""
    found, warnings = UserMetadata(), []
    for path in paths:
        try:
            data = _read_limited(path)
            found = found.merged(read_xmp_document(parse_xmp(data)))
        except FileNotFoundError:
            continue
        except MalformedSidecarError as error:
            warnings.append(f"{path}: sidecar ignored: {error}")
        except OSError as error:
            warnings.append(f"{path}: sidecar ignored: cannot read it ({error.strerror or error})")
    return found, warnings


def _read_limited(path: Path) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(MAX_XMP_BYTES + 1)
    if len(data) > MAX_XMP_BYTES:
        raise MalformedSidecarError(f"larger than {MAX_XMP_BYTES >> 20} MB")
    return data


def sidecar_signature(paths: Sequence[Path]) -> str:
    """Name, size and mtime of the existing sidecars: a change means the user's words must be read again."""
    parts = []
    for path in paths:
        try:
            stat = path.stat()
        except OSError:
            continue
        parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return ";".join(parts)


# -- writing ------------------------------------------------------------------


@dataclass
class SidecarChange:
    """What `export xmp` writes (or would write) to one sidecar."""

    path: Path
    created: bool
    added: list[str]  # keywords photolib adds
    caption: str | None  # caption photolib writes, when it writes one

    def as_dict(self) -> dict[str, Any]:
        return {"sidecar": str(self.path), "created": self.created, "added_keywords": self.added,
                "caption": self.caption}


def sidecar_for(photo: Path, style: str) -> Path:
    """The existing sidecar of a photo, else the one named in `style`."""
    for candidate in sidecar_candidates(photo):
        if candidate.exists():
            return candidate
    return photo.with_name(photo.name + ".xmp") if style == "photo.jpg.xmp" else photo.with_suffix(".xmp")


def plan_sidecar(sidecar: Path, tags: Sequence[str], caption: str | None) -> tuple[SidecarChange, bytes | None]:
    """The merged sidecar's bytes (None when nothing changes) and what changes.

    Fields and namespaces photolib does not own are kept as they were; photolib
    owns its `photolib|...` hierarchy, the dc:subject entries it recorded as
    its own, and a dc:description only when there was none or it was photolib's.
    """
    for prefix, uri in NS.items():
        ElementTree.register_namespace(prefix, uri)
    original = None
    if sidecar.exists():
        original = _read_limited(sidecar)
        _register_prefixes(original)
        root = parse_xmp(original)
    else:
        root = ElementTree.fromstring(
            f'<x:xmpmeta xmlns:x="{NS["x"]}"><rdf:RDF xmlns:rdf="{NS["rdf"]}">'
            f'<rdf:Description rdf:about=""/></rdf:RDF></x:xmpmeta>')
    description = _own_description(root)
    user = read_xmp_document(root)
    tags = unique_casefold(t for t in (" ".join(re.sub(r"[/|]", " ", tag).split()) for tag in tags) if t)
    every = list(root.iter(_q("rdf", "Description")))
    before = {k.replace("|", "/").split("/", 1)[-1].casefold()
              for k in _values(every, "lr", "hierarchicalSubject") + _values(every, "digiKam", "TagsList")
              if _is_own(k.replace("|", "/"))}
    previous_own = set(_values([description], "photolib", "subjects"))
    user_flat = {s.casefold() for s in _values(every, "dc", "subject") if s not in previous_own}
    mine = [t for t in tags if t.casefold() not in user_flat]
    _set_bag(root, description, "dc", "subject", keep=lambda v: v not in previous_own, add=mine)
    _set_bag(root, description, "photolib", "subjects", keep=lambda v: False, add=mine)
    _set_bag(root, description, "lr", "hierarchicalSubject", keep=lambda v: not _is_own(v.replace("|", "/")),
             add=[f"{PHOTOLIB_ROOT}|{t}" for t in tags])
    _set_bag(root, description, "digiKam", "TagsList", keep=lambda v: not _is_own(v),
             add=[f"{PHOTOLIB_ROOT}/{t}" for t in tags])
    written_caption = None
    if caption and user.caption is None:
        _set_alt(root, description, "dc", "description", caption)
        _set_bag(root, description, "photolib", "caption", keep=lambda v: False, add=[caption], kind="Alt")
        written_caption = caption
    body = ElementTree.tostring(root, encoding="unicode")
    data = (XPACKET_BEGIN + body + XPACKET_END).encode("utf-8")
    if original is not None and _same_meaning(original, data):
        return SidecarChange(sidecar, False, [], None), None
    added = [t for t in tags if t.casefold() not in before]
    return SidecarChange(sidecar, original is None, added, written_caption), data


def _same_meaning(original: bytes, new: bytes) -> bool:
    def canonical(data: bytes) -> str:
        return ElementTree.canonicalize(_strip_xpacket(data).decode("utf-8"), strip_text=True)

    try:
        return canonical(original) == canonical(new)
    except Exception:  # noqa: BLE001
        return False


def _register_prefixes(data: bytes) -> None:
    """Keep the prefixes the other tool chose (`darktable:`, `exif:`...), not `ns0:`."""
    try:
        for _event, (prefix, uri) in ElementTree.iterparse(io.BytesIO(_strip_xpacket(data)), events=("start-ns",)):
            if prefix and not re.match(r"ns\d+$", prefix):
                ElementTree.register_namespace(prefix, uri)
    except (ElementTree.ParseError, ValueError):
        pass


def _own_description(root: ElementTree.Element) -> ElementTree.Element:
    """The rdf:Description photolib writes into: the first one (tools merge them all on read)."""
    rdf = root.find(_q("rdf", "RDF")) if root.tag != _q("rdf", "RDF") else root
    if rdf is None:
        raise MalformedSidecarError("no rdf:RDF element: not an XMP sidecar")
    description = rdf.find(_q("rdf", "Description"))
    if description is None:
        description = ElementTree.SubElement(rdf, _q("rdf", "Description"), {_q("rdf", "about"): ""})
    return description


def _set_bag(root: ElementTree.Element, description: ElementTree.Element, prefix: str, name: str,
             keep: Any, add: Sequence[str], kind: str = "Bag") -> None:
    """Rewrite one list property: the values `keep` accepts, then `add` (no duplicates)."""
    tag = _q(prefix, name)
    existing: list[str] = []
    for holder in root.iter(_q("rdf", "Description")):
        if tag in holder.attrib:
            existing.append(holder.attrib.pop(tag))
        for element in holder.findall(tag):
            container = next(iter(element), None)
            if container is not None and container.tag in (_q("rdf", "Bag"), _q("rdf", "Seq")):
                kind = container.tag.split("}")[1]  # the other tool's container kind is kept
            existing.extend(li.text or "" for li in element.iter(_q("rdf", "li")))
            if not list(element) and element.text and element.text.strip():
                existing.append(element.text)
            holder.remove(element)
    values = unique_casefold([*(v for v in existing if keep(v)), *add])
    if not values:
        return
    container = ElementTree.SubElement(ElementTree.SubElement(description, tag), _q("rdf", kind))
    for value in values:
        item = ElementTree.SubElement(container, _q("rdf", "li"))
        if kind == "Alt":
            item.set("{http://www.w3.org/XML/1998/namespace}lang", "x-default")
        item.text = value


def _set_alt(root: ElementTree.Element, description: ElementTree.Element, prefix: str, name: str, text: str) -> None:
    _set_bag(root, description, prefix, name, keep=lambda v: False, add=[text], kind="Alt")


def write_atomically(path: Path, data: bytes) -> None:
    """Temp file in the same folder, fsync, rename: a reader sees the old sidecar or the new one (which keeps
    the permissions the user gave the old one)."""
    atomic_write(path, data, keep_mode=True)
