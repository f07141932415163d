"""The thumbnail cache: made by `add`, upright, keyed by content, cleaned by remove/prune, counted by stats."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

from PIL import Image
from typer.testing import CliRunner

from photolib.cli import app
from photolib.media.thumbnails import THUMBNAIL_FOLDER
from tests.support.photos import make_photo


def _thumbs(library_path):
    folder = library_path / THUMBNAIL_FOLDER
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.jpg")) if folder.exists() else []


def test_add_makes_upright_thumbnails_of_both_sizes(tmp_path, make_library, library_path):
    pics = tmp_path / "pics"
    make_photo(pics / "wide.jpg", size=(2400, 1600), taken_at=datetime(2020, 5, 1))
    make_photo(pics / "turned.jpg", size=(1200, 900), orientation=6)  # stored landscape, shown portrait
    make_photo(pics / "flat.png", size=(300, 200))
    library = make_library()
    library.add([pics])
    photos = {p["path"].rsplit("/", 1)[1]: library.catalog.get(p["id"]) for p in library.list_photos()}
    cache = library.thumbnails
    for name, photo in photos.items():
        digest = photo.data["hash"]
        assert cache.has(digest), name
        with Image.open(cache.path(digest, 256)) as small:
            assert max(small.size) <= 256
        with Image.open(cache.path(digest, 1024)) as large:
            assert 256 < max(large.size) <= 1024 or name == "flat.png"
    with Image.open(cache.path(photos["turned.jpg"].data["hash"], 256)) as turned:
        assert turned.height > turned.width  # EXIF orientation applied
    with Image.open(cache.path(photos["wide.jpg"].data["hash"], 1024)) as wide:
        assert wide.width > wide.height and wide.width >= 768
    assert len(_thumbs(library_path)) == 6


def test_moved_and_copied_files_reuse_thumbnails_and_remove_prune_drop_unused(tmp_path, make_library, library_path):
    pics = tmp_path / "pics"
    first = make_photo(pics / "a.jpg", color=(10, 200, 30))
    make_photo(pics / "b.jpg", color=(200, 10, 30))
    library = make_library()
    library.add([pics])
    before = {p: (library_path / THUMBNAIL_FOLDER / p).stat().st_mtime_ns for p in _thumbs(library_path)}
    assert len(before) == 4

    (pics / "moved").mkdir()
    shutil.move(first, pics / "moved" / "a.jpg")
    shutil.copy(pics / "b.jpg", pics / "b-copy.jpg")
    library.add([pics])
    after = {p: (library_path / THUMBNAIL_FOLDER / p).stat().st_mtime_ns for p in _thumbs(library_path)}
    assert after == before  # no thumbnail made again, none added for the copy

    library.remove(str(pics / "b-copy.jpg"))
    assert len(_thumbs(library_path)) == 4  # b.jpg still uses them
    library.remove(str(pics / "b.jpg"))
    assert len(_thumbs(library_path)) == 2

    leftover = library_path / THUMBNAIL_FOLDER / "ab" / ".tmp-crash.jpg"
    leftover.parent.mkdir(exist_ok=True)
    leftover.write_bytes(b"half")
    (pics / "moved" / "a.jpg").unlink()
    assert [p["path"] for p in library.prune()] == [str(pics / "moved" / "a.jpg")]
    assert _thumbs(library_path) == [] and not leftover.exists()


def test_empty_thumbnail_counts_as_missing_and_is_made_again(tmp_path, make_library):
    pics = tmp_path / "pics"
    make_photo(pics / "a.jpg")
    library = make_library()
    library.add([pics])
    photo = library.catalog.get(1)
    cache = library.thumbnails
    cache.path(photo.data["hash"], 256).write_bytes(b"")  # what a power cut after a rename can leave
    assert not cache.has(photo.data["hash"])
    assert cache.ensure(photo.data["hash"], photo.path)
    with Image.open(cache.path(photo.data["hash"], 256)) as image:
        assert image.size == (256, 192)


def test_stats_reports_thumbnail_size_and_config_can_turn_them_off(tmp_path, library_path, monkeypatch):
    pics = tmp_path / "pics"
    make_photo(pics / "a.jpg")
    runner = CliRunner()
    monkeypatch.setenv("PHOTOLIB_THUMBNAILS_ENABLED", "false")
    assert runner.invoke(app, ["-L", str(library_path), "add", str(pics)]).exit_code == 0
    assert _thumbs(library_path) == []
    monkeypatch.delenv("PHOTOLIB_THUMBNAILS_ENABLED")
    make_photo(pics / "b.jpg", color=(1, 2, 3))
    assert runner.invoke(app, ["-L", str(library_path), "add", str(pics)]).exit_code == 0
    stats = json.loads(runner.invoke(app, ["-L", str(library_path), "stats", "--json"]).stdout)
    # Turned on again, the thumbnail stage works off its backlog: the new photo's and the older one's.
    assert stats["thumbnails"]["photos"] == 2 and stats["thumbnails"]["bytes"] > 1000
    assert [row["pending"] for row in stats["stages"] if row["stage"] == "thumbnails"] == [0]
    shown = runner.invoke(app, ["-L", str(library_path), "stats"]).stdout
    assert "thumbnails" in shown and "2 photos" in shown


def test_backup_leaves_thumbnails_out_and_a_restored_library_rebuilds_them(tmp_path, make_library):
    pics = tmp_path / "pics"
    make_photo(pics / "a.jpg")
    library = make_library()
    library.add([pics])
    library.backup(tmp_path / "snapshot")
    assert not (tmp_path / "snapshot" / THUMBNAIL_FOLDER).exists()
    restored = make_library(path=tmp_path / "restored")
    restored.restore(tmp_path / "snapshot")
    assert _thumbs(tmp_path / "restored") == []
    from photolib.render.gallery import write_gallery

    site = write_gallery(tmp_path / "site", restored.gallery_input())
    assert site.without_thumbnail == 0  # made again from the original
    assert len(_thumbs(tmp_path / "restored")) == 2
