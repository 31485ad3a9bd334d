"""The fault-injection tier: shared run setup, the uninterrupted reference, and the suite's counts.

Every test here injects faults into real runs of a tiny model (bert-tiny, two seeds, two noises) and checks one
invariant: after the fault, a plain re-run ends with exactly the records of an uninterrupted run (the same ids,
statuses, metrics and per-example predictions), nothing partial is left, and no fault printed a traceback.
Random fault times come from FAULT_SEED (logged with every failure; set it to replay a run).

At the end of the session the counts are printed (faults injected by kind, bad inputs tried, invariant
violations) — the figures benchmarks/RESULTS.md quotes.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from faultkit import CELLS, COUNTS, FAULT_SEED, VIOLATIONS, command, comparable, env
from reviews_data import write_data

try:  # CI replays the same generated cases every run; locally hypothesis explores (and remembers failures)
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", derandomize=True, database=None)
    if os.environ.get("CI"):
        _hypothesis_settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass


@pytest.fixture(scope="session")
def fault_data(tmp_path_factory) -> Path:
    return write_data(tmp_path_factory.mktemp("faults-data") / "reviews.tsv")


@pytest.fixture(scope="session")
def reference(fault_data, tmp_path_factory) -> dict:
    """The uninterrupted run, in a subprocess with one thread (as every faulted run is)."""
    results = tmp_path_factory.mktemp("reference")
    proc = subprocess.run(command(fault_data, results), env=env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ref = comparable(results)
    assert len(ref) == CELLS
    return ref


@pytest.fixture(autouse=True)
def _one_thread():
    """In-process runs use one torch thread, like the subprocesses (CPU results can depend on the thread count)."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pytest_runtest_logreport(report):
    if report.failed and "tests/faults/" in report.nodeid.replace(os.sep, "/"):
        VIOLATIONS.append(report.nodeid)


def pytest_terminal_summary(terminalreporter):
    if not COUNTS:
        return
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(COUNTS.items()))
    terminalreporter.write_line(f"fault suite (FAULT_SEED={FAULT_SEED}): {sum(COUNTS.values())} faults and bad "
                                f"inputs ({kinds}); invariant violations: {len(VIOLATIONS)}")
