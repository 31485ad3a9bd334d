"""LoRA hyper-parameter sweeps: rank × targets × learning rate, chosen on the validation split, resumable.

    result = run_sweep(SweepSettings(model="blt", dataset="sst2"))        # grid 8/16/32 × qv/qkvo × 1e-4/2e-4
    load_choice("results/sweeps/blt-sst2-<hash>.json")  # {"lora_rank", "lora_targets", "lora_alpha", "lr"}

Each grid point builds the model fresh (LoRA alpha = 2 × rank, so the adapter scaling alpha/r stays 2), trains it on
the train split with `noisebench.training.train.fit` and keeps the validation accuracy/loss of its best epoch. The test split
is never read. Best = highest validation accuracy, ties broken by lower validation loss, then by grid order.

The sweep file `<results-dir>/sweeps/<model>-<dataset>-<hash>.json` (the hash covers the model source, the
dataset fingerprint, the training settings other than the learning rate, the seed and the truncation) is rewritten
atomically after every grid point: re-running the same sweep skips points recorded as `ok` or `oom` and retrains
`failed` ones; a larger grid adds its new points to the same file.

Out of memory (torch.OutOfMemoryError): a point is retried with half the micro-batch and twice the gradient
accumulation (same effective batch; only when the batch size is even), then additionally with gradient
checkpointing, and only then recorded as `oom`; the sweep goes on.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from noisebench.errors import RunError, UsageError
from noisebench.store.records import short_hash

SCHEMA = "noisebench.sweep/1"
DEFAULT_RANKS = (8, 16, 32)
DEFAULT_TARGETS = ("qv", "qkvo")
DEFAULT_LRS = (1e-4, 2e-4)
FINAL = ("ok", "oom")  # statuses a re-run does not retrain


@dataclass(frozen=True)
class SweepSettings:
    """A validated sweep request (the CLI builds it; inner code trusts it)."""

    model: str
    dataset: str
    ranks: tuple[int, ...] = DEFAULT_RANKS
    targets: tuple[str, ...] = DEFAULT_TARGETS
    lrs: tuple[float, ...] = DEFAULT_LRS
    epochs: int = 3
    batch_size: int = 32
    seed: int = 42
    device: str = "auto"
    results_dir: str = "results"
    data_dir: str | None = None
    max_length: int | None = None


def grid(ranks: Sequence[int], targets: Sequence[str], lrs: Sequence[float]) -> list[dict]:
    """Grid points in the order they are trained: rank-major, then targets, then learning rate."""
    return [{"lora_rank": r, "lora_targets": t, "lora_alpha": 2 * r, "lr": lr} for r in ranks for t in targets
            for lr in lrs]


def point_key(point: dict) -> str:
    return f"r{point['lora_rank']}-{point['lora_targets']}-a{point['lora_alpha']}-lr{point['lr']:g}"


def choose(entries: Sequence[dict]) -> dict | None:
    """The best `ok` entry: max validation accuracy, then min validation loss, then earliest in `entries`."""
    ok = [(i, e) for i, e in enumerate(entries) if e["status"] == "ok"]
    if not ok:
        return None
    return min(ok, key=lambda ie: (-ie[1]["val_accuracy"], ie[1]["val_loss"], ie[0]))[1]


def sweep_path(results_dir: str | Path, model: str, dataset: str, identity: dict) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{model}-{dataset}")
    return Path(results_dir) / "sweeps" / f"{safe}-{short_hash(identity, 12)}.json"


def load_sweep(path: str | Path) -> dict:
    """A sweep file, checked for its schema; UsageError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"sweep file not found: {path} (run `noisebench sweep` first)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise UsageError(f"sweep file {path} is not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("entries"), list):
        raise UsageError(f"{path} is not a noisebench sweep file (schema {SCHEMA})")
    return data


def load_choice(path: str | Path, data: dict | None = None) -> dict:
    """The chosen LoRA settings of a finished sweep: {"lora_rank", "lora_targets", "lora_alpha", "lr"}.
    `data`: the sweep document when the caller has already read `path` with `load_sweep`."""
    data = load_sweep(path) if data is None else data
    choice = data.get("choice")
    if not choice:
        raise UsageError(f"sweep {path} has no chosen configuration (no grid point finished); re-run the sweep")
    return {k: choice[k] for k in ("lora_rank", "lora_targets", "lora_alpha", "lr")}


