"""The enrichment stages, one module per stage."""
