"""Throughput and calibration of noisebench's character noises next to nlpaug's RandomCharAug.

    python benchmarks/noise_throughput.py [--data DIR] [--n 2000] [--repeats 5]

Input: the same N English sentences for both tools — SST-2 train rows of 80-120 characters, de-duplicated and taken
in order of the sha256 of their text (a deterministic, file-order-free selection). For each action
(substitute/insert/delete/swap) and rate (0.1/0.2/0.3): noisebench's noise vs nlpaug RandomCharAug(action,
aug_char_p=rate), single thread, reporting characters per second (best of --repeats timed runs of the whole batch)
and the realized fraction of eligible characters, measured for both outputs by `noisebench.noise.measure_dataset`
with the same noise's unit definition. Then per-character time on 5,000-character documents (the same sentences
joined) against the ~100-character sentences.

Goals: each noise >= 20x nlpaug's throughput; per-char time at 5,000 chars <= 1.5x that at 100 chars; realized
fraction within +-0.005 of the nominal rate.

    python benchmarks/noise_throughput.py --long [--sizes 10000,100000,1000000]

Long single-line documents instead (issue 11): every registered noise at rate 0.3 on the built-in clinical notes
joined into one line of 10 KB, 100 KB and 1 MB — seconds to perturb, to measure (`noisebench.noise.measure`, the
realized level from the pair) and to highlight (`perturb`'s rich output) — then `noisebench perturb` of the 1 MB
line as a user runs it, with `--plain` and without. Goals: each noise <= 2 s on 1 MB; `perturb` of 1 MB <= 3 s in
both modes; per-character cost not growing with length.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # single thread, set before numpy is imported

import argparse  # noqa: E402
import hashlib  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from noisebench.noise import measure_dataset, perturb_batch  # noqa: E402

ACTIONS = ("substitute", "insert", "delete", "swap")
REPO = Path(__file__).resolve().parents[1]


def sentences(data: Path, n: int) -> list[str]:
    """N distinct SST-2 train texts of 80-120 characters, ordered by sha256 of the text."""
    path = data / "sst2" / "train.tsv"
    with open(path, encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split("\t")[0] for line in fh][1:]
    pool = sorted({t for t in rows if 80 <= len(t) <= 120}, key=lambda t: hashlib.sha256(t.encode()).hexdigest())
    if len(pool) < n:
        raise SystemExit(f"only {len(pool)} suitable sentences in {path}")
    return pool[:n]


def documents(texts: list[str], size: int) -> list[str]:
    """The sentences joined with spaces into documents of about `size` characters."""
    docs, current = [], ""
    for t in texts:
        current = f"{current} {t}" if current else t
        if len(current) >= size:
            docs.append(current[:size])
            current = ""
    return docs


def best_time(fn: Callable[[], list[str]], repeats: int) -> tuple[float, list[str]]:
    best, out = float("inf"), []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def ours(texts: list[str], keys: list[str], action: str, rate: float) -> Callable[[], list[str]]:
    return lambda: perturb_batch(texts, keys, noise=action, rate=rate, seed=0)


def nlpaug_run(texts: list[str], action: str, rate: float) -> Callable[[], list[str]] | None:
    try:
        import nlpaug.augmenter.char as nac
    except ImportError:
        return None
    aug = nac.RandomCharAug(action=action, aug_char_p=rate)

    def run() -> list[str]:
        random.seed(0)
        np.random.seed(0)
        return aug.augment(texts)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("NOISEBENCH_SHARED_DATA",
                                                                         REPO.parent / "shared" / "data")))
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--nlpaug-repeats", type=int, default=2)
    parser.add_argument("--long", action="store_true", help="long single-line documents, every noise (see above)")
    parser.add_argument("--sizes", default="10000,100000,1000000")
    args = parser.parse_args()
    if args.long:
        long_documents([int(s) for s in args.sizes.split(",")])
        return

    texts = sentences(args.data, args.n)
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
    chars = sum(map(len, texts))
    print(f"{len(texts)} SST-2 sentences, {chars} characters (mean {chars / len(texts):.1f}); single thread")
    have_nlpaug = nlpaug_run(texts[:1], "swap", 0.1) is not None
    for action in ACTIONS:  # warm-up: caches, lazy tables, nlpaug import
        perturb_batch(texts[:50], keys[:50], noise=action, rate=0.1, seed=0)

    print("\n| noise | rate | noisebench chars/s | nlpaug chars/s | speed-up | noisebench realized | "
          "nlpaug realized |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for action in ACTIONS:
        for rate in (0.1, 0.2, 0.3):
            t_ours, out = best_time(ours(texts, keys, action, rate), args.repeats)
            r_ours = measure_dataset(texts, out, noise=action).unit_fraction
            row = f"| {action} | {rate} | {chars / t_ours / 1e6:.2f}M | "
            run = nlpaug_run(texts, action, rate) if have_nlpaug else None
            if run is None:
                row += f"n/a | n/a | {r_ours:.4f} | n/a |"
            else:
                t_nl, out_nl = best_time(run, args.nlpaug_repeats)
                r_nl = measure_dataset(texts, out_nl, noise=action).unit_fraction
                row += f"{chars / t_nl / 1e3:.0f}k | {t_nl / t_ours:.1f}x | {r_ours:.4f} | {r_nl:.4f} |"
            print(row, flush=True)

    docs = documents(texts, 5000)
    doc_keys = [hashlib.sha256(d.encode()).hexdigest() for d in docs]
    doc_chars = sum(map(len, docs))
    print(f"\nper-character time, rate 0.1: {len(texts)} sentences ({chars} chars) vs {len(docs)} documents of "
          f"5,000 chars ({doc_chars} chars)")
    print("\n| tool | noise | ns/char @~100 | ns/char @5,000 | ratio |")
    print("|---|---|---:|---:|---:|")
    for action in ACTIONS:
        t_short, _ = best_time(ours(texts, keys, action, 0.1), args.repeats)
        t_long, _ = best_time(ours(docs, doc_keys, action, 0.1), args.repeats)
        short, long = t_short / chars * 1e9, t_long / doc_chars * 1e9
        print(f"| noisebench | {action} | {short:.1f} | {long:.1f} | {long / short:.2f} |", flush=True)
    if have_nlpaug:
        for action in ACTIONS:
            t_short, _ = best_time(nlpaug_run(texts, action, 0.1), 1)
            t_long, _ = best_time(nlpaug_run(docs, action, 0.1), 1)
            short, long = t_short / chars * 1e9, t_long / doc_chars * 1e9
            print(f"| nlpaug | {action} | {short:.0f} | {long:.0f} | {long / short:.2f} |", flush=True)


def long_documents(sizes: list[int]) -> None:
    import subprocess
    import sys
    import tempfile

    from noisebench.commands.noise_cmd import _highlighted
    from noisebench.datasets import load_dataset
    from noisebench.noise import NOISES, measure, perturb

    base = " ".join(ex.text for ex in load_dataset("clinical-notes").train).replace("\n", " ")
    line = (base * (max(sizes) // len(base) + 1))[: max(sizes)]
    print(f"one line of clinical notes; rate 0.3; seconds (ns per character); load average {os.getloadavg()[0]:.2f}")
    print("\n| noise | size | perturb s | measure s | highlight s | total ns/char |")
    print("|---|---:|---:|---:|---:|---:|")
    for noise, spec in NOISES.items():
        if spec.requires:
            try:
                __import__(spec.requires)
            except ImportError:
                continue
        for size in sizes:
            text = line[:size]
            t0 = time.perf_counter()
            noisy = perturb(text, noise=noise, rate=0.3, seed=0, key="long")
            t1 = time.perf_counter()
            measure(text, noisy, noise=noise)
            t2 = time.perf_counter()
            _highlighted(text, noisy)
            t3 = time.perf_counter()
            print(f"| {noise} | {size:,} | {t1 - t0:.3f} | {t2 - t1:.3f} | {t3 - t2:.3f} | "
                  f"{(t3 - t0) / size * 1e9:.0f} |", flush=True)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(line + "\n")
    print(f"\n`noisebench perturb --file <{max(sizes):,}-character line> --noise N --rate 0.3` (a fresh process)")
    print("\n| noise | --plain s | highlighted s |")
    print("|---|---:|---:|")
    for noise, spec in NOISES.items():
        if spec.requires:
            continue
        row = []
        for extra in (["--plain"], []):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "noisebench", "perturb", "--file", f.name, "--noise", noise,
                            "--rate", "0.3", *extra], check=True, capture_output=True)
            row.append(time.perf_counter() - start)
        print(f"| {noise} | {row[0]:.2f} | {row[1]:.2f} |", flush=True)
    os.unlink(f.name)


if __name__ == "__main__":
    main()
