"""The user's other tools: keywords read from XMP/IPTC, sidecars written back, copies found, nothing deleted."""

from __future__ import annotations

import csv
import json
import os
import shutil
from datetime import datetime

import pytest
from PIL import Image
from typer.testing import CliRunner

from photolib.cli import app
from tests.support import xmp_samples
from tests.support.photos import make_photo


@pytest.fixture
def tagged(tmp_path):
    """A folder where digiKam, Lightroom and a bad tool have each left their sidecar."""
    root = tmp_path / "pics"
    make_photo(root / "tram.jpg", color=(230, 200, 40), taken_at=datetime(2023, 7, 14, 18, 0))
    (root / "tram.jpg.xmp").write_text(xmp_samples.DIGIKAM, encoding="utf-8")
    make_photo(root / "IMG_0042.jpg", color=(40, 90, 200), taken_at=datetime(2023, 7, 15, 9, 0))
    (root / "IMG_0042.xmp").write_text(xmp_samples.LIGHTROOM, encoding="utf-8")
    make_photo(root / "broken.jpg", color=(90, 160, 60))
    (root / "broken.jpg.xmp").write_text("<x:xmpmeta><rdf:RDF>", encoding="utf-8")
    return root


def ids_by_name(library):
    return {os.path.basename(path): pid for pid, path in library.catalog.all_paths()}


def test_add_reads_the_users_words_and_shows_them_first(make_library, tagged):
    library = make_library()
    report = library.add([tagged])
    assert report.failed == []
    assert [(os.path.basename(p), "not well-formed" in r) for p, r in report.warnings] == [("broken.jpg", True)]
    ids = ids_by_name(library)
    tram = library.show(ids["tram.jpg"])
    assert list(tram)[0] == "user"
    assert tram["user"] == {"keywords": ["Places/Portugal/Lisbon", "Family"], "title": "Tram 28 at dusk",
                            "caption": "Grandma waving from the tram", "rating": 4, "people": []}
    assert tram["tags"] and "Lisbon" not in tram["tags"]  # the model's tags are kept apart
    assert library.show(ids["IMG_0042.jpg"])["user"]["people"] == ["Anna"]
    assert library.show(ids["broken.jpg"])["status"] == "ok"  # a bad sidecar never fails the photo


def test_users_words_are_found_by_exact_word_search_and_meaning(make_library, tagged):
    library = make_library()
    library.add([tagged])
    ids = ids_by_name(library)
    assert library.search("grandma", threshold=0.0)[0].id == ids["tram.jpg"]  # exact word, no near meaning needed
    assert library.search("Lisbon")[0].id == ids["tram.jpg"]
    assert library.search("Anna")[0].id == ids["IMG_0042.jpg"]


def test_list_filters_by_rating_and_keyword_levels(make_library, tagged):
    library = make_library()
    library.add([tagged])
    names = lambda rows: sorted(os.path.basename(r["path"]) for r in rows)  # noqa: E731
    assert names(library.list_photos(rating=4)) == ["IMG_0042.jpg", "tram.jpg"]
    assert names(library.list_photos(rating=5)) == ["IMG_0042.jpg"]
    assert names(library.list_photos(keyword="lisbon")) == ["tram.jpg"]  # a level of Places/Portugal/Lisbon
    assert names(library.list_photos(keyword="Places/Portugal")) == ["tram.jpg"]
    assert names(library.list_photos(keyword="Portug")) == []  # whole levels only


def test_a_changed_sidecar_is_read_again_and_nothing_else_is_redone(make_library, tagged):
    library = make_library()
    library.add([tagged])
    tram = ids_by_name(library)["tram.jpg"]
    vector_before = library.catalog.vectors_for([tram])[tram]
    unchanged = library.add([tagged])
    assert (unchanged.sidecars_changed, unchanged.embedded, unchanged.unchanged) == (0, 0, 3)

    sidecar = tagged / "tram.jpg.xmp"
    sidecar.write_text(xmp_samples.DIGIKAM.replace("Family", "Holidays").replace('xmp:Rating="4"', 'xmp:Rating="1"'),
                       encoding="utf-8")
    report = library.add([tagged])
    assert report.sidecars_changed == 1 and report.new == 0 and report.updated == 0
    assert report.embedded == 1  # the user's words changed what the description means
    user = library.show(tram)["user"]
    assert user["keywords"] == ["Places/Portugal/Lisbon", "Holidays"] and user["rating"] == 1
    assert library.catalog.vectors_for([tram])[tram] != vector_before


