"""How fast are `noisebench report` and its plots on a large results directory?

Generates a synthetic store as a run writes it (complete, valid records with per-example predictions in Parquet,
and per unit its completion marker with the index; `generate`) into a temporary results directory, then times, as
a user runs them (a fresh `noisebench` process each time):
- `noisebench report` on every cell (table and JSON), cold: goals ≤ 1.0 s for 10,000 cells, ≤ 5 s for 100,000;
- `noisebench report --dataset d00 --plots DIR` for one 5-model × 7-noise × 3-rate grid, goal ≤ 10 s;
- McNemar on one dataset (reads its Parquet predictions), and the same store without its unit indexes;
and an in-process breakdown (load / aggregate / render). Prints a Markdown table.

    python benchmarks/report_speed.py                      # 10,000 cells, 872 predictions each (SST-2 dev size)
    python benchmarks/report_speed.py --records 100000 --store /tmp/rs100k   # keeps the store for a rerun
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


def generate(root: Path, n_records: int, n_examples: int, *, units: bool = True) -> int:
    """Write up to `n_records` records as a run does (`ResultsStore.put`: metadata JSON + a Parquet predictions file
    each, then per (model, dataset, seed) unit its completion marker with the index, unless units=False): datasets
    d00, d01, … each a full MODELS × (clean + NOISES × RATES) × SEEDS grid (550 records); the last dataset is cut
    short (its cells show missing seeds). Accuracies are deterministic. Units are written by 8 threads (the writes
    wait on fsync, not on the CPU), as 8 workers of a study would."""
    from concurrent.futures import ThreadPoolExecutor

    jobs, total, d = [], 0, 0
    while total < n_records:
        for m in range(len(MODELS)):
            for s in range(len(SEEDS)):
                take = min(1 + len(NOISES) * len(RATES), n_records - total)
                if take > 0:
                    jobs.append((d, m, s, take))
                    total += take
        d += 1
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda job: _write_unit(root, n_examples, units, *job), jobs))
    return total


def _write_unit(root: Path, n_examples: int, units: bool, d: int, m: int, s: int, take: int) -> None:
    import synthetic_results as syn

    from noisebench.store import ResultsStore

    store = ResultsStore(root)
    model, seed = MODELS[m], SEEDS[s]
    dataset = {"name": f"d{d:02d}", "fingerprint": f"bench-{d}", "split": "test", "n": n_examples}
    # Accuracies vary with dataset, model, seed and condition, as in a real study (test sets of 872–12,284 rows make
    # equal accuracies rare): a report computes one estimate per distinct list of per-seed values. Being multiples
    # of 1/n_examples, some lists still repeat (RESULTS.md, sixth look: 46,048 distinct of 178,434 at 10^5 cells).
    clean = 0.70 + 0.04 * m + 0.005 * s + 0.0021 * (d % 17)
    conditions = [("clean", 0.0, clean)] + [
        (noise, rate, clean - rate * (0.2 + 0.1 * ((m + k) % 4)) - 0.002 * s - 0.0013 * ((d * 7 + k * 3 + j) % 23))
        for k, noise in enumerate(NOISES) for j, rate in enumerate(RATES)
    ]
    unit: list[str] = []
    for k, (noise, rate, acc) in enumerate(conditions[:take]):
        # each seed's noise draw realizes its own level, near the nominal rate
        level = round(rate * (0.97 + 0.005 * ((d * 5 + s * 3 + k) % 11)), 6) if rate else None
        rec = syn.make_record(model, seed, noise, rate, round(acc * n_examples) / n_examples,
                              dataset=dataset, realized=level, key=[d, m, s, int(rate * 100)],
                              seconds=10.0 * (m + 1) + s, params=(10**6 * (m + 1), 10**7 * (m + 1)))
        # what a record of this version also holds: versions, the draw digest, truncation
        rec["versions"] = {"noise": {} if noise == "clean" else {noise: 1}, "training": 1,
                           "model": f"tiny-config:{model}"}
        if rec["realized"]:
            rec["realized"].update(draw=f"{d:02d}{s}{k:04x}", unit_fraction_visible=round(0.99 * level, 6))
        rec["truncation"] = {"policy": "head", "truncated_fraction": 0.01, "visible_fraction": 0.99}
        unit.append(store.put(rec).stem)
    if units:
        store.mark_complete(f"{model}-d{d:02d}-{seed}", unit)


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
    ap.add_argument("--store", type=Path, help="generate into (or reuse) this results directory instead of a "
                                               "temporary one (generation takes ~45 s per 10,000 records)")
    args = ap.parse_args()
    exe = [sys.executable, "-m", "noisebench"]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results = args.store or Path(tmp) / "results"
        start = time.perf_counter()
        if not (results / "records").is_dir():
            generate(results, args.records, args.examples)
            print(f"generated in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        n = sum(1 for _ in (results / "records").iterdir())
        size = sum(p.stat().st_size for p in (results / "records").iterdir()) / 1e6
        preds = sum(p.stat().st_size for p in (results / "predictions").iterdir()) / 1e6
        print(f"{n} records: {size:.0f} MB of metadata JSON, {preds:.0f} MB of Parquet predictions", file=sys.stderr)

        from noisebench.report.loading import CACHE_NAME

        def best(argv, cold=False):
            """Best of N; cold = the report's summary cache removed first (the first report after new results)."""
            times = []
            for _ in range(args.repeats):
                if cold:
                    (results / CACHE_NAME).unlink(missing_ok=True)
                times.append(timed(argv))
            return min(times)

        rd = ["--results-dir", str(results)]
        goal = "≤ 1.0 s" if n <= 10_000 else "≤ 5 s" if n <= 100_000 else "—"
        rows.append((f"`noisebench report` (table), {n} cells, cold: the first report after the run (the units' "
                     "index, no report cache)", best(exe + ["report", *rd], True), goal))
        rows.append((f"`noisebench report --format json`, {n} cells, cold",
                     best(exe + ["report", *rd, "--format", "json"], True), goal))
        if args.bootstrap:
            rows.append((f"`noisebench report --ci bootstrap`, {n} cells",
                         best(exe + ["report", *rd, "--ci", "bootstrap"]), "—"))
        plots = Path(tmp) / "plots"
        rows.append(("`noisebench report --dataset d00 --plots DIR` (5 models × 7 noises × 3 rates)",
                     best(exe + ["report", *rd, "--dataset", "d00", "--plots", str(plots), "--format", "json"]),
                     "≤ 10 s"))
        rows.append(("`noisebench report --dataset d00 --ci hierarchical` (reads d00's 550 Parquet prediction files)",
                     best(exe + ["report", *rd, "--dataset", "d00", "--ci", "hierarchical", "--resamples", "1000"]),
                     "—"))
        units, aside = results / "units", results / "units.aside"
        units.rename(aside)  # a store without unit indexes: a 0.1 store, or every unit still running
        try:
            rows.append((f"`noisebench report`, {n} cells, no unit index and no cache (every record file parsed)",
                         best(exe + ["report", *rd], True), "—"))
            rows.append((f"`noisebench report`, {n} cells, no unit index, warm (the report's cache)",
                         best(exe + ["report", *rd]), "—"))
        finally:
            (results / CACHE_NAME).unlink(missing_ok=True)
            aside.rename(units)
        rows.append(("`noisebench --help` (for scale: interpreter + CLI start)", best(exe + ["--help"]), "—"))

        # In-process breakdown of one cold report.
        from noisebench import report as rep

        t = time.perf_counter()
        records, _ = rep.load(results)
        t1 = time.perf_counter()
        report = rep.make_report(records, rep.Settings())
        t2 = time.perf_counter()
        rep.render(report, "table")
        t3 = time.perf_counter()
        rows += [(f"  in process: load {n} summaries (units' index)", t1 - t, ""),
                 (f"  in process: aggregate into {len(report.cells)} seed-pooled cells", t2 - t1, ""),
                 ("  in process: render the table", t3 - t2, "")]
    load = os.getloadavg()[0]
    print(f"\n{os.cpu_count()} CPUs, load average {load:.2f}, Python {sys.version.split()[0]}, {args.examples} "
          f"predictions per cell, best of {args.repeats}\n")
    print("| what | seconds | goal |\n|---|---:|---|")
    for what, seconds, goal in rows:
        print(f"| {what} | {seconds:.2f} | {goal} |")


if __name__ == "__main__":
    main()
