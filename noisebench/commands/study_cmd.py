"""`noisebench plan` and `noisebench status`: what a study (or a run's flags) would do, and where it stands.

Both read the study (`--study FILE`) or the same flags as `noisebench run`, never need model weights, and never
touch the network: a registered dataset is read only when it is built in or has a local copy (otherwise its cells
are counted but whether they are stored is unknown). Nothing heavy is imported at module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Opt = typer.Option
# The options `plan` and `status` share (a study file, or the flags of `noisebench run` that choose its units).
StudyFile = Annotated[Path | None, Opt("--study", help="A study file (TOML); flags override it.")]
Models = Annotated[str | None, Opt("--model", help="Models (comma list), as for `noisebench run`.")]
Datasets = Annotated[str | None, Opt("--dataset", help="Datasets (comma list).")]
Noises = Annotated[str | None, Opt("--noise", help="Noises (comma list, 'all', a+b).")]
Rates = Annotated[str | None, Opt("--rate", help="Rates (comma list, 'all').")]
Seeds = Annotated[str | None, Opt("--seeds", help="Seeds (comma list).")]
Recipe = Annotated[str | None, Opt("--recipe", help="Recipe for every model.")]
DataDir = Annotated[str | None, Opt("--data-dir", help="Local copies of registered datasets.")]


def _study(study: Path | None, flags: dict):
    from noisebench.study.studyfile import from_flags, load_study

    given = {k: v for k, v in flags.items() if v is not None}
    return load_study(study, given, need_weights=False) if study is not None else from_flags(given,
                                                                                               need_weights=False)


def _note(line: str) -> None:
    typer.echo(f"noisebench: note: {line}", err=True)


def _units(config):
    """(dataset or None when it is not available here, units, conditions) of one run configuration."""
    from noisebench.errors import UsageError
    from noisebench.study.run import conditions, units_of

    if _available(config):
        try:
            return units_of(config)
        except UsageError as e:
            _note(f"{config.dataset}: {e}")
    return None, [], conditions(config)


def _available(config) -> bool:
    """Whether the dataset can be read without the network (built in, a local copy, or a user file)."""
    from noisebench.datasets import DATASETS
    from noisebench.datasets.loading import local_copy, resolve_data_dir

    if config.dataset not in DATASETS:
        return True
    spec = DATASETS.get(config.dataset)
    return spec.generate is not None or local_copy(spec, resolve_data_dir(config.data_dir)) is not None


def _costs(store) -> dict[str, tuple[float, float]]:
    """Per model family, from stored records: (mean training seconds per unit, mean evaluation seconds per cell)."""
    from noisebench.report.loading import load_records

    if not store.records_dir.is_dir():
        return {}
    good, _ = load_records(store.root, predictions=False)
    train: dict[str, list[float]] = {}
    evals: dict[str, list[float]] = {}
    for r in good:
        family = r["model"].get("family", "")
        if r["noise"]["name"] == "clean" and isinstance(s := (r.get("training") or {}).get("seconds"), (int, float)):
            train.setdefault(family, []).append(float(s))
        if isinstance(e := (r.get("timing") or {}).get("eval_seconds"), (int, float)):
            evals.setdefault(family, []).append(float(e))
    return {f: (sum(train[f]) / len(train[f]), sum(evals.get(f, [0.0])) / max(len(evals.get(f, [])), 1))
            for f in train}


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan(
    study: StudyFile = None, model: Models = None, dataset: Datasets = None, noise: Noises = None,
    rate: Rates = None, seeds: Seeds = None, recipe: Recipe = None, data_dir: DataDir = None,
    results_dir: Annotated[Path, Opt(help="Results directory to compare against.")] = Path("results"),
) -> None:
    """List the units and cells a run would do, which are already stored, and an estimate of the rest's cost."""
    from noisebench.report.boxtable import Block, plain
    from noisebench.store import ResultsStore
    from noisebench.store.records import record_id
    from noisebench.study.run import _done

    s = _study(study, {"model": model, "dataset": dataset, "noise": noise, "rate": rate, "seeds": seeds,
                       "recipe": recipe, "data_dir": data_dir, "results_dir": str(results_dir)})
    store = ResultsStore(results_dir)
    costs = _costs(store)
    rows, total = [], {"units": 0, "cells": 0, "stored": 0, "known": True, "seconds": 0.0, "basis": True}
    for config in s.configs:
        data, units, wanted = _units(config)
        for plan_ in config.models:
            n_units = len(config.seeds)
            cells = n_units * len(wanted)
            if data is None:
                stored_text, pending_units, pending_cells = "?", n_units, cells
                total["known"] = False
            else:
                mine = [u for u in units if u.plan is plan_]
                done = [[_done(store, record_id(u.skeleton(c))) for c in wanted] for u in mine]  # each read once
                stored = sum(map(sum, done))
                pending_units = sum(not all(row) for row in done)
                pending_cells = cells - stored
                stored_text = f"{stored:,}"
                total["stored"] += stored
            basis = costs.get(plan_.spec.family)
            if basis is None:
                estimate = "—" if pending_cells else "0 s"
                total["basis"] = total["basis"] and not pending_cells
            else:
                seconds = pending_units * basis[0] + pending_cells * basis[1]
                total["seconds"] += seconds
                estimate = _duration(seconds)
            total["units"] += n_units
            total["cells"] += cells
            rows.append([plan_.name, plan_.recipe, config.dataset, str(n_units), f"{cells:,}", stored_text,
                         f"{pending_cells:,}", estimate])
    headers = ["model", "recipe", "dataset", "units", "cells", "stored", "to run", "estimate"]
    stored_all = f"{total['stored']:,}" + ("" if total["known"] else " (+ unknown: datasets not available here)")
    cost = (_duration(total["seconds"]) if total["basis"] else
            (f"{_duration(total['seconds'])} + the families with no stored timings" if total["seconds"] else "—"))
    notes = [f"{total['units']:,} units (model configuration × dataset × seed) and {total['cells']:,} cells "
             f"(units × {len(wanted)} conditions); stored: {stored_all}; estimate: {cost}.",
             "Estimates come from stored records of the same model family in the results directory (mean training "
             "seconds per unit, evaluation seconds per cell) on the hardware that wrote them."]
    typer.echo(plain([Block("noisebench plan" + (f": {study}" if study else ""), headers, rows,
                            [j >= 3 for j in range(len(headers))], notes)]), nl=False)