def test_a_removed_sidecar_drops_the_words_it_held(make_library, tagged):
    library = make_library()
    library.add([tagged])
    (tagged / "IMG_0042.xmp").unlink()
    report = library.add([tagged])
    assert report.sidecars_changed == 1
    assert library.show(ids_by_name(library)["IMG_0042.jpg"])["user"] is None


def test_export_xmp_merges_and_the_reread_adds_no_keywords(make_library, tagged):
    library = make_library()
    library.add([tagged])
    ids = ids_by_name(library)
    before = {name: library.show(pid)["user"] for name, pid in ids.items()}
    plan = library.export_xmp(dry_run=True)
    assert {os.path.basename(c.path) for c in plan.changes} == {"tram.jpg.xmp", "IMG_0042.xmp"}
    assert {p for p, _ in plan.skipped} == {str(tagged / "broken.jpg.xmp")}  # a bad sidecar is left as it is
    assert not (tagged / "broken.jpg.xmp").read_text().endswith("</x:xmpmeta>")
    digikam_before = (tagged / "tram.jpg.xmp").read_bytes()

    written = library.export_xmp()
    assert len(written.changes) == 2 and (tagged / "tram.jpg.xmp").read_bytes() != digikam_before
    tram_tags = library.show(ids["tram.jpg"])["tags"]
    sidecar = (tagged / "tram.jpg.xmp").read_text(encoding="utf-8")
    assert tram_tags and all(f"photolib|{tag}" in sidecar for tag in tram_tags)
    assert "Grandma waving from the tram" in sidecar and "Places|Portugal|Lisbon" in sidecar

    report = library.add([tagged])
    assert report.sidecars_changed == 0  # photolib's own write is not the user's change
    assert {name: library.show(pid)["user"] for name, pid in ids.items()} == before
    assert library.export_xmp().changes == []  # a second export writes nothing


def test_export_xmp_styles_and_photo_files_untouched(make_library, tmp_path):
    root = tmp_path / "plain"
    make_photo(root / "a.jpg", color=(200, 40, 40))
    make_photo(root / "b.jpg", color=(40, 200, 40))
    library = make_library()
    library.add([root])
    photo_bytes = (root / "a.jpg").read_bytes()
    library.export_xmp([root / "a.jpg"], style="photo.xmp")
    assert (root / "a.xmp").exists() and not (root / "b.xmp").exists() and not (root / "a.jpg.xmp").exists()
    library.export_xmp([root])
    assert (root / "b.jpg.xmp").exists() and not (root / "a.jpg.xmp").exists()  # the existing sidecar is kept
    assert (root / "a.jpg").read_bytes() == photo_bytes


# -- duplicates -------------------------------------------------------------------


