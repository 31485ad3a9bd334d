"""`noisebench run` (fine-tune per seed, evaluate clean + noisy, store every cell) and `noisebench models`.

Nothing heavy at module level: the configuration, torch and the models load inside the command bodies. Exit codes:
0 every cell stored ok, 1 some training failed (its cells are stored as failed), 2 bad input (nothing written).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

Opt = typer.Option


def run(
    model: Annotated[str | None, Opt(help="Models (comma list), e.g. bert,byt5 or hf:<hub id or local path>. "
                                     "Default: the built-in offline default (byt5-tiny,bert-tiny on clinical-notes "
                                     "with CPU-sized training).")] = None,
    dataset: Annotated[str | None, Opt(help="A registered dataset (see `noisebench datasets`) or a .csv/.tsv/"
                                       ".jsonl/.parquet file or folder of split files. Default: clinical-notes.")]
    = None,
    noise: Annotated[str | None, Opt(help="Noises (comma list) or 'all' (the study's seven; see `noisebench "
                                     "noises`); a+b applies noises in order (casing+substitute).")] = None,
    rate: Annotated[str | None, Opt(help="Rates in [0, 1] (comma list) or 'all' = 0.1,0.2,0.3; a composition "
                                    "takes one part per noise (1.0+0.05).")] = None,
    seeds: Annotated[str | None, Opt(help="Seeds (comma list); each trains one model and draws that model's "
                                     "noise. Default: 42,123,456,789,1024.")] = None,
    recipe: Annotated[str | None, Opt(help="full | probe | lora (default: each model's own) | none (evaluate an "
                                      "already fine-tuned hf:<hub id or folder> classifier as it is, no training).")]
    = None,
    label_map: Annotated[str | None, Opt(help="With --recipe none: DATASET_LABEL=CHECKPOINT_LABEL,… where the "
                                         "checkpoint's id2label names differ from the dataset's labels.")] = None,
    pooling: Annotated[str | None, Opt(help="Pooler for families that offer a choice (BLT: attention, mean, "
                                       "last, max).")] = None,
    lora_rank: Annotated[int | None, Opt(help="LoRA rank (lora recipe; default 16).")] = None,
    lora_alpha: Annotated[int | None, Opt(help="LoRA alpha (lora recipe; default 32).")] = None,
    lora_targets: Annotated[str | None, Opt(help="LoRA targets: qv | qkvo (default qv).")] = None,
    sweep: Annotated[str | None, Opt(help="A sweep file from `noisebench sweep`: use its chosen LoRA rank, targets "
                                     "and learning rate.")] = None,
    epochs: Annotated[int | None, Opt(help="Training epochs (default 3).")] = None,
    batch_size: Annotated[int | None, Opt(help="Examples per optimizer step (default 32).")] = None,
    grad_accum: Annotated[int | None, Opt(help="Micro-batches per step (same effective batch, less memory).")]
    = None,
    lr: Annotated[float | None, Opt(help="Learning rate (default: the model's for its recipe, e.g. 2e-5 full).")]
    = None,
    patience: Annotated[int | None, Opt(help="Early stopping: epochs after the best one before a drop in validation "
                                        "accuracy stops training (default 1; ties never stop it).")] = None,
    min_epochs: Annotated[int | None, Opt(help="Never stop before this many epochs (default 1).")] = None,
    max_length: Annotated[int | None, Opt(help="Truncate to this many tokens/bytes (default: the family's).")]
    = None,
    truncation: Annotated[str, Opt(help="What a too-long text keeps: head (default) | tail | head+tail (both "
                                   "ends, half each).")] = "head",
    device: Annotated[str, Opt(help="auto | cpu | cuda | cuda:N.")] = "auto",
    precision: Annotated[str, Opt(help="auto (bf16 on GPUs with compute capability >= 8.0, fp16 + gradient scaler "
                                  "on Volta/Turing, fp32 on CPU) | bf16 | fp16 | fp32.")] = "auto",
    results_dir: Annotated[Path, Opt(help="Results directory (records, checkpoints, locks).")] = Path("results"),
    data_dir: Annotated[str | None, Opt(help="Local copies of registered datasets (default: "
                                        "$NOISEBENCH_DATA_DIR).")] = None,
    text_col: Annotated[str | None, Opt(help="Text column of your own data file.")] = None,
    label_col: Annotated[str | None, Opt(help="Label column of your own data file.")] = None,
    id_col: Annotated[str | None, Opt(help="Id column of your own data (the noise example key).")] = None,
    option: Annotated[list[str] | None, Opt("--option", help="Noise option NOISE.KEY=VALUE, repeatable, e.g. "
                                            "substitute.mode=keyboard.")] = None,
    quiet: Annotated[bool, Opt("--quiet", "-q", help="No progress bars; only the closing summary.")] = False,
    study: Annotated[Path | None, Opt(help="A study file (TOML): models, datasets, seeds, noises, training and "
                                      "executor settings in one place; flags override it.")] = None,
    workers: Annotated[int | None, Opt(help="Unit processes on this machine (default 1: this process; "
                                                      "the built-in offline default: one per core).")] = None,
    threads_per_worker: Annotated[int | None, Opt(help="torch threads per worker (default: cores / workers, at "
                                                  "least 1); recorded in every record.")] = None,
    gpus: Annotated[str | None, Opt(help="GPUs for the workers, e.g. 0,1,2,3: worker i sees only GPU i mod n "
                                    "(CUDA_VISIBLE_DEVICES, set before torch loads).")] = None,
    retries: Annotated[int | None, Opt(help="How often a worker that died (killed, node failure) is restarted; "
                                       "it resumes from what was stored (default 2).")] = None,
    worker_index: Annotated[int, Opt(hidden=True, help="Internal: which worker of --workers this process is.")]
    = 0,
    executor: Annotated[str | None, Opt(help="Where the units run: local (default; --workers processes here) | "
                                        "slurm (one job-array task per pending unit, through submitit) | ray (one "
                                        "task per pending unit on a Ray cluster).")] = None,
    partition: Annotated[str | None, Opt(help="slurm: the partition.")] = None,
    time_limit: Annotated[int | None, Opt("--time", help="slurm: minutes per unit task (default 240).")] = None,
    gpus_per_task: Annotated[int | None, Opt(help="slurm and ray: GPUs per unit task (default 0).")] = None,
    array_parallelism: Annotated[int | None, Opt(help="slurm: unit tasks running at once (default 64).")] = None,
    slurm_cluster: Annotated[str | None, Opt(help="slurm: slurm (default) | local | debug (submitit runs the tasks "
                                             "on this machine, to try a study before submitting it).")] = None,
    ray_address: Annotated[str | None, Opt(help="ray: the cluster's address (default: start a local Ray).")] = None,
    unit: Annotated[list[str] | None, Opt("--unit", hidden=True, help="Internal: run only this unit (its id).")]
    = None,
) -> None:
    """Fine-tune each model once per seed on clean data and evaluate it on the clean and noisy test sets.

    Every cell (model, seed, condition) is stored as one record in RESULTS_DIR/records; finished cells are never
    recomputed, so an interrupted run resumes where it stopped. Print the degradation table with
    `noisebench report`.
    """
    from rich.console import Console

    from noisebench.config import replace
    from noisebench.errors import RunError
    from noisebench.store import ResultsStore
    from noisebench.study.run import Outcome, RunProgress, execute
    from noisebench.study.studyfile import from_flags, load_study

    flags = dict(model=model, dataset=dataset, noise=noise, rate=rate, seeds=seeds, recipe=recipe,
                 pooling=pooling, lora_rank=lora_rank, lora_alpha=lora_alpha, lora_targets=lora_targets,
                 sweep=sweep, epochs=epochs, batch_size=batch_size, grad_accum=grad_accum, lr=lr,
                 max_length=max_length, data_dir=data_dir, text_col=text_col, label_col=label_col, id_col=id_col,
                 patience=patience, min_epochs=min_epochs, label_map=label_map,
                 workers=workers, threads_per_worker=threads_per_worker, gpus=gpus, retries=retries, kind=executor,
                 partition=partition, time=time_limit, gpus_per_task=gpus_per_task,
                 array_parallelism=array_parallelism, cluster=slurm_cluster, ray_address=ray_address)
    given: dict[str, Any] = {k: v for k, v in flags.items() if v is not None}
    given.update(results_dir=results_dir, quiet=quiet)
    if option or study is None:  # a study's own [study.options] stay unless --option is given
        given["options"] = option or ()
    for name, value, default in (("device", device, "auto"), ("precision", precision, "auto"),
                                 ("truncation", truncation, "head")):
        if value != default or study is None:
            given[name] = value
    plan = load_study(study, given) if study is not None else from_flags(given)
    err = Console(stderr=True, soft_wrap=True)
    if plan.executor.kind != "local" or plan.executor.workers > 1:
        from noisebench.commands import ARGV
        from noisebench.study import executors

        if not quiet:
            for config in plan.configs:
                if config.offline_default:
                    err.print(config.describe_default(), highlight=False)
        cells = executors.study_cells(plan)
        before = _stored(cells)
        if not _finished(cells, before[0]):  # every unit complete: no worker to start (each would import torch)
            launch = {"local": executors.run_local, "slurm": executors.run_slurm, "ray": executors.run_ray}
            launch[plan.executor.kind](plan, list(ARGV), cells, quiet=quiet)
        _print_study_summary(cells, before)
        return
    # A worker of a local launcher shares its terminal: the launcher shows the banner, one progress bar and the
    # closing summary; the worker prints only its own lines, prefixed.
    from noisebench.study.executors import WORKER_ENV

    worker = os.environ.get(WORKER_ENV)
    prefix = f"worker {worker}: " if worker is not None else ""
    echo = (lambda line: None) if quiet else (lambda line: err.print(prefix + line, highlight=False))
    threads = plan.executor.threads_per_worker
    outcomes: list[tuple[Any, Outcome]] = []
    for config in plan.configs:
        config = replace(config, threads=threads, worker=worker_index, only_units=tuple(unit or ()))
        if config.offline_default and not quiet and worker is None:
            err.print(config.describe_default(), highlight=False)
        progress = None if quiet or worker is not None else RunProgress(err)
        outcomes.append((config, execute(config, echo=echo, progress=progress)))
    if worker is None:
        for config, outcome in outcomes:
            _print_summary(ResultsStore(config.results_dir), outcome, config)
    errors = [e for _, o in outcomes for e in o.errors]
    if errors:
        raise RunError(f"{len(errors)} training run(s) failed (stored as failed; a re-run retries them): "
                       + "; ".join(errors[:3]))


def _stored(cells) -> tuple[set[str], list[int]]:
    """The cells already stored and, per run configuration, the trainings already logged."""
    from noisebench.store import ResultsStore
    from noisebench.study.run import _done

    done = {i for config, _, ids in cells for row in ids for i in row if _done(ResultsStore(config.results_dir), i)}
    trainings = [sum(len(ResultsStore(config.results_dir).trainings(u.id())) for u in units)
                 for config, units, _ in cells]
    return done, trainings


def _finished(cells, done: set[str]) -> bool:
    """Whether every unit's cells are stored and its completion marker says so (what a worker would find)."""
    from noisebench.store import ResultsStore

    return all(set(row) <= done and ResultsStore(config.results_dir).complete(unit.id(), row)
               for config, units, rows in cells for unit, row in zip(units, rows, strict=True))


