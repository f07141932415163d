"""The query language: its parser and the one registry of filters."""
