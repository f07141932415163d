"""The gallery and --html pages in a real headless Chromium: thumbnails load, links resolve,
hostile names stay text, keyboard and phone width work. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from typer.testing import CliRunner

from photolib.cli import app
from tests.support.browser import Browser, chromium_path
from tests.conftest import STAGES_OFF
from tests.support.photos import make_photo

HOSTILE = "<img src=x onerror=alert(1)>.jpg"
ALL_IMAGES_LOADED = """
Promise.all(Array.from(document.images).map(function (image) {
  image.loading = 'eager';
  return image.decode().then(function () { return [image.getAttribute('src'), image.naturalWidth]; },
                             function () { return [image.getAttribute('src'), 0]; });
}))
"""
LINKS = "Array.from(document.querySelectorAll('a[href]')).map(function (a) { return a.href; })"


@pytest.fixture(scope="module")
def browser():
    executable = chromium_path()
    if executable is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)")
    opened = Browser(executable)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A library with a hostile file name, a rotated photo, two places and an imagined image, and its gallery."""
    from PIL import Image

    root = tmp_path_factory.mktemp("html")
    pics = root / "pics"
    make_photo(pics / "Lisbon trip" / HOSTILE, taken_at=datetime(2021, 6, 1, 10), gps=(38.7223, -9.1393),
               make="Canon", model="Canon EOS R6")
    make_photo(pics / "Lisbon trip" / "beach #1.jpg", taken_at=datetime(2021, 6, 1, 12), gps=(38.70, -9.15),
               color=(40, 120, 210), orientation=6)
    make_photo(pics / "Oslo" / "fjord 100%.png", taken_at=datetime(2022, 1, 5), color=(20, 60, 40))
    library = root / "library"
    runner = CliRunner()
    env = {"HOME": str(root), "XDG_CONFIG_HOME": str(root / "config"), **STAGES_OFF}
    assert runner.invoke(app, ["-L", str(library), "add", str(pics)], env=env).exit_code == 0
    generated = library / "generated" / "photo1-seed7.png"
    generated.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (96, 64), (250, 200, 10)).save(generated)
    from photolib.store.catalog import Catalog

    catalog = Catalog(library / "catalog.db")
    with catalog.transaction():
        catalog.record_generation(1, "a sunlit <b>street</b> in warm colours", "black-forest-labs/FLUX.1-dev", 7,
                                  str(generated))
        catalog.replace_albums([("Lisbon <summer>", [1, 2])], 1.5, None)
    catalog.close()
    result = runner.invoke(app, ["-L", str(library), "gallery", str(root / "site"), "--json"], env=env)
    assert result.exit_code == 0, result.output
    return {"root": root, "library": library, "pics": pics, "site": root / "site", "env": env,
            "report": json.loads(result.stdout)}


def _check_links(urls: list[str]) -> None:
    for url in urls:
        parsed = urlparse(url)
        assert parsed.scheme == "file", url
        assert Path(unquote(parsed.path)).exists(), f"link does not resolve: {url}"


def test_gallery_pages_load_every_thumbnail_and_show_hostile_names_as_text(browser, site):
    assert site["report"]["photos"] == 3 and site["report"]["without_thumbnail"] == 0
    index = (site["site"] / "index.html").as_uri()
    browser.open(index)
    assert browser.evaluate("document.querySelectorAll('img[loading=lazy]').length") == 3
    loaded = browser.evaluate(ALL_IMAGES_LOADED)
    assert len(loaded) == 3 and all(width > 0 for _src, width in loaded), loaded
    assert all(not src.startswith(("http:", "https:", "/")) for src, _w in loaded)  # relative, offline
    body = browser.evaluate("document.body.innerText")
    assert HOSTILE in body and "fjord 100%.png" in body and "Lisbon <summer>" in body
    assert browser.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert not browser.dialogs()
    _check_links(browser.evaluate(LINKS))
    browser.screenshot("gallery-index.png")

    browser.resize(390, 800, mobile=True)  # a phone: no sideways scrolling
    assert browser.evaluate("document.documentElement.scrollWidth") <= 390
    browser.screenshot("gallery-index-phone.png")
    browser.resize(1200, 900)
    browser.call("Emulation.setEmulatedMedia", session=True, features=[{"name": "prefers-color-scheme", "value": "dark"}])
    dark = browser.evaluate("getComputedStyle(document.body).backgroundColor")
    browser.call("Emulation.setEmulatedMedia", session=True, features=[{"name": "prefers-color-scheme", "value": "light"}])
    assert dark != browser.evaluate("getComputedStyle(document.body).backgroundColor")


def test_photo_page_details_generations_album_links_and_keyboard(browser, site):
    browser.open((site["site"] / "photos" / "1.html").as_uri())
    body = browser.evaluate("document.body.innerText")
    assert HOSTILE in body and "Lisbon" in body and "Canon EOS R6" in body and "2021-06-01 10:00" in body
    assert "a sunlit <b>street</b> in warm colours" in body and "seed 7" in body and "FLUX.1-dev" in body
    loaded = browser.evaluate(ALL_IMAGES_LOADED)
    assert len(loaded) == 2 and all(width > 0 for _src, width in loaded), loaded  # the photo and the imagined one
    links = browser.evaluate(LINKS)
    _check_links(links)
    originals = [url for url in links if "/pics/" in url]
    assert originals and all(Path(unquote(urlparse(u).path)).is_file() for u in originals)
    assert any("/albums/" in url for url in links)
    browser.screenshot("gallery-photo.png")
    browser.key("ArrowRight")
    browser.wait_for_event("Page.loadEventFired")
    assert browser.evaluate("location.pathname").endswith("/photos/2.html")
    assert "beach #1.jpg" in browser.evaluate("document.body.innerText")


def test_search_html_is_one_self_contained_page(browser, site, tmp_path):
    page = tmp_path / "results.html"
    runner = CliRunner()
    result = runner.invoke(app, ["-L", str(site["library"]), "search", "Lisbon", "--html", str(page)], env=site["env"])
    assert result.exit_code == 0, result.output
    browser.open(page.as_uri())
    loaded = browser.evaluate(ALL_IMAGES_LOADED)
    assert len(loaded) == 2 and all(src.startswith("data:image/jpeg;base64,") and width > 0 for src, width in loaded)
    body = browser.evaluate("document.body.innerText")
    assert HOSTILE in body and "distance" in body
    _check_links(browser.evaluate(LINKS))
    assert browser.evaluate("document.querySelectorAll('[onerror]').length") == 0
    browser.screenshot("search-results.png")
    assert sorted(os.listdir(tmp_path)) == ["results.html"]
