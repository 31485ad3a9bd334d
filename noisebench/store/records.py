"""Result records: the schema every stored number follows.

One record = one evaluation cell: (model + recipe + model options, dataset, training config, seed, noise condition).
The clean test set is the condition `{"name": "clean", "rate": 0.0}`. Records are plain JSON objects with nested
fields (never compound keys like "acc,none"):

    {
      "schema": "noisebench.result/2",
      "id": "<sha256 of the cell's identity>",        # also the file name in the store
      "status": "ok" | "failed",  "error": null | "<message>",
      "model":    {"name", "family", "source", "recipe", "options": {...}},
      "dataset":  {"name", "fingerprint", "split": "test", "n"},
      "training": {"config": {...}, "seconds", "trainable_params", "total_params", "epochs_run", "best_epoch",
                   "val_accuracy", "checkpoint"},
      "seed": 42,                                      # controls fine-tuning AND this run's noise draw
      "versions": {"noise": {name: int}, "training": int, "model": "<weights>"},   # part of the identity (0.2+)
      "noise":    {"name", "rate", "options": {...}},      # a composition "casing+substitute": rate [1.0, 0.05],
                                                       #   options {"casing": {...}, "substitute": {...}}
      "metrics":  {"accuracy", "macro_f1", "per_class_f1": {label_name: f1}, "n", "majority_rate",
                   "p_above_majority"},
      "realized": {"edit_ratio", "unit_fraction", "changed_examples", "draw"},   # draw: digest of the noisy texts
                  # a composition adds "steps": [{"name", "rate", "edit_ratio", "unit_fraction"}] (each step
                  # measured against the text before it); its own unit_fraction is null (no common unit)
      "predictions": {"file", "n", "sha256"},   # per-example predictions: predictions/<file> in the store, a
                  # Parquet table (id, label, predicted), read only when asked for (store.predictions); in memory,
                  # and in records of schema 1 (0.1, still readable), {"ids": [...], "labels": [...], "predicted": [...]}
      "timing":   {"eval_seconds", "computed", "reused"},   # computed + reused = n: see run.py, memoisation
      "patches":  {"boundary_f1", "boundary_precision", "boundary_recall", ...},   # BLT models only: the patch
                  # boundaries' stability against the clean test set (noisebench.models.patching.MEASURES)
      "provenance": {"noisebench", "git_commit", "python", "packages": {...}, "device", "host", "created"}
    }

`identity()` lists exactly the fields that make two records the same cell; `record_id()` hashes them.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any, TypedDict

from noisebench.errors import UsageError

SCHEMA = "noisebench.result/2"  # /2: per-example predictions in a Parquet file beside the record
READABLE = ("noisebench.result/1", SCHEMA)  # /1 (0.1): predictions inline; read as they are, never rewritten
SUMMARY_VERSION = 1  # bump when summary() changes: indexes and caches of summaries are then rebuilt
CLEAN = "clean"
STATUSES = ("ok", "failed")


COMPOSE = "+"  # "casing+substitute": noises applied in order; "1.0+0.05": their rates
Rate = float | tuple[float, ...]  # a composition's rate has one part per noise: (1.0, 0.05)


class NoiseCondition(TypedDict):
    """One evaluation condition: the clean test set is {"name": "clean", "rate": 0.0, "options": {}}. A composition
    (name "a+b") has one rate per part (a list in JSON) and options {"a": {...}, "b": {...}}."""

    name: str
    rate: float | list[float]  # as stored (JSON); rate_key() gives the hashable form
    options: dict


def rate_key(value: Any) -> Rate:
    """A stored rate as a hashable, comparable value: a float, or a tuple of floats for a composition."""
    if isinstance(value, (list, tuple)):
        return tuple(float(v) for v in value)
    return float(value)


def rate_text(rate: Any) -> str:
    """A nominal rate as written on the command line: "0.1", or "1+0.05" for a composition."""
    return _rate_text(rate_key(rate))


@functools.lru_cache(maxsize=4096)
def _rate_text(rate: Rate) -> str:  # a report writes the same few rates ~10^5 times
    return COMPOSE.join(f"{r:g}" for r in rate) if isinstance(rate, tuple) else f"{rate:g}"


def rate_position(rate: Any) -> float:
    """Where a rate sits on a plot's rate axis: the rate, or a composition's last part (the varied one)."""
    rate = rate_key(rate)
    return rate[-1] if isinstance(rate, tuple) else rate


class ModelSection(TypedDict, total=False):
    name: str
    family: str
    source: str
    recipe: str
    options: dict[str, Any]
    tokenizer: str | None
    truncation: str | None


class DatasetSection(TypedDict, total=False):
    name: str
    fingerprint: str
    split: str
    n: int
    source: str


class TrainingSection(TypedDict, total=False):
    config: dict[str, Any]
    seconds: float
    trainable_params: int
    total_params: int
    epochs_run: int
    best_epoch: int
    val_accuracy: float | None
    val_loss: float | None
    history: list[dict[str, Any]]
    precision: str  # bf16 | fp16 | fp32, as trained (noisebench.training.train.resolve_precision)
    attempts: list[dict[str, Any]]  # only when out of memory forced a smaller micro-batch (train.attempt_plan)
    checkpoint: str


class Metrics(TypedDict, total=False):
    accuracy: float
    macro_f1: float
    per_class_f1: dict[str, float]
    n: int
    majority_rate: float  # share of the test set's most frequent label (always predicting it scores this)
    p_above_majority: float  # one-sided binomial p that accuracy beats it (stats.above_majority)


class Realized(TypedDict, total=False):
    edit_ratio: float
    unit_fraction: float | None  # None for a composition (its parts have different units: see steps)
    changed_examples: float
    draw: str  # short hash of the (noisy) test texts: equal draws ⇔ the same texts
    unit_fraction_visible: float | None  # the unit fraction inside the model's input window (run.truncation_section)
    steps: list[dict[str, Any]]  # a composition's parts: {"name", "rate", "edit_ratio", "unit_fraction"} each


class Predictions(TypedDict):
    ids: list[str]
    labels: list[int]
    predicted: list[int]


class PredictionsFile(TypedDict):
    """How a record of schema 2 points at its predictions: the file's name in the store's predictions folder,
    its row count and the sha256 of its bytes (a damaged or swapped file is detected, never read as data)."""

    file: str
    n: int
    sha256: str


class Record(TypedDict, total=False):
    """The schema above as a type (what `run` writes; `validate` checks loaded JSON against it)."""

    schema: str
    id: str
    status: str
    error: str | None
    model: ModelSection
    dataset: DatasetSection
    training: TrainingSection
    seed: int
    noise: NoiseCondition
    versions: dict[str, Any]  # {"noise": {name: int}, "training": int, "model": str}: part of the identity
    metrics: Metrics | None
    realized: Realized | None
    predictions: Predictions | PredictionsFile | None
    timing: dict[str, float]
    provenance: dict[str, Any]
    truncation: dict[str, Any]  # {"policy", "truncated_fraction", "visible_fraction"} of the cell's test inputs
    patches: dict[str, float]  # BLT only: noisebench.models.patching.MEASURES of the cell's test set


CLEAN_CONDITION: NoiseCondition = {"name": CLEAN, "rate": 0.0, "options": {}}


class CorruptRecord(UsageError):
    """A stored record that cannot be read or does not follow the schema. The message names the file."""


def canonical_json(obj: Any) -> str:
    """Stable JSON for hashing: sorted keys, no whitespace, floats as Python writes them."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def short_hash(obj: Any, n: int = 16) -> str:
    return hashlib.sha256(canonical_json(obj).encode("utf-8")).hexdigest()[:n]