def _print_study_summary(cells, state: tuple[set[str], list[int]]) -> None:
    """After the workers: the same closing summary as one process prints, from the store (trainings counted from
    its trainings/ files)."""
    before, trained_before = state
    from noisebench.store import ResultsStore
    from noisebench.study.run import Outcome, _done

    for k, (config, units, rows) in enumerate(cells):
        store = ResultsStore(config.results_dir)
        ids = [i for row in rows for i in row]
        outcome = Outcome(record_ids=ids)
        for i in ids:
            rec = store.get(i) if store.has(i) else None
            if i in before:
                outcome.skipped.append(i)
            elif rec is not None and _done(store, i):
                outcome.written.append(i)
            elif rec is not None:
                outcome.failed.append(i)
        outcome.trained = sum(len(store.trainings(u.id())) for u in units) - trained_before[k]
        outcome.units_skipped = sum(set(row) <= before for row in rows)  # complete before this run
        _print_summary(store, outcome, config)


def _print_summary(store, outcome, config) -> None:
    from rich.console import Console
    from rich.table import Table

    from noisebench.store.records import rate_text
    from noisebench.study.run import summary_rows

    table = Table(title=f"noisebench run on {config.dataset}: mean accuracy over the seeds done "
                        f"(full intervals: noisebench report --results-dir {config.results_dir})")
    for name in ("model", "recipe", "condition"):
        table.add_column(name, justify="left")
    for name in ("seeds", "clean acc", "noisy acc", "drop (pp)"):
        table.add_column(name, justify="right")
    for row in summary_rows(store, outcome.record_ids):
        clean = row["noise"] == "clean"
        seeds = f"{row['seeds']}" + (f" ({row['failed']} failed)" if row["failed"] else "")
        condition = "clean" if clean else f"{row['noise']} @ {rate_text(row['rate'])}"
        table.add_row(row["model"], row["recipe"], condition, seeds,
                      fmt(row["clean"]) if not clean else fmt(row["accuracy"]),
                      "" if clean else fmt(row["accuracy"]), "" if clean else fmt(row["drop"]))
    Console(width=None if sys.stdout.isatty() else 200).print(table)  # pipes and logs: no wrapping
    for line in untrained_warnings(store, outcome.record_ids):
        typer.echo(f"noisebench: warning: {line}", err=True)
    Console(stderr=True, soft_wrap=True).print(
        f"{len(outcome.written)} cells written, {len(outcome.skipped)} already stored, {len(outcome.failed)} "
        f"failed; {outcome.trained} models trained, {outcome.loaded} loaded from checkpoints, "
        f"{outcome.units_skipped} skipped (all cells stored) — results in {config.results_dir}", highlight=False)


