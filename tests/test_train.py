"""The training loop (noisebench.training.train) on tiny offline models, and noisebench.training.metrics against hand computations.

The toy task: a text is a few neutral words with "good" (label 1) or "bad" (label 0) inserted at a random place,
drawn from `numpy.random.default_rng(split seed)`. A model that learns anything reaches ~100% on held-out texts.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
from scipy.special import logsumexp  # noqa: E402

from noisebench.datasets.base import Example  # noqa: E402
from noisebench.errors import RunError, UsageError  # noqa: E402
from noisebench.models import MODELS, build_classifier  # noqa: E402
from noisebench.models.base import ModelOptions  # noqa: E402
from noisebench.training import metrics  # noqa: E402
from noisebench.training.train import TrainConfig, cap_batches, fit, predict, resolve_device, training_steps  # noqa: E402

torch.set_num_threads(1)
CPU = torch.device("cpu")
NEUTRAL = "the a movie film plot story actor scene music ending script camera light day night city road".split()
MODEL = "bert-tiny"


def toy(n: int, seed: int, split: str) -> list[Example]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(NEUTRAL, size=int(rng.integers(2, 8))))
        words.insert(int(rng.integers(len(words) + 1)), "good" if label else "bad")
        text = " ".join(words)
        out.append(Example(f"{split}-{i}", text, label, text))
    return out


TRAIN, VAL, TEST = toy(256, 1, "train"), toy(64, 2, "val"), toy(200, 3, "test")
SMALL = TRAIN[:96]


def make(seed: int = 0, name: str = MODEL, no_dropout: bool = False):
    spec = MODELS.get(name)
    clf = build_classifier(spec, ModelOptions(num_labels=2, train_texts=[ex.text for ex in TRAIN], seed=seed), CPU)
    if no_dropout:  # dropout masks depend on tensor shapes, which micro-batching changes
        for sub in clf.module.modules():
            if isinstance(sub, torch.nn.Dropout):
                sub.p = 0.0
    return clf


def labels(examples) -> np.ndarray:
    return np.asarray([ex.label for ex in examples])


def texts(examples) -> list[str]:
    return [ex.text for ex in examples]


# ---- TrainConfig and devices ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 0}, "batch size"),
    ({"grad_accum": 0}, "batch size"),
    ({"batch_size": 10, "grad_accum": 3}, "not divisible"),
    ({"lr": 0.0}, "learning rate"),
    ({"lr": -1e-3}, "learning rate"),
    ({"lr": float("nan")}, "learning rate"),
    ({"lr": float("inf")}, "learning rate"),
    ({"weight_decay": 1.0}, "weight decay"),
    ({"warmup_ratio": -0.1}, "warm-up"),
    ({"patience": 0}, "patience"),
    ({"max_tokens": 0}, "max tokens"),
])
def test_config_rejects_bad_values(kwargs, fragment):
    with pytest.raises(UsageError, match=fragment):
        TrainConfig(**kwargs)


def test_config_reports_every_problem_at_once():
    with pytest.raises(UsageError) as err:
        TrainConfig(epochs=0, lr=-1.0, patience=0)
    assert all(word in str(err.value) for word in ("epochs", "learning rate", "patience"))


def test_config_micro_batch_and_identity():
    config = TrainConfig(batch_size=32, grad_accum=4, max_tokens=1000, gradient_checkpointing=True)
    assert config.micro_batch_size == 8
    assert config.identity() == TrainConfig(batch_size=32).identity()  # memory knobs do not change the model


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="CUDA is not available"):
            resolve_device("cuda:0")


# ---- batching ---------------------------------------------------------------------------------------------------

def test_training_steps_partition_and_sort():
    lengths = [int(x) for x in np.random.default_rng(0).integers(3, 60, size=1000)]
    steps = training_steps(lengths, 16, torch.Generator().manual_seed(5))
    flat = [i for step in steps for i in step]
    assert sorted(flat) == list(range(1000))  # every example exactly once per epoch
    assert all(1 <= len(step) <= 16 for step in steps)
    assert all([lengths[i] for i in step] == sorted(lengths[i] for i in step) for step in steps)
    assert steps == training_steps(lengths, 16, torch.Generator().manual_seed(5))  # same generator, same epoch
    assert steps != training_steps(lengths, 16, torch.Generator().manual_seed(6))


def test_cap_batches_respects_limits():
    lengths = [5, 7, 7, 9, 20, 40, 200]
    batches = cap_batches(list(range(7)), lengths, max_examples=3, max_tokens=60)
    assert [i for b in batches for i in b] == list(range(7))
    for batch in batches:
        assert len(batch) <= 3
        assert len(batch) == 1 or len(batch) * max(lengths[i] for i in batch) <= 60
    assert [200 in [lengths[i] for i in b] for b in batches][-1] and len(batches[-1]) == 1  # too long: alone


# ---- fit and predict --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained():
    """bert-tiny fitted on the toy task (3 epochs, batch 16, the spec's default lr)."""
    clf = make()
    result = fit(clf, TRAIN, VAL, TrainConfig(epochs=3, batch_size=16), seed=0, device=CPU)
    return clf, result


def test_fit_learns_separable_task(trained):
    clf, result = trained
    logits = predict(clf, texts(TEST), device=CPU)
    assert logits.shape == (len(TEST), 2) and logits.dtype == np.float32
    assert np.mean(logits.argmax(axis=1) == labels(TEST)) >= 0.9  # chance is 0.5
    assert result.epochs_run == len(result.history) and 1 <= result.best_epoch <= result.epochs_run
    assert result.trainable_params == result.total_params == clf.info["total_params"]  # recipe full
    assert [h["epoch"] for h in result.history] == list(range(1, result.epochs_run + 1))
    assert all(h["steps"] == math.ceil(len(TRAIN) / 16) for h in result.history)


def test_same_seed_same_predictions_different_seed_different_weights():
    config = TrainConfig(epochs=1, batch_size=16)
    runs = []
    for seed in (3, 3, 4):
        clf = make()
        fit(clf, SMALL, VAL, config, seed=seed, device=CPU)
        runs.append((clf.trainable_state(), predict(clf, texts(TEST), device=CPU)))
    assert np.array_equal(runs[0][1], runs[1][1])
    assert all(torch.equal(runs[0][0][k], runs[1][0][k]) for k in runs[0][0])
    assert not all(torch.equal(runs[0][0][k], runs[2][0][k]) for k in runs[0][0])


# Anchor values (torchtune's habit): bert-tiny, seed 0, the toy data above, 2 epochs of batch 16 on one CPU thread.
# Written down from a run of the loop as it is; any change to the schedule, warm-up, clipping, loss scaling,
# batching or initialisation moves them far beyond the tolerance, and must update them on purpose.
# Updated on purpose 2026-12-02: bert-tiny lost its dropout (a fifth of a CPU training step); 2026-12-03: bert-tiny
# v2 (1 layer of hidden 64, lr 3e-3; issue 11). The same values at one and two threads.
ANCHOR = [(0.7022974689801534, 0.6914721399081676), (0.6918215056260427, 0.6818175552582622)]


def test_exact_loss_anchor():
    clf = make()
    result = fit(clf, SMALL, VAL, TrainConfig(epochs=2, batch_size=16), seed=0, device=CPU)
    got = [(h["train_loss"], h["val_loss"]) for h in result.history]
    np.testing.assert_allclose(got, ANCHOR, rtol=0, atol=1e-6)


def test_fit_leaves_global_rng_untouched():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(make(), SMALL[:32], VAL[:8], TrainConfig(epochs=1, batch_size=16), seed=0, device=CPU)
    assert torch.equal(torch.rand(3), expected)


def test_predict_independent_of_order_and_batch_size(trained):
    clf, _ = trained
    items = texts(TEST)
    base = predict(clf, items, device=CPU, batch_size=64)
    perm = np.random.default_rng(11).permutation(len(items))
    shuffled = predict(clf, [items[i] for i in perm], device=CPU, batch_size=64)
    unshuffled = np.empty_like(shuffled)
    unshuffled[perm] = shuffled
    assert np.array_equal(unshuffled, base)
    for batch_size, max_tokens in ((1, None), (7, None), (256, None), (64, 40)):
        other = predict(clf, items, device=CPU, batch_size=batch_size, max_tokens=max_tokens)
        np.testing.assert_allclose(other, base, atol=1e-5, rtol=0)
    assert predict(clf, [], device=CPU).shape == (0, 0)


def test_grad_accum_and_max_tokens_give_same_weights():
    """The loss is summed over a step's examples and divided by the step size: splitting a step into micro-batches
    changes memory, not the update (dropout off, since its masks depend on micro-batch shapes)."""
    states, losses = [], []
    # A cap of 24 padded tokens really splits the 16-example steps (texts are up to 10 tokens long).
    assert max(make().lengths(texts(SMALL))) * 16 > 24
    for accum, max_tokens in ((1, None), (2, None), (1, 24), (4, 24)):
        clf = make(no_dropout=True)
        result = fit(clf, SMALL, VAL, TrainConfig(epochs=2, batch_size=16, grad_accum=accum, max_tokens=max_tokens),
                     seed=0, device=CPU)
        states.append(clf.trainable_state())
        losses.append([h["train_loss"] for h in result.history])
    for other in states[1:]:
        for key, value in states[0].items():
            torch.testing.assert_close(other[key], value, atol=2e-5, rtol=0, msg=key)
    # Adam hides a constant gradient scale, so check the scale itself: the reported loss (mean over examples)
    for other in losses[1:]:
        np.testing.assert_allclose(other, losses[0], rtol=1e-5)


def _mean_ce(logits: np.ndarray, y: np.ndarray) -> float:
    x = logits.astype(np.float64)
    return float(np.mean(logsumexp(x, axis=1) - x[np.arange(len(y)), y]))


def test_early_stopping_restores_best_epoch():
    """Validation labels are the opposite of the rule learned from train, so validation accuracy falls as the model
    learns: training stops after `patience` epochs without improvement and the best epoch's weights come back."""
    flipped = [Example(ex.id, ex.text, 1 - ex.label, ex.key) for ex in VAL]
    clf = make()
    config = TrainConfig(epochs=6, batch_size=16, patience=1)
    result = fit(clf, TRAIN, flipped, config, seed=0, device=CPU)
    accs = [h["val_accuracy"] for h in result.history]
    losses = [h["val_loss"] for h in result.history]
    top = max(accs)
    # The best epoch: the highest accuracy, ties broken by the lower loss.
    assert result.best_epoch == 1 + min((i for i, a in enumerate(accs) if a == top), key=lambda i: losses[i])
    # It stopped at the first real drop at least `patience` epochs after the best (or ran out of epochs).
    stop = next((e for e in range(result.best_epoch + config.patience, config.epochs + 1) if accs[e - 1] < top),
                config.epochs)
    assert result.best_epoch < result.epochs_run == stop
    best = result.history[result.best_epoch - 1]
    assert (result.val_accuracy, result.val_loss) == (best["val_accuracy"], best["val_loss"])
    logits = predict(clf, texts(flipped), device=CPU, batch_size=2 * config.micro_batch_size)
    assert np.mean(logits.argmax(axis=1) == labels(flipped)) == result.val_accuracy
    assert _mean_ce(logits, labels(flipped)) == pytest.approx(result.val_loss, abs=1e-9)
    assert abs(result.val_loss - result.history[-1]["val_loss"]) > 1e-3  # the last epoch's weights were replaced


def test_ties_never_stop_training_and_min_epochs_holds():
    """On a validation set the model gets right from the first epoch, accuracy ties every epoch while the loss
    keeps falling: that is progress, not a plateau to stop at (the old rule stopped at the first tie and kept an
    under-trained model). And with accuracy falling from the start, min_epochs still trains that many epochs."""
    easy = VAL[:4]
    result = fit(make(), TRAIN, easy, TrainConfig(epochs=4, batch_size=16, patience=1), seed=0, device=CPU)
    accs = [h["val_accuracy"] for h in result.history]
    assert any(a == b for a, b in zip(accs, accs[1:], strict=False)), accs  # the scenario has ties
    assert result.epochs_run == 4
    best = result.history[result.best_epoch - 1]
    assert best["val_loss"] == min(h["val_loss"] for h in result.history if h["val_accuracy"] == max(accs))
    flipped = [Example(ex.id, ex.text, 1 - ex.label, ex.key) for ex in VAL]
    early = fit(make(), TRAIN, flipped, TrainConfig(epochs=5, batch_size=16, patience=1, min_epochs=4), seed=0,
                device=CPU)
    assert early.epochs_run >= 4
    with pytest.raises(UsageError, match="min epochs"):
        TrainConfig(epochs=2, min_epochs=3)


def test_nan_loss_is_run_error():
    with pytest.raises(RunError, match="training loss became"):
        fit(make(), SMALL, VAL, TrainConfig(epochs=1, batch_size=16, lr=1e30), seed=0, device=CPU)


def test_fit_rejects_bad_inputs():
    clf = make()
    config = TrainConfig(epochs=1, batch_size=16)
    with pytest.raises(UsageError, match="non-empty"):
        fit(clf, [], VAL, config, seed=0, device=CPU)
    with pytest.raises(UsageError, match="non-negative"):
        fit(clf, [Example("x", "good", -1, "x")], VAL, config, seed=0, device=CPU)
    with pytest.raises(UsageError, match="classes"):
        fit(clf, [Example("x", "good", 2, "x")], VAL, config, seed=0, device=CPU)


# ---- metrics ----------------------------------------------------------------------------------------------------

def _by_hand(y_true, y_pred):
    """accuracy, confusion, per-class F1 (NaN when a class is in neither array), macro-F1 with plain loops."""
    n = len(y_true)
    k = max(max(y_true), max(y_pred)) + 1
    conf = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred, strict=True):
        conf[t][p] += 1
    f1 = []
    for c in range(k):
        tp = conf[c][c]
        fp = sum(conf[r][c] for r in range(k)) - tp
        fn = sum(conf[c]) - tp
        f1.append(math.nan if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn))
    present = [v for v in f1 if not math.isnan(v)]
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / n, conf, f1, sum(present) / len(present)


