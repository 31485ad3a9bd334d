"""Study files: a whole grid (models × datasets × seeds × conditions) as one TOML file, validated before anything runs.

    [study]
    datasets = ["sst2", { name = "notes.csv", text_col = "note", label_col = "label", id_col = "id" }]
    noises = ["all"]                  # names, "all" (the study's seven) or compositions "casing+substitute"
    rates = [0.1, 0.2, 0.3]           # a composition's rate as a string: "1.0+0.05"
    seeds = [42, 123, 456, 789, 1024]
    data_dir = "../shared/data"       # optional: local copies of registered datasets
    [study.options]                   # optional noise options
    substitute = { mode = "keyboard" }

    [training]                        # defaults for every model: epochs, batch_size, grad_accum, lr, patience,
    epochs = 3                        # min_epochs, max_length, precision, truncation
    batch_size = 32

    [[models]]                        # one entry per model configuration; the same model may appear with
    name = "blt"                      # different recipes (BLT as probe and as LoRA)
    recipe = "lora"                   # and per model: lr, pooling, lora_rank, lora_alpha, lora_targets,
    lora_rank = 16                    # batch_size, grad_accum, max_length, precision, epochs, sweep

    [executor]                        # how `noisebench run --study` runs it (flags override): workers
    workers = 2                       # (or "auto": single-thread workers, one per core, at most one per unit),
    threads_per_worker = 1            # threads_per_worker, gpus ("0,1"), retries

Precedence: command-line flags override the file, the file overrides the defaults. Every problem in the file is
reported at once, each with its TOML key (`models[2].lr: ...`), before anything runs. A study becomes one
`RunConfig` per (model entry, dataset), whose units are (model, dataset, seed): exactly the records that running
each of them alone would write.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from noisebench.config import RunConfig, build_run_config
from noisebench.errors import UsageError, did_you_mean

STUDY_KEYS = ("datasets", "noises", "rates", "seeds", "data_dir", "options")
TRAINING_KEYS = ("epochs", "batch_size", "grad_accum", "lr", "patience", "min_epochs", "max_length", "precision",
                 "truncation")
MODEL_KEYS = ("name", "recipe", "lr", "pooling", "lora_rank", "lora_alpha", "lora_targets", "batch_size",
              "grad_accum", "max_length", "precision", "epochs", "sweep", "truncation")
DATASET_KEYS = ("name", "text_col", "label_col", "id_col", "data_dir")
EXECUTOR_KEYS = ("kind", "workers", "threads_per_worker", "gpus", "retries", "partition", "time", "gpus_per_task",
                 "array_parallelism", "cluster", "ray_address")
EXECUTORS = ("local", "slurm", "ray")
SLURM_CLUSTERS = ("slurm", "local", "debug")
SECTIONS = ("study", "training", "models", "executor")
INTS = {"epochs", "batch_size", "grad_accum", "patience", "min_epochs", "max_length", "lora_rank", "lora_alpha",
        "workers", "threads_per_worker", "retries", "time", "gpus_per_task", "array_parallelism"}
FLOATS = {"lr"}


@dataclass(frozen=True)
class Executor:
    """Where the units run (noisebench.study.executors). kind "local": `workers` processes on this machine with
    `threads_per_worker` torch threads each (None: the cores divided by the workers), worker i on GPU
    `gpus[i % len(gpus)]` when GPUs are named. kind "slurm": one submitit job-array task per pending unit on
    `partition`, `time` minutes each, `gpus_per_task`, at most `array_parallelism` at once (`cluster` local/debug:
    submitit runs the tasks on this machine). kind "ray": one Ray task per pending unit (`gpus_per_task` GPUs) on the
    cluster at `ray_address` (None: a local Ray on this machine's cores). `retries`: how often a unit whose process
    died is run again."""

    kind: str = "local"
    workers: int = 1
    threads_per_worker: int | None = None
    gpus: tuple[str, ...] = ()
    retries: int = 2
    partition: str | None = None
    time: int = 240
    gpus_per_task: int = 0
    array_parallelism: int = 64
    cluster: str = "slurm"
    ray_address: str | None = None


@dataclass(frozen=True)
class Study:
    """A validated study: its run configurations (one per model entry × dataset) and its executor."""

    configs: tuple[RunConfig, ...]
    executor: Executor = field(default_factory=Executor)
    path: str | None = None


def _load_toml(path: Path) -> dict:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"study file {path} not found") from None
    except UnicodeDecodeError:
        raise UsageError(f"study file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"study file {path} is not valid TOML: {e}") from None


def _check_keys(table: Mapping, allowed: Sequence[str], where: str, errors: list[str]) -> None:
    for key in table:
        if key not in allowed:
            errors.append(f"{where}{key}: unknown key{did_you_mean(str(key), allowed)}; allowed: {', '.join(allowed)}")


def _value(table: Mapping, key: str, where: str, errors: list[str]) -> Any:
    """A scalar option as build_run_config takes it, type-checked with its TOML key in the message."""
    value = table.get(key)
    if value is None:
        return None
    if key == "workers" and value == "auto":
        return value
    if key == "workers" and (isinstance(value, bool) or not isinstance(value, int)):
        errors.append(f'{where}{key}: must be an integer or "auto", got {value!r}')
        return None
    if key in INTS and (isinstance(value, bool) or not isinstance(value, int)):
        errors.append(f"{where}{key}: must be an integer, got {value!r}")
        return None
    if key in FLOATS and (isinstance(value, bool) or not isinstance(value, (int, float))):
        errors.append(f"{where}{key}: must be a number, got {value!r}")
        return None
    if key not in INTS | FLOATS and not isinstance(value, str):
        errors.append(f"{where}{key}: must be a string, got {value!r}")
        return None
    return float(value) if key in FLOATS else value


def _comma(value: Any, key: str, errors: list[str], kind: type | tuple = (str,)) -> str | None:
    """A TOML list (or a single value) as the comma list the command line takes."""
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    bad = [v for v in items if isinstance(v, bool) or not isinstance(v, kind)]
    if bad or not items:
        errors.append(f"study.{key}: expected a list of {'numbers' if kind != (str,) else 'strings'}, got {value!r}")
        return None
    return ",".join(str(v) for v in items)


def _datasets(value: Any, errors: list[str]) -> list[dict]:
    if value is None:
        return [{}]
    items = value if isinstance(value, list) else [value]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append({"dataset": item})
        elif isinstance(item, dict):
            _check_keys(item, DATASET_KEYS, f"study.datasets[{i}].", errors)
            if not isinstance(item.get("name"), str):
                errors.append(f"study.datasets[{i}].name: required (a registered name or a file path)")
                continue
            entry = {"dataset": item["name"]}
            for key in ("text_col", "label_col", "id_col", "data_dir"):
                if (v := _value(item, key, f"study.datasets[{i}].", errors)) is not None:
                    entry[key] = v
            out.append(entry)
        else:
            errors.append(f"study.datasets[{i}]: a dataset name or a table {{name = ..., text_col = ...}}, got "
                          f"{item!r}")
    if not out and not errors:
        errors.append("study.datasets: empty")
    return out


def _options(value: Any, errors: list[str]) -> list[str]:
    """study.options {noise: {key: value}} → the command line's NOISE.KEY=VALUE list."""
    if value is None:
        return []
    if not isinstance(value, dict):
        errors.append(f"study.options: a table of noise tables, got {value!r}")
        return []
    out = []
    for noise, table in value.items():
        if not isinstance(table, dict):
            errors.append(f"study.options.{noise}: a table of option = \"value\", got {table!r}")
            continue
        out += [f"{noise}.{k}={v}" for k, v in table.items()]
    return out


def _executor(table: Any, errors: list[str]) -> dict:
    if table is None:
        return {}
    if not isinstance(table, dict):
        errors.append("executor: must be a table")
        return {}
    _check_keys(table, EXECUTOR_KEYS, "executor.", errors)
    out = {k: v for k in EXECUTOR_KEYS if k != "gpus" and (v := _value(table, k, "executor.", errors)) is not None}
    if "gpus" in table:
        gpus = table["gpus"]
        if isinstance(gpus, list) and all(isinstance(g, (int, str)) and not isinstance(g, bool) for g in gpus):
            out["gpus"] = ",".join(str(g) for g in gpus)
        elif isinstance(gpus, str):
            out["gpus"] = gpus
        else:
            errors.append(f"executor.gpus: a list of GPU indices or a comma list, got {gpus!r}")
    return out


def executor(settings: Mapping[str, Any], errors: list[str]) -> Executor:
    """The validated executor settings (flags already merged over the file)."""
    workers, threads_per_worker = settings.get("workers"), settings.get("threads_per_worker")
    workers = None if workers == "auto" else workers  # resolved once the units are known (auto_workers)
    gpus, retries = settings.get("gpus"), settings.get("retries")
    kind = settings.get("kind") or "local"
    if kind not in EXECUTORS:
        errors.append(f"--executor {kind!r}{did_you_mean(kind, EXECUTORS)}; choose from: {', '.join(EXECUTORS)}")
        kind = "local"
    cluster = settings.get("cluster") or "slurm"
    if cluster not in SLURM_CLUSTERS:
        errors.append(f"--slurm-cluster {cluster!r}: choose from {', '.join(SLURM_CLUSTERS)}")
        cluster = "slurm"
    for name in ("time", "array_parallelism"):
        if settings.get(name) is not None and settings[name] < 1:
            errors.append(f"--{name.replace('_', '-')} must be at least 1, got {settings[name]}")
    if settings.get("gpus_per_task") is not None and settings["gpus_per_task"] < 0:
        errors.append(f"--gpus-per-task must be at least 0, got {settings['gpus_per_task']}")
    if kind != "local" and workers not in (None, 1):
        errors.append(f"--workers applies to --executor local; with {kind} every pending unit is its own task")
    needs = {"slurm": "submitit", "ray": "ray"}.get(kind)
    if needs is not None:
        import importlib.util

        if importlib.util.find_spec(needs) is None:
            errors.append(f"--executor {kind} needs the optional package {needs!r} (pip install 'noisebench[{kind}]')")
    if workers is not None and workers < 1:
        errors.append(f"--workers must be at least 1, got {workers}")
    extra = {k: settings[k] for k in ("partition", "time", "gpus_per_task", "array_parallelism", "ray_address")
             if settings.get(k) is not None}
    out = Executor(kind=kind, workers=max(workers or 1, 1), cluster=cluster, **extra)
    threads = threads_per_worker
    if threads is not None and threads < 1:
        errors.append(f"--threads-per-worker must be at least 1, got {threads}")
        threads = None
    names = tuple(g.strip() for g in (gpus or "").split(",") if g.strip())
    bad = [g for g in names if not g.isdigit()]
    if bad:
        errors.append(f"--gpus: GPU indices are integers (e.g. 0,1,2,3), got {', '.join(bad)}")
    if retries is not None and retries < 0:
        errors.append(f"--retries must be at least 0, got {retries}")
    return replace(out, threads_per_worker=threads, gpus=() if bad else names,
                   retries=out.retries if retries is None else max(retries, 0))


def from_flags(flags: Mapping[str, Any], *, need_weights: bool = True) -> Study:
    """A study from `noisebench run`'s flags alone: `--dataset a,b` gives one run configuration per dataset."""
    flags_given, flags = flags, dict(flags)
    errors: list[str] = []
    ex = executor({k: flags.pop(k) for k in EXECUTOR_KEYS if k in flags}, errors)
    names = [d.strip() for d in (flags.pop("dataset", None) or "").split(",") if d.strip()] or [None]
    configs = []
    for name in names:
        try:
            configs.append(build_run_config(dataset=name, need_weights=need_weights, **flags))
        except UsageError as e:
            errors.append(f"{name}: {e}" if len(names) > 1 else str(e))
    if errors:
        unique = list(dict.fromkeys(errors))
        raise UsageError(unique[0] if len(unique) == 1 else f"{len(unique)} problems: " + "; ".join(unique))
    # the built-in offline default, like its study file, runs in one single-thread worker per core (flags give
    # --workers as an integer: "auto" comes only from a study file)
    offline = "workers" not in flags_given and all(c.offline_default for c in configs)
    return Study(tuple(configs), auto_workers(ex, configs, offline))


def auto_workers(ex: Executor, configs: Sequence[RunConfig], auto: bool) -> Executor:
    """`workers = "auto"` (the offline default's setting): local workers of one torch thread each (or
    `threads_per_worker`), one per core they fill, at most one per unit. The offline default's tiny models gain only
    about a third from a second thread, so one single-thread worker per core finishes sooner; the thread count is the
    same on every machine, and records depend on it, not on the workers."""
    if not auto or ex.kind != "local":
        return ex
    threads = ex.threads_per_worker or 1
    units = sum(len(c.models) * len(c.seeds) for c in configs)
    return replace(ex, workers=max(1, min((os.cpu_count() or 1) // threads, units)), threads_per_worker=threads)


def load_study(path: str | Path, overrides: Mapping[str, Any] | None = None, *,
               need_weights: bool = True) -> Study:
    """Parse and validate a study file; `overrides` are the command line's flags (given ones only), which win.
    One UsageError lists every problem, each with its TOML key; a problem shared by every dataset of a model
    entry is said once."""
    path = Path(path)
    data = _load_toml(path)
    overrides = dict(overrides or {})
    errors: list[str] = []
    _check_keys(data, SECTIONS, "", errors)
    study = data.get("study") or {}
    training = data.get("training") or {}
    models = data.get("models")
    for name, part in (("study", study), ("training", training)):
        if not isinstance(part, dict):
            errors.append(f"{name}: must be a table")
    study = study if isinstance(study, dict) else {}
    training = training if isinstance(training, dict) else {}
    _check_keys(study, STUDY_KEYS, "study.", errors)
    _check_keys(training, TRAINING_KEYS, "training.", errors)
    common: dict[str, Any] = {
        "noise": _comma(study.get("noises"), "noises", errors),
        "rate": _comma(study.get("rates"), "rates", errors, (int, float, str)),
        "seeds": _comma(study.get("seeds"), "seeds", errors, (int,)),
        "options": _options(study.get("options"), errors),
    }
    if study.get("data_dir") is not None:
        common["data_dir"] = _value(study, "data_dir", "study.", errors)
    common.update({k: v for k in TRAINING_KEYS if (v := _value(training, k, "training.", errors)) is not None})
    entries: list[dict] = []
    if models is None and "model" not in overrides:
        errors.append("models: the study names no model (add [[models]] entries with a name)")
    elif models is not None and not (isinstance(models, list) and all(isinstance(m, dict) for m in models)):
        errors.append("models: must be an array of tables ([[models]] entries)")
    else:
        for i, m in enumerate(models or []):
            _check_keys(m, MODEL_KEYS, f"models[{i}].", errors)
            if not isinstance(m.get("name"), str):
                errors.append(f"models[{i}].name: required")
                continue
            entry = {"model": m["name"]}
            entry.update({k: v for k in MODEL_KEYS[1:] if (v := _value(m, k, f"models[{i}].", errors)) is not None})
            entries.append(entry)
    datasets = _datasets(study.get("datasets"), errors)
    exec_file = _executor(data.get("executor"), errors)
    if "model" in overrides:  # --model replaces the study's model entries
        entries = [{"model": name} for name in overrides.pop("model").split(",") if name.strip()]
    if "dataset" in overrides:  # --dataset replaces its datasets
        datasets = [{"dataset": name} for name in overrides.pop("dataset").split(",") if name.strip()]
    exec_settings = {**exec_file, **{k: overrides.pop(k) for k in EXECUTOR_KEYS if k in overrides}}
    configs = []
    said: dict[str, str] = {}  # message → where it was first seen
    for i, entry in enumerate(entries):
        for j, ds in enumerate(datasets):
            kwargs = {**common, **ds, **entry, **overrides}
            try:
                configs.append(build_run_config(need_weights=need_weights, **kwargs))
            except UsageError as e:
                for problem in [str(e)]:  # the same problem on every dataset of an entry: said once
                    if problem not in said:
                        said[problem] = f"models[{i}] ({entry['model']})" + (
                            f" on datasets[{j}] ({ds['dataset']})" if "dataset" in ds and len(datasets) > 1 else "")
                        errors.append(f"{said[problem]}: {problem}")
    ex = executor(exec_settings, errors)
    if errors:
        unique = list(dict.fromkeys(errors))
        raise UsageError(f"study file {path}: " + (unique[0] if len(unique) == 1 else
                                                   f"{len(unique)} problems: " + "; ".join(unique)))
    return Study(tuple(configs), auto_workers(ex, configs, exec_settings.get("workers") == "auto"), str(path))
