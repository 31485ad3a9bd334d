"""A FIXED synthetic results set, written through `ResultsStore.put`, for the report/check tests and goldens.

3 models × 2 noises × 2 rates × 5 seeds on a 200-example test set, with hand-chosen accuracies (multiples of 1/200,
so every accuracy is exactly k correct out of 200) and per-example predictions consistent with them:
- CLEAN[model]                 clean accuracy per seed (seeds SEEDS, in order)
- DROP[(model, noise, rate)]   clean - noisy accuracy per seed (None = the cell failed on every seed)
- MISSING                      (model, noise, rate, seed) never run: the cell shows 4/5 seeds
- FAILED                       the cell whose five runs all failed
Designed so that char-swap@0.1 has a most robust model (byt5-small, intervals separate) and keyboard@0.1 has none
(intervals overlap). Every record is complete (model/dataset/training/noise/metrics/realized/predictions/
provenance/timing) and valid per records.validate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from noisebench.store import ResultsStore

N = 200
SEEDS = (1, 2, 3, 4, 5)
DATASET = {"name": "sst2", "fingerprint": "synthetic-sst2-v1", "split": "test", "n": N}
TRAINING = {"epochs": 3, "lr": 2e-05, "batch_size": 32, "max_length": 128}
NOISES = ("char-swap", "keyboard")
RATES = (0.1, 0.2)
MODELS = {  # name → (family, recipe, options, trainable params, total params, training seconds per seed)
    "bert-tiny": ("bert", "full", {"pooling": None, "max_length": None}, 4_386_178, 4_386_178,
                  (12.0, 12.5, 11.8, 12.2, 12.5)),
    "byt5-small": ("byt5", "full", {"pooling": "mean", "max_length": None}, 299_637_760, 299_637_760,
                   (340.0, 352.0, 338.0, 345.0, 350.0)),
    "qwen-0.5b": ("qwen", "lora", {"pooling": "last", "max_length": None, "lora_rank": 16, "lora_alpha": 32,
                                   "lora_targets": "qv", "lora_dropout": 0.05}, 1_083_392, 495_116_160,
                  (610.0, 620.0, 605.0, 615.0, 600.0)),
}
CLEAN = {
    "bert-tiny": (0.810, 0.825, 0.800, 0.815, 0.820),
    "byt5-small": (0.865, 0.870, 0.860, 0.875, 0.855),
    "qwen-0.5b": (0.905, 0.890, 0.900, 0.910, 0.895),
}
DROP = {
    ("bert-tiny", "char-swap", 0.1): (0.060, 0.070, 0.055, 0.065, 0.075),
    ("byt5-small", "char-swap", 0.1): (0.020, 0.025, 0.015, 0.030, 0.020),
    ("qwen-0.5b", "char-swap", 0.1): (0.050, 0.045, 0.060, 0.040, 0.055),
    ("bert-tiny", "char-swap", 0.2): (0.130, 0.150, 0.120, 0.140, 0.145),
    ("byt5-small", "char-swap", 0.2): None,
    ("qwen-0.5b", "char-swap", 0.2): (0.100, 0.095, 0.115, 0.090, 0.105),
    ("bert-tiny", "keyboard", 0.1): (0.030, 0.040, 0.025, 0.035, 0.045),
    ("byt5-small", "keyboard", 0.1): (0.025, 0.035, 0.030, 0.020, 0.040),
    ("qwen-0.5b", "keyboard", 0.1): (0.035, 0.030, 0.040, 0.045, 0.025),
    ("bert-tiny", "keyboard", 0.2): (0.080, 0.090, 0.070, 0.085, 0.095),
    ("byt5-small", "keyboard", 0.2): (0.050, 0.060, 0.045, 0.055, 0.065),
    ("qwen-0.5b", "keyboard", 0.2): (0.045, 0.060, 0.050, 0.055, 0.050),
}
MISSING = {("qwen-0.5b", "keyboard", 0.2, 5)}
FAILED = ("byt5-small", "char-swap", 0.2)
# Realized unit fraction = rate + offset of the seed's noise draw (the draw depends on seed, not on the model).
REALIZED_OFFSET = {"char-swap": (-0.002, 0.001, 0.000, -0.001, 0.002), "keyboard": (0.003, -0.001, 0.002, 0.000, -0.002)}
PROVENANCE = {"noisebench": "0.1.0", "git_commit": "synthetic", "python": "3.11.0", "packages": {"numpy": "2"},
              "device": "cpu", "host": "synthetic", "created": "2026-01-01T00:00:00+00:00"}


def noisy_accuracy(model: str, noise: str, rate: float, seed_index: int, shift: float = 0.0) -> float:
    """The hand-chosen noisy accuracy, snapped to k/200 (clean - drop - shift)."""
    acc = CLEAN[model][seed_index] - DROP[(model, noise, rate)][seed_index] - shift
    return round(acc * N) / N


def _predictions(accuracy: float, key: list[int], n: int) -> tuple[list[str], list[int], list[int]]:
    """n examples, labels alternating 0/1; exactly round(accuracy·n) correct at positions drawn from `key`."""
    ids = [f"ex{i:03d}" for i in range(n)]
    labels = [i % 2 for i in range(n)]
    correct = np.zeros(n, dtype=bool)
    correct[np.random.default_rng(key).permutation(n)[: round(accuracy * n)]] = True
    predicted = [lab if ok else 1 - lab for lab, ok in zip(labels, correct, strict=True)]
    return ids, labels, predicted


def _macro_f1(labels: list[int], predicted: list[int]) -> tuple[float, dict[str, float]]:
    """Macro-F1 by its definition: per class 2·TP / (2·TP + FP + FN), then the unweighted mean."""
    per = {}
    for cls, name in ((0, "negative"), (1, "positive")):
        tp = sum(1 for y, p in zip(labels, predicted, strict=True) if y == cls and p == cls)
        fp = sum(1 for y, p in zip(labels, predicted, strict=True) if y != cls and p == cls)
        fn = sum(1 for y, p in zip(labels, predicted, strict=True) if y == cls and p != cls)
        per[name] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return sum(per.values()) / len(per), per


def make_record(model: str, seed: int, noise: str, rate: float, accuracy: float | None, *,
                dataset: dict | None = None, realized: float | None = None, key: list[int] | None = None,
                seconds: float = 1.0, params: tuple[int, int] = (1000, 1000), family: str = "bert",
                recipe: str = "full", options: dict | None = None, error: str | None = None) -> dict:
    """One complete record (id filled in by store.put) on `dataset` (default DATASET; its "n" = test-set size).
    accuracy None → a failed run with `error`."""
    rec = {
        "status": "ok" if accuracy is not None else "failed",
        "error": None if accuracy is not None else (error or "RunError: CUDA out of memory (synthetic)"),
        "model": {"name": model, "family": family, "source": f"synthetic/{model}", "recipe": recipe,
                  "options": dict(options or {"pooling": None, "max_length": None})},
        "dataset": dict(dataset or DATASET),
        "training": {"config": dict(TRAINING), "seconds": seconds, "trainable_params": params[0],
                     "total_params": params[1], "epochs_run": 3, "best_epoch": 2, "val_accuracy": 0.8,
                     "checkpoint": f"checkpoints/{model}-{seed}"},
        "seed": seed,
        "noise": {"name": noise, "rate": rate, "options": {}},
        "metrics": None,
        "realized": None,
        "predictions": None,
        "timing": {"eval_seconds": 0.5},
        "provenance": dict(PROVENANCE),
    }
    if accuracy is not None:
        ids, labels, predicted = _predictions(accuracy, key or [seed], rec["dataset"]["n"])
        f1, per_class = _macro_f1(labels, predicted)
        rec["metrics"] = {"accuracy": sum(y == p for y, p in zip(labels, predicted, strict=True)) / len(labels),
                          "macro_f1": f1, "per_class_f1": per_class, "n": len(labels)}
        rec["predictions"] = {"ids": ids, "labels": labels, "predicted": predicted}
        if realized is not None:
            rec["realized"] = {"edit_ratio": round(realized * 0.8, 6), "unit_fraction": realized,
                               "changed_examples": round(min(1.0, 6 * realized), 6)}
    return rec


def records(*, shift: dict | None = None, clean_shift: dict | None = None, drop_models: tuple[str, ...] = (),
            failed: tuple[tuple[str, str, float], ...] = (FAILED,)):
    """The synthetic records. shift[(model, noise, rate)] lowers that cell's noisy accuracy (fraction, multiple of
    0.005); clean_shift[model] lowers a model's clean accuracy (and its noisy accuracies with it); `failed` lists
    the cells whose every run fails (a cell without hand-chosen drops must stay in it)."""
    shift, clean_shift = shift or {}, clean_shift or {}
    for m_index, (model, (family, recipe, options, trainable, total, seconds)) in enumerate(MODELS.items()):
        if model in drop_models:
            continue
        common = {"family": family, "recipe": recipe, "options": options, "params": (trainable, total)}
        for s_index, seed in enumerate(SEEDS):
            cs = clean_shift.get(model, 0.0)
            clean = round((CLEAN[model][s_index] - cs) * N) / N
            yield make_record(model, seed, "clean", 0.0, clean, key=[seed, m_index], seconds=seconds[s_index], **common)
            for n_index, noise in enumerate(NOISES):
                for r_index, rate in enumerate(RATES):
                    if (model, noise, rate, seed) in MISSING:
                        continue
                    acc = None
                    if (model, noise, rate) not in failed:
                        acc = noisy_accuracy(model, noise, rate, s_index, shift.get((model, noise, rate), 0.0) + cs)
                    realized = round(rate + REALIZED_OFFSET[noise][s_index], 6)
                    yield make_record(model, seed, noise, rate, acc, realized=realized,
                                      key=[seed, m_index, n_index, r_index], seconds=seconds[s_index], **common)


def write_synthetic(root: str | Path, **kwargs) -> ResultsStore:
    """Write the synthetic set (see `records` for the variations) into the results directory `root`."""
    store = ResultsStore(root)
    for rec in records(**kwargs):
        store.put(rec)
    return store