def test_metrics_golden():
    y_true, y_pred = np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0])
    # class 0: TP1 FP1 FN1 → 0.5; class 1: TP2 FP1 FN0 → 0.8; class 2: TP0 FP0 FN1 → 0
    assert metrics.accuracy(y_true, y_pred) == 0.6
    assert metrics.per_class_f1(y_true, y_pred).tolist() == [0.5, 0.8, 0.0]
    assert metrics.macro_f1(y_true, y_pred) == pytest.approx(1.3 / 3, abs=1e-15)
    assert metrics.confusion_matrix(y_true, y_pred).tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


@pytest.mark.parametrize("seed", range(12))
def test_metrics_match_hand_computation(seed):
    rng = np.random.default_rng(seed)
    k, n = int(rng.integers(2, 6)), int(rng.integers(1, 60))
    y_true = rng.integers(0, k, size=n)
    # mostly right, sometimes any class (including ones absent from y_true), so absent classes get tested
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k + 1, size=n))
    acc, conf, f1, macro = _by_hand(y_true.tolist(), y_pred.tolist())
    assert abs(metrics.accuracy(y_true, y_pred) - acc) <= 1e-12
    assert metrics.confusion_matrix(y_true, y_pred).tolist() == conf
    got = metrics.per_class_f1(y_true, y_pred)
    assert np.array_equal(np.isnan(got), np.isnan(f1))
    np.testing.assert_allclose(got[~np.isnan(got)], np.asarray(f1)[~np.isnan(f1)], atol=1e-12, rtol=0)
    assert abs(metrics.macro_f1(y_true, y_pred) - macro) <= 1e-12
    summary = metrics.summarize(y_true, y_pred, num_classes=k + 2)
    assert summary["n"] == n and abs(summary["macro_f1"] - macro) <= 1e-12
    assert summary["per_class_f1"][-1] is None and len(summary["confusion"]) == k + 2


