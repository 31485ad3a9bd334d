"""`noisebench report --compare`: the paired-by-seed comparison against scipy, Welch as an option, the per-example
drop-difference test recomputed from the stored predictions, McNemar as its own section, refusal to pair different
noise draws, degenerate variance kept in the Holm family, and the two-level bootstrap."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest
import synthetic_results as syn
from scipy import stats as ss

from noisebench.cli import run_cli
from noisebench.store import ResultsStore

TOL = 1e-9


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    syn.write_synthetic(root)
    return root


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = run_cli([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def section(capsys, results, *extra) -> dict:
    code, out, err = cli(capsys, "report", "--results-dir", results, "--format", "json", "--compare", "byt5-small",
                         *extra)
    assert code == 0, err
    return json.loads(out)["comparisons"]


def drops(model, noise, rate):
    return [syn.CLEAN[model][i] - syn.noisy_accuracy(model, noise, rate, i) for i in range(5)]


def raw_records(results) -> list[dict]:
    """The record files as stored, each with its predictions read straight from its Parquet file (not the store)."""
    out = []
    for q in sorted((results / "records").glob("*.json")):
        rec = json.loads(q.read_text())
        if isinstance(ref := rec.get("predictions"), dict) and "file" in ref:
            table = pq.read_table(results / "predictions" / ref["file"])
            rec["predictions"] = {"ids": table.column("id").to_pylist(), "labels": table.column("label").to_pylist(),
                                  "predicted": table.column("predicted").to_pylist()}
        out.append(rec)
    return out


def holm_by_hand(p: np.ndarray) -> np.ndarray:
    order = np.argsort(p)
    running, out = 0.0, np.empty(len(p))
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        out[i] = running
    return out


def test_default_comparison_is_paired_by_seed_and_matches_ttest_rel(results, capsys):
    sec = section(capsys, results)
    rows = sec["rows"]
    # byt5-small failed char-swap 0.2 entirely: 2 other models × 3 comparable conditions.
    assert len(rows) == 6 and sec["family_size"] == 6 and sec["test"] == "paired"
    row = next(r for r in rows if r["model"] == "bert-tiny (full)" and r["noise"] == "char-swap" and r["rate"] == 0.1)
    ref = ss.ttest_rel(drops("bert-tiny", "char-swap", 0.1), drops("byt5-small", "char-swap", 0.1))
    assert row["test"] == "paired-t" and row["df"] == 4
    assert row["p"] == pytest.approx(ref.pvalue, abs=TOL) and row["t"] == pytest.approx(ref.statistic, abs=TOL)
    ci = ref.confidence_interval(0.95)
    assert (row["diff"]["low"], row["diff"]["high"]) == (pytest.approx(ci.low, abs=TOL), pytest.approx(ci.high, abs=TOL))
    # The paired answer differs from Welch's on these (correlated) seeds: the option would change the number.
    welch = ss.ttest_ind(drops("bert-tiny", "char-swap", 0.1), drops("byt5-small", "char-swap", 0.1), equal_var=False)
    assert abs(row["p"] - welch.pvalue) > 1e-4
    np.testing.assert_allclose([r["p_holm"] for r in rows], holm_by_hand(np.array([r["p"] for r in rows])), atol=TOL)


def test_qwen_missing_seed_pairs_only_the_shared_seeds(results, capsys):
    """qwen-0.5b has no keyboard@0.2 result for seed 5: the paired test uses seeds 1-4 of both models."""
    row = next(r for r in section(capsys, results)["rows"]
               if r["model"] == "qwen-0.5b (lora)" and r["noise"] == "keyboard" and r["rate"] == 0.2)
    assert row["seeds"] == [1, 2, 3, 4] and row["n"] == [4, 4] and row["df"] == 3
    ref = ss.ttest_rel(drops("qwen-0.5b", "keyboard", 0.2)[:4], drops("byt5-small", "keyboard", 0.2)[:4])
    assert row["p"] == pytest.approx(ref.pvalue, abs=TOL)


def test_welch_is_a_named_option(results, capsys):
    rows = section(capsys, results, "--compare-test", "welch")["rows"]
    row = next(r for r in rows if r["model"] == "bert-tiny (full)" and r["noise"] == "char-swap" and r["rate"] == 0.1)
    ref = ss.ttest_ind(drops("bert-tiny", "char-swap", 0.1), drops("byt5-small", "char-swap", 0.1), equal_var=False)
    assert row["test"] == "welch"
    assert row["p"] == pytest.approx(ref.pvalue, abs=TOL) and row["t"] == pytest.approx(ref.statistic, abs=TOL)
    code, _, err = cli(capsys, "report", "--results-dir", results, "--compare", "byt5-small", "--compare-test", "wlch")
    assert code == 2 and "did you mean 'welch'" in err


def _per_example_by_hand(results, model, noise, rate) -> list[np.ndarray]:
    """e_i = (clean_A - noisy_A) - (clean_B - noisy_B) in correctness, per seed, straight from the record files."""
    pred = {(r["model"]["name"], r["noise"]["name"], r["noise"]["rate"], r["seed"]): r["predictions"]
            for r in raw_records(results) if r["status"] == "ok"}

    def correct(m, nz, rt, s):
        p = pred[(m, nz, rt, s)]
        return dict(zip(p["ids"], np.equal(p["predicted"], p["labels"]).astype(int), strict=True))

    out = []
    for s in syn.SEEDS:
        ac, an = correct(model, "clean", 0.0, s), correct(model, noise, rate, s)
        bc, bn = correct("byt5-small", "clean", 0.0, s), correct("byt5-small", noise, rate, s)
        out.append(np.array([(ac[i] - an[i]) - (bc[i] - bn[i]) for i in sorted(ac)], dtype=float))
    return out


def test_per_example_drop_difference_test_from_the_stored_predictions(results, capsys):
    rows = section(capsys, results)["rows"]
    row = next(r for r in rows if r["model"] == "bert-tiny (full)" and r["noise"] == "keyboard" and r["rate"] == 0.1)
    per_seed = _per_example_by_hand(results, "bert-tiny", "keyboard", 0.1)
    # Each seed's mean of e is that seed's drop difference.
    np.testing.assert_allclose([e.mean() for e in per_seed],
                               np.subtract(drops("bert-tiny", "keyboard", 0.1), drops("byt5-small", "keyboard", 0.1)),
                               atol=TOL)
    # Stratified t by its formula, written out independently.
    means = np.array([e.mean() for e in per_seed])
    v = np.array([e.var(ddof=1) / len(e) for e in per_seed])
    se = math.sqrt(v.sum()) / len(per_seed)
    df = v.sum() ** 2 / np.sum(v**2 / (np.array([len(e) for e in per_seed]) - 1))
    t = means.mean() / se
    ex = row["examples"]
    assert ex["diff"] == pytest.approx(means.mean(), abs=TOL) and ex["t"] == pytest.approx(t, abs=1e-6)
    assert ex["df"] == pytest.approx(df, abs=1e-6) and ex["p"] == pytest.approx(2 * ss.t.sf(abs(t), df), abs=TOL)
    assert ex["n_examples"] == 5 * syn.N
    tested = [r["examples"] for r in rows]
    np.testing.assert_allclose([e["p_holm"] for e in tested], holm_by_hand(np.array([e["p"] for e in tested])),
                               atol=TOL)


def test_mcnemar_is_its_own_section_about_noisy_accuracy(results, capsys):
    sec = section(capsys, results, "--mcnemar")
    assert all("mcnemar" not in r for r in sec["rows"])
    entry = next(r for r in sec["mcnemar_noisy_accuracy"]
                 if r["model"] == "bert-tiny (full)" and r["noise"] == "char-swap" and r["rate"] == 0.1)
    pred = {(r["model"]["name"], r["seed"]): r["predictions"] for r in raw_records(results)
            if r["noise"]["name"] == "char-swap" and r["noise"]["rate"] == 0.1}
    a, b = pred[("bert-tiny", 1)], pred[("byt5-small", 1)]
    ok_a, ok_b = np.equal(a["predicted"], a["labels"]), np.equal(b["predicted"], b["labels"])
    nb, nc = int(np.sum(ok_a & ~ok_b)), int(np.sum(~ok_a & ok_b))
    expected = ss.binomtest(min(nb, nc), nb + nc, 0.5).pvalue if nb + nc < 25 else ss.chi2.sf(
        (abs(nb - nc) - 1) ** 2 / (nb + nc), 1)
    seed1 = entry["seeds"][0]
    assert (seed1["seed"], seed1["b"], seed1["c"], seed1["n"]) == (1, nb, nc, 200)
    assert seed1["p"] == pytest.approx(expected, abs=TOL)
    code, out, _ = cli(capsys, "report", "--results-dir", results, "--compare", "byt5-small", "--mcnemar")
    assert code == 0 and "comparisons with byt5-small" in out and "Holm" in out
    assert "noisy accuracy against byt5-small (McNemar)" in out and "not whether the drop differs" in out
    code, out, _ = cli(capsys, "report", "--results-dir", results, "--compare", "byt5-small", "--format", "markdown")
    assert code == 0 and "## comparisons with byt5-small" in out and "McNemar" not in out


def _hand_built(root, a_noisy_correct: dict, b_noisy_correct: dict, a_clean, b_clean, *, n=100, seeds=(1, 2, 3),
                draw_b=None):
    """Two models on n examples; correctness given per seed as boolean arrays (clean: one array for all seeds)."""
    store = ResultsStore(root)
    for model, clean, noisy in (("model-a", a_clean, a_noisy_correct), ("model-b", b_clean, b_noisy_correct)):
        for s in seeds:
            for noise, rate, correct in (("clean", 0.0, clean), ("substitute", 0.1, noisy[s])):
                rec = syn.make_record(model, s, noise, rate, 0.5, dataset=dict(syn.DATASET, n=n), realized=0.1)
                labels = rec["predictions"]["labels"]
                predicted = [lab if ok else 1 - lab for lab, ok in zip(labels, correct, strict=True)]
                rec["predictions"]["predicted"] = predicted
                rec["metrics"]["accuracy"] = float(np.mean(correct))
                rec["metrics"]["macro_f1"] = float(np.mean(correct))
                if noise != "clean":
                    rec["realized"]["draw"] = draw_b if (draw_b and model == "model-b") else f"draw-{s}"
                store.put(rec)


def test_hand_built_equal_drops_from_different_starts(tmp_path, capsys):
    """A is 50 points above B and both lose exactly 10 examples on every seed: McNemar on noisy accuracy is
    significant on every seed, yet the drop difference is exactly 0 and its tests say so (and the constant per-seed
    difference keeps a p-value: it does not leave the Holm family)."""
    idx = np.arange(100)
    a_clean, b_clean = idx >= 0, idx < 50
    a_noisy = {s: a_clean & ~((idx >= 10 * s) & (idx < 10 * s + 10)) for s in (1, 2, 3)}
    b_noisy = {s: b_clean & ~((idx >= 10 * s - 10) & (idx < 10 * s)) for s in (1, 2, 3)}
    _hand_built(tmp_path, a_noisy, b_noisy, a_clean, b_clean)
    code, out, err = cli(capsys, "report", "--results-dir", tmp_path, "--format", "json", "--compare", "model-b",
                         "--mcnemar")
    assert code == 0, err
    sec = json.loads(out)["comparisons"]
    (row,) = sec["rows"]
    assert row["diff"]["point"] == pytest.approx(0.0, abs=TOL)
    assert (row["t"], row["p"], row["p_holm"]) == (0.0, 1.0, 1.0) and sec["family_size"] == 1
    assert row["examples"]["p"] == pytest.approx(1.0, abs=TOL)
    assert all(m["p"] < 1e-6 for m in sec["mcnemar_noisy_accuracy"][0]["seeds"])


def test_hand_built_large_drop_difference_with_equal_noisy_accuracy(tmp_path, capsys):
    """A loses 50 points, B 10, and both end at 40% on different examples: McNemar sees no difference in noisy
    accuracy on any seed; the drop-difference tests see a 40-point difference."""
    idx = np.arange(100)
    a_clean, b_clean = idx < 90, idx < 50
    a_noisy = {s: (idx >= 60 - s) & (idx < 100 - s) for s in (1, 2, 3)}
    b_noisy = {s: idx < 40 for s in (1, 2, 3)}
    _hand_built(tmp_path, a_noisy, b_noisy, a_clean, b_clean)
    code, out, err = cli(capsys, "report", "--results-dir", tmp_path, "--format", "json", "--compare", "model-b",
                         "--mcnemar")
    assert code == 0, err
    sec = json.loads(out)["comparisons"]
    (row,) = sec["rows"]
    assert row["diff"]["point"] == pytest.approx(0.4, abs=TOL)
    assert row["p"] == 0.0 and row["examples"]["p"] < 1e-10  # the same 40 points on every seed: exact
    assert all(m["p"] > 0.5 for m in sec["mcnemar_noisy_accuracy"][0]["seeds"])


def test_different_noise_draws_are_not_paired(tmp_path, capsys):
    idx = np.arange(100)
    noisy = {s: idx < 60 + s for s in (1, 2, 3)}
    _hand_built(tmp_path, noisy, noisy, idx < 80, idx < 70, draw_b="another-draw")
    code, _, err = cli(capsys, "report", "--results-dir", tmp_path, "--compare", "model-b")
    assert code == 2
    assert "noisy test sets differ" in err and "--compare-test welch" in err and "Traceback" not in err
    code, out, err = cli(capsys, "report", "--results-dir", tmp_path, "--compare", "model-b", "--compare-test", "welch")
    assert code == 0, err
    assert "unpaired: Welch's t" in out


def test_hierarchical_interval_for_comparisons_and_cells(results, capsys):
    sec = section(capsys, results, "--ci", "hierarchical", "--resamples", "2000")
    row = next(r for r in sec["rows"] if r["model"] == "bert-tiny (full)" and r["noise"] == "keyboard"
               and r["rate"] == 0.1)
    assert row["diff"]["method"] == "hierarchical" and row["test"] == "paired-t"
    paired_t = ss.ttest_rel(drops("bert-tiny", "keyboard", 0.1), drops("byt5-small", "keyboard", 0.1))
    assert row["p"] == pytest.approx(paired_t.pvalue, abs=TOL)  # the p-value is the test's, whatever the interval
    assert row["diff"]["low"] < row["diff"]["point"] < row["diff"]["high"]
    code, out, err = cli(capsys, "report", "--results-dir", results, "--format", "json", "--ci", "hierarchical",
                         "--resamples", "500")
    assert code == 0, err
    data = json.loads(out)
    cell = next(c for c in data["conditions"] if (c["model"], c["noise"]["name"], c["noise"]["rate"])
                == ("bert-tiny", "keyboard", 0.1))
    assert cell["accuracy"]["drop"]["method"] == "hierarchical"
    assert cell["macro_f1"]["drop"]["method"] == "t"  # per-seed only quantities keep Student's t
    assert cell["accuracy"]["drop"]["point"] == pytest.approx(np.mean(drops("bert-tiny", "keyboard", 0.1)), abs=TOL)
    code, _, err = cli(capsys, "report", "--results-dir", results, "--ci", "hierarchical", "--metric", "macro_f1")
    assert code == 2 and "per-example metric" in err


def test_bootstrap_legend_warns_with_few_seeds(results, capsys):
    code, out, _ = cli(capsys, "report", "--results-dir", results, "--ci", "bootstrap", "--resamples", "500")
    assert code == 0 and "with only 5 seeds it is too narrow" in out
    code, out, _ = cli(capsys, "report", "--results-dir", results)
    assert code == 0 and "too narrow" not in out
