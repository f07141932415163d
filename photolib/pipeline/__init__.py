"""Getting photos in and learning about them: scan, the batch engine, the stage registry, and the stages themselves (`stages/`)."""
