"""Photo files: formats, the one upright decode, EXIF, XMP, geocoding, hashes, thumbnails.

Imports `core` and `store` only."""
