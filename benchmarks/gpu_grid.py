"""The study's SST-2 grid on one GPU: every model family at its real shapes (random weights) through noisebench's own
training and prediction code, and the five-seed grid projected from it next to a stock training loop.

    python benchmarks/gpu_grid.py                       # on a GPU machine: all six configurations, ≤ 5 minutes
    python benchmarks/gpu_grid.py --tiny                # CPU check of the script: the tiny variants, seconds
    python benchmarks/gpu_grid.py --families bert,blt-lora --train-examples 2048 --out grid.json

Nothing is downloaded: full-size models are built from their configs with random weights (`random_init`,
benchmark-only), subword tokenizers are trained on the sample when the real ones are not cached, and BLT's random
patcher is replaced by synthetic patch lengths (BOS, then 1 + Poisson(3.5) bytes: mean 4.5), cached before the
epoch as a run caches real ones. Texts are SST-2's training sentences when a copy is found (--data, else
$NOISEBENCH_SHARED_DATA/sst2/train.tsv, else ../shared/data/sst2/train.tsv), otherwise synthetic sentences whose
lengths follow SST-2's (the 21 quantiles in SST2_LENGTHS).

Per configuration: a warm-up fit of a few steps, then
- training examples/s: `noisebench.training.train.fit`, one epoch over --train-examples sentences (batch 32, the run's
  length-bucketed batches, the precision `auto` resolves to: bf16 on Ampere and newer), its validation pass on 64
  sentences included;
- evaluation examples/s: `noisebench.training.train.predict` over --eval-examples sentences in batches of --eval-batch;
- peak memory: torch.cuda.max_memory_allocated over both (the process's peak RSS on the CPU);
- model FLOP utilisation: FLOPs of one median-length training micro-batch (forward + backward) and of one
  evaluation batch, counted by torch's FlopCounterMode, times the measured rates, over --peak-tflops (default: the
  card's dense bf16 peak when its name is known).
Projection: a unit is 3 epochs of SST-2's 67,349 training sentences plus 22 conditions of its 872 validation
sentences (without the memoisation credit a run gets for reused inputs: an upper bound); the grid is 5 seeds of
every configuration. The stock-loop anchor is ../shared/bench/grid_anchor.py on one H100 (per epoch: BERT 62 s,
RoBERTa 73 s, ByT5 178 s, Qwen-LoRA 661 s, BLT-LoRA in the study's design 944 s). Goals: grid ≤ 30 min, BLT-LoRA
epoch ≤ 60 s. Prints a table and writes a JSON file (--out).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SST2_TRAIN, SST2_DEV, EPOCHS, CONDITIONS, SEEDS = 67_349, 872, 3, 22, 5
# SST-2 train: characters per sentence at quantiles 0, 0.05, ..., 1 (mean 52.5)
SST2_LENGTHS = (1, 9, 12, 15, 17, 20, 23, 26, 30, 34, 38, 43, 49, 56, 64, 73, 84, 98, 116, 144, 267)
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10": 125.0, "GV100": 118.0,
               "V100": 125.0}  # dense bf16 (fp16 tensor cores on Volta), from the vendors' sheets
GOAL_GRID_MIN, GOAL_BLT_EPOCH_S = 30.0, 60.0


@dataclass(frozen=True)
class Family:
    key: str
    label: str
    model: str  # registry name at full size
    tiny: str  # its tiny variant (--tiny)
    recipe: str
    pooling: str | None
    anchor_epoch_s: float | None  # stock loop, one H100 (../shared/bench)


FAMILIES = (
    Family("bert", "BERT-base", "bert", "bert-tiny", "full", None, 62.0),
    Family("roberta", "RoBERTa-base", "roberta", "roberta-tiny", "full", None, 73.0),
    Family("byt5", "ByT5-small", "byt5", "byt5-tiny", "full", None, 178.0),
    Family("qwen-lora", "Qwen2.5-1.5B LoRA", "qwen-lora", "qwen-tiny", "lora", None, 661.0),
    Family("blt-probe", "BLT-1B probe", "blt", "blt-tiny", "probe", "attention", None),
    Family("blt-lora", "BLT-1B LoRA", "blt", "blt-tiny", "lora", "attention", 944.0),
)


def sentences(n: int, data: Path | None, seed: int = 0, search: bool = True) -> list[str]:
    """n SST-2 training sentences (a seeded sample) from `data` or, with `search`, the usual places; synthetic ones
    with SST-2's lengths when none is found."""
    rng = np.random.default_rng(seed)
    candidates = [data] if data else []
    if search and os.environ.get("NOISEBENCH_SHARED_DATA"):
        candidates.append(Path(os.environ["NOISEBENCH_SHARED_DATA"]) / "sst2" / "train.tsv")
    if search:
        candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2" / "train.tsv")
    for path in candidates:
        if path and path.is_file():
            with path.open(encoding="utf-8", newline="") as f:
                rows = [r[0] for r in list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:] if r]
            return [rows[i] for i in rng.choice(len(rows), size=n, replace=n > len(rows))]
    words = ("the film is a charming and often affecting journey with moments of real wit but its story never "
             "quite finds the heart it seeks while the cast does what it can").split()
    quantiles = np.linspace(0, 1, len(SST2_LENGTHS))
    out = []
    for u in rng.random(n):
        target = max(1, int(np.interp(u, quantiles, SST2_LENGTHS)))
        text = ""
        while len(text) < target:
            text += ("" if not text else " ") + words[int(rng.integers(len(words)))]
        out.append(text[:target])
    return out


