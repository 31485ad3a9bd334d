"""Pairwise comparisons against a reference model: is another model's drop larger or smaller, and is it significant?

For every dataset, noise condition and other model (arm) with seeds paired on both sides:
- diff = mean over seeds of d_s = drop_other(s) - drop_reference(s), in the report's units (fractions); positive =
  the other model loses more under this noise.
- The design is paired by seed: for seed s both models are evaluated on the same noisy texts (each record stores a
  digest of its noisy test set, `realized.draw`). So the default test (`compare_test="paired"`) is Student's t over
  the per-seed differences d_s with n - 1 degrees of freedom (`stats.paired_t`, scipy's ttest_rel). Before pairing,
  the two arms' noisy test sets are checked to be the same draw for every seed (same digest, or for records without
  one the same dataset fingerprint); otherwise the comparison is refused with the reason. `compare_test="welch"`
  (unpaired designs, e.g. runs whose noise draws differ) uses Welch's t over each arm's per-seed drops instead.
- The interval follows the report's --ci: "t" = the test's t interval; "bootstrap" = percentile bootstrap of the
  d_s over seeds (paired only; it undercovers with few seeds, see stats); "hierarchical" = the two-level paired
  bootstrap over seeds and then the same example indices for both arms (`stats.hierarchical_bootstrap` over the
  per-example drop differences below). The p-value is always the test's.
- p_holm: Holm–Bonferroni over the family of every comparison with a p-value (all datasets, conditions and models
  together). Degenerate variance keeps its p-value (see stats), so only comparisons over fewer than two seeds leave
  the family.
- examples: a per-example test of the drop difference itself, models held fixed (accuracy only; needs the stored
  predictions of all four records per seed). For every example i both models evaluated clean and noisy,
  e_i = (correct_other_clean - correct_other_noisy) - (correct_ref_clean - correct_ref_noisy) ∈ {-2, …, 2}; the mean
  of e over a seed's examples is that seed's drop difference. `stats.stratified_t` combines seeds; p_holm over its
  own family.
- McNemar (optional, `mcnemar=True`): per seed, McNemar's test of the two models' noisy accuracy (not of the drop),
  shown in its own section as what it is.
"""

from __future__ import annotations

import numpy as np

from noisebench.errors import UsageError, unknown_name
from noisebench.report import stats
from noisebench.report.aggregate import Arm, Cell, Noise, Report, arm_of, noise_of
from noisebench.report.text import fixed
from noisebench.store.records import CLEAN, rate_text

TESTS = ("paired", "welch")
CLEAN_KEY = (CLEAN, 0.0, "")


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


def _key(arm: Arm) -> tuple[str, str, str, str]:
    return arm.dataset, arm.model, arm.recipe, arm.variant


def _noise_key(noise: Noise) -> tuple[str, float | tuple[float, ...], str]:
    return noise.name, noise.rate, noise.variant


class _Records:
    """Ok records indexed by (arm key, noise key, seed); the clean condition's noise key is CLEAN_KEY."""

    def __init__(self, records: list[dict]) -> None:
        self.by_cell: dict[tuple, dict] = {}
        for rec in records:
            if rec["status"] != "ok":
                continue
            noise = CLEAN_KEY if rec["noise"]["name"] == CLEAN else noise_of(rec)
            self.by_cell[(arm_of(rec), noise, rec["seed"])] = rec

    def get(self, arm: Arm, noise: tuple, seed: int) -> dict | None:
        return self.by_cell.get((_key(arm), noise, seed))

    def draw(self, arm: Arm, noise: Noise, seed: int) -> str:
        """What identifies the noisy test set a seed's model saw: its stored digest, else the dataset fingerprint."""
        rec = self.get(arm, _noise_key(noise), seed)
        if rec is None:
            return "?"
        digest = (rec.get("realized") or {}).get("draw")
        return f"draw {digest}" if isinstance(digest, str) else f"dataset {rec['dataset']['fingerprint']}"

    def correctness(self, arm: Arm, noise: tuple, seed: int) -> dict | None:
        """example id → (label, correct) from a record's stored predictions; None when none are stored."""
        rec = self.get(arm, noise, seed)
        pred = rec.get("predictions") if rec else None
        if not (isinstance(pred, dict) and pred.get("ids")):
            return None
        return {i: (lab, p == lab) for i, lab, p in zip(pred["ids"], pred["labels"], pred["predicted"], strict=True)}


def _seed_values(cell: Cell, metric: str, seeds: list[int]) -> np.ndarray:
    by_seed = dict(zip(cell.paired, cell.drops[metric].tolist(), strict=True))
    return np.array([by_seed[s] for s in seeds], dtype=float)


