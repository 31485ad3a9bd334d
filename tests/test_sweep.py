"""`noisebench sweep`: grid, choice rule, resumability, the out-of-memory fallback, and the stored file."""

from __future__ import annotations

import json

import pytest

from noisebench.cli import run_cli
from noisebench.errors import UsageError
from noisebench.training import sweep

POSITIVE = ["great", "wonderful", "moving", "sharp", "delightful", "brilliant"]
NEGATIVE = ["dull", "clumsy", "tedious", "flat", "awful", "lifeless"]


@pytest.fixture()
def tiny_data(tmp_path):
    """A 96-row sentiment TSV (label words decide the class) carved into train/validation/test by the loader."""
    rows = ["text\tlabel"]
    for i in range(96):
        words = POSITIVE if i % 2 == 0 else NEGATIVE
        label = "pos" if i % 2 == 0 else "neg"
        rows.append(f"the film was {words[i % 6]} and {words[(i // 2) % 6]}, take {i}\t{label}")
    path = tmp_path / "reviews.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- pure parts


def test_grid_order_and_alpha():
    points = sweep.grid((8, 16), ("qv", "qkvo"), (1e-4, 2e-4))
    assert len(points) == 8
    assert points[0] == {"lora_rank": 8, "lora_targets": "qv", "lora_alpha": 16, "lr": 1e-4}
    assert points[-1] == {"lora_rank": 16, "lora_targets": "qkvo", "lora_alpha": 32, "lr": 2e-4}
    assert len({sweep.point_key(p) for p in points}) == 8


def test_default_grid_is_the_studys():
    assert (sweep.DEFAULT_RANKS, sweep.DEFAULT_TARGETS, sweep.DEFAULT_LRS) == ((8, 16, 32), ("qv", "qkvo"),
                                                                               (1e-4, 2e-4))


def test_attempt_plan_keeps_the_effective_batch():
    from noisebench.training.train import TrainConfig, attempt_plan

    plan = attempt_plan(TrainConfig(batch_size=32, grad_accum=1))
    assert [(c.batch_size, c.grad_accum, c.gradient_checkpointing) for c in plan] == [
        (32, 1, False), (16, 2, False), (16, 2, True)]
    odd = attempt_plan(TrainConfig(batch_size=5))
    assert [(c.batch_size, c.grad_accum, c.gradient_checkpointing) for c in odd] == [(5, 1, False), (5, 1, True)]


def test_choice_rule_accuracy_then_loss_then_order():
    def e(key, acc, loss, status="ok"):
        return {"key": key, "status": status, "val_accuracy": acc, "val_loss": loss}

    entries = [e("a", 0.80, 0.40), e("b", 0.85, 0.50), e("c", 0.85, 0.45), e("d", 0.85, 0.45), e("x", 0, 0, "oom")]
    assert sweep.choose(entries)["key"] == "c"
    assert sweep.choose([e("x", 0, 0, "oom")]) is None


def test_load_choice_errors_name_the_problem(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        sweep.load_choice(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(UsageError, match="not valid JSON"):
        sweep.load_choice(bad)
    bad.write_text(json.dumps({"schema": sweep.SCHEMA, "entries": [], "choice": None}), encoding="utf-8")
    with pytest.raises(UsageError, match="no chosen configuration"):
        sweep.load_choice(bad)


def test_cli_rejects_bad_lists_all_at_once(capsys):
    code = run_cli(["sweep", "--model", "qwen-tiny", "--dataset", "x", "--ranks", "8,-1,a", "--targets", "qk",
                    "--lrs", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    for piece in ("-1 must be > 0", "'a' is not a valid int", "'qk' is not one of", "--lrs: 0 must be > 0"):
        assert piece in err


# ---------------------------------------------------------------- end to end on tiny models


def test_tiny_sweep_prints_grid_and_choice_and_resumes(tiny_data, tmp_path, capsys):
    args = ["sweep", "--model", "qwen-tiny", "--dataset", str(tiny_data), "--ranks", "2,4", "--targets", "qv",
            "--lrs", "5e-3", "--epochs", "1", "--batch-size", "16", "--device", "cpu",
            "--results-dir", str(tmp_path / "results")]
    assert run_cli(args) == 0
    out, err = capsys.readouterr()
    assert "choice: rank" in out and "r2-qv-a4-lr0.005" in err
    files = list((tmp_path / "results" / "sweeps").glob("qwen-tiny-reviews-*.json"))
    assert len(files) == 1
    doc = json.loads(files[0].read_text())
    assert doc["dataset"]["split_scored"] == "validation" and doc["provenance"]["packages"]["torch"]
    ok = [e for e in doc["entries"] if e["status"] == "ok"]
    assert len(ok) == 2 and all(0 <= e["val_accuracy"] <= 1 for e in ok)
    best = max(ok, key=lambda e: (e["val_accuracy"], -e["val_loss"]))
    assert sweep.load_choice(files[0]) == {k: best[k] for k in ("lora_rank", "lora_targets", "lora_alpha", "lr")}
    for rank in (2, 4):  # the table shows each grid row
        assert any(line.split("│")[2].strip() == str(rank) for line in out.splitlines() if line.count("│") > 4)

    assert run_cli(args) == 0  # resumed: nothing retrained, the file's entries are kept as they were
    out2, err2 = capsys.readouterr()
    assert err2.count("(recorded, skipped)") == 2 and "training" not in err2
    assert json.loads(files[0].read_text())["entries"] == doc["entries"]


class FakeOOM:
    """Wraps the real `fit`: raises torch.OutOfMemoryError when a condition on the TrainConfig holds."""

    def __init__(self, raises):
        from noisebench.training import train

        self.fit, self.raises, self.calls = train.fit, raises, []

    def __call__(self, clf, train, validation, config, **kw):
        import torch

        self.calls.append((config.batch_size, config.grad_accum, config.gradient_checkpointing, config.lr))
        if self.raises(config):
            raise torch.OutOfMemoryError("simulated: CUDA out of memory")
        return self.fit(clf, train, validation, config, **kw)


@pytest.mark.parametrize("model", ["qwen-tiny", "blt-tiny"])
def test_oom_fallback_sequence_and_oom_record(model, tiny_data, tmp_path):
    # lr 1e-3: every attempt runs out of memory; lr 2e-3: only micro-batches above 4 do
    fake = FakeOOM(lambda c: c.lr == 1e-3 or c.batch_size > 4)
    settings = sweep.SweepSettings(model=model, dataset=str(tiny_data), ranks=(2,), targets=("qv",),
                                   lrs=(1e-3, 2e-3), epochs=1, batch_size=8, device="cpu",
                                   results_dir=str(tmp_path / "results"))
    doc, path = sweep.run_sweep(settings, fit=fake)
    assert fake.calls == [(8, 1, False, 1e-3), (4, 2, False, 1e-3), (4, 2, True, 1e-3),
                          (8, 1, False, 2e-3), (4, 2, False, 2e-3)]
    by_lr = {e["lr"]: e for e in doc["entries"]}
    assert by_lr[1e-3]["status"] == "oom"
    assert [a["outcome"] for a in by_lr[1e-3]["attempts"]] == ["oom", "oom", "oom"]
    assert by_lr[2e-3]["status"] == "ok"
    assert [(a["batch_size"], a["grad_accum"], a["outcome"]) for a in by_lr[2e-3]["attempts"]] == [
        (8, 1, "oom"), (4, 2, "ok")]
    assert sweep.load_choice(path)["lr"] == 2e-3

    again = FakeOOM(lambda c: False)  # re-run: ok and oom points are both final
    sweep.run_sweep(settings, fit=again)
    assert again.calls == []
