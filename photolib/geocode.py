"""Offline reverse geocoding: GPS coordinates to "City, Region, Country".

Uses the `reverse_geocode` package, which ships GeoNames' cities of more than
1 000 people, so place names work with no network. Its data loads once, on
first use (about half a second), behind a lock because imports run in threads.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

_lock = threading.Lock()


def place_name(lat: float | None, lon: float | None) -> str | None:
    """The nearest known place, or None for missing or impossible coordinates."""
    if lat is None or lon is None or not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return _lookup(round(lat, 3), round(lon, 3))


@lru_cache(maxsize=4096)
def _lookup(lat: float, lon: float) -> str | None:
    with _lock:
        import reverse_geocode

        found = dict(reverse_geocode.get((lat, lon), min_population=5000))
    parts: list[str] = []
    for key in ("city", "state", "country"):
        value = (found.get(key) or "").strip()
        if value and value not in parts:
            parts.append(value)
    return ", ".join(parts) or None