def run_sweep(settings: SweepSettings, *, fit: Callable[..., Any] | None = None,
              echo: Callable[[str], None] = lambda line: None) -> tuple[dict, Path]:
    """Run (or resume) a sweep; returns (the sweep document as stored, its path).

    `fit` defaults to `noisebench.training.train.fit` (tests wrap it); `echo` gets one progress line per grid point.
    """
    from noisebench.datasets import load_dataset
    from noisebench.models import build_classifier, resolve_model
    from noisebench.models.base import ModelOptions
    from noisebench.store import ResultsStore, atomic_write_text
    from noisebench.store.provenance import environment, stamp
    from noisebench.training import train as training

    spec = resolve_model(settings.model)
    if "lora" not in spec.recipes:
        raise UsageError(f"model {spec.name!r} has no lora recipe (recipes: {', '.join(spec.recipes)}); "
                         "sweeps tune LoRA rank, targets and learning rate")
    dataset = load_dataset(settings.dataset, data_dir=settings.data_dir)
    device = training.resolve_device(settings.device)
    base = training.TrainConfig(epochs=settings.epochs, batch_size=settings.batch_size)
    base_identity = {k: v for k, v in base.identity().items() if k != "lr"}
    identity = {"model": spec.name, "source": spec.source, "dataset": dataset.name,
                "fingerprint": dataset.fingerprint, "training": base_identity, "seed": settings.seed,
                "max_length": settings.max_length}
    path = sweep_path(settings.results_dir, spec.name, dataset.name, identity)
    points = grid(settings.ranks, settings.targets, settings.lrs)
    texts = tuple(ex.text for ex in dataset.train)
    static = environment(device)

    with ResultsStore(settings.results_dir).wait_for_lease(f"sweep-{path.stem}", echo).start_heartbeat():
        doc = load_sweep(path) if path.is_file() else {"entries": []}
        entries = {e["key"]: e for e in doc["entries"]}
        doc = {"schema": SCHEMA, "id": path.stem, "identity": identity,
               "model": {"name": spec.name, "family": spec.family, "source": spec.source},
               "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint, "n_train": len(dataset.train),
                           "n_validation": len(dataset.validation), "split_scored": "validation"},
               "grid": {"ranks": list(settings.ranks), "targets": list(settings.targets),
                        "lrs": list(settings.lrs), "alpha": "2 x rank"},
               "training": base_identity, "seed": settings.seed}

        def save() -> None:
            current = [entries[point_key(p)] for p in points if point_key(p) in entries]
            best = choose(current)
            doc.update(entries=list(entries.values()), choice=None if best is None else
                       {k: best[k] for k in ("key", "lora_rank", "lora_targets", "lora_alpha", "lr",
                                             "val_accuracy", "val_loss")},
                       provenance=stamp(static, path.stem))
            atomic_write_text(path, json.dumps(doc, indent=1) + "\n")

        for n, point in enumerate(points, 1):
            key = point_key(point)
            if entries.get(key, {}).get("status") in FINAL:
                echo(f"[{n}/{len(points)}] {key}: {entries[key]['status']} (recorded, skipped)")
                continue
            options = ModelOptions(num_labels=dataset.num_labels, recipe="lora", lora_rank=point["lora_rank"],
                                   lora_alpha=point["lora_alpha"], lora_targets=point["lora_targets"],
                                   train_texts=texts, seed=settings.seed, max_length=settings.max_length)
            config = dataclasses.replace(base, lr=point["lr"])
            echo(f"[{n}/{len(points)}] {key}: training")
            started = time.perf_counter()
            try:
                _, result, attempts = training.train_with_fallback(
                    functools.partial(build_classifier, spec, options, device), config, train=dataset.train,
                    validation=dataset.validation, seed=settings.seed, device=device, fitter=fit)
            except RunError as e:  # a diverged or otherwise failed run: recorded, retried on re-run
                entries[key] = {"key": key, **point, "status": "failed", "error": str(e),
                                "seconds": time.perf_counter() - started}
            else:
                entries[key] = _entry(key, point, result, attempts, time.perf_counter() - started)
            save()
            entry = entries[key]
            echo(f"[{n}/{len(points)}] {key}: {entry['status']}" + (
                f" val acc {entry['val_accuracy']:.4f} loss {entry['val_loss']:.4f}" if entry["status"] == "ok" else ""))
        save()
    return doc, path


def _entry(key: str, point: dict, result: Any, attempts: list[dict], seconds: float) -> dict:
    entry = {"key": key, **point, "attempts": attempts, "seconds": seconds}
    if result is None:
        return {**entry, "status": "oom", "error": "out of memory in every attempt"}
    return {**entry, "status": "ok", "val_accuracy": float(result.val_accuracy), "val_loss": float(result.val_loss),
            "epochs_run": result.epochs_run, "best_epoch": result.best_epoch,
            "trainable_params": result.trainable_params, "total_params": result.total_params,
            "train_seconds": result.seconds, "history": _jsonable(result.history)}


def _jsonable(value: Any) -> Any:
    """History as plain JSON (numpy scalars → floats)."""
    return json.loads(json.dumps(value, default=float))


def table(doc: dict) -> Any:
    """A rich Table of the requested grid (rows in grid order), the chosen row marked."""
    from rich.table import Table

    chosen = (doc.get("choice") or {}).get("key")
    by_key = {e["key"]: e for e in doc["entries"]}
    points = grid(doc["grid"]["ranks"], doc["grid"]["targets"], doc["grid"]["lrs"])
    t = Table(title=f"sweep {doc['model']['name']} on {doc['dataset']['name']} (validation split)")
    for column in ("", "rank", "targets", "alpha", "lr", "status", "val acc", "val loss", "epochs", "batch",
                   "trainable", "seconds"):
        t.add_column(column, justify="right" if column not in ("", "targets", "status") else "left")
    for e in (by_key[point_key(p)] for p in points if point_key(p) in by_key):
        last = (e.get("attempts") or [{}])[-1]
        batch = f"{last['batch_size']}x{last['grad_accum']}" + ("+ckpt" if last.get("gradient_checkpointing")
                                                                else "") if last else "-"
        ok = e["status"] == "ok"
        t.add_row("*" if e["key"] == chosen else "", str(e["lora_rank"]), e["lora_targets"], str(e["lora_alpha"]),
                  f"{e['lr']:g}", e["status"], f"{e['val_accuracy']:.4f}" if ok else "-",
                  f"{e['val_loss']:.4f}" if ok else "-", str(e["epochs_run"]) if ok else "-", batch,
                  f"{e['trainable_params']:,}" if ok else "-", f"{e['seconds']:.1f}")
    return t