@pytest.fixture
def copies(tmp_path):
    """One photo in many guises, a photo shot sideways, and unrelated photos."""
    import skimage.data

    root = tmp_path / "copies"
    root.mkdir()
    original = Image.fromarray(skimage.data.astronaut())
    original.save(root / "astronaut.jpg", quality=92)
    shutil.copy(root / "astronaut.jpg", root / "astronaut (copy).jpg")
    original.resize((256, 256)).save(root / "astronaut_email.jpg", quality=70)
    original.save(root / "astronaut_recompressed.jpg", quality=25)
    width, height = original.size
    original.crop((12, 12, width - 12, height - 12)).save(root / "astronaut_cropped.jpg", quality=90)
    original.rotate(90, expand=True).save(root / "astronaut_sideways.jpg", quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways, shown upright
    original.rotate(90, expand=True).save(root / "astronaut_exif_rotated.jpg", quality=90, exif=exif.tobytes())
    for name, picture in (("coffee", skimage.data.coffee()), ("rocket", skimage.data.rocket()),
                          ("cat", skimage.data.chelsea())):
        Image.fromarray(picture).save(root / f"{name}.jpg", quality=90)
    return root


def test_duplicates_finds_exact_and_near_copies_best_first(make_library, copies):
    library = make_library()
    library.add([copies])
    ids = ids_by_name(library)
    groups = library.duplicates()
    assert [g.kind for g in groups] == ["exact", "near"]
    exact, near = groups
    assert sorted(p.id for p in exact.photos) == sorted([ids["astronaut.jpg"], ids["astronaut (copy).jpg"]])
    assert exact.reason == "first imported (the copies are alike)"
    near_names = {os.path.basename(p.path) for p in near.photos}
    assert near_names == {os.path.basename(exact.best.path), "astronaut_email.jpg", "astronaut_recompressed.jpg",
                          "astronaut_cropped.jpg", "astronaut_exif_rotated.jpg"}  # exact copies count once
    assert near.best.id == exact.best.id and near.reason == "largest file"  # the 512 px recompressed copy is smaller
    assert "astronaut_sideways.jpg" not in near_names  # shot sideways with no orientation: another picture
    listed = {p.id for g in groups for p in g.photos}
    assert not listed & {ids["coffee.jpg"], ids["rocket.jpg"], ids["cat.jpg"]}
    assert sorted(os.listdir(copies)) == sorted(ids)  # nothing deleted or moved


def test_duplicates_rating_wins_and_cli_json_and_csv(tmp_path, copies):
    (copies / "astronaut_email.jpg.xmp").write_text(xmp_samples.LIGHTROOM, encoding="utf-8")  # rated 5
    runner = CliRunner()
    library = tmp_path / "lib"
    assert runner.invoke(app, ["-L", str(library), "add", str(copies)]).exit_code == 0
    export = tmp_path / "dupes.csv"
    result = runner.invoke(app, ["-L", str(library), "duplicates", "--json", "--export", str(export)])
    assert result.exit_code == 0, result.output
    groups = json.loads(result.stdout)
    near = [g for g in groups if g["kind"] == "near"][0]
    best = near["photos"][0]
    assert best["keep"] and best["path"].endswith("astronaut_email.jpg") and near["reason"] == "highest rating (5★)"
    rows = list(csv.DictReader(export.open(encoding="utf-8")))
    assert len(rows) == sum(len(g["photos"]) for g in groups)
    assert [r["keep"] for r in rows if r["group"] == "2"][0] == "yes"


def test_search_and_albums_show_copies_once(make_library, copies):
    library = make_library()
    library.add([copies])
    ids = ids_by_name(library)
    pair = {ids["astronaut.jpg"], ids["astronaut (copy).jpg"]}
    shown = [h.id for h in library.similar(ids["astronaut_email.jpg"], limit=20, threshold=4.0)]
    assert len(pair & set(shown)) == 1  # exact copies collapse by default
    every = [h.id for h in library.similar(ids["astronaut_email.jpg"], limit=20, threshold=4.0, collapse="none")]
    assert pair <= set(every)
    near = {ids[n] for n in ("astronaut_recompressed.jpg", "astronaut_cropped.jpg", "astronaut_exif_rotated.jpg")}
    assert near <= set(shown)
    library.duplicates(mark=True)
    marked = [h.id for h in library.similar(ids["coffee.jpg"], limit=20, threshold=4.0, collapse="marked")]
    assert len((near | pair | {ids["astronaut_email.jpg"]}) & set(marked)) == 1
    albums = library.albums(threshold=4.0, min_size=1)
    hidden = [pid for album in albums.albums for pid in album.hidden_copies]
    assert len(pair & set(hidden)) == 1


def test_duplicates_hashes_photos_imported_before_hashes_existed(make_library, copies):
    library = make_library()
    library.add([copies])
    library.catalog.db.execute("UPDATE photos SET phash = NULL")
    assert [g.kind for g in library.duplicates()] == ["exact", "near"]
    assert library.catalog.ids_missing_phash() == []


def test_similar_duplicates_without_image_vectors_says_what_to_do(make_library, copies):
    from photolib.core.errors import UsageError

    library = make_library()
    library.add([copies])
    with pytest.raises(UsageError, match="image model"):
        library.duplicates(similar=True)
