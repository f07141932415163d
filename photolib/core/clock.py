"""The one clock: UTC, and the one timestamp format every table of the catalog stores.

Timestamps are ISO 8601 in UTC to the second ("2026-12-06T23:36:33+00:00"), so they
sort as text and read the same on every machine.
"""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def now() -> str:
    """The current time in the catalog's timestamp format."""
    return utc_now().isoformat(timespec="seconds")
