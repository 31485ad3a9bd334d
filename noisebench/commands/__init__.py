"""CLI command groups. Each module exposes `register(app)`; none imports torch/transformers at module level."""

ARGV: list[str] = []  # the arguments of the command being run (set by noisebench.cli.run_cli): executors re-run it