def untrained_warnings(store, record_ids: list[str]) -> list[str]:
    """One line per model of this run whose clean accuracy is not above the majority-class rate on some seeds."""
    from noisebench.report.stats import ABOVE_CHANCE_ALPHA

    flagged: dict[tuple[str, str], list[tuple[int, float, float]]] = {}
    for rid in dict.fromkeys(record_ids):
        rec = store.get(rid)
        if rec is None or rec["status"] != "ok" or rec["noise"]["name"] != "clean":
            continue
        p = rec["metrics"].get("p_above_majority")
        if isinstance(p, float) and p > ABOVE_CHANCE_ALPHA:
            flagged.setdefault((rec["model"]["name"], rec["model"]["recipe"]), []).append(
                (rec["seed"], rec["metrics"]["accuracy"], rec["metrics"]["majority_rate"]))
    return [f"{model} ({recipe}) did not learn on seed(s) {', '.join(str(s) for s, _, _ in seeds)}: clean accuracy "
            f"{', '.join(f'{100 * a:.1f}%' for _, a, _ in seeds)} is not above the majority-class rate "
            f"{100 * seeds[0][2]:.1f}% (one-sided binomial test at 5%), so its drops under noise are not robustness; "
            "check the learning rate, --epochs and --patience" for (model, recipe), seeds in flagged.items()]


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def models(
    tiny: Annotated[bool, Opt("--tiny", help="Only the tiny offline variants.")] = False,
    wide: Annotated[bool, Opt("--wide", help="Every column, whatever the width.")] = False,
    params: Annotated[bool, Opt("--params", help="Trainable and total parameters of every recipe at the real "
                                "shapes, computed on torch's meta device (no weights, offline; a few seconds).")]
    = False,
) -> None:
    """List the model registry: name, source (hub id), parameters, recipes, offline availability, family,
    tokenizer, poolings, licence."""
    from noisebench.commands.listing import Column, render
    from noisebench.models import MODELS

    if params:
        from noisebench.models import parameter_table

        rows = [[name, recipe, f"{trainable:,}", f"{total:,}", f"{trainable / 1e6:.1f}M"]
                for name, recipe, trainable, total in parameter_table()]
        columns = [Column(c) for c in ("model", "recipe", "trainable", "total", "trainable (M)")]
        notes = ["Real shapes, random structure on the meta device (nothing downloaded, no memory used); a 2-class "
                 "head. BLT: the attention pooler is the study's (MultiheadAttention over the 2048-dim patch "
                 "states), LoRA r16 on q,v of the global transformer."]
        typer.echo(render("noisebench models --params", columns, rows, wide=wide, notes=notes), nl=False)
        return

    columns = [Column("name"), Column("source", abbreviate=True), Column("params", abbreviate=True),
               Column("offline"), Column("recipes", 1), Column("licence", 2, abbreviate=True), Column("tokenizer", 3),
               Column("poolings", 3), Column("family", 4)]
    rows = []
    for name, spec in MODELS.items():
        if tiny and not spec.tiny:
            continue
        recipes = [spec.default_recipe, *[r for r in spec.recipes if r != spec.default_recipe]]
        rows.append([name, spec.source, spec.params, "yes" if spec.offline() else "no", ",".join(recipes),
                     spec.licence or "-", spec.tokenizer, ",".join(spec.poolings) or "-", spec.family])
    notes = ["recipes: the default first. offline: no = needs the Hub or a local folder (name:PATH). "
             "hf:<hub id or local path> loads any sequence-classification model."]
    typer.echo(render("noisebench models", columns, rows, wide=wide, notes=notes), nl=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("models")(models)
