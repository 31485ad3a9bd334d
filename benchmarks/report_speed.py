"""How fast are `noisebench report` and its plots on a large results directory?

Generates synthetic records (complete, valid, with per-example predictions) into a temporary results directory
through `ResultsStore.put`, then times, as a user runs them (a fresh `noisebench` process each time):
- `noisebench report` on all records (table and JSON), goal ≤ 2 s for 10,000 records;
- `noisebench report --dataset d00 --plots DIR` for one 5-model × 7-noise × 3-rate grid, goal ≤ 10 s;
and an in-process breakdown (load / aggregate / render / plots). Prints a Markdown table.

    python benchmarks/report_speed.py                      # 10,000 records, 872 predictions each (SST-2 dev size)
    python benchmarks/report_speed.py --records 2000 --examples 200 --bootstrap
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the synthetic record builder shared with the tests

MODELS = ("bert-tiny", "byt5-small", "canine-s", "qwen-0.5b", "minilm")
NOISES = ("char-swap", "keyboard", "ocr", "deletion", "insertion", "casing", "abbreviation")
RATES = (0.05, 0.1, 0.2)
SEEDS = (1, 2, 3, 4, 5)


def generate(root: Path, n_records: int, n_examples: int) -> int:
    """Write up to `n_records` records: datasets d00, d01, … each a full MODELS × (clean + NOISES × RATES) × SEEDS grid
    (550 records); the last dataset is cut short (its cells show missing seeds). Accuracies are deterministic."""
    import synthetic_results as syn

    from noisebench.store import ResultsStore

    store = ResultsStore(root)
    written = 0
    d = 0
    while written < n_records:
        dataset = {"name": f"d{d:02d}", "fingerprint": f"bench-{d}", "split": "test", "n": n_examples}
        for m, model in enumerate(MODELS):
            for s, seed in enumerate(SEEDS):
                clean = 0.70 + 0.04 * m + 0.005 * s
                conditions = [("clean", 0.0, clean)] + [
                    (noise, rate, clean - rate * (0.2 + 0.1 * ((m + k) % 4)) - 0.002 * s)
                    for k, noise in enumerate(NOISES) for rate in RATES
                ]
                for noise, rate, acc in conditions:
                    if written >= n_records:
                        return written
                    rec = syn.make_record(model, seed, noise, rate, round(acc * n_examples) / n_examples,
                                          dataset=dataset, realized=rate or None, key=[d, m, s, int(rate * 100)],
                                          seconds=10.0 * (m + 1) + s, params=(10**6 * (m + 1), 10**7 * (m + 1)))
                    store.put(rec)
                    written += 1
        d += 1
    return written


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=10_000)
    ap.add_argument("--examples", type=int, default=872, help="predictions stored per record")
    ap.add_argument("--repeats", type=int, default=3, help="best of N for each timing")
    ap.add_argument("--bootstrap", action="store_true", help="also time --ci bootstrap (10,000 resamples)")
    args = ap.parse_args()
    exe = [sys.executable, "-m", "noisebench"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp) / "results"
        start = time.perf_counter()
        n = generate(results, args.records, args.examples)
        size = sum(p.stat().st_size for p in (results / "records").iterdir()) / 1e6
        print(f"generated {n} records ({size:.0f} MB) in {time.perf_counter() - start:.1f} s", file=sys.stderr)

        from noisebench.report.loading import CACHE_NAME

        def best(argv, cold=False):
            """Best of N; cold = the summary cache removed first (the first report after new results)."""
            times = []
            for _ in range(args.repeats):
                if cold:
                    (results / CACHE_NAME).unlink(missing_ok=True)
                times.append(timed(argv))
            return min(times)

        rd = ["--results-dir", str(results)]
        rows.append((f"`noisebench report` (table), {n} records, cold (no cache)", best(exe + ["report", *rd], True),
                     "≤ 2 s"))
        rows.append((f"`noisebench report` (table), {n} records, warm (cache)", best(exe + ["report", *rd]), "≤ 2 s"))
        rows.append((f"`noisebench report --format json`, {n} records, warm",
                     best(exe + ["report", *rd, "--format", "json"]), "≤ 2 s"))
        if args.bootstrap:
            rows.append((f"`noisebench report --ci bootstrap`, {n} records, warm",
                         best(exe + ["report", *rd, "--ci", "bootstrap"]), "—"))
        plots = Path(tmp) / "plots"
        rows.append(("`noisebench report --dataset d00 --plots DIR` (5 models × 7 noises × 3 rates, 6 files)",
                     best(exe + ["report", *rd, "--dataset", "d00", "--plots", str(plots), "--format", "json"]),
                     "≤ 10 s"))
        rows.append(("`noisebench --help` (for scale: interpreter + CLI start)", best(exe + ["--help"]), "—"))

        # In-process breakdown of one run.
        from noisebench import report as rep
        from noisebench.report.plots import write_plots

        (results / CACHE_NAME).unlink(missing_ok=True)
        t = time.perf_counter()
        rep.load(results)
        t0 = time.perf_counter()
        records, _ = rep.load(results)
        t1 = time.perf_counter()
        report = rep.make_report(records, rep.Settings())
        t2 = time.perf_counter()
        rep.render(report, "table")
        t3 = time.perf_counter()
        one = rep.make_report(rep.select(records, dataset=["d00"]), rep.Settings())
        t4 = time.perf_counter()
        write_plots(one, Path(tmp) / "plots2")
        t5 = time.perf_counter()
        rows += [(f"  in process: load + validate {n} records, cold (parse every file, write the cache)", t0 - t, ""),
                 (f"  in process: load {n} records, warm (cache)", t1 - t0, ""),
                 (f"  in process: aggregate {len(report.cells)} cells", t2 - t1, ""),
                 ("  in process: render the table", t3 - t2, ""),
                 ("  in process: plots for d00 (after imports)", t5 - t4, "")]
    print(f"\n{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {args.examples} predictions per record, "
          f"best of {args.repeats}\n")
    print("| what | seconds | goal |\n|---|---:|---|")
    for what, seconds, goal in rows:
        print(f"| {what} | {seconds:.2f} | {goal} |")


if __name__ == "__main__":
    main()
