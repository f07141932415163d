"""Model providers behind small protocols; see `base` for the contracts."""
