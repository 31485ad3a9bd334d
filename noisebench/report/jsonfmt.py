"""The machine-readable report, schema "noisebench.report/1" (also the baseline format of `noisebench check`).

Layout (values are fractions in [0, 1]; drops are fractions too — tables multiply by 100):

    {
      "schema": "noisebench.report/1",
      "units": "fraction",
      "settings": {"metric", "ci", "level", "bootstrap": null | {"seed", "resamples"}},
      "filters": {"dataset": [...], "model": [...], "noise": [...]},          # [] = everything
      "skipped_corrupt": [{"path", "reason"}],
      "models": [{"dataset", "model", "recipe", "variant", "label", "status",
                  "seeds": {"expected", "used", "failed", "missing"},
                  "clean": {"accuracy": E, "macro_f1": E},
                  "training": {"seconds": E, "trainable_params", "total_params"}}],
      "conditions": [{"dataset", "model", "recipe", "variant", "label",
                      "noise": {"name", "rate", "variant", "label"}, "status",
                      "seeds": {"expected", "used", "failed", "missing"},
                      "accuracy": {"clean": E, "noisy": E, "drop": E},
                      "macro_f1": {"clean": E, "noisy": E, "drop": E},
                      "realized": {"unit_fraction": E, "edit_ratio": E},
                      "patches": null | {"boundary_f1": E, "boundary_precision": E, ...},   # BLT models only
                      "most_robust": {"accuracy": bool, "macro_f1": bool}}],
      "noise_levels": [{"dataset", "noise": {...}, "realized_unit_fraction": E}],   # a composition "a+b": rate
                      # [ra, rb], realized_unit_fraction null and "realized_steps": [E, E] (each part's level)
      "across_datasets": [{"model", "noise", "drops": {dataset: mean drop over rates | null}}],  # 2+ datasets
      "comparisons": null | {"reference", "metric", "family_size", "rows": [...]}
    }

E is an estimate {"point", "low", "high", "level", "method", "n", "sd"} (low/high/sd null when n < 2) or null when
nothing was measured. Floats are rounded to 12 significant digits so the file is stable across platforms.
"""

from __future__ import annotations

from typing import Any

import orjson

from noisebench.report.aggregate import METRICS, Report
from noisebench.report.stats import Estimate

SCHEMA = "noisebench.report/1"


def _r(x: float | None) -> float | None:
    return None if x is None else float(f"{x:.12g}")


def _round(x):
    if isinstance(x, float):
        return _r(x)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_round(v) for v in x]
    return x


def _estimate(e: Estimate) -> dict:
    return {"point": _r(e.point), "low": _r(e.low), "high": _r(e.high), "level": e.level, "method": e.method,
            "n": e.n, "sd": _r(e.sd)}


def _seeds(expected, used, failed) -> dict:
    return {"expected": list(expected), "used": list(used), "failed": list(failed),
            "missing": sorted(set(expected) - set(used) - set(failed))}


def to_json(report: Report) -> dict:
    """The report as a JSON-ready dict (see the module docstring). An Estimate object that recurs (an arm's clean
    estimate in each of its conditions: the aggregation makes each distinct t estimate once) is converted once and
    its dict shared; the output is only read, never changed in place."""
    s = report.settings
    converted: dict[int, dict | None] = {}  # id(Estimate) → its dict, while the report keeps every Estimate alive

    def _est(e: Estimate | None) -> dict | None:
        if e is None:
            return None
        out = converted.get(id(e))
        if out is None:
            out = converted[id(e)] = _estimate(e)
        return out

    models = []
    for row in report.rows:
        a = row.arm
        models.append({
            "dataset": a.dataset, "model": a.model, "recipe": a.recipe, "variant": a.variant, "label": a.label,
            "status": row.status,
            "seeds": _seeds(row.expected, row.clean_ok, row.clean_failed),
            "clean": {m: _est(row.clean[m]) for m in METRICS},
            "training": {"seconds": _est(row.train_seconds), "trainable_params": row.trainable_params,
                         "total_params": row.total_params},
            "majority_rate": row.majority_rate,
            "not_above_majority": list(row.at_chance),  # seeds whose model did not beat the majority class
        })
    conditions = []
    for row in report.rows:
        a = row.arm
        for noise in report.noises.get(a.dataset, []):
            cell = report.cells[(a, noise)]
            entry: dict[str, Any] = {
                "dataset": a.dataset, "model": a.model, "recipe": a.recipe, "variant": a.variant, "label": a.label,
                "noise": {"name": noise.name, "rate": noise.rate, "variant": noise.variant, "label": noise.label},
                "status": cell.status,
                "seeds": _seeds(cell.expected, cell.paired, cell.failed),
            }
            for m in METRICS:
                entry[m] = {k: _est(v) for k, v in cell.estimates[m].items()}
            entry["realized"] = {k: _est(v) for k, v in cell.realized.items()}
            entry["truncation"] = cell.truncation
            entry["patches"] = {k: _est(v) for k, v in cell.patches.items()} if cell.patches is not None else None
            entry["most_robust"] = dict(cell.most_robust)
            conditions.append(entry)
    across = [{**r, "drops": {k: _r(v) for k, v in r["drops"].items()}} for r in report.across_datasets()]
    levels = [
        {"dataset": ds, "noise": {"name": n.name, "rate": n.rate, "variant": n.variant, "label": n.label},
         "realized_unit_fraction": _est(report.realized.get((ds, n))),
         **({"realized_steps": [_est(e) for e in report.realized_steps[(ds, n)]]}
            if (ds, n) in report.realized_steps else {})}
        for ds in report.datasets
        for n in report.noises.get(ds, [])
    ]
    comparisons = None
    if report.comparisons is not None:
        comparisons = dict(report.comparisons, rows=[dict(r, diff=_est(r["diff"])) for r in report.comparisons["rows"]])
    if comparisons is not None:
        comparisons = _round(comparisons)
    return {
        "schema": SCHEMA,
        "units": "fraction",
        "settings": {"metric": s.metric, "ci": s.ci, "level": s.level,
                     "bootstrap": {"seed": s.bootstrap_seed, "resamples": s.resamples} if s.ci != "t" else None},
        "filters": {k: list(report.filters.get(k, [])) for k in ("dataset", "model", "noise")},
        "skipped_corrupt": [{"path": p, "reason": r} for p, r in report.skipped],
        "models": models,
        "conditions": conditions,
        "noise_levels": levels,
        "datasets": [{"name": ds, **(report.sensitivity(ds) or {"n": report.test_sizes.get(ds)})}
                     for ds in report.datasets],
        "across_datasets": across,
        "comparisons": comparisons,
    }


def _compact(value) -> str:
    """One value as compact JSON (orjson: five times faster than json's C encoder on 10^4 conditions). Like
    json.dumps, numpy scalars become numbers and non-string keys strings; unlike it, a NaN or infinity becomes null
    (json writes NaN, which is not JSON)."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS).decode()


def _dump(value, indent: str = "") -> str:
    """JSON with one line per model / condition / comparison: the top-level object and the comparisons section are
    expanded, every list of objects gets one compact object per line, everything else is compact. Diffs of a
    committed baseline then show exactly the conditions that moved."""
    inner = indent + " "
    if isinstance(value, dict) and (not indent or "rows" in value):
        items = [f"{inner}{_compact(k)}: {_dump(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}" if items else "{}"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return "[\n" + ",\n".join(inner + _compact(v) for v in value) + f"\n{indent}]"
    return _compact(value)


def render_json(report: Report) -> str:
    return _dump(to_json(report)) + "\n"