def _check_same_draws(index: _Records, arm: Arm, ref: Arm, noise: Noise, seeds: list[int]) -> None:
    for s in seeds:
        mine, theirs = index.draw(arm, noise, s), index.draw(ref, noise, s)
        if mine != theirs:
            raise UsageError(
                f"cannot pair {arm.label} with {ref.label} on {arm.dataset} {noise.label}@{rate_text(noise.rate)} seed {s}: "
                f"their noisy test sets differ ({mine} vs {theirs}), so the paired design does not hold; "
                "use --compare-test welch for an unpaired comparison")


def drop_differences(index: _Records, arm: Arm, ref: Arm, noise: Noise, seeds: list[int]) -> list[np.ndarray] | None:
    """Per seed, the per-example drop differences e_i (see the module docstring), over the examples that all four
    records (arm/ref × clean/noisy) evaluated with the same label; None when any record lacks predictions or a seed
    has no common example."""
    out = []
    nk = _noise_key(noise)
    for s in seeds:
        a_clean, a_noisy, r_clean, r_noisy = (index.correctness(a, k, s) for a in (arm, ref) for k in (CLEAN_KEY, nk))
        if a_clean is None or a_noisy is None or r_clean is None or r_noisy is None:
            return None
        common = [i for i in a_clean if i in a_noisy and i in r_clean and i in r_noisy
                  and a_clean[i][0] == a_noisy[i][0] == r_clean[i][0] == r_noisy[i][0]]
        if not common:
            return None
        out.append(np.array([(int(a_clean[i][1]) - int(a_noisy[i][1])) - (int(r_clean[i][1]) - int(r_noisy[i][1]))
                             for i in common], dtype=np.float64))
    return out


def compare(report: Report, records: list[dict]) -> dict:
    """The comparisons section for `report.settings.compare` (see the module docstring). Units: fractions."""
    s = report.settings
    if s.compare is None:
        raise ValueError("compare() needs settings.compare (the reference model)")
    refs = resolve_reference(report, s.compare)
    index = _Records(records)
    rows, mcnemar_rows = [], []
    for row in report.rows:
        arm = row.arm
        ref = refs.get(arm.dataset)
        if ref is None or arm == ref:
            continue
        for noise in report.noises.get(arm.dataset, []):
            mine, theirs = report.cells[(arm, noise)], report.cells[(ref, noise)]
            seeds = sorted(set(mine.paired) & set(theirs.paired))
            if not seeds:
                continue
            key = f"compare|{arm.dataset}|{_key(arm)}|{_key(ref)}|{_noise_key(noise)}|{s.metric}"
            per_example = drop_differences(index, arm, ref, noise, seeds) if s.metric == "accuracy" else None
            if s.compare_test == "paired":
                _check_same_draws(index, arm, ref, noise, seeds)
                a, b = _seed_values(mine, s.metric, seeds), _seed_values(theirs, s.metric, seeds)
                test = stats.paired_t(a, b, s.level)
                diff = test.diff
                if s.ci == "bootstrap" and len(seeds) > 1:
                    diff = stats.mean_ci(a - b, s.level, "bootstrap", stats.bootstrap_rng(key, s.bootstrap_seed),
                                         s.resamples)
                elif s.ci == "hierarchical":
                    if per_example is None:
                        raise UsageError(f"--ci hierarchical needs the stored per-example predictions of {arm.label} "
                                         f"and {ref.label} on {arm.dataset} {noise.label}@{rate_text(noise.rate)}, clean and noisy")
                    diff = stats.hierarchical_bootstrap(per_example, s.level, stats.bootstrap_rng(key, s.bootstrap_seed),
                                                        s.resamples)
                n = [len(seeds), len(seeds)]
            else:
                test = stats.welch(mine.drops[s.metric], theirs.drops[s.metric], s.level)
                diff = test.diff
                n = [len(mine.paired), len(theirs.paired)]
            examples = stats.stratified_t(per_example, s.level) if per_example is not None else None
            rows.append({
                "dataset": arm.dataset, "model": arm.label, "reference": ref.label, "noise": noise.label,
                "rate": noise.rate, "test": test.diff.method, "diff": diff, "n": n, "seeds": seeds,
                "df": test.df, "t": test.t, "p": test.p, "p_holm": None,
                "examples": None if examples is None else {
                    "diff": examples.diff.point, "se": examples.se, "t": examples.t, "df": examples.df,
                    "p": examples.p, "p_holm": None, "n_examples": examples.diff.n},
            })
            if s.mcnemar:
                mcnemar_rows.append({"dataset": arm.dataset, "model": arm.label, "reference": ref.label,
                                     "noise": noise.label, "rate": noise.rate,
                                     "seeds": _mcnemar_per_seed(index, arm, ref, noise, seeds)})
    _holm(rows, lambda r: r)
    _holm([r for r in rows if r["examples"] is not None], lambda r: r["examples"])
    return {"reference": s.compare, "metric": s.metric, "test": s.compare_test, "ci": s.ci,
            "family_size": sum(r["p"] is not None for r in rows), "rows": rows,
            "mcnemar_noisy_accuracy": mcnemar_rows if s.mcnemar else None}


