"""aten ops (≈ kernel launches) per BLT LoRA q,v training micro-batch, forward + backward, vs global depth.

    python benchmarks/blt_ops.py            # CPU, tiny dims: prints ops for 2 and 6 global layers and the fit

The count does not depend on the width or the device, only on the module structure: the slope per global layer
and the fixed part extrapolate to BLT-1B's 25 global layers (each op is one launch plus host-side Python/autograd
work; see /work/notes/results_blt.md for how that bounds the step time).
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blt_epoch import OpCounter, one_micro_batch  # noqa: E402

from noisebench.models import blt  # noqa: E402
from noisebench.models.base import ModelOptions  # noqa: E402


def ops_for(layers: int, texts: list[str]) -> int:
    cfg = blt.tiny_config(global_config=dict(hidden_size=128, num_attention_heads=4, num_hidden_layers=layers,
                                             intermediate_size=256))
    clf = blt.classifier_from_model(blt.random_model(cfg, "cpu", torch.float32),
                                    ModelOptions(num_labels=2, recipe="lora", lora_rank=16, lora_targets="qv"),
                                    source="tiny")
    clf.module.train()
    one_micro_batch(clf, texts, [0] * len(texts), torch.device("cpu"))  # warm-up (lazy initialisations)
    counter = OpCounter()
    with counter:
        one_micro_batch(clf, texts, [0] * len(texts), torch.device("cpu"))
    return counter.ops


def main() -> None:
    torch.set_num_threads(1)
    texts = ["a gripping, funny film with a score that lingers"] * 32
    low, high = ops_for(2, texts), ops_for(6, texts)
    slope = (high - low) / 4
    fixed = low - 2 * slope
    print("| global layers | aten ops / micro-batch (fwd+bwd) |")
    print("|---|---|")
    print(f"| 2 (measured) | {low:,} |")
    print(f"| 6 (measured) | {high:,} |")
    print(f"| 25 (BLT-1B, extrapolated: {fixed:.0f} + {slope:.0f} x 25) | {fixed + 25 * slope:,.0f} |")


if __name__ == "__main__":
    main()
