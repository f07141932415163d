"""Finding photos: the finder (filters + vector spaces), fusion of spaces, relevance, duplicates and album grouping."""