def identity(record: Mapping[str, Any]) -> dict:
    """The fields that define a cell. Two records with equal identity are the same result. `versions` (noise
    implementations, training code, model weights) is part of it from 0.2 on; records of 0.1 have none."""
    out = {
        "model": {k: record["model"][k] for k in ("name", "recipe", "options")},
        "dataset": {k: record["dataset"][k] for k in ("name", "fingerprint")},
        "training": record["training"]["config"],
        "seed": record["seed"],
        "noise": {k: record["noise"][k] for k in ("name", "rate", "options")},
    }
    if "versions" in record:
        out["versions"] = record["versions"]
    return out


def record_id(record: Mapping[str, Any]) -> str:
    return short_hash(identity(record), 32)


_REQUIRED: dict[str, tuple[str, ...]] = {
    "model": ("name", "family", "recipe", "options"),
    "dataset": ("name", "fingerprint", "n"),
    "training": ("config",),
    "noise": ("name", "rate", "options"),
}


def is_inline(pred: Any) -> bool:
    """Whether `pred` holds the predictions themselves (in memory, or a record of schema 1)."""
    return isinstance(pred, dict) and all(isinstance(pred.get(k), list) for k in ("ids", "labels", "predicted"))


def _is_file_ref(pred: Any) -> bool:
    return (isinstance(pred, dict) and isinstance(pred.get("file"), str) and "/" not in pred["file"]
            and isinstance(pred.get("n"), int) and isinstance(pred.get("sha256"), str))


