"""Everything the user sees: console, tables, panels, progress, terminal previews, HTML pages and the gallery."""
