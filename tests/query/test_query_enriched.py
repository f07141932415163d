"""Filters over what other parts of photolib learn: the user's XMP ratings and keywords (sidecars),
text read in photos (OCR tables) and people (face tables), in search, list, similar and smart albums."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.support import xmp_samples
from tests.conftest import table_cells
from tests.support.photos import make_photo

SIDECARS = {"tram": xmp_samples.DIGIKAM, "sunset": xmp_samples.DARKTABLE, "anna": xmp_samples.LIGHTROOM}


@pytest.fixture(scope="module")
def enriched(tmp_path_factory, embedder):
    """Five photos: three with sidecars (rated 4, 2, 5), a receipt whose OCR text is stored, and one
    whose face and the tram photo's face are one person, named "Zoë"."""
    import numpy as np

    from photolib.app.library import Library
    from photolib.core.config import load_settings
    from photolib.core.records import FACE_DIMENSION as DIMENSION
    from photolib.core.records import FoundFace, PhotoText, TextBox
    from photolib.models.people import group

    root = tmp_path_factory.mktemp("enriched")
    pictures = root / "pics"
    for n, name in enumerate(["tram", "sunset", "anna", "receipt", "portrait"]):
        make_photo(pictures / "photos" / f"{name}.jpg", taken_at=datetime(2023, 7, 10 + n, 12),
                   color=(40 * n + 40, 120, 200 - 30 * n))
        if name in SIDECARS:
            (pictures / "photos" / f"{name}.jpg.xmp").write_text(SIDECARS[name], encoding="utf-8")
    (root / "config.toml").write_text("[ocr]\nenabled = false\n[faces]\nenabled = false\n")
    settings = load_settings(config_path=root / "config.toml", library_path=root / "library", environ={})
    library = Library(settings, embedder=embedder)
    assert not library.add([pictures]).failed
    ids = {path.stem: library.catalog.get_by_path(str(path)).id for path in (pictures / "photos").glob("*.jpg")}
    face = np.full(DIMENSION, 0.05, dtype=np.float32)
    with library.catalog.transaction():
        library.text_store.store(ids["receipt"], "test-ocr", PhotoText(boxes=[
            TextBox("INVOICE 2023-117", 0.98, (0.1, 0.1, 0.9, 0.2)), TextBox("ACME Bakery Ltd", 0.95, (0.1, 0.3, 0.9, 0.4))]),
            0.8)
        library.text_store.store(ids["sunset"], "test-ocr", PhotoText(), 0.8)  # read, no text
        for name in ("tram", "portrait"):
            library.face_store.store(ids[name], "test-faces", [FoundFace((0.2, 0.2, 0.5, 0.6), 0.99, face)])
        library.face_store.group_new_faces(0.6, group)
        person = library.face_store.people()[0]
        library.face_store.name(person.id, "Zoë")
    library.ids = ids
    library.person_id = person.id
    yield library
    library.close()


def found(library, query, **options) -> list[str]:
    by_id = {v: k for k, v in library.ids.items()}
    return sorted(by_id[hit.id] for hit in library.search(query, limit=50, **options))


@pytest.mark.parametrize("query,expected", [
    ("rating:4", ["tram"]),
    ("rating>=4", ["anna", "tram"]),
    ("rating:2..4", ["sunset", "tram"]),
    ("rating:<=2", ["portrait", "receipt", "sunset"]),  # unrated counts as 0 stars
    ("rating:0", ["portrait", "receipt"]),
    ("-rating>=4", ["portrait", "receipt", "sunset"]),
    ("keyword:Lisbon", ["tram"]),  # a level of Places/Portugal/Lisbon
    ("keyword:family", ["tram"]),
    ("keyword:Anna OR keyword:sunset", ["anna", "sunset"]),
    ("keyword:Portugal rating>=3", ["tram"]),
    ("text:invoice", ["receipt"]),
    ("text:voic", ["receipt"]),  # part of a word, any case
    ('text:"acme ltd"', ["receipt"]),
    ("text:zebra", []),
    ("has:text", ["receipt"]),  # sunset was read and holds none
    ("-has:text", ["anna", "portrait", "sunset", "tram"]),
    ("person:Zoë", ["portrait", "tram"]),
    ("person:zoe", ["portrait", "tram"]),  # any case, any accents
    ("-person:zoe", ["anna", "receipt", "sunset"]),
    ("has:faces", ["portrait", "tram"]),
    ("person:anna", ["anna"]),  # named in the photo's XMP (Lightroom face region, keywords)
    ("person:Zoë OR person:Anna", ["anna", "portrait", "tram"]),
])
def test_enriched_filters_alone_and_with_words(enriched, query, expected):
    assert found(enriched, query) == expected
    assert found(enriched, f"photos {query}", all_results=True, threshold=4.0) == expected


