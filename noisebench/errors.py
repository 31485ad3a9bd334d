"""The two kinds of failure a user can see, and the exit codes the CLI maps them to.

Code raises these with a message a user can act on; `noisebench.cli.main` turns them into one line on stderr and
an exit code. Never `assert` on user input.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NoisebenchError(Exception):
    """Base class: a failure with a message meant for the user."""

    exit_code = 1
    resumable = False


class UsageError(NoisebenchError):
    """Bad input: unknown names, malformed files, out-of-range values, missing columns. Exit code 2."""

    exit_code = 2


class RunError(NoisebenchError):
    """A run that was set up correctly but failed (training diverged, out of memory, a model failed). Exit code 1."""

    exit_code = 1
    resumable = False  # True: the CLI appends the command that resumes (the same command line)


class WriteFailed(RunError):
    """The results directory could not be written (a full disk, read-only, gone); what was stored is kept."""

    resumable = True


class Interrupted(NoisebenchError):
    """Ctrl-C (or SIGTERM) during a long command, after its results were made safe. Exit code 130; the CLI adds the
    command that resumes."""

    exit_code = 130
    resumable = True


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a close match exists, else ''."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.5)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UsageError:
    """The error for an unknown registry name: lists what exists and suggests the nearest."""
    choices = sorted(choices)
    return UsageError(f"unknown {kind} {name!r}{did_you_mean(name, choices)}; choose from: {', '.join(choices)}")
