"""Pairwise comparisons against a reference model: is another model's drop larger or smaller, and is it significant?

For every dataset, noise condition and other model (arm) with paired seeds on both sides:
- diff = mean drop(other) - mean drop(reference), in the report's units (fractions); positive = the other model
  loses more under this noise. Welch's t interval and two-sided p-value over the two arms' per-seed drops
  (`stats.welch`; the two arms are different trained models, treated as independent samples).
- p_holm: Holm–Bonferroni adjustment over the family of every comparison in the report that has a p-value (all
  datasets, conditions and models together), so "p_holm ≤ 0.05" controls the family-wise error rate at 5 %.
- McNemar (optional): for each seed both arms evaluated, the two models' per-example correctness on the noisy test
  set (pairs matched by example id, labels must agree) → `stats.mcnemar` (exact binomial below 25 discordant pairs,
  chi-square with continuity correction otherwise). Per seed, not adjusted: it shows where the seeds agree.
"""

from __future__ import annotations

import numpy as np

from noisebench import stats
from noisebench.errors import UsageError, unknown_name
from noisebench.records import CLEAN
from noisebench.report.aggregate import Arm, Report, arm_of, noise_of
from noisebench.report.text import fixed


def resolve_reference(report: Report, selector: str) -> dict[str, Arm]:
    """dataset → the reference arm named by `selector` ("model", "model:recipe" or a row label)."""
    found: dict[str, list[Arm]] = {}
    for row in report.rows:
        a = row.arm
        if selector in (a.model, f"{a.model}:{a.recipe}", a.label):
            found.setdefault(a.dataset, []).append(a)
    if not found:
        choices = sorted({row.arm.model for row in report.rows} | {f"{r.arm.model}:{r.arm.recipe}" for r in report.rows})
        raise unknown_name("reference model for --compare", selector, choices)
    for ds, arms in found.items():
        if len(arms) > 1:
            labels = ", ".join(a.label for a in arms)
            raise UsageError(f"--compare {selector!r} matches several rows on {ds}: {labels}; name one as model:recipe")
    return {ds: arms[0] for ds, arms in found.items()}


def _predictions_index(records: list[dict]) -> dict[tuple, dict]:
    """(arm key, noise key, seed) → predictions of ok noisy records that stored them."""
    index = {}
    for rec in records:
        pred = rec.get("predictions")
        if rec["status"] == "ok" and rec["noise"]["name"] != CLEAN and isinstance(pred, dict) and pred.get("ids"):
            index[(arm_of(rec), noise_of(rec), rec["seed"])] = pred
    return index


def _correctness(pred_a: dict, pred_b: dict) -> tuple[np.ndarray, np.ndarray] | None:
    """Per-example correctness of A and B on the examples both evaluated with the same label; None if none."""
    b_by_id = {i: (lab, p) for i, lab, p in zip(pred_b["ids"], pred_b["labels"], pred_b["predicted"], strict=True)}
    ca, cb = [], []
    for i, lab, p in zip(pred_a["ids"], pred_a["labels"], pred_a["predicted"], strict=True):
        if i in b_by_id and b_by_id[i][0] == lab:
            ca.append(p == lab)
            cb.append(b_by_id[i][1] == lab)
    return (np.array(ca), np.array(cb)) if ca else None


def compare(report: Report, records: list[dict]) -> dict:
    """The comparisons section for `report.settings.compare` (see the module docstring). Units: fractions."""
    s = report.settings
    refs = resolve_reference(report, s.compare)
    index = _predictions_index(records) if s.mcnemar else {}
    rows = []
    for row in report.rows:
        arm = row.arm
        ref = refs.get(arm.dataset)
        if ref is None or arm == ref:
            continue
        for noise in report.noises.get(arm.dataset, []):
            mine, theirs = report.cells[(arm, noise)], report.cells[(ref, noise)]
            if not (len(mine.paired) and len(theirs.paired)):
                continue
            cmp = stats.welch(mine.drops[s.metric], theirs.drops[s.metric], s.level)
            entry = {
                "dataset": arm.dataset,
                "model": arm.label,
                "reference": ref.label,
                "noise": noise.label,
                "rate": noise.rate,
                "diff": cmp.diff,
                "n": [len(mine.paired), len(theirs.paired)],
                "df": cmp.df,
                "t": cmp.t,
                "p": cmp.p,
                "p_holm": None,
                "mcnemar": None,
            }
            if s.mcnemar:
                entry["mcnemar"] = _mcnemar_per_seed(index, arm, ref, noise, sorted(set(mine.paired) & set(theirs.paired)))
            rows.append(entry)
    tested = [r for r in rows if r["p"] is not None]
    for r, adj in zip(tested, stats.holm([r["p"] for r in tested]), strict=True):
        r["p_holm"] = float(adj)
    return {"reference": s.compare, "metric": s.metric, "family_size": len(tested), "rows": rows}


def _mcnemar_per_seed(index, arm: Arm, ref: Arm, noise, seeds: list[int]) -> list[dict]:
    arm_key = (arm.dataset, arm.model, arm.recipe, arm.variant)
    ref_key = (ref.dataset, ref.model, ref.recipe, ref.variant)
    noise_key = (noise.name, noise.rate, noise.variant)
    out = []
    for seed in seeds:
        a, b = index.get((arm_key, noise_key, seed)), index.get((ref_key, noise_key, seed))
        pair = _correctness(a, b) if a and b else None
        if pair is None:
            out.append({"seed": seed, "n": 0, "b": None, "c": None, "statistic": None, "p": None, "method": None})
            continue
        res = stats.mcnemar(*pair)
        out.append({"seed": seed, "n": len(pair[0]), "b": res.b, "c": res.c, "statistic": res.statistic, "p": res.p,
                    "method": res.method})
    return out


COMPARISON_HEADERS = ("dataset", "model", "reference", "noise", "rate", "drop diff (pts)", "p", "p Holm", "McNemar")


def _p_text(p: float | None) -> str:
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def comparison_rows(section: dict) -> list[list[str]]:
    """Text rows for COMPARISON_HEADERS: diff in percentage points with its Welch interval; McNemar as the number of
    seeds with p < 0.05 out of the seeds tested (or '—' when not requested or no predictions were stored)."""
    rows = []
    for r in section["rows"]:
        d = r["diff"]
        diff = fixed(100 * d.point, sign=True)
        if d.has_interval:
            diff += f" [{fixed(100 * d.low, sign=True)}, {fixed(100 * d.high, sign=True)}]"
        mc = "—"
        if r["mcnemar"]:
            tested = [m for m in r["mcnemar"] if m["p"] is not None]
            if tested:
                mc = f"{sum(m['p'] < 0.05 for m in tested)}/{len(tested)} seeds p<0.05"
        rows.append([r["dataset"], r["model"], r["reference"], r["noise"], f"{r['rate']:g}", diff, _p_text(r["p"]),
                     _p_text(r["p_holm"]), mc])
    return rows


def comparison_note(section: dict) -> str:
    return (f"drop diff = drop(model) - drop({section['reference']}) in percentage points, positive = the model loses "
            f"more; Welch t interval and p-value over seeds; p Holm = Holm-Bonferroni over all "
            f"{section['family_size']} comparisons; McNemar per seed on stored predictions (exact binomial below 25 "
            "discordant pairs, chi-square with continuity correction otherwise).")