def test_person_by_number_and_unknown_names(enriched):
    from photolib.core.errors import UsageError

    assert found(enriched, f"person:{enriched.person_id}") == ["portrait", "tram"]
    with pytest.raises(UsageError, match=r"no person 'Zoey'.*did you mean person:'Zoë'\?.*named people: Anna, Zoë\)"):
        enriched.search("person:Zoey")


def test_filters_through_the_index_id_selector(enriched, monkeypatch):
    """The same answers when the filters become a FAISS id selector (large libraries' path)."""
    import photolib.search.finder

    monkeypatch.setattr(photolib.search.finder.Finder, "_nearest_then_filtered", lambda *args: None)
    monkeypatch.setattr(photolib.search.finder, "SMALL_SELECTION", 0)
    for query, expected in [("rating>=4", ["anna", "tram"]), ("text:invoice", ["receipt"]),
                            ("person:zoe", ["portrait", "tram"]), ("keyword:Lisbon", ["tram"])]:
        assert found(enriched, f"photo {query}", all_results=True, threshold=4.0) == expected


def test_words_read_in_a_photo_rank_it_first(enriched):
    assert enriched.search("invoice", all_results=True, threshold=4.0)[0].id == enriched.ids["receipt"]


def test_list_flags_are_the_same_filters(enriched):
    """list --rating/--keyword/--has-text/--person and the query language agree."""
    runner = CliRunner()

    def listed(*args):
        result = runner.invoke(app, ["-L", str(enriched.root), "list", *args, "--json"])
        assert result.exit_code == 0, result.output
        by_id = {v: k for k, v in enriched.ids.items()}
        return [by_id[p["id"]] for p in json.loads(result.stdout)]

    assert listed("--rating", "4") == listed("rating>=4") == ["tram", "anna"]  # oldest first
    assert listed("--keyword", "portugal") == ["tram", "sunset"]
    assert listed("--has-text") == listed("has:text") == ["receipt"]
    assert listed("--person", "Zoë") == listed("person:zoe") == ["tram", "portrait"]
    assert listed("--person", "zoe", "--rating", "1") == ["tram"]
    similar = json.loads(runner.invoke(app, ["-L", str(enriched.root), "similar", str(enriched.ids["tram"]),
                                             "rating>=1", "--json"]).stdout)
    assert sorted(h["id"] for h in similar) == sorted(enriched.ids[n] for n in ("sunset", "anna"))


def test_smart_album_of_enriched_filters_as_html(enriched, tmp_path):
    runner = CliRunner()
    folder = str(enriched.root)
    saved = runner.invoke(app, ["-L", folder, "albums", "smart", "Best of Zoë", "person:zoe OR person:anna rating>=4"])
    assert saved.exit_code == 0, saved.output
    page = tmp_path / "best.html"
    shown = runner.invoke(app, ["-L", folder, "albums", "show", "best of zoë", "--html", str(page)])
    assert shown.exit_code == 0, shown.output
    assert "Wrote 2 photo(s)" in shown.output and "tram" not in shown.stdout  # the page, not a table
    html = page.read_text(encoding="utf-8")
    assert "Best of Zoë" in html and "data:image" in html
    assert "tram.jpg" in html and "anna.jpg" in html and "portrait.jpg" not in html
    table = runner.invoke(app, ["-L", folder, "albums", "show", "Best of Zoë", "--long"])
    assert table.exit_code == 0, table.output
    photos = enriched.root.parent / "pics" / "photos"
    assert [(row[0], row[3]) for row in table_cells(table.stdout)] == [  # each path whole, however it is folded
        ("id", "path"), *((str(enriched.ids[name]), "".join(str(photos / f"{name}.jpg").split())) for name in ("tram", "anna"))]


def test_list_rating_minus_one_means_every_photo(enriched):
    """XMP's -1 (rejected) is below every rating: at least -1 stars is the whole library."""
    result = CliRunner().invoke(app, ["-L", str(enriched.root), "list", "--rating", "-1", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == len(enriched.ids)
