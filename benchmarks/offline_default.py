"""The offline default end to end, with the phase breakdown (issue 11's goal: <= 90 s on an idle 2-core machine),
and a re-run of the finished run (goal: trains nothing, returns in seconds).

    python benchmarks/offline_default.py [--seeds 42,123,456,789,1024] [--keep DIR] [--before REF]

Runs `noisebench run` (no --model: the built-in offline default) as a separate process into a fresh results
directory, then the same command again, then `noisebench report`, and prints one table. The phases of the first
run: start-up (a process that only imports the run engine, torch and transformers), training and prediction
(summed from the stored records), and everything else (dataset, noise, realized levels, records, summary). The
offline default runs one worker process per core: the summed phases are then worker-seconds, and "other" is what
the workers' wall time holds beyond training and prediction (including a worker idle while the last unit ends).

--before REF also runs git revision REF's code (a temporary worktree, the same interpreter and packages) in the
same way, first, so the two are measured side by side under the same load; the table then has both columns.
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

REPO = Path(__file__).resolve().parent.parent


def timed(args: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    # `python -m` puts the working directory first on sys.path: the checkout in `cwd` is the code that runs
    done = subprocess.run([sys.executable, "-m", "noisebench", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"noisebench {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ""


def startup(cwd: Path) -> float:
    code = "import noisebench.study.run, noisebench.training.train, torch, transformers"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=cwd, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.perf_counter() - start


def workers(cwd: Path) -> int:
    """How many local workers `noisebench run` with no arguments uses in that checkout (1 before they existed)."""
    code = ("try:\n from noisebench.study.studyfile import from_flags\nexcept ImportError:\n print(1)\n"
            "else:\n print(from_flags({}).executor.workers)")
    done = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return int(done.stdout.strip() or 1)


def measure(code: Path, seeds: str | None, results: Path) -> dict:
    run = ["run", "--results-dir", str(results), "--quiet", *(["--seeds", seeds] if seeds else [])]
    first, summary = timed(run, code)
    again, _ = timed(run, code)
    report, _ = timed(["report", "--results-dir", str(results)], code)
    recs = [json.loads(p.read_text()) for p in (results / "records").glob("*.json")]
    training = {(r["model"]["name"], r["seed"]): r["training"]["seconds"] for r in recs}
    train_s = sum(training.values())
    eval_s = sum(r["timing"]["eval_seconds"] for r in recs)
    computed = sum(r["timing"].get("computed", r["metrics"]["n"]) for r in recs)
    start = startup(code)
    n = workers(code)
    # with n workers, training and prediction (summed from the records) overlap: the other phases are what the n
    # workers' wall time holds beyond them (data, noise, realized levels, records, and a worker idle at the end)
    return {"run": first, "summary": summary, "again": again, "report": report, "start-up": start, "workers": n,
            "training": train_s, "prediction": eval_s, "other": n * (first - start) - train_s - eval_s,
            "predictions": sum(r["metrics"]["n"] for r in recs), "computed": computed, "models": len(training)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default=None, help="seeds (default: the run's five)")
    parser.add_argument("--keep", type=Path, default=None, help="keep this checkout's results in this directory")
    parser.add_argument("--before", default=None, help="also measure this git revision, first, side by side")
    args = parser.parse_args()
    results = args.keep or Path(tempfile.mkdtemp(prefix="noisebench-offline-"))
    if results.exists() and any(results.iterdir()):
        sys.exit(f"{results} is not empty: the benchmark needs a fresh results directory")
    columns: dict[str, dict] = {}
    if args.before:
        tree = Path(tempfile.mkdtemp(prefix="noisebench-before-"))
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.before], cwd=REPO, check=True,
                       capture_output=True)
        try:
            columns[f"before ({args.before})"] = measure(tree, args.seeds, Path(tempfile.mkdtemp()))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)
    columns["this checkout"] = measure(REPO, args.seeds, results)

    load = os.getloadavg()[0]
    print(f"cpus: {os.cpu_count()}; torch threads: the run's default; load average at the end: {load:.2f}")
    names = list(columns)
    print(f"{'phase (first run, seconds)':<34}" + "".join(f"{n:>24}" for n in names))
    for key in ("run", "workers", "start-up", "training", "prediction", "other", "again", "report"):
        label = {"run": "noisebench run (fresh), wall", "again": "noisebench run again (all stored)",
                 "report": "noisebench report", "workers": "worker processes",
                 "training": "training, worker-s", "prediction": "prediction, worker-s",
                 "other": "other, worker-s (data, noise...)"}.get(key, key)
        print(f"{label:<34}" + "".join(f"{columns[n][key]:>24.1f}" for n in names))
    print(f"{'predictions (rows computed)':<34}" +
          "".join(f"{columns[n]['predictions']:>14,} ({columns[n]['computed']:,})" for n in names))
    last = columns["this checkout"]
    print(f"\n{last['summary']}")
    print(f"goal <= 90 s end to end: {'met' if last['run'] <= 90 else 'NOT met'} ({last['run']:.1f} s); "
          f"re-run {last['again']:.1f} s")
    if args.keep is None:
        shutil.rmtree(results)


if __name__ == "__main__":
    main()
