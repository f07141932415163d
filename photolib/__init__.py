"""photolib: a command-line photo library that stays useful offline."""

__version__ = "0.1.0"
