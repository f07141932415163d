"""The words photolib itself puts into descriptions and tags: one home.

The local vision provider says when, what shape and what colour a photo is
with these words; media names colours with them; albums skip them when naming
an album, since they say nothing about the event. Change a word here and all
three agree.
"""

from __future__ import annotations

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
          "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NORTHERN_SEASONS = ("winter", "winter", "spring", "spring", "spring", "summer", "summer", "summer",
                    "autumn", "autumn", "autumn", "winter")  # by month, January first
SEASONS = ("spring", "summer", "autumn", "winter")
_OPPOSITE_SEASON = {"winter": "summer", "summer": "winter", "spring": "autumn", "autumn": "spring"}
TIMES_OF_DAY = ("morning", "afternoon", "evening", "night")
SHAPES = ("landscape", "portrait", "square", "panorama")
NO_SHAPE = "photo"  # a photo whose size is unknown
MOODS = ("dark", "balanced", "bright")
GRAYSCALE = "black and white"
COLOUR_NAMES = {  # name -> the sRGB colour a pixel is matched against
    "red": (200, 40, 40), "orange": (235, 140, 40), "yellow": (235, 215, 60), "green": (60, 150, 60),
    "teal": (40, 150, 150), "blue": (50, 90, 200), "purple": (130, 60, 170), "pink": (235, 120, 170),
    "brown": (120, 80, 45), "black": (20, 20, 20), "white": (240, 240, 240), "gray": (128, 128, 128),
}

# Every word above, lower case: true of many photos, so it names no album.
GENERIC_WORDS = frozenset({
    *(m.lower() for m in MONTHS), *(d.lower() for d in WEEKDAYS), *SEASONS, *TIMES_OF_DAY, *SHAPES, NO_SHAPE,
    *MOODS, GRAYSCALE, *COLOUR_NAMES,
})


def season(month: int, latitude: float | None) -> str:
    """The season of a month (1-12), flipped south of the equator."""
    name = NORTHERN_SEASONS[month - 1]
    return _OPPOSITE_SEASON[name] if latitude is not None and latitude < 0 else name


def time_of_day(hour: int) -> str:
    if 5 <= hour < 12:
        return "morning"
    if 12 <= hour < 17:
        return "afternoon"
    if 17 <= hour < 21:
        return "evening"
    return "night"


def shape(width: int, height: int) -> str:
    if not width or not height:
        return NO_SHAPE
    ratio = max(width, height) / min(width, height)
    if ratio >= 2:
        return "panorama"
    if ratio < 1.1:
        return "square"
    return "landscape" if width > height else "portrait"


def mood(brightness: float | None) -> str:
    if brightness is None:
        return "balanced"
    if brightness < 0.25:
        return "dark"
    if brightness > 0.7:
        return "bright"
    return "balanced"