def summary(record: Mapping[str, Any]) -> dict:
    """What a report reads of a record: everything but predictions, provenance, timing and per-class F1, plus
    "created" (from provenance: the report orders models by it). Indexes and caches keep these (SUMMARY_VERSION)."""
    out = {k: v for k, v in record.items() if k not in ("predictions", "provenance", "timing")}
    out["created"] = (record.get("provenance") or {}).get("created")
    if isinstance(record.get("metrics"), dict):
        out["metrics"] = {k: v for k, v in record["metrics"].items() if k != "per_class_f1"}
    return out


def validate(record: Any, where: str = "record") -> dict:
    """Check a loaded record against the schema; raise CorruptRecord naming `where` and the first problem."""
    def bad(why: str) -> CorruptRecord:
        return CorruptRecord(f"corrupt result record {where}: {why}")

    if not isinstance(record, dict):
        raise bad("not a JSON object")
    if record.get("schema") not in READABLE:
        raise bad(f"schema is {record.get('schema')!r}, expected one of {READABLE}")
    if record.get("status") not in STATUSES:
        raise bad(f"status is {record.get('status')!r}, expected one of {STATUSES}")
    for section, keys in _REQUIRED.items():
        part = record.get(section)
        if not isinstance(part, dict):
            raise bad(f"missing section {section!r}")
        for key in keys:
            if key not in part:
                raise bad(f"missing field {section}.{key}")
    if not isinstance(record.get("seed"), int):
        raise bad("seed is not an integer")
    rate = record["noise"]["rate"]
    parts = rate if isinstance(rate, list) and "+" in str(record["noise"].get("name")) else [rate]
    if not parts or not all(isinstance(r, (int, float)) and not isinstance(r, bool) and 0.0 <= r <= 1.0
                            for r in parts):
        raise bad(f"noise.rate {rate!r} is not in [0, 1]")
    if record["status"] == "ok":
        metrics = record.get("metrics")
        if not isinstance(metrics, dict):
            raise bad("status ok but no metrics")
        for key in ("accuracy", "macro_f1", "n"):
            value = metrics.get(key)
            if not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
                raise bad(f"metrics.{key} is {value!r}")
        if not 0.0 <= metrics["accuracy"] <= 1.0 or not 0.0 <= metrics["macro_f1"] <= 1.0:
            raise bad("metrics outside [0, 1]")
    pred = record.get("predictions")
    if pred is not None and not (is_inline(pred) or _is_file_ref(pred)):
        raise bad("predictions is neither {ids, labels, predicted} nor {file, n, sha256}")
    if record.get("id") != record_id(record):
        raise bad("id does not match the record's identity (edited by hand?)")
    return record
