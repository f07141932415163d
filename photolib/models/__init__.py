"""Machine-learning runners behind small classes: CLIP (Immich layout), MiniLM, OCR, faces, labels, people grouping, and the image-model registry and download."""
