"""Reading the user's own words from XMP sidecars and IPTC, and writing photolib's back."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from photolib.media import xmp
from tests.support import xmp_samples


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_digikam_sidecar_keywords_merge_without_duplicates_and_keep_hierarchies(tmp_path):
    meta, warnings = xmp.read_sidecars([write(tmp_path / "a.jpg.xmp", xmp_samples.DIGIKAM)])
    assert warnings == []
    assert meta.keywords == ["Places/Portugal/Lisbon", "Family"]
    assert meta.title == "Tram 28 at dusk"
    assert meta.caption == "Grandma waving from the tram"
    assert meta.rating == 4


def test_darktable_sidecar_rating_and_hierarchies(tmp_path):
    meta, _ = xmp.read_sidecars([write(tmp_path / "a.cr2.xmp", xmp_samples.DARKTABLE)])
    assert meta.rating == 2
    assert meta.keywords == ["darktable/format/cr2", "trips/Portugal", "sunset"]


def test_lightroom_sidecar_people_regions_are_faces_only(tmp_path):
    meta, _ = xmp.read_sidecars([write(tmp_path / "a.xmp", xmp_samples.LIGHTROOM)])
    assert meta.people == ["Anna"]
    assert meta.rating == 5
    assert meta.keywords == ["People/Anna", "beach"]


def test_both_sidecar_names_are_read_and_merged(tmp_path):
    photo = tmp_path / "IMG_1.jpg"
    write(tmp_path / "IMG_1.jpg.xmp", xmp_samples.DIGIKAM)
    write(tmp_path / "IMG_1.xmp", xmp_samples.LIGHTROOM)
    meta, _ = xmp.read_sidecars(xmp.sidecar_candidates(photo))
    assert meta.rating == 4  # the first sidecar (photo.jpg.xmp) wins for single values
    assert set(meta.keywords) == {"Places/Portugal/Lisbon", "Family", "People/Anna", "beach"}
    assert meta.people == ["Anna"]


@pytest.mark.parametrize("text,reason", [
    (xmp_samples.BILLION_LAUGHS, "unsafe"),
    (xmp_samples.EXTERNAL_ENTITY, "unsafe"),
    ("<x:xmpmeta><unclosed>", "not well-formed"),
])
def test_hostile_or_broken_sidecars_are_one_line_warnings(tmp_path, text, reason):
    bad = write(tmp_path / "bad.jpg.xmp", text)
    meta, warnings = xmp.read_sidecars([bad])
    assert meta.is_empty()
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert str(bad) in warnings[0] and reason in warnings[0]


def test_user_words_feed_search_and_embedding_text(tmp_path):
    meta, _ = xmp.read_sidecars([write(tmp_path / "a.jpg.xmp", xmp_samples.DIGIKAM)])
    words = meta.words()
    assert "Tram 28 at dusk" in words and "Places Portugal Lisbon" in words and "Grandma" in words


@pytest.mark.parametrize("sample", ["DIGIKAM", "DARKTABLE", "LIGHTROOM"])
def test_round_trip_keeps_every_foreign_field_and_rereads_without_duplicates(tmp_path, sample):
    original = getattr(xmp_samples, sample)
    sidecar = write(tmp_path / "photo.jpg.xmp", original)
    before, _ = xmp.read_sidecars([sidecar])
    change, data = xmp.plan_sidecar(sidecar, ["beach", "tram", "Family"], "A yellow tram on a hill")
    assert data is not None and change.added == ["beach", "tram", "Family"]
    xmp.write_atomically(sidecar, data)

    after, warnings = xmp.read_sidecars([sidecar])
    assert warnings == []
    assert after.keywords == before.keywords  # photolib's own tags are not the user's keywords
    assert after.rating == before.rating and after.title == before.title and after.people == before.people
    assert after.caption == before.caption  # a user's caption is never replaced; photolib's is not read as theirs
    assert _foreign_facts(original) <= _foreign_facts(sidecar.read_text(encoding="utf-8"))

    root = xmp.parse_xmp(sidecar.read_bytes())
    hierarchical = [li.text for li in root.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}li")]
    assert "photolib|beach" in hierarchical and "photolib/beach" in hierarchical

    again, unchanged = xmp.plan_sidecar(sidecar, ["beach", "tram", "Family"], "A yellow tram on a hill")
    assert unchanged is None and again.added == []  # a second export changes nothing


def test_new_sidecar_gets_caption_and_tags_and_a_user_caption_is_kept(tmp_path):
    sidecar = tmp_path / "new.jpg.xmp"
    change, data = xmp.plan_sidecar(sidecar, ["cat"], "A cat on a sofa")
    assert change.created and change.caption == "A cat on a sofa"
    xmp.write_atomically(sidecar, data)
    root = xmp.parse_xmp(sidecar.read_bytes())
    texts = [li.text for li in root.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}li")]
    assert "cat" in texts and "A cat on a sofa" in texts
    assert xmp.read_sidecars([sidecar])[0].is_empty()  # all of it is photolib's own

    user = write(tmp_path / "user.jpg.xmp", xmp_samples.DIGIKAM)
    change, data = xmp.plan_sidecar(user, ["cat"], "A cat on a sofa")
    assert change.caption is None and b"A cat on a sofa" not in data


def test_iptc_keywords_and_caption_from_a_jpeg(tmp_path):
    from PIL import Image

    from tests.support.photos import make_photo

    path = make_photo(tmp_path / "iptc.jpg")
    iptc = _iptc_block({(2, 25): [b"harbour", b"boats"], (2, 120): [b"Morning in Porto"], (2, 5): [b"Ribeira"]})
    with Image.open(path) as image:
        image.load()
        image.save(path, "JPEG", exif=image.info.get("exif", b""), extra=iptc)
    with Image.open(path) as image:
        meta = xmp.iptc_metadata(image)
    assert meta.keywords == ["harbour", "boats"]
    assert meta.caption == "Morning in Porto" and meta.title == "Ribeira"


def _iptc_block(records):
    """An APP13 Photoshop IRB segment holding IPTC-IIM datasets (what Lightroom/Photo Mechanic write)."""
    import struct

    data = b"".join(b"\x1c" + bytes([r, d]) + struct.pack(">H", len(v)) + v
                    for (r, d), values in records.items() for v in values)
    irb = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(data)) + data
    if len(data) % 2:
        irb += b"\x00"
    payload = b"Photoshop 3.0\x00" + irb
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def _foreign_facts(text: str) -> set[tuple[str, str]]:
    """(path of tags, value) of every attribute and leaf text outside photolib's own fields."""
    root = xmp.parse_xmp(text)
    facts = set()

    def walk(element, trail):
        tag = element.tag
        trail = f"{trail}/{tag}"
        if "photolib" in tag or tag.endswith("}subject") or tag.endswith("}hierarchicalSubject") \
                or tag.endswith("}TagsList") or tag.endswith("}description"):
            return
        for key, value in element.attrib.items():
            facts.add((f"{trail}@{key}", value))
        if element.text and element.text.strip():
            facts.add((trail, element.text.strip()))
        for child in element:
            walk(child, trail.replace("/{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Seq", "/{rdf}list")
                 .replace("/{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Bag", "/{rdf}list"))

    walk(root, "")
    assert isinstance(root, ElementTree.Element)
    return facts
