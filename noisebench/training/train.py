"""Fine-tune any `Classifier` (noisebench.models.base) and predict with it: one flat loop, read top to bottom.

fit():  AdamW (no weight decay on biases and norms), linear warm-up then linear decay to 0, gradient clipping at
        norm 1.0, bf16 autocast on CUDA (float32 on CPU), gradient accumulation, early stopping on validation
        accuracy (the best epoch's trainable state is restored), length-bucketed batches.
predict(): float32 logits [N, C] in input order; batches sorted by (length, text), so the result does not depend on
        the order of the inputs, and padding-invariant models make each row independent of its batch.

Batches. An optimizer step takes `batch_size` examples. Each epoch the training set is shuffled, cut into chunks
of 64 steps' worth of examples, each chunk sorted by length and cut into steps, and the steps are shuffled: padding
stays small (see benchmarks/padding_waste.py) and the order still changes every epoch. A step is then split into
`grad_accum` micro-batches (further split so none exceeds `max_tokens` padded tokens); the loss is summed over the
step's examples and divided by the step size, so `grad_accum` and `max_tokens` change memory, not the gradient.

Seeds. `fit(seed=...)` controls (a) data order: a `torch.Generator` seeded from sha256("order", seed); (b) dropout
(and LoRA dropout): torch's global RNG, forked for the duration of `fit` and seeded from sha256("dropout", seed), so
the caller's RNG state is untouched. Head and LoRA initialisation come from `ModelOptions.seed` at build time
(noisebench.models.common). With the same seed, data and config, two CPU fits give identical weights.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import inspect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from noisebench.config import PRECISIONS
from noisebench.datasets.base import Example
from noisebench.errors import RunError, UsageError

if TYPE_CHECKING:
    from noisebench.models.base import Classifier

Progress = Callable[[int, int, str], None]  # (done, total, stage): stage is "train", "validate" or "predict"
TRAINING_VERSION = 1  # part of every record's identity: bump when the training code changes what a seed trains
CHUNK_STEPS = 64  # steps' worth of examples sorted together; larger = less padding, less shuffling
CLIP_NORM = 1.0


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters. Validated on construction (UsageError listing every problem).

    batch_size: examples per optimizer step; grad_accum: micro-batches per step (micro-batch = batch_size //
    grad_accum); lr None = the model spec's default for the recipe; max_tokens: optional cap on padded tokens per
    micro-batch.

    Early stopping: an epoch improves on the best one when its validation accuracy is higher, or equal with a lower
    validation loss (so a model still learning through an accuracy plateau — common on small validation sets —
    keeps training). Training stops only on a real drop: at an epoch ≥ min_epochs whose accuracy is below the
    best's, `patience` or more epochs after the best. The best epoch's weights are restored.
    """

    epochs: int = 3
    batch_size: int = 32
    grad_accum: int = 1
    lr: float | None = None
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    patience: int = 1
    min_epochs: int = 1
    precision: str = "auto"  # see resolve_precision; recorded with each result, not part of its identity
    max_tokens: int | None = None
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"epochs must be at least 1, got {self.epochs}")
        if self.batch_size < 1 or self.grad_accum < 1:
            problems.append(f"batch size and gradient accumulation must be positive, got {self.batch_size} and "
                            f"{self.grad_accum}")
        elif self.batch_size % self.grad_accum:
            problems.append(f"batch size {self.batch_size} is not divisible by gradient accumulation "
                            f"{self.grad_accum}")
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            problems.append(f"learning rate must be positive, got {self.lr}")
        if not 0 <= self.weight_decay < 1:
            problems.append(f"weight decay must be in [0, 1), got {self.weight_decay}")
        if not 0 <= self.warmup_ratio < 1:
            problems.append(f"warm-up ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.patience < 1:
            problems.append(f"patience must be at least 1 epoch, got {self.patience}")
        if not 1 <= self.min_epochs <= max(self.epochs, 1):
            problems.append(f"min epochs must be between 1 and the epochs ({self.epochs}), got {self.min_epochs}")
        if self.precision not in PRECISIONS:
            problems.append(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.max_tokens is not None and self.max_tokens < 1:
            problems.append(f"max tokens must be positive, got {self.max_tokens}")
        if problems:
            raise UsageError("; ".join(problems))

    @property
    def micro_batch_size(self) -> int:
        return self.batch_size // self.grad_accum

    def identity(self) -> dict:
        """The fields that define the trained model (grad_accum, gradient_checkpointing, max_tokens only change
        memory use and are left out; precision, like the device, is recorded with each result instead)."""
        out = asdict(self)
        for key in ("grad_accum", "gradient_checkpointing", "max_tokens", "precision"):
            out.pop(key)
        return out


@dataclass
class TrainResult:
    """What `fit` reports. val_* are the best epoch's; history has one dict per epoch run: epoch, train_loss,
    val_loss, val_accuracy, seconds, steps, lr (peak)."""

    seconds: float
    epochs_run: int
    best_epoch: int
    val_accuracy: float
    val_loss: float
    trainable_params: int
    total_params: int
    history: list[dict] = field(default_factory=list)
    precision: str = "fp32"  # the resolved precision the model trained in


def resolve_device(name: str = "auto") -> Any:
    """"auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N" → torch.device."""
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UsageError(f"device {name!r} requested but CUDA is not available here; use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(f"device {name!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
        return device
    raise UsageError(f"unknown device {name!r}; choose from: auto, cpu, cuda, cuda:N")


def derive_seed(purpose: str, seed: int) -> int:
    """A 63-bit seed for one use of the run seed (sha256, the same in every process)."""
    return int.from_bytes(hashlib.sha256(f"noisebench.train/{purpose}/{seed}".encode()).digest()[:8], "big") >> 1


def cap_batches(order: Sequence[int], lengths: Sequence[int], max_examples: int,
                max_tokens: int | None) -> list[list[int]]:
    """Cut `order` (indices sorted by ascending length) into consecutive batches of at most `max_examples`, and
    of at most `max_tokens` padded tokens (rows × longest row) when given; a longer single row stays alone."""
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        wider = max(longest, lengths[i])
        if current and (len(current) >= max_examples or (max_tokens is not None and
                                                         (len(current) + 1) * wider > max_tokens)):
            batches.append(current)
            current, wider = [], lengths[i]
        current.append(i)
        longest = wider
    if current:
        batches.append(current)
    return batches


def training_steps(lengths: Sequence[int], batch_size: int, generator: Any) -> list[list[int]]:
    """One epoch's optimizer steps: shuffle, sort chunks of CHUNK_STEPS × batch_size by length (stable, so ties
    keep the shuffled order), cut into steps, shuffle the steps. Each step is sorted by length."""
    import torch

    perm = torch.randperm(len(lengths), generator=generator).tolist()
    chunk = batch_size * CHUNK_STEPS
    steps: list[list[int]] = []
    for start in range(0, len(perm), chunk):
        part = sorted(perm[start : start + chunk], key=lambda i: lengths[i])
        steps += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    return [steps[k] for k in torch.randperm(len(steps), generator=generator).tolist()]


def resolve_precision(requested: str, device: Any) -> str:
    """The precision a run uses. "auto": bf16 where the GPU has it natively (compute capability ≥ 8.0: Ampere,
    Hopper, …), fp16 autocast with a gradient scaler on older CUDA GPUs (Volta such as the study's Quadro GV100,
    Turing), fp32 on the CPU. An explicit bf16 / fp16 / fp32 is used as asked."""
    if requested not in PRECISIONS:
        raise UsageError(f"unknown precision {requested!r}; choose from: {', '.join(PRECISIONS)}")
    if requested != "auto":
        return requested
    if getattr(device, "type", "cpu") != "cuda":
        return "fp32"
    import torch

    major, _ = torch.cuda.get_device_capability(device)
    return "bf16" if major >= 8 else "fp16"


def autocast_dtype(precision: str) -> Any:
    """torch dtype of a resolved precision's autocast (and of frozen backbones cast down): None for fp32."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


def _autocast(device: Any, precision: str = "auto") -> Any:
    import torch

    dtype = autocast_dtype(resolve_precision(precision, device))
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _to(batch: dict[str, Any], device: Any) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if hasattr(v, "to") else v for k, v in batch.items()}


def predict(clf: Classifier, texts: Sequence[str], *, device: Any, batch_size: int = 64, max_tokens: int | None = None,
            progress: Progress | None = None, precision: str = "auto") -> np.ndarray:
    """Logits float32 [N, C] for `texts`, row i for texts[i]; eval mode, no gradients, autocast per `precision`
    (see resolve_precision: bf16 on recent GPUs, fp16 on Volta/Turing, none on the CPU).
    Batches are sorted by (length, text), so the batches — and the result — do not depend on the input order.
    An empty input gives an array of shape (0, 0)."""
    import torch

    texts = list(texts)
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    lengths = clf.lengths(texts)
    order = sorted(range(len(texts)), key=lambda i: (lengths[i], texts[i]))
    out: np.ndarray | None = None
    done = 0
    clf.module.eval()
    with torch.inference_mode(), _autocast(device, precision):
        for batch in cap_batches(order, lengths, batch_size, max_tokens):
            logits = clf.forward(_to(clf.encode([texts[i] for i in batch]), device)).float().cpu().numpy()
            if out is None:
                out = np.empty((len(texts), logits.shape[1]), dtype=np.float32)
            out[batch] = logits  # [b, C] scattered back to input positions
            done += len(batch)
            if progress is not None:
                progress(done, len(texts), "predict")
    assert out is not None  # texts is non-empty, so at least one batch ran
    return out


def predict_distinct(clf: Classifier, streams: Sequence[Sequence[str]], *, device: Any, batch_size: int = 64,
                     max_tokens: int | None = None, progress: Progress | None = None,
                     precision: str = "auto") -> tuple[list[np.ndarray], list[int]]:
    """Logits for several lists of texts (a unit's conditions) at the cost of their distinct model inputs.

    A prediction is a function of the trained model and the encoded input (after tokenisation and truncation), and
    every model is padding-invariant, so each distinct encoding (`clf.input_keys`) is run once, in one length-sorted stream through `predict` — full batches across conditions —
    and its logits are scattered back to every row that has it. Returns (logits [N_k, C] per stream, rows of each
    stream computed): a row counts as computed in the first stream that contains its encoding, as reused after."""
    first: dict[Any, int] = {}
    distinct: list[str] = []
    rows: list[np.ndarray] = []
    computed: list[int] = []
    for texts in streams:
        keys = clf.input_keys(list(texts))
        at = np.empty(len(keys), dtype=np.int64)
        before = len(distinct)
        for r, (key, text) in enumerate(zip(keys, texts, strict=True)):
            row = first.get(key)
            if row is None:
                row = first[key] = len(distinct)
                distinct.append(text)
            at[r] = row
        rows.append(at)
        computed.append(len(distinct) - before)
    logits = predict(clf, distinct, device=device, batch_size=batch_size, max_tokens=max_tokens, progress=progress,
                     precision=precision)
    return [logits[at] if len(at) else np.zeros((0, logits.shape[1]), dtype=np.float32) for at in rows], computed


def _softmax_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean cross-entropy of float logits [N, C] against integer labels [N]."""
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1))
    return float(np.mean(log_z - shifted[np.arange(len(labels)), labels]))


def _optimizer(module: Any, lr: float, weight_decay: float, device: Any) -> Any:
    import torch

    params = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
    decay = [p for _, p in params if p.ndim >= 2]  # matrices decay; biases and norm scales do not
    other = [p for _, p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, fused=device.type == "cuda")


def _enable_checkpointing(module: Any) -> None:
    enable = getattr(module, "gradient_checkpointing_enable", None)
    if enable is None:
        raise UsageError("this model does not support gradient checkpointing; drop --gradient-checkpointing")
    if "gradient_checkpointing_kwargs" in inspect.signature(enable).parameters:
        enable(gradient_checkpointing_kwargs={"use_reentrant": False})  # works with frozen inputs (probe, LoRA)
    else:
        enable()


def fit(clf: Classifier, train: Sequence[Example], validation: Sequence[Example], config: TrainConfig, *, seed: int,
        device: Any, progress: Progress | None = None) -> TrainResult:
    """Train `clf` in place on `train`, early-stop on `validation` accuracy, restore the best epoch's weights.

    Raises UsageError for empty splits, labels outside the model's classes or a missing learning rate; RunError
    when the loss becomes NaN/inf; a CUDA out-of-memory error propagates as torch.OutOfMemoryError.
    """
    import torch

    from noisebench.models.common import count_parameters

    if not train or not validation:
        raise UsageError(f"training needs non-empty train and validation splits (got {len(train)} and "
                         f"{len(validation)} examples)")
    if min(ex.label for ex in (*train, *validation)) < 0:
        raise UsageError("labels must be non-negative class indices")
    lr = config.lr if config.lr is not None else clf.info.get("default_lr")
    if lr is None:
        raise UsageError("no learning rate: set --lr (this model declares no default for its recipe)")
    device = torch.device(device)
    start = time.perf_counter()
    module = clf.module
    if config.gradient_checkpointing:
        _enable_checkpointing(module)
    texts = [ex.text for ex in train]
    labels = torch.tensor([ex.label for ex in train], dtype=torch.long)
    val_labels = np.asarray([ex.label for ex in validation], dtype=np.int64)
    lengths = clf.lengths(texts)
    order_gen = torch.Generator().manual_seed(derive_seed("order", seed))
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    warmup = math.ceil(config.warmup_ratio * total_steps)
    optimizer = _optimizer(module, lr, config.weight_decay, device)
    # linear warm-up over `warmup` steps (the first step already uses lr/(warmup+1)), then linear decay to 0
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: (s + 1) / (warmup + 1) if s < warmup else
                                                 max(0.0, (total_steps - s) / max(1, total_steps - warmup)))
    trainable = [p for p in module.parameters() if p.requires_grad]
    precision = resolve_precision(config.precision, device)
    # fp16 has a narrow range: the scaler multiplies the loss so small gradients survive, unscales before clipping,
    # and skips steps whose gradients overflowed (halving its scale). bf16 and fp32 need none.
    scaler = torch.amp.GradScaler(device.type) if precision == "fp16" else None
    history: list[dict] = []
    best: tuple[float, int, float, dict | None] = (-1.0, 0, math.inf, None)  # accuracy, epoch, loss, state
    done_steps = 0
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(derive_seed("dropout", seed))
        for epoch in range(1, config.epochs + 1):
            epoch_start = time.perf_counter()
            module.train()
            loss_sum = 0.0
            for step in training_steps(lengths, config.batch_size, order_gen):
                optimizer.zero_grad(set_to_none=True)
                step_loss = torch.zeros((), device=device)
                for micro in cap_batches(step, lengths, config.micro_batch_size, config.max_tokens):
                    batch = _to(clf.encode([texts[i] for i in micro]), device)
                    target = labels[micro].to(device)
                    with _autocast(device, precision):
                        logits = clf.forward(batch).float()  # [b, C]
                    top = max(int(labels.max()), int(val_labels.max()))
                    if done_steps == 0 and top >= logits.shape[1]:
                        raise UsageError(f"labels go up to {top} but the model has {logits.shape[1]} classes")
                    loss = torch.nn.functional.cross_entropy(logits, target, reduction="sum") / len(step)
                    (scaler.scale(loss) if scaler is not None else loss).backward()
                    step_loss += loss.detach()
                value = float(step_loss)
                if not math.isfinite(value):
                    raise RunError(f"training loss became {value} at epoch {epoch}, step {done_steps + 1} "
                                   f"(learning rate {lr:g}); try a lower --lr")
                if scaler is not None:
                    scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(trainable, CLIP_NORM)
                try:
                    if scaler is not None:
                        scaler.step(optimizer)
                        scaler.update()
                    else:
                        optimizer.step()
                except RuntimeError as e:  # e.g. a learning rate so large that AdamW's update overflows
                    raise RunError(f"optimizer step failed at epoch {epoch}, step {done_steps + 1} (learning rate "
                                   f"{lr:g}): {str(e).splitlines()[0]}; try a lower --lr") from None
                schedule.step()
                loss_sum += value * len(step)
                done_steps += 1
                if progress is not None:
                    progress(done_steps, total_steps, "train")
            val_logits = predict(clf, [ex.text for ex in validation], device=device,
                                 batch_size=2 * config.micro_batch_size, max_tokens=config.max_tokens,
                                 progress=None if progress is None else
                                 (lambda d, t, _s: progress(d, t, "validate")), precision=precision)
            val_acc = float(np.mean(val_logits.argmax(axis=1) == val_labels))
            val_loss = _softmax_loss(val_logits, val_labels)
            history.append({"epoch": epoch, "train_loss": loss_sum / len(train), "val_loss": val_loss,
                            "val_accuracy": val_acc, "seconds": time.perf_counter() - epoch_start,
                            "steps": steps_per_epoch, "lr": lr})
            if val_acc > best[0] or (val_acc == best[0] and val_loss < best[2]):
                best = (val_acc, epoch, val_loss, clf.trainable_state() if epoch < config.epochs else None)
            elif val_acc < best[0] and epoch >= config.min_epochs and epoch - best[1] >= config.patience:
                break  # a real drop, past the minimum and the patience
    if best[1] != len(history):
        assert best[3] is not None  # only the last epoch's state is not kept, and then best[1] == len(history)
        clf.load_trainable_state(best[3])
    module.eval()
    trainable_params, total_params = count_parameters(module)
    return TrainResult(seconds=time.perf_counter() - start, epochs_run=len(history), best_epoch=best[1],
                       val_accuracy=best[0], val_loss=best[2], trainable_params=trainable_params,
                       total_params=total_params, history=history, precision=precision)


def attempt_plan(config: TrainConfig) -> list[TrainConfig]:
    """TrainConfigs to try in order: as given; half micro-batch × twice accumulation (even batch sizes only);
    that plus gradient checkpointing (or the original plus checkpointing when the batch cannot be halved)."""
    plan = [config]
    smaller = config
    if config.batch_size >= 2 and config.batch_size % 2 == 0:
        smaller = replace(config, batch_size=config.batch_size // 2, grad_accum=config.grad_accum * 2)
        plan.append(smaller)
    if not config.gradient_checkpointing:
        plan.append(replace(smaller, gradient_checkpointing=True))
    return plan


def train_with_fallback(build: Callable[[], Classifier], config: TrainConfig, *, train: Sequence[Example],
                        validation: Sequence[Example], seed: int, device: Any,
                        fitter: Callable[..., TrainResult] | None = None,
                        progress: Any = None) -> tuple[Classifier | None, TrainResult | None, list[dict]]:
    """The one training workflow of `run` and `sweep`: `fit` along `attempt_plan(config)`, building the model anew
    (`build()`) for each attempt, until one fits in memory.

    Returns (the trained classifier, its TrainResult, the attempts made: batch size, gradient accumulation,
    checkpointing, outcome); (None, None, attempts) when every attempt ran out of memory. Only
    torch.OutOfMemoryError is caught; anything else propagates. `fitter` defaults to `fit` (tests wrap it).
    """
    import torch

    attempts = []
    for cfg in attempt_plan(config):
        step = {"batch_size": cfg.batch_size, "grad_accum": cfg.grad_accum,
                "gradient_checkpointing": cfg.gradient_checkpointing}
        clf = None
        try:
            clf = build()
            result = (fitter or fit)(clf, train, validation, cfg, seed=seed, device=device, progress=progress)
        except torch.OutOfMemoryError:
            attempts.append({**step, "outcome": "oom"})
            clf = None  # free the failed attempt's weights and activations before the next one
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        attempts.append({**step, "outcome": "ok"})
        return clf, result, attempts
    return None, None, attempts