@pytest.mark.parametrize(("y_true", "y_pred"), [
    ([], []), ([0, 1], [0]), ([[0]], [[0]]), ([0.0, 1.0], [0.0, 1.0]), ([0, -1], [0, 0]),
])
def test_metrics_reject_bad_input(y_true, y_pred):
    with pytest.raises(ValueError):
        metrics.accuracy(np.asarray(y_true), np.asarray(y_pred))


def test_confusion_matrix_rejects_too_few_classes():
    with pytest.raises(ValueError, match="does not fit"):
        metrics.confusion_matrix(np.array([0, 3]), np.array([0, 1]), num_classes=3)


# ---- precision ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("capability", "expected"), [((7, 0), "fp16"), ((7, 5), "fp16"), ((8, 0), "bf16"),
                                                       ((9, 0), "bf16")])
def test_auto_precision_follows_the_gpu(monkeypatch, capability, expected):
    """Volta (the study's GV100) and Turing have no native bf16: fp16 with a scaler; Ampere and later: bf16."""
    from noisebench.training.train import resolve_precision

    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert resolve_precision("auto", torch.device("cuda")) == expected
    assert resolve_precision("auto", CPU) == "fp32"
    assert resolve_precision("fp16", CPU) == "fp16" and resolve_precision("bf16", torch.device("cuda")) == "bf16"
    with pytest.raises(UsageError, match="unknown precision"):
        resolve_precision("fp8", CPU)


