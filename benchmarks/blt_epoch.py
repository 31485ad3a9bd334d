"""BLT LoRA (r16, q,v) training epoch over SST-2's training sentences, through noisebench's own training code.

    python benchmarks/blt_epoch.py --tiny                          # CPU sanity run (tiny random config)
    python benchmarks/blt_epoch.py --size 1b --random-init         # GPU: BLT-1B shapes, random weights
    python benchmarks/blt_epoch.py --size 1b --random-init --profile   # + torch.profiler top ops
    python benchmarks/blt_epoch.py --size 1b --source /data/blt-1b-hf  # real weights: the patcher sets boundaries

What runs: `noisebench.models.blt` builds the classifier (recipe lora, r16, alpha 32, targets q,v, attention pooling,
decoder dropped) and `noisebench.training.train.fit` trains it for one epoch on a sample of SST-2 train sentences (the
benchmark's only instrumentation: a progress callback that timestamps every optimizer step, and a wrapper around
`clf.encode` that tallies real and padded bytes). Patch lengths are cached before training, as they are after a
run's first epoch: with `--random-init` (or `--tiny`) the patcher has random weights and would cut every byte into its
own patch, so each sentence gets a realistic synthetic split instead (BOS patch, then 1 + Poisson(mean - 1) bytes,
mean 4.5, inside the sentence's real bytes); with real weights (`--size 1b` without `--random-init`) the patcher
computes them. The one-off patcher pass over the sample is timed separately (it is absent from later epochs).

Reported: ms per optimizer step (the loop syncs once per step, so step timestamps are real), real bytes/s, padding
waste (1 - real / padded bytes over the timed micro-batches), peak CUDA memory, FLOPs of one training micro-batch
(forward + backward, torch's FlopCounterMode) → model FLOP/s and utilisation against --peak-tflops, aten ops per
micro-batch (a proxy for kernel launches), and the epoch time extrapolated to all 67,349 sentences by real bytes.
`--random-init` is benchmark-only: never use such a model for results.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import torch

from noisebench.datasets.base import Example
from noisebench.models import blt
from noisebench.models.base import ModelOptions
from noisebench.training.train import TrainConfig, fit

SST2_SENTENCES = 67_349
REPO = Path(__file__).resolve().parents[1]


def read_sst2(path: Path) -> tuple[list[str], list[int]]:
    """SST-2 train TSV (`text<TAB>label`, header, csv quoting OFF)."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    return [r[0] for r in rows], [int(r[1]) for r in rows]


def synthetic_patches(n_bytes: int, mean_patch: float, rng: np.random.Generator) -> np.ndarray:
    """Patch lengths for a text of `n_bytes` real bytes (BOS included): [1] then 1 + Poisson(mean - 1), summing to
    n_bytes."""
    lengths, left = [1], n_bytes - 1
    while left > 0:
        n = int(min(left, 1 + rng.poisson(mean_patch - 1)))
        lengths.append(n)
        left -= n
    return np.asarray(lengths, dtype=np.int64)


