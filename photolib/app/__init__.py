"""The `Library` facade and one module per use case: what the CLI and other programs call."""
