"""Offline default end to end (goal: <= 3 minutes on 2 CPU cores) and a re-run of the finished run (goal: trains
nothing, returns in seconds).

    python benchmarks/offline_default.py [--seeds 42,123,456,789,1024] [--keep DIR]

Runs `noisebench run` (no --model: the built-in offline default) as a separate process into a fresh results
directory, then the same command again, then `noisebench report`, and prints one table: wall time of each step,
cells written, models trained. Training and evaluation seconds summed from the stored records show where the time
goes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "noisebench", *args], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"noisebench {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default=None, help="seeds (default: the run's five)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the results in this directory")
    args = parser.parse_args()
    results = args.keep or Path(tempfile.mkdtemp(prefix="noisebench-offline-"))
    if results.exists() and any(results.iterdir()):
        sys.exit(f"{results} is not empty: the benchmark needs a fresh results directory")
    run = ["run", "--results-dir", str(results), "--quiet", *(["--seeds", args.seeds] if args.seeds else [])]
    rows = []
    first, summary = timed(run)
    rows.append(("noisebench run (fresh)", first, summary))
    again, summary = timed(run)
    rows.append(("noisebench run (again, all stored)", again, summary))
    report, _ = timed(["report", "--results-dir", str(results)])
    rows.append(("noisebench report", report, ""))

    recs = [json.loads(p.read_text()) for p in (results / "records").glob("*.json")]
    training = {}
    for r in recs:
        training[(r["model"]["name"], r["seed"])] = r["training"]["seconds"]
    per_model: dict[str, list[float]] = {}
    for (model, _seed), seconds in training.items():
        per_model.setdefault(model, []).append(seconds)
    evaluation: dict[str, float] = {}
    for r in recs:
        evaluation[r["model"]["name"]] = evaluation.get(r["model"]["name"], 0.0) + r["timing"]["eval_seconds"]

    print(f"threads: torch default; cpus: {os.cpu_count()}; records: {len(recs)}")
    print(f"{'step':<38} {'wall s':>8}  outcome")
    for name, seconds, outcome in rows:
        print(f"{name:<38} {seconds:>8.1f}  {outcome}")
    print(f"\n{'model':<12} {'seeds':>5} {'train s (sum)':>14} {'eval s (sum)':>13}")
    for model in sorted(per_model):
        print(f"{model:<12} {len(per_model[model]):>5} {sum(per_model[model]):>14.1f} {evaluation[model]:>13.1f}")
    goal = "met" if first <= 180 else "NOT met"
    print(f"\ngoal <= 180 s end to end: {goal} ({first:.1f} s); re-run {again:.1f} s")
    if args.keep is None:
        shutil.rmtree(results)


if __name__ == "__main__":
    main()
