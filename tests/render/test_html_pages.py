"""HTML building without a browser: file URLs for every platform, escaping, the gallery folder's rules."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

import pytest

from photolib.core.errors import UsageError
from photolib.render.html import file_url, text


@pytest.mark.parametrize("path, url", [
    ("/home/ana/Pictures/beach #1 100%.jpg", "file:///home/ana/Pictures/beach%20%231%20100%25.jpg"),
    ("/Users/ana/Photos/café?.jpg", "file:///Users/ana/Photos/caf%C3%A9%3F.jpg"),
    ("C:\\Users\\Ana\\Pictures\\a b#1.jpg", "file:///C:/Users/Ana/Pictures/a%20b%231.jpg"),
    ("D:/photos/x.jpg", "file:///D:/photos/x.jpg"),
    ("\\\\nas\\share\\Fotos\\ß.jpg", "file://nas/share/Fotos/%C3%9F.jpg"),
])
def test_file_urls_follow_pathlib_on_posix_and_windows(path, url):
    assert file_url(path) == url
    expected = PureWindowsPath(path).as_uri() if ":" in path[:3] or path.startswith("\\\\") else PurePosixPath(path).as_uri()
    assert file_url(path) == expected


def test_file_url_keeps_the_bytes_of_a_name_that_is_not_utf8():
    assert file_url("/p/\udcff.jpg") == "file:///p/%FF.jpg"


def test_text_escapes_markup_and_shows_controls():
    assert text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert text('a"b\'c&') == "a&quot;b&#x27;c&amp;"
    assert text("evil\u202etxt.jpg\x1b[31m") == "evil\\u202etxt.jpg\\x1b[31m"


def test_gallery_refuses_a_foreign_folder_and_removes_pages_of_forgotten_photos(tmp_path, make_library):
    from photolib.render.gallery import write_gallery
    from photolib.render.html import PhotoSection, write_photos_page
    from tests.support.photos import make_photo

    pics = tmp_path / "pics"
    make_photo(pics / "a.jpg")
    make_photo(pics / "b.jpg", color=(10, 10, 200))
    library = make_library()
    library.add([pics])
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "index.html").write_text("my own page")
    with pytest.raises(UsageError, match="not empty"):
        write_gallery(foreign, library.gallery_input())
    assert (foreign / "index.html").read_text() == "my own page"
    site = tmp_path / "site"
    assert write_gallery(site, library.gallery_input()).photos == 2
    assert sorted(p.name for p in (site / "photos").iterdir()) == ["1.html", "2.html"]
    library.remove(str(pics / "b.jpg"))
    write_gallery(site, library.gallery_input())  # the same folder again: updated in place
    assert sorted(p.name for p in (site / "photos").iterdir()) == ["1.html"]
    assert len(list((site / "thumbs").iterdir())) == 2
    with pytest.raises(UsageError, match="folder"):
        write_photos_page(site, "x", [PhotoSection(None, [])], {})
