"""`noisebench sweep`: LoRA rank × targets × learning-rate grid on the validation split; prints and stores the grid.

Nothing heavy is imported here: torch and the models load inside the command body (`noisebench.training.sweep`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from noisebench.errors import UsageError

TARGET_CHOICES = ("qv", "qkvo")


def parse_list(text: str, kind: type, what: str, errors: list[str]) -> tuple:
    """Comma-separated values of `kind`; appends a message to `errors` for each bad item (reported together)."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        errors.append(f"--{what} is empty")
        return ()
    out = []
    for item in items:
        try:
            value = kind(item)
        except ValueError:
            errors.append(f"--{what}: {item!r} is not a valid {kind.__name__}")
            continue
        if kind in (int, float) and not value > 0:
            errors.append(f"--{what}: {item} must be > 0")
        elif kind is str and value not in TARGET_CHOICES:
            errors.append(f"--{what}: {item!r} is not one of {', '.join(TARGET_CHOICES)}")
        elif value in out:
            errors.append(f"--{what}: {item} is listed twice")
        else:
            out.append(value)
    return tuple(out)


def register(app: typer.Typer) -> None:
    @app.command("sweep")
    def sweep(
        model: Annotated[str, typer.Option("--model", "-m", help="Registered model with a lora recipe.")],
        dataset: Annotated[str, typer.Option("--dataset", "-d", help="Registered dataset or a data file.")],
        ranks: Annotated[str, typer.Option(help="LoRA ranks, comma-separated (alpha = 2 x rank).")] = "8,16,32",
        targets: Annotated[str, typer.Option(help="LoRA target sets: qv (query, value) and/or qkvo.")] = "qv,qkvo",
        lrs: Annotated[str, typer.Option(help="Learning rates, comma-separated.")] = "1e-4,2e-4",
        epochs: Annotated[int, typer.Option(help="Maximum epochs per grid point (early stopping on validation).")] = 3,
        batch_size: Annotated[int, typer.Option(help="Effective batch size (halved with doubled accumulation "
                                                     "on out-of-memory).")] = 32,
        seed: Annotated[int, typer.Option(help="Seed of every grid point's fine-tuning.")] = 42,
        device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
        max_length: Annotated[int | None, typer.Option(help="Truncation in the model's units (tokens or bytes); "
                                                            "default: the family's.")] = None,
        results_dir: Annotated[Path, typer.Option(help="Results folder; the sweep goes to <dir>/sweeps/.")] = Path(
            "results"),
        data_dir: Annotated[Path | None, typer.Option(help="Folder with one sub-folder per dataset "
                                                           "(default: $NOISEBENCH_DATA_DIR).")] = None,
    ) -> None:
        """Tune LoRA rank, targets and learning rate on the validation split (never test); resumable.

        Stores <results-dir>/sweeps/<model>-<dataset>-<hash>.json; use it with `noisebench run --sweep FILE`.
        """
        errors: list[str] = []
        rank_values = parse_list(ranks, int, "ranks", errors)
        target_values = parse_list(targets, str, "targets", errors)
        lr_values = parse_list(lrs, float, "lrs", errors)
        for name, value in (("--epochs", epochs), ("--batch-size", batch_size)):
            if value < 1:
                errors.append(f"{name} must be >= 1 (got {value})")
        if max_length is not None and max_length < 1:
            errors.append(f"--max-length must be >= 1 (got {max_length})")
        if errors:
            raise UsageError("; ".join(errors))

        from rich.console import Console

        from noisebench.training.sweep import SweepSettings, load_choice, run_sweep, table

        settings = SweepSettings(model=model, dataset=dataset, ranks=rank_values, targets=target_values,
                                 lrs=lr_values, epochs=epochs, batch_size=batch_size, seed=seed, device=device,
                                 results_dir=str(results_dir), data_dir=None if data_dir is None else str(data_dir),
                                 max_length=max_length)
        doc, path = run_sweep(settings, echo=lambda line: typer.echo(line, err=True))
        Console(width=None if sys.stdout.isatty() else 140).print(table(doc))
        try:
            choice = load_choice(path)
        except UsageError:
            from noisebench.errors import RunError

            raise RunError(f"no grid point finished (all out of memory or failed); see {path}") from None
        typer.echo(f"choice: rank {choice['lora_rank']}, targets {choice['lora_targets']}, alpha "
                   f"{choice['lora_alpha']}, lr {choice['lr']:g} (validation accuracy "
                   f"{doc['choice']['val_accuracy']:.4f})")
        typer.echo(f"saved {path}  (use: noisebench run --sweep {path})")