class OpCounter(torch.utils._python_dispatch.TorchDispatchMode):
    """Counts aten ops dispatched (forward and backward) — each is roughly one kernel launch on CUDA."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops += 1
        return func(*args, **(kwargs or {}))


def one_micro_batch(clf, texts, labels, device) -> None:
    """Forward + backward of one training micro-batch exactly as `fit` runs it (gradients are discarded)."""
    from noisebench.training.train import _autocast

    batch = {k: v.to(device) for k, v in clf.encode(texts).items()}
    with _autocast(device):
        logits = clf.forward(batch).float()
    torch.nn.functional.cross_entropy(logits, torch.tensor(labels, device=device), reduction="sum").backward()
    for p in clf.module.parameters():
        p.grad = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="same as --size tiny (CPU sanity run)")
    parser.add_argument("--size", choices=("tiny", "1b"), default=None)
    parser.add_argument("--random-init", action="store_true", help="1b shapes with random weights (benchmark only)")
    parser.add_argument("--source", default=None, help="1b: hub id or local folder of real weights (real patcher)")
    parser.add_argument("--sample", type=int, default=None, help="sentences trained on (default 4096; 384 tiny)")
    parser.add_argument("--batch-size", type=int, default=32, help="examples per optimizer step (fit's batch_size)")
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--max-tokens", type=int, default=None, help="cap on padded bytes per micro-batch")
    parser.add_argument("--mean-patch", type=float, default=4.5, help="mean synthetic patch length (random weights)")
    parser.add_argument("--warmup-steps", type=int, default=3, help="steps left out of the timing")
    parser.add_argument("--peak-tflops", type=float, default=None, help="chip peak for MFU (default 989 on CUDA)")
    parser.add_argument("--profile", action="store_true", help="torch.profiler over 5 steps: top ops by time")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--sst2", type=Path, default=None, help="SST-2 train.tsv (default: shared data)")
    args = parser.parse_args()
    size = "tiny" if args.tiny else (args.size or "1b")
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)  # the CPU here is shared; this is a sanity run, not a speed claim
    sample = args.sample or (384 if size == "tiny" else 4096)
    peak_tflops = args.peak_tflops or (989.0 if device.type == "cuda" else None)

    shared = Path(os.environ.get("NOISEBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
    texts_all, labels_all = read_sst2(args.sst2 or shared / "sst2" / "train.tsv")
    bytes_all = sum(len(t.encode("utf-8")) + 1 for t in texts_all)
    rng = np.random.default_rng(0)
    idx = rng.choice(len(texts_all), size=min(sample, len(texts_all)), replace=False)
    train = tuple(Example(f"train-{i}", texts_all[i], labels_all[i], str(i)) for i in idx)
    validation = train[:2]  # fit needs one; its cost is outside the timed steps

    options = ModelOptions(num_labels=2, recipe="lora", pooling="attention", lora_rank=16, lora_alpha=32,
                           lora_targets="qv", random_init=args.random_init)
    from noisebench.models import build_classifier, resolve_model

    name = "blt-tiny" if size == "tiny" else (f"blt:{args.source}" if args.source else "blt")
    clf = build_classifier(resolve_model(name), options, device)
    synthetic = size == "tiny" or args.random_init
    blt_model = clf.module.blt

    # one-off patcher pass over the sample (what the first epoch pays; later epochs read the cache)
    ids = [blt.byte_ids(ex.text, clf.max_bytes) for ex in train]
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    if synthetic:
        scratch = blt.BltClassifier(clf.module, {}, clf.max_bytes)
        scratch._patch_cache = blt.PatchCache("scratch")  # random patcher's 1-byte boundaries must not be used
        scratch._run_patcher({blt.patch_key(row): row for row in ids})
    else:
        clf.patch_lengths([ex.text for ex in train])
    if device.type == "cuda":
        torch.cuda.synchronize()
    patcher_s = time.perf_counter() - start
    if synthetic:
        prng = np.random.default_rng(1)
        for row in ids:
            key = blt.patch_key(row)
            clf.patch_cache.put(key, synthetic_patches(len(row), args.mean_patch, prng))
    cached = [clf.patch_cache.get(blt.patch_key(row)) for row in ids]
    mean_patch = sum(len(r) for r in ids) / sum(len(p) for p in cached)

    # FLOPs and aten ops of one representative micro-batch (forward + backward)
    lengths = clf.lengths([ex.text for ex in train])
    order = sorted(range(len(train)), key=lambda i: lengths[i])
    micro = args.batch_size // args.grad_accum
    median = order[max(0, len(order) // 2 - micro // 2):][:micro]  # a micro-batch of median-length sentences
    probe_texts, probe_labels = [train[i].text for i in median], [train[i].label for i in median]
    clf.module.train()
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        one_micro_batch(clf, probe_texts, probe_labels, device)
    probe_enc = clf.encode(probe_texts)
    flops_per_padded_byte = counter.get_total_flops() / probe_enc["input_ids"].numel()
    ops = OpCounter()
    with ops:
        one_micro_batch(clf, probe_texts, probe_labels, device)

    # the epoch through fit, timestamps per optimizer step, byte tallies per training micro-batch
    tallies: list[tuple[float, int, int, int, int]] = []  # (time, real bytes, padded bytes, real patches, patches)
    encode = clf.encode

    def counting_encode(texts):
        out = encode(texts)
        tallies.append((time.perf_counter(), int(out["attention_mask"].sum()), out["input_ids"].numel(),
                        int(out["patch_mask"].sum()), out["patch_mask"].numel()))
        return out

    clf.encode = counting_encode
    stamps: list[float] = []
    profiler = None
    if args.profile:
        activities = [torch.profiler.ProfilerActivity.CPU] + (
            [torch.profiler.ProfilerActivity.CUDA] if device.type == "cuda" else [])
        profiler = torch.profiler.profile(activities=activities, schedule=torch.profiler.schedule(
            wait=args.warmup_steps, warmup=1, active=5, repeat=1))
        profiler.start()

    def progress(done, total, stage):
        if stage == "train":
            stamps.append(time.perf_counter())
            if profiler is not None:
                profiler.step()

    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    fit_start = time.perf_counter()
    config = TrainConfig(epochs=1, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=2e-4,
                         max_tokens=args.max_tokens)
    fit(clf, train, validation, config, seed=0, device=device, progress=progress)
    if profiler is not None:
        profiler.stop()
    clf.encode = encode
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")

    w = args.warmup_steps
    if len(stamps) <= w + 1:
        raise SystemExit(f"only {len(stamps)} steps: raise --sample or lower --warmup-steps")
    t0, t1 = stamps[w - 1] if w else fit_start, stamps[-1]
    timed = [t for t in tallies if t0 < t[0] <= t1]
    real = sum(t[1] for t in timed)
    padded = sum(t[2] for t in timed)
    real_patches, all_patches = sum(t[3] for t in timed), sum(t[4] for t in timed)
    seconds = t1 - t0
    steps = len(stamps) - w
    model_tflops = flops_per_padded_byte * padded / seconds / 1e12  # FLOPs actually issued, padding included
    useful_tflops = flops_per_padded_byte * real / seconds / 1e12
    epoch_s = seconds * bytes_all / real
    floor_s = flops_per_padded_byte * bytes_all / (peak_tflops * 1e12) if peak_tflops else None

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    dtype = next(blt_model.global_transformer.parameters()).dtype
    print(f"BLT LoRA r16 q,v epoch benchmark: {name}{' random-init' if args.random_init else ''} on {device_name}, "
          f"backbone {dtype}, {len(train)} sampled SST-2 sentences, batch {args.batch_size} x accum "
          f"{args.grad_accum}, max_tokens {args.max_tokens}, {steps} timed steps (after {w} warm-up)")
    print(f"patch lengths cached before training ({'synthetic, mean' if synthetic else 'entropy patcher, mean'} "
          f"{mean_patch:.2f} bytes/patch); one-off patcher pass over the sample: {patcher_s:.2f} s "
          f"(~{patcher_s * bytes_all / sum(map(len, ids)):.1f} s for all of SST-2 train)")
    print(f"trainable {clf.info['trainable_params']:,} of {clf.info['total_params']:,} parameters")
    print("| metric | value |")
    print("|---|---|")
    rows = [
        ("ms / optimizer step", f"{seconds / steps * 1e3:.1f}"),
        ("real bytes / s", f"{real / seconds:,.0f}"),
        ("padding waste (bytes)", f"{1 - real / padded:.1%}"),
        ("padding waste (patches)", f"{1 - real_patches / all_patches:.1%}"),
        ("peak memory GiB", "-" if peak != peak else f"{peak:.1f}"),
        ("MFLOP / padded byte (fwd+bwd, counted)", f"{flops_per_padded_byte / 1e6:,.1f}"),
        ("aten ops / micro-batch (fwd+bwd)", f"{ops.ops:,}"),
        ("model TFLOP/s issued (useful)", f"{model_tflops:.3f} ({useful_tflops:.3f})"),
        ("MFU (useful FLOPs / peak)", f"{useful_tflops / peak_tflops:.1%}" if peak_tflops else "- (CPU)"),
        (f"epoch, {SST2_SENTENCES:,} sentences ({bytes_all / 1e6:.2f} MB), extrapolated", f"{epoch_s:,.1f} s"),
        ("FLOP floor for that epoch at peak", f"{floor_s:.1f} s" if floor_s else "- (CPU)"),
    ]
    for key, value in rows:
        print(f"| {key} | {value} |")
    if profiler is not None:
        sort = "cuda_time_total" if device.type == "cuda" else "cpu_time_total"
        print(profiler.key_averages().table(sort_by=sort, row_limit=25))


if __name__ == "__main__":
    from noisebench.errors import NoisebenchError

    try:
        main()
    except NoisebenchError as e:
        raise SystemExit(f"blt_epoch: error: {e}") from None