def _holm(rows: list[dict], part) -> None:
    tested = [part(r) for r in rows if part(r)["p"] is not None]
    for r, adj in zip(tested, stats.holm([r["p"] for r in tested]), strict=True):
        r["p_holm"] = float(adj)


def _mcnemar_per_seed(index: _Records, arm: Arm, ref: Arm, noise: Noise, seeds: list[int]) -> list[dict]:
    out: list[dict] = []
    nk = _noise_key(noise)
    for seed in seeds:
        a, b = index.correctness(arm, nk, seed), index.correctness(ref, nk, seed)
        common = [i for i in a if i in b and a[i][0] == b[i][0]] if a is not None and b is not None else []
        if a is None or b is None or not common:
            out.append({"seed": seed, "n": 0, "b": None, "c": None, "statistic": None, "p": None, "method": None})
            continue
        res = stats.mcnemar([a[i][1] for i in common], [b[i][1] for i in common])
        out.append({"seed": seed, "n": len(common), "b": res.b, "c": res.c, "statistic": res.statistic, "p": res.p,
                    "method": res.method})
    return out


COMPARISON_HEADERS = ("dataset", "model", "reference", "noise", "rate", "drop diff (pts)", "p", "p Holm",
                      "per-example p Holm")
MCNEMAR_HEADERS = ("dataset", "model", "reference", "noise", "rate", "noisy accuracy differs")


def _p_text(p: float | None) -> str:
    if p is None:
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def comparison_rows(section: dict) -> list[list[str]]:
    """Text rows for COMPARISON_HEADERS: diff in percentage points with its interval, the seed-level test's p (raw
    and Holm) and the per-example drop-difference test's Holm p ('—' without stored predictions or for macro-F1)."""
    rows = []
    for r in section["rows"]:
        d = r["diff"]
        diff = fixed(100 * d.point, sign=True)
        if d.has_interval:
            diff += f" [{fixed(100 * d.low, sign=True)}, {fixed(100 * d.high, sign=True)}]"
        ex = _p_text(r["examples"]["p_holm"]) if r["examples"] else "—"
        rows.append([r["dataset"], r["model"], r["reference"], r["noise"], rate_text(r["rate"]), diff, _p_text(r["p"]),
                     _p_text(r["p_holm"]), ex])
    return rows


def mcnemar_rows(section: dict) -> list[list[str]]:
    """Text rows for MCNEMAR_HEADERS: the number of seeds whose McNemar p < 0.05 out of the seeds tested."""
    rows = []
    for r in section["mcnemar_noisy_accuracy"] or []:
        tested = [m for m in r["seeds"] if m["p"] is not None]
        text = f"{sum(m['p'] < 0.05 for m in tested)}/{len(tested)} seeds p<0.05" if tested else "—"
        rows.append([r["dataset"], r["model"], r["reference"], r["noise"], rate_text(r["rate"]), text])
    return rows


def comparison_note(section: dict) -> str:
    ref = section["reference"]
    if section["test"] == "paired":
        test = ("paired by seed (both models saw the same noisy texts): Student's t over the per-seed differences of "
                "drops, n - 1 degrees of freedom")
    else:
        test = "unpaired: Welch's t over each model's per-seed drops"
    interval = {"t": "the test's t interval",
                "bootstrap": "percentile bootstrap of the per-seed differences (undercovers below ~10 seeds)",
                "hierarchical": "two-level paired bootstrap (seeds, then the same examples for both models)"}[section["ci"]]
    return (f"drop diff = drop(model) - drop({ref}) in percentage points, positive = the model loses more; "
            f"p: {test}; interval: {interval}; p Holm = Holm-Bonferroni over all {section['family_size']} comparisons; "
            "per-example p Holm = a per-example test of the drop difference with the trained models held fixed "
            "(each example's change in correctness clean to noisy, model minus reference; t over examples per seed, "
            "seeds combined; Holm over its own family; accuracy only, needs stored predictions).")


MCNEMAR_NOTE = ("McNemar's test per seed on the two models' noisy accuracy (exact binomial below 25 discordant pairs, "
                "chi-square with continuity correction otherwise). It tests whether noisy accuracy differs, not "
                "whether the drop differs: a model that starts higher can differ on every seed with equal drops.")
