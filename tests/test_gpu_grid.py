"""benchmarks/gpu_grid.py's logic on the CPU with the tiny variants: it runs noisebench's own fit and predict for
each family, writes a complete JSON report, and its projection is the arithmetic it states."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "gpu_grid.py"


@pytest.fixture(scope="module")
def grid():
    spec = importlib.util.spec_from_file_location("gpu_grid", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_grid"] = module  # dataclasses look their module up while the script is being executed
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("gpu_grid", None)


def test_tiny_run_measures_every_family_through_noisebench_and_projects_the_grid(grid, tmp_path, capsys):
    out = tmp_path / "grid.json"
    report = grid.main(["--tiny", "--families", "bert,byt5,blt-lora", "--train-examples", "48",
                        "--eval-examples", "40", "--eval-batch", "16", "--device", "cpu", "--out", str(out)])
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    rows = {r["family"]: r for r in report["rows"]}
    assert set(rows) == {"bert", "byt5", "blt-lora"}
    assert rows["blt-lora"]["model"] == "blt-tiny" and rows["blt-lora"]["recipe"] == "lora"
    assert rows["blt-lora"]["trainable_params"] < rows["blt-lora"]["total_params"]  # LoRA: the backbone is frozen
    for r in rows.values():
        assert r["train_examples_per_s"] > 0 and r["eval_examples_per_s"] > 0 and r["peak_memory_bytes"] > 0
        assert r["train_flops_per_example"] > r["eval_flops_per_example"] > 0  # backward costs more than forward
        assert r["mfu_train"] is None  # no peak is known for a CPU
        epoch = 67_349 / r["train_examples_per_s"]  # the projection, computed again from the stated rule
        unit = 3 * epoch + 22 * 872 / r["eval_examples_per_s"]
        assert r["epoch_s"] == pytest.approx(epoch) and r["grid_s"] == pytest.approx(5 * unit)
    assert report["grid_minutes"] == pytest.approx(sum(r["grid_s"] for r in rows.values()) / 60)
    printed = capsys.readouterr().out
    assert "five-seed SST-2 grid" in printed and "BLT-LoRA epoch <= 60 s" in printed


def test_synthetic_sentences_follow_sst2_lengths(grid, tmp_path):
    texts = grid.sentences(4000, tmp_path / "absent.tsv", seed=3, search=False)
    import numpy as np

    lengths = np.array([len(t) for t in texts])
    assert abs(lengths.mean() - 52.5) < 4 and lengths.min() >= 1 and lengths.max() <= 267
    assert texts == grid.sentences(4000, tmp_path / "absent.tsv", seed=3, search=False)  # seeded
