"""The lowest layer: errors, settings, domain records, file names and the small shared helpers (time, atomic files, paths).

Everything else may import it; it imports nothing of photolib's above it."""
