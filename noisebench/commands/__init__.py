"""CLI command groups. Each module exposes `register(app)`; none imports torch/transformers at module level."""