def project(train_per_s: float, eval_per_s: float) -> dict:
    """Seconds of one SST-2 epoch, of one unit (3 epochs + 22 evaluated conditions) and of the 5-seed grid."""
    epoch = SST2_TRAIN / train_per_s
    unit = EPOCHS * epoch + CONDITIONS * SST2_DEV / eval_per_s
    return {"epoch_s": epoch, "unit_s": unit, "grid_s": SEEDS * unit}


def _peak_tflops(device: object, override: float | None) -> float | None:
    if override:
        return override
    import torch

    if getattr(device, "type", "cpu") != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def _flops(fn) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return float(counter.get_total_flops())


def _synthetic_patches(clf, texts: list[str]) -> None:
    """BLT with a random patcher: cache realistic patch lengths for `texts` (what a run caches from real ones), as
    benchmarks/blt_epoch.py does."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from blt_epoch import synthetic_patches

    from noisebench.models import blt

    rng = np.random.default_rng(1)
    for text in texts:
        row = blt.byte_ids(text, clf.max_bytes, clf.policy)
        clf.patch_cache.put(blt.patch_key(row), synthetic_patches(len(row), 4.5, rng))


def measure(family: Family, *, tiny: bool, device: object, train_texts: list[str], eval_texts: list[str],
            eval_batch: int, peak_tflops: float | None) -> dict:
    """One configuration's rates, memory and utilisation (see the module docstring)."""
    import torch

    from noisebench.datasets.base import Example
    from noisebench.models import build_classifier, resolve_model
    from noisebench.models.base import ModelOptions
    from noisebench.models.common import count_parameters
    from noisebench.training import train

    cuda = getattr(device, "type", "cpu") == "cuda"
    spec = resolve_model(family.tiny if tiny else family.model)
    options = ModelOptions(num_labels=2, recipe=family.recipe, pooling=family.pooling, lora_rank=16, lora_alpha=32,
                           lora_targets="qv", random_init=not tiny, train_texts=tuple(train_texts), seed=0)
    built = time.perf_counter()
    clf = build_classifier(spec, options, device)
    build_s = time.perf_counter() - built
    if spec.family == "blt":
        _synthetic_patches(clf, train_texts + eval_texts)
    examples = [Example(id=str(i), text=t, label=i % 2, key=str(i)) for i, t in enumerate(train_texts)]
    validation = examples[:64]
    precision = train.resolve_precision("auto", device)
    config = train.TrainConfig(epochs=1, batch_size=32, patience=1, min_epochs=1, precision="auto")
    train.fit(clf, examples[:64], validation[:32], config, seed=0, device=device)  # warm-up: kernels, allocator
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    result = train.fit(clf, examples, validation, config, seed=0, device=device)
    train_per_s = len(examples) / result.seconds
    train.predict(clf, eval_texts[:eval_batch], device=device, batch_size=eval_batch)  # warm-up
    if cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    train.predict(clf, eval_texts, device=device, batch_size=eval_batch)
    if cuda:
        torch.cuda.synchronize()
    eval_per_s = len(eval_texts) / (time.perf_counter() - started)
    peak = (torch.cuda.max_memory_allocated(device) if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)

    lengths = clf.lengths(train_texts)  # FLOPs of median-length batches, per example
    order = sorted(range(len(train_texts)), key=lambda i: lengths[i])
    middle = [train_texts[i] for i in order[max(0, len(order) // 2 - 16):][:32]]
    labels = torch.tensor([i % 2 for i in range(len(middle))], device=device)

    def train_step() -> None:
        clf.module.train()
        batch = {k: v.to(device) for k, v in clf.encode(middle).items()}
        with train._autocast(device, precision):
            logits = clf.forward(batch).float()
        torch.nn.functional.cross_entropy(logits, labels).backward()
        clf.module.zero_grad(set_to_none=True)

    def eval_step() -> None:
        clf.module.eval()
        # grad mode on (FlopCounterMode's module tracker needs it): the forward's FLOPs are the same
        with train._autocast(device, precision):
            clf.forward({k: v.to(device) for k, v in clf.encode(middle).items()})

    train_flops, eval_flops = _flops(train_step) / len(middle), _flops(eval_step) / len(middle)
    trainable, total = count_parameters(clf.module)
    out = {"family": family.key, "label": family.label, "model": spec.name, "recipe": family.recipe,
           "precision": precision, "trainable_params": trainable, "total_params": total, "build_s": build_s,
           "train_examples_per_s": train_per_s, "eval_examples_per_s": eval_per_s, "peak_memory_bytes": int(peak),
           "train_flops_per_example": train_flops, "eval_flops_per_example": eval_flops,
           "mfu_train": train_flops * train_per_s / (peak_tflops * 1e12) if peak_tflops else None,
           "mfu_eval": eval_flops * eval_per_s / (peak_tflops * 1e12) if peak_tflops else None,
           "anchor_epoch_s": family.anchor_epoch_s, **project(train_per_s, eval_per_s)}
    return out  # the classifier goes with this frame; main() empties the CUDA cache before the next one


def table(rows: list[dict], device_name: str, tiny: bool = False) -> str:
    what = ("the TINY variants: a check of the script, not a measurement" if tiny else
            "random weights at the real shapes; noisebench's fit/predict")
    lines = [f"SST-2 grid projection on {device_name} ({what})",
             f"{'configuration':<20} {'train ex/s':>10} {'eval ex/s':>10} {'peak GiB':>9} {'MFU tr':>7} "
             f"{'MFU ev':>7} {'epoch s':>8} {'anchor s':>9} {'speed-up':>9}"]
    for r in rows:
        mfu = [f"{r[k]:.1%}" if r[k] is not None else "n/a" for k in ("mfu_train", "mfu_eval")]
        anchor = r["anchor_epoch_s"]
        speedup = f"{anchor / r['epoch_s']:.1f}x" if anchor else "n/a"
        lines.append(f"{r['label']:<20} {r['train_examples_per_s']:>10.1f} {r['eval_examples_per_s']:>10.1f} "
                     f"{r['peak_memory_bytes'] / 2**30:>9.2f} {mfu[0]:>7} {mfu[1]:>7} {r['epoch_s']:>8.1f} "
                     f"{anchor if anchor is not None else 'n/a':>9} {speedup:>9}")
    grid = sum(r["grid_s"] for r in rows) / 60
    anchored = [r for r in rows if r["anchor_epoch_s"]]
    stock = sum(SEEDS * EPOCHS * r["anchor_epoch_s"] for r in anchored) / 60
    lines.append(f"five-seed SST-2 grid ({len(rows)} configurations, 3 epochs + 22 conditions per unit): "
                 f"{grid:.1f} min projected; stock loop, training only, the {len(anchored)} anchored "
                 f"configurations: {stock:.1f} min")
    blt = next((r for r in rows if r["family"] == "blt-lora"), None)
    lines.append(f"goals: grid <= {GOAL_GRID_MIN:g} min: {'met' if grid <= GOAL_GRID_MIN else 'NOT met'}"
                 + (f"; BLT-LoRA epoch <= {GOAL_BLT_EPOCH_S:g} s: "
                    f"{'met' if blt['epoch_s'] <= GOAL_BLT_EPOCH_S else 'NOT met'} ({blt['epoch_s']:.1f} s)"
                    if blt else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the tiny variants (a CPU check of the script)")
    parser.add_argument("--families", default=",".join(f.key for f in FAMILIES),
                        help=f"comma list of: {', '.join(f.key for f in FAMILIES)}")
    parser.add_argument("--train-examples", type=int, default=None, help="default 1024 on a GPU, 64 on the CPU")
    parser.add_argument("--eval-examples", type=int, default=None, help="default 4096 on a GPU, 64 on the CPU")
    parser.add_argument("--eval-batch", type=int, default=256)
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak (default: by name)")
    parser.add_argument("--data", type=Path, default=None, help="SST-2 train.tsv (text<TAB>label, header)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("gpu_grid.json"))
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from noisebench.training import train

    wanted = [k.strip() for k in args.families.split(",") if k.strip()]
    unknown = sorted(set(wanted) - {f.key for f in FAMILIES})
    if unknown:
        parser.error(f"unknown families {unknown}; choose from {', '.join(f.key for f in FAMILIES)}")
    device = train.resolve_device(args.device)
    cuda = device.type == "cuda"
    n_train = args.train_examples or (1024 if cuda else 64)
    n_eval = args.eval_examples or (4096 if cuda else 64)
    train_texts, eval_texts = sentences(n_train, args.data, seed=0), sentences(n_eval, args.data, seed=1)
    peak = _peak_tflops(device, args.peak_tflops)
    device_name = torch.cuda.get_device_name(device) if cuda else f"CPU ({os.cpu_count()} cores)"
    rows = []
    for family in (f for f in FAMILIES if f.key in wanted):
        row = measure(family, tiny=args.tiny, device=device, train_texts=train_texts, eval_texts=eval_texts,
                      eval_batch=args.eval_batch, peak_tflops=peak)
        rows.append(row)
        if cuda:
            torch.cuda.empty_cache()
        print(f"{family.label}: {row['train_examples_per_s']:.1f} train ex/s, {row['eval_examples_per_s']:.1f} "
              f"eval ex/s", file=sys.stderr, flush=True)
    report = {"device": device_name, "tiny": args.tiny, "torch": torch.__version__, "peak_tflops": peak,
              "train_examples": n_train, "eval_examples": n_eval, "rows": rows,
              "grid_minutes": sum(r["grid_s"] for r in rows) / 60}
    print(table(rows, device_name, args.tiny))
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out}")
    return report


if __name__ == "__main__":
    main()
