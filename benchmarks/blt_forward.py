"""BLT classification forward: noisebench's path vs the study's design, same weights, same batch, one run.

    python benchmarks/blt_forward.py --tiny                      # CPU check (tiny random config)
    python benchmarks/blt_forward.py --random-init --batch 64    # GPU: BLT-1B shapes, random weights

Paths (texts → logits, no gradient, identical pooling head on top):
  study     entropy patcher run on the batch, then the stock `BltModel` forward (local encoder, global transformer,
            local decoder) with the global output taken by a forward hook — the study's design;
  study-np  the same stock forward without the patcher call (what caching boundaries alone saves);
  ours      `noisebench.models.blt`: cached boundaries (no patcher), hash embeddings → local encoder → global
            transformer called directly (no local decoder).
Random-weight patchers cut 1-byte patches, so every path is fed the same realistic patch lengths (first patch = BOS,
then 1 + Poisson(mean - 1) bytes, mean 4.5 by default); the study path still pays the patcher's forward.
FLOPs are counted by torch's FlopCounterMode on one forward of each path (matmuls and attention); MFU = achieved
FLOP/s over --peak-tflops (default 989: H100 SXM dense bf16; give your card's figure), not printed on CPU unless a
peak is given. `--random-init` is a benchmark-only flag: never use such a model for results.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from noisebench.models import blt
from noisebench.models.base import ModelOptions

# models.md, BLT-1B at ~4.45 bytes/patch, forward MFLOP per byte (reference figures printed beside the counts)
REFERENCE_MFLOP_PER_BYTE = {"patcher": 199, "local encoder": 33, "global transformer": 577, "local decoder": 288}


def synthetic_batch(batch: int, length: int, mean_patch: float, seed: int) -> tuple[list[str], list[np.ndarray]]:
    """`batch` ASCII texts of exactly `length` bytes and realistic patch lengths for each (BOS patch first)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz     ,."))
    texts = ["".join(rng.choice(letters, size=length)) for _ in range(batch)]
    patches = []
    for _ in texts:
        lengths, left = [1], length
        while left > 0:
            n = int(min(left, 1 + rng.poisson(mean_patch - 1)))
            lengths.append(n)
            left -= n
        patches.append(np.asarray(lengths, dtype=np.int64))
    return texts, patches


def timed(fn, steps: int, warmup: int, device: torch.device) -> tuple[float, float]:
    """(seconds per call, peak GiB on CUDA else nan)."""
    for _ in range(warmup):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / steps
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return seconds, peak


def count_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = parser.add_mutually_exclusive_group(required=True)
    size.add_argument("--tiny", action="store_true", help="tiny random config (CPU check)")
    size.add_argument("--random-init", action="store_true", help="BLT-1B shapes with random weights (benchmark only)")
    parser.add_argument("--batch", type=int, default=None, help="examples per batch (default 64; 16 with --tiny)")
    parser.add_argument("--bytes", type=int, default=128, help="bytes per example")
    parser.add_argument("--mean-patch", type=float, default=4.5, help="mean patch length fed to every path")
    parser.add_argument("--steps", type=int, default=None, help="timed batches (default 20; 5 with --tiny)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--peak-tflops", type=float, default=None, help="chip peak for MFU (default 989 on CUDA)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(1)
    batch = args.batch or (16 if args.tiny else 64)
    steps = args.steps or (5 if args.tiny else 20)
    peak_tflops = args.peak_tflops or (989.0 if device.type == "cuda" else None)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32

    from transformers import BltConfig

    config = blt.tiny_config() if args.tiny else BltConfig()
    model = blt.random_model(config, device, dtype)
    clf = blt.classifier_from_model(model, ModelOptions(num_labels=2, recipe="probe", pooling="mean"),
                                    source="random init (benchmark only)", drop_decoder=False)
    clf.module.eval()
    texts, patches = synthetic_batch(batch, args.bytes, args.mean_patch, seed=0)
    import hashlib

    for text, lengths in zip(texts, patches, strict=True):  # "cached" boundaries for our path
        clf.patch_cache.put(hashlib.sha256(text.encode()).hexdigest(), lengths)
    real_bytes = sum(len(t.encode()) + 1 for t in texts)

    captured = {}
    model.global_transformer.register_forward_hook(lambda mod, a, out: captured.__setitem__("g", out))

    def stock(with_patcher: bool):
        def run():
            enc = clf.encode(texts)  # same byte ids and explicit patch lengths for every path
            ids, lengths, mask = (enc[k].to(device) for k in ("input_ids", "patch_lengths", "patch_mask"))
            with torch.no_grad():
                if with_patcher:
                    model.patcher(ids, patch_size=config.patch_size, threshold=config.patching_threshold)
                model(input_ids=ids, patch_lengths=lengths, use_cache=False)
                module = clf.module
                return module.head(blt.pool(module.norm(captured["g"].float()), mask, "mean"))
        return run

    def ours():
        batch_ = {k: v.to(device) for k, v in clf.encode(texts).items()}
        with torch.no_grad():
            return clf.forward(batch_)

    paths = [("study (patcher + decoder)", stock(True)), ("study-np (decoder)", stock(False)), ("ours", ours)]
    diff = (paths[0][1]() - ours()).abs().max().item()
    rows = []
    for name, fn in paths:
        flops = count_flops(fn)
        seconds, peak = timed(fn, steps, args.warmup, device)
        rows.append((name, seconds, flops, peak))
    study_seconds = rows[0][1]
    n_patches = sum(len(p) for p in patches)
    print(f"BLT classification forward, {'tiny' if args.tiny else '1B random-init'} config, {device.type} "
          f"{torch.cuda.get_device_name(device) if device.type == 'cuda' else ''}, {dtype}, batch {batch} x "
          f"{args.bytes} bytes, mean patch {real_bytes / n_patches:.2f} bytes, {steps} timed batches; "
          f"max |logit diff| ours vs study {diff:.2e}")
    print("| path | ms/batch | bytes/s | speed-up vs study | GFLOP/batch | MFLOP/byte | TFLOP/s | MFU | peak GiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, seconds, flops, peak in rows:
        tflops = flops / seconds / 1e12
        mfu = f"{tflops / peak_tflops:.1%}" if peak_tflops else "-"
        print(f"| {name} | {seconds * 1e3:.1f} | {real_bytes / seconds:,.0f} | {study_seconds / seconds:.2f}x | "
              f"{flops / 1e9:.2f} | {flops / real_bytes / 1e6:.3g} | {tflops:.3f} | {mfu} | "
              f"{'-' if peak != peak else f'{peak:.1f}'} |")
    if not args.tiny:
        print("models.md reference (MFLOP/byte, forward): " + ", ".join(
            f"{k} {v}" for k, v in REFERENCE_MFLOP_PER_BYTE.items()))


if __name__ == "__main__":
    main()