def status(
    study: StudyFile = None, model: Models = None, dataset: Datasets = None, noise: Noises = None,
    rate: Rates = None, seeds: Seeds = None, recipe: Recipe = None, data_dir: DataDir = None,
    results_dir: Annotated[Path, Opt(help="Results directory.")] = Path("results"),
) -> None:
    """Per unit: done, running (host and start time), failed (with the reason) or pending."""
    import datetime

    from noisebench.report.boxtable import Block, plain
    from noisebench.store import ResultsStore, lease
    from noisebench.store.records import record_id

    s = _study(study, {"model": model, "dataset": dataset, "noise": noise, "rate": rate, "seeds": seeds,
                       "recipe": recipe, "data_dir": data_dir, "results_dir": str(results_dir)})
    store = ResultsStore(results_dir)
    rows, counts = [], {"done": 0, "running": 0, "failed": 0, "pending": 0, "unknown": 0}
    for config in s.configs:
        data, units, wanted = _units(config)
        if data is None:
            for plan_ in config.models:
                for seed in config.seeds:
                    rows.append([plan_.name, plan_.recipe, config.dataset, str(seed), "unknown",
                                 "dataset not available here"])
                    counts["unknown"] += 1
            continue
        for unit in units:
            ids = [record_id(unit.skeleton(c)) for c in wanted]
            recs = [store.get(i) for i in ids]
            ok = sum(r is not None and r.get("status") == "ok" for r in recs)
            failed = [r for r in recs if r is not None and r.get("status") == "failed"]
            holder = lease.holder_of(store.leases_dir, f"unit-{unit.id()}")
            if store.complete(unit.id(), ids):
                state, detail = "done", f"{ok} cells"
            elif holder is not None and not lease.is_stale(holder):
                started = datetime.datetime.fromtimestamp(holder.get("started", 0), datetime.timezone.utc)
                state, detail = "running", (f"{holder.get('host')} pid {holder.get('pid')} since "
                                            f"{started:%Y-%m-%d %H:%M:%S} UTC; {ok}/{len(wanted)} cells stored")
            elif failed:
                state, detail = "failed", f"{len(failed)} cell(s): {(failed[0].get('error') or '')[:120]}"
            else:
                state, detail = "pending", f"{ok}/{len(wanted)} cells stored" + (
                    " (its last holder stopped)" if holder is not None else "")
            counts[state] += 1
            rows.append([unit.plan.name, unit.plan.recipe, config.dataset, str(unit.seed), state, detail])
    headers = ["model", "recipe", "dataset", "seed", "state", "detail"]
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n)
    typer.echo(plain([Block("noisebench status", headers, rows, [False, False, False, True, False, False],
                            [f"units: {summary}"])]), nl=False)


def register(app: typer.Typer) -> None:
    app.command("plan")(plan)
    app.command("status")(status)