def test_fp16_trains_with_a_gradient_scaler_on_cpu(monkeypatch):
    """torch runs fp16 autocast and GradScaler on the CPU too: the Volta path is exercised here for real."""
    created = []
    real = torch.amp.GradScaler

    def spy(*args, **kwargs):
        scaler = real(*args, **kwargs)
        created.append(scaler)
        return scaler

    monkeypatch.setattr(torch.amp, "GradScaler", spy)
    fp16 = fit(make(), SMALL, VAL, TrainConfig(epochs=1, batch_size=16, precision="fp16"), seed=0, device=CPU)
    assert len(created) == 1 and created[0].get_scale() > 0 and fp16.precision == "fp16"
    fp32 = fit(make(), SMALL, VAL, TrainConfig(epochs=1, batch_size=16), seed=0, device=CPU)
    assert len(created) == 1 and fp32.precision == "fp32"
    assert math.isfinite(fp16.history[0]["train_loss"])
    assert fp16.history[0]["train_loss"] != fp32.history[0]["train_loss"]  # autocast really computed in fp16


@pytest.mark.parametrize("name", ["blt-tiny", "qwen-tiny"])
def test_float32_heads_compute_in_float32_under_autocast(name):
    spec = MODELS.get(name)
    clf = build_classifier(spec, ModelOptions(num_labels=2, recipe="probe", train_texts=texts(TRAIN), seed=0), CPU)
    head = next(m for n, m in clf.module.named_modules()
                if n.endswith("head" if name == "blt-tiny" else "score.linear"))
    seen = []
    hook = head.register_forward_hook(lambda mod, args, out: seen.append((args[0].dtype, out.dtype)))
    try:
        with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
            logits = clf.forward(clf.encode(texts(TEST[:3])))
    finally:
        hook.remove()
    assert seen == [(torch.float32, torch.float32)] and logits.dtype == torch.float32
