"""The `noisebench` command line: thin, instant `--help`, one place that turns errors into messages and exit codes.

Each command group lives in `noisebench/commands/<group>.py` and exposes `register(app)`. Command modules import
nothing heavy at module level: torch, transformers, datasets and matplotlib are imported inside the command bodies,
so `noisebench --help` works with none of them installed.

Exit codes: 0 success, 1 a failed run (or `check` found a regression), 2 usage/input error, 130 interrupted.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys

import typer

try:  # typer >= 0.20 vendors click as typer._click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover - older typer depends on click
    from click.exceptions import ClickException  # type: ignore[assignment]  # the same class, another path

from noisebench import __version__, commands
from noisebench.commands import data_cmd, noise_cmd, patches_cmd, report_cmd, run_cmd, study_cmd, sweep_cmd
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


for _group in (noise_cmd, data_cmd, run_cmd, study_cmd, sweep_cmd, report_cmd, patches_cmd):
    _group.register(app)


def error_line(message: str) -> None:
    """One clear line on stderr."""
    typer.echo(f"noisebench: error: {message}", err=True)


_METAVARS = {"<str>": "TEXT", "<float>": "NUMBER", "<int>": "INTEGER", "<path>": "PATH", "<list[str]>": "TEXT",
             "<list[float]>": "NUMBER", "<list[int]>": "INTEGER"}


def _polish(command) -> None:
    """Help that reads: placeholders in words (TEXT, NUMBER, PATH) instead of Python types (<list[str]>), none for
    flags, and each command's summary in the root help as one sentence, not broken where its docstring wraps."""
    import functools
    import inspect

    if getattr(command, "_noisebench_polished", False):
        return
    command._noisebench_polished = True
    def plain_type(param) -> None:
        if getattr(param, "is_flag", False):
            word = ""
        else:
            label = param.display_type(None)
            word = _METAVARS.get(label, label.strip("<>").upper())
        param.display_type_rich = lambda ctx, word=word: word

    def help_option(ctx, original):
        option = original(ctx)
        if option is not None:
            plain_type(option)
        return option

    for sub in [command, *getattr(command, "commands", {}).values()]:
        if sub is not command and sub.help:
            sub.short_help = " ".join(inspect.cleandoc(sub.help).split("\n\n")[0].split())
        sub.get_help_option = functools.partial(help_option, original=sub.get_help_option)
        for param in sub.params:
            if param.metavar is None and hasattr(param, "display_type"):
                plain_type(param)


def run_cli(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` and return the exit code instead of exiting (used by `main` and by tests)."""
    command = typer.main.get_command(app)
    _polish(command)
    args = list(sys.argv[1:] if argv is None else argv)
    commands.ARGV[:] = args
    try:
        # With standalone_mode=False, click returns a command's `raise typer.Exit(n)` as the value n.
        rc = command.main(args=argv, prog_name="noisebench", standalone_mode=False)
    except typer.Exit as e:
        return e.exit_code
    except ClickException as e:  # bad options, missing arguments, unknown command: one line, like our own errors
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else " (see 'noisebench --help')"
        error_line(" ".join(e.format_message().split()) + hint)
        return e.exit_code
    except typer.Abort:
        typer.echo("interrupted", err=True)
        return 130
    except NoisebenchError as e:
        resume = f"; resume with: {shlex.join(['noisebench', *args])}" if e.resumable else ""
        error_line(f"{e}{resume}")
        return e.exit_code
    except OSError as e:  # a file the command had to write or read (a full disk, permissions): one line, exit 1
        error_line(f"{e.filename + ': ' if e.filename else ''}{e.strerror or e}")
        return 1
    except KeyboardInterrupt:
        typer.echo("interrupted; finished results are kept and a re-run resumes", err=True)
        return 130
    return rc if isinstance(rc, int) else 0


def _interrupt_once(signum, frame) -> None:
    """The first Ctrl-C interrupts (KeyboardInterrupt: the command makes its results safe and says how to resume);
    later ones are ignored, so a second press — or a library re-raising the signal — cannot cut that short."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _unraisable(unraisable) -> None:
    """A Ctrl-C that lands inside a finalizer (a `__del__`, a weakref callback: pyarrow and torch objects have them)
    cannot propagate there — Python would print it and carry on as if no key was pressed. Deliver it again to the
    main thread, outside the finalizer, where the command handles it."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and hasattr(signal, "setitimer"):
        # a timer 20 ms on: the interrupt is raised in the main thread after the finalizer, not inside it
        signal.signal(signal.SIGALRM, _interrupt_once)
        signal.setitimer(signal.ITIMER_REAL, 0.02)
        return
    sys.__unraisablehook__(unraisable)


def main() -> None:
    signal.signal(signal.SIGINT, _interrupt_once)
    sys.unraisablehook = _unraisable
    code = run_cli(sys.argv[1:])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the command is done: a late Ctrl-C cannot cut its exit short
    if code == 130:
        # Interrupted, results already safe and the resume line printed: leave now. Interpreter shutdown after an
        # interrupt inside torch's kernels can re-deliver the signal and turn exit 130 into death by SIGINT.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    sys.exit(code)


if __name__ == "__main__":
    main()
