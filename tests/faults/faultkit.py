"""Helpers of the fault-injection tier (see conftest.py): the tiny run, its command line, and how results are
compared with the uninterrupted reference."""

from __future__ import annotations

import os
import sys
from collections import Counter
from pathlib import Path

from noisebench.store import ResultsStore

FAULT_SEED = int(os.environ.get("FAULT_SEED", "20261201"))
COUNTS: Counter[str] = Counter()
VIOLATIONS: list[str] = []


def run_args(data: Path, results: Path) -> list[str]:
    return ["run", "--model", "bert-tiny", "--dataset", str(data), "--id-col", "id", "--results-dir", str(results),
            "--epochs", "1", "--batch-size", "16", "--seeds", "1,2", "--noise", "substitute,swap", "--rate", "0.1",
            "--quiet"]


CELLS = 2 * 3  # seeds × (clean + 2 noisy conditions)


def command(data: Path, results: Path) -> list[str]:
    return [sys.executable, "-m", "noisebench", *run_args(data, results)]


def env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def comparable(results: Path) -> dict:
    """What must equal the uninterrupted run: per record id, status, metrics and predictions (not timings)."""
    records, bad = ResultsStore(results).load(strict=False, predictions=True)
    assert not bad, bad
    return {r["id"]: (r["status"], r["metrics"], r["predictions"], r["realized"]) for r in records}


def leftovers(results: Path) -> list[Path]:
    """Temporary files anywhere in the results directory (there must be none after a completed run)."""
    return [p for p in results.rglob(".*.tmp")]


def startup_seconds() -> float:
    """How long this machine takes to start a run's process (python, noisebench, torch, transformers), measured
    now: fault times are offsets after it, so a loaded machine still gets its faults mid-run."""
    import subprocess
    import time

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import noisebench.cli, torch, transformers, safetensors"], env=env(),
                   check=True, capture_output=True, timeout=300)
    return time.perf_counter() - started


def no_traceback(*texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text[-2000:]


