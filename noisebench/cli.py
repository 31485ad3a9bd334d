"""The `noisebench` command line: thin, instant `--help`, one place that turns errors into messages and exit codes.

Each command group lives in `noisebench/commands/<group>.py` and exposes `register(app)`. Command modules import
nothing heavy at module level: torch, transformers, datasets and matplotlib are imported inside the command bodies,
so `noisebench --help` works with none of them installed.

Exit codes: 0 success, 1 a failed run (or `check` found a regression), 2 usage/input error, 130 interrupted.
"""

from __future__ import annotations

import sys

import typer

try:  # typer >= 0.20 vendors click as typer._click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer depends on click
    from click.exceptions import ClickException  # type: ignore[assignment]  # the same class, another path

from noisebench import __version__
from noisebench.commands import data_cmd, noise_cmd, report_cmd, run_cmd, sweep_cmd
from noisebench.errors import NoisebenchError

app = typer.Typer(
    name="noisebench",
    help="How text classifiers break under realistic input noise: seeded, rate-exact perturbations, "
    "multi-seed fine-tuning, degradation tables with confidence intervals, and a CI regression gate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"noisebench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """noisebench command line."""


for _group in (noise_cmd, data_cmd, run_cmd, sweep_cmd, report_cmd):
    _group.register(app)


def error_line(message: str) -> None:
    """One clear line on stderr."""
    typer.echo(f"noisebench: error: {message}", err=True)


def run_cli(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return the exit code instead of exiting (used by `main` and by tests)."""
    command = typer.main.get_command(app)
    try:
        # With standalone_mode=False, click returns a command's `raise typer.Exit(n)` as the value n.
        rc = command.main(args=argv, prog_name="noisebench", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except ClickException as e:  # bad options, missing arguments, unknown command: formatted by click
        e.show()
        return e.exit_code
    except typer.Abort:
        typer.echo("interrupted", err=True)
        return 130
    except NoisebenchError as e:
        error_line(str(e))
        return e.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted; finished results are kept and a re-run resumes", err=True)
        return 130
    return rc if isinstance(rc, int) else 0


def main() -> None:
    sys.exit(run_cli(sys.argv[1:]))


if __name__ == "__main__":
    main()
