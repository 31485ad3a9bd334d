"""`noisebench report` on the fixed synthetic results set: golden output in every format, numbers checked against an
independent scipy computation from the synthetic inputs, filters, and bad input.

Regenerate the goldens after an intended change with:  NOISEBENCH_UPDATE_GOLDEN=1 pytest tests/test_report.py
(then read the diff: the independent checks below must still pass).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import synthetic_results as syn
from scipy import stats as ss

from noisebench.cli import run_cli
from noisebench.report import EXTENSIONS, FORMATS

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("NOISEBENCH_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    syn.write_synthetic(root)
    return root


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = run_cli([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_report_in_every_format(results, tmp_path, capsys, fmt):
    out_file = tmp_path / f"report.{EXTENSIONS[fmt]}"
    code, _, err = cli(capsys, "report", "--results-dir", results, "--format", fmt, "--out", out_file)
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == [out_file.name]  # atomic write: no temporary file left behind
    text = out_file.read_text(encoding="utf-8")
    golden = GOLDEN / f"report.{EXTENSIONS[fmt]}"
    if UPDATE:
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8"), f"{fmt} output changed; NOISEBENCH_UPDATE_GOLDEN=1 to accept"


def test_stdout_table_is_the_golden_table(results, capsys):
    """Not a terminal (captured): no colour codes, no wrapping, identical to the file output."""
    code, out, _ = cli(capsys, "report", "--results-dir", results)
    assert code == 0
    assert "\x1b[" not in out
    assert out == (GOLDEN / "report.txt").read_text(encoding="utf-8")


# --- the golden numbers, recomputed independently from the synthetic inputs with scipy -------------------------

def r1(fraction: float) -> str:
    """The documented display rule: percent, snapped to 9 decimals, one decimal rounded half up (positive values)."""
    return f"{math.floor(round(100 * fraction, 9) * 10 + 0.5) / 10:.1f}"


def _t(values) -> tuple[float, float, float]:
    values = np.asarray(values, dtype=float)
    low, high = ss.t.interval(0.95, len(values) - 1, loc=values.mean(), scale=ss.sem(values))
    return values.mean(), low, high


def _cell(model, noise, rate, seeds=syn.SEEDS) -> str:
    idx = [syn.SEEDS.index(s) for s in seeds]
    clean = [syn.CLEAN[model][i] for i in idx]
    noisy = [syn.noisy_accuracy(model, noise, rate, i) for i in idx]
    drop, low, high = _t(np.subtract(clean, noisy))
    return f"{r1(np.mean(noisy))} ({r1(drop)} [{r1(low)}, {r1(high)}])"


def test_golden_cells_match_an_independent_computation():
    md = (GOLDEN / "report.md").read_text(encoding="utf-8")
    assert _cell("bert-tiny", "char-swap", 0.1) == "74.9 (6.5 [5.5, 7.5])"  # by hand: drops .06,.07,.055,.065,.075
    for model in syn.MODELS:
        for noise in syn.NOISES:
            for rate in syn.RATES:
                if (model, noise, rate) == syn.FAILED:
                    continue
                seeds = [s for s in syn.SEEDS if (model, noise, rate, s) not in syn.MISSING]
                expected = _cell(model, noise, rate, seeds)
                if len(seeds) < len(syn.SEEDS):
                    expected += f" {len(seeds)}/{len(syn.SEEDS)} seeds"
                assert expected in md, (model, noise, rate, expected)
        mean, low, high = _t(syn.CLEAN[model])
        assert f"| {r1(mean)} [{r1(low)}, {r1(high)}] |" in md
    # The failed cell, the most robust marks, the realized level next to the nominal rate.
    assert "| failed |" in md
    assert "**84.3 (2.2 [1.5, 2.9])**" in md  # byt5-small, char-swap 0.1: its interval is below both others
    assert md.count("**") == 4  # exactly two marked cells: keyboard 0.1 overlaps everywhere, so nothing is marked there
    realized = np.mean([0.1 + o for o in syn.REALIZED_OFFSET["keyboard"]])
    assert f"keyboard 0.1 (realized {realized:.3f})" in md
    assert "k/N seeds" in md and "failed: every run" in md


def test_json_numbers_match_scipy_to_1e9(results):
    data = json.loads((GOLDEN / "report.json").read_text(encoding="utf-8"))
    assert data["schema"] == "noisebench.report/1"
    cell = next(c for c in data["conditions"]
                if c["model"] == "qwen-0.5b" and c["noise"]["name"] == "keyboard" and c["noise"]["rate"] == 0.2)
    assert cell["status"] == "partial" and cell["seeds"]["used"] == [1, 2, 3, 4] and cell["seeds"]["missing"] == [5]
    clean = [syn.CLEAN["qwen-0.5b"][i] for i in range(4)]
    noisy = [syn.noisy_accuracy("qwen-0.5b", "keyboard", 0.2, i) for i in range(4)]
    mean, low, high = _t(np.subtract(clean, noisy))
    drop = cell["accuracy"]["drop"]
    assert (drop["point"], drop["low"], drop["high"], drop["n"]) == (
        pytest.approx(mean, abs=1e-9), pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9), 4)
    assert drop["sd"] == pytest.approx(np.std(np.subtract(clean, noisy), ddof=1), abs=1e-9)
    assert cell["accuracy"]["noisy"]["point"] == pytest.approx(np.mean(noisy), abs=1e-9)
    realized = [0.2 + o for o in syn.REALIZED_OFFSET["keyboard"][:4]]
    assert cell["realized"]["unit_fraction"]["point"] == pytest.approx(np.mean(realized), abs=1e-9)
    failed = next(c for c in data["conditions"] if (c["model"], c["noise"]["name"], c["noise"]["rate"]) ==
                  ("byt5-small", "char-swap", 0.2))
    assert failed["status"] == "failed" and failed["accuracy"]["drop"] is None and failed["seeds"]["failed"] == [1, 2,
                                                                                                                   3, 4, 5]


def test_macro_f1_drops_are_paired_by_seed_from_the_stored_records(results, capsys):
    """Read the records directly (no report code), pair clean and noisy macro-F1 by seed, compare with scipy."""
    raw = [json.loads(p.read_text()) for p in sorted((results / "records").glob("*.json"))]
    by = {(r["model"]["name"], r["noise"]["name"], r["noise"]["rate"], r["seed"]): r for r in raw}
    clean = [by[("bert-tiny", "clean", 0.0, s)]["metrics"]["macro_f1"] for s in syn.SEEDS]
    noisy = [by[("bert-tiny", "keyboard", 0.1, s)]["metrics"]["macro_f1"] for s in syn.SEEDS]
    mean, low, high = _t(np.subtract(clean, noisy))
    code, out, _ = cli(capsys, "report", "--results-dir", results, "--format", "json", "--metric", "macro_f1")
    assert code == 0
    data = json.loads(out)
    assert data["settings"]["metric"] == "macro_f1"
    cell = next(c for c in data["conditions"] if (c["model"], c["noise"]["name"], c["noise"]["rate"]) ==
                ("bert-tiny", "keyboard", 0.1))
    got = cell["macro_f1"]["drop"]
    assert (got["point"], got["low"], got["high"]) == (pytest.approx(mean, abs=1e-9), pytest.approx(low, abs=1e-9),
                                                       pytest.approx(high, abs=1e-9))
    code, out, _ = cli(capsys, "report", "--results-dir", results, "--format", "markdown", "--metric", "macro_f1")
    assert f"{r1(np.mean(noisy))} ({r1(mean)} [{r1(low)}, {r1(high)}])" in out


def test_bootstrap_is_reproducible_and_keyed_by_seed(results, capsys):
    args = ["report", "--results-dir", results, "--format", "json", "--ci", "bootstrap", "--resamples", "500"]
    a = cli(capsys, *args)[1]
    b = cli(capsys, *args)[1]
    c = cli(capsys, *args, "--bootstrap-seed", "7")[1]
    assert a == b and a != c
    data = json.loads(a)
    assert data["settings"]["bootstrap"] == {"seed": 20240917, "resamples": 500}
    drop = data["conditions"][0]["accuracy"]["drop"]
    assert drop["method"] == "bootstrap" and drop["low"] <= drop["point"] <= drop["high"]


@pytest.mark.parametrize(
    "args, present, absent",
    [
        (["--model", "bert-tiny"], ["bert-tiny (full)"], ["byt5-small", "qwen-0.5b"]),
        (["--model", "bert-tiny,qwen-0.5b", "--noise", "keyboard"], ["keyboard 0.2", "qwen-0.5b"],
         ["char-swap", "byt5-small"]),
    ],
)
def test_filters(results, capsys, args, present, absent):
    code, out, _ = cli(capsys, "report", "--results-dir", results, "--format", "markdown", *args)
    assert code == 0
    for text in present:
        assert text in out
    for text in absent:
        assert text not in out


def test_intervals_are_clipped_to_what_is_possible_and_two_seeds_warn(tmp_path, capsys):
    """Two seeds: t_{0.975,1} = 12.7, so accuracy 80% / 98% has a t interval reaching past 100% and a drop beyond
    100 points. The table clips what it shows and marks it; the JSON keeps the raw bounds."""
    from noisebench.store import ResultsStore

    store = ResultsStore(tmp_path)
    for seed, clean, noisy in ((1, 0.80, 0.10), (2, 0.98, 0.95)):
        store.put(syn.make_record("bert-tiny", seed, "clean", 0.0, clean))
        store.put(syn.make_record("bert-tiny", seed, "keyboard", 0.1, noisy, realized=0.1))
    code, out, _ = cli(capsys, "report", "--results-dir", tmp_path)
    assert code == 0
    assert "89.0 [0.0, 100.0]‡" in out  # t: 89.0 ± 114.4
    assert "52.5 (36.5 [-100.0, 100.0]‡)" in out  # drops 0.70 and 0.03: 36.5 ± 425.6
    assert "‡ interval clipped to the possible range" in out and "only 2 seeds" in out
    code, out, _ = cli(capsys, "report", "--results-dir", tmp_path, "--format", "json")
    drop = json.loads(out)["conditions"][0]["accuracy"]["drop"]
    assert drop["high"] > 1.0 and drop["low"] < -1.0  # unclipped


def test_the_resolution_line_states_test_size_and_minimum_detectable_drop(results, capsys):
    code, out, _ = cli(capsys, "report", "--results-dir", results, "--format", "json")
    (ds,) = json.loads(out)["datasets"]
    assert ds["n"] == syn.N and ds["seeds"] == 5
    clean = np.mean([np.mean(syn.CLEAN[m]) for m in syn.MODELS])
    assert ds["accuracy"] == pytest.approx(clean, abs=1e-9)
    assert ds["half_width"] == pytest.approx(1.959963984540054 * math.sqrt(clean * (1 - clean) / syn.N), abs=1e-9)
    sds = sorted(np.std(np.subtract(syn.CLEAN[m], [syn.noisy_accuracy(m, n, r, i) for i in range(5)]), ddof=1)
                 for (m, n, r), d in syn.DROP.items() if d is not None and not (m == "qwen-0.5b" and (n, r) == ("keyboard", 0.2)))
    sds.append(np.std(np.subtract(syn.CLEAN["qwen-0.5b"][:4], [syn.noisy_accuracy("qwen-0.5b", "keyboard", 0.2, i)
                                                               for i in range(4)]), ddof=1))
    sd = sorted(sds)[len(sds) // 2]
    assert ds["sd"] == pytest.approx(sd, abs=1e-9)
    assert ds["mde"] == pytest.approx((ss.t.ppf(0.975, 4) + ss.t.ppf(0.8, 4)) * sd / math.sqrt(5), abs=1e-9)
    code, out, _ = cli(capsys, "report", "--results-dir", results)
    assert f"Resolution: test set n = {syn.N}" in out and "not reliably detected" in out


def test_one_order_everywhere_catalogue_noises_and_run_order_models(tmp_path, capsys):
    """Alphabetical order would put casing before substitute and alpha-model before zeta-model; the report uses
    the noise catalogue's order and the order in which the run named (and so first stored) the models."""
    from noisebench.store import ResultsStore

    store = ResultsStore(tmp_path)
    for minute, model in ((1, "zeta-model"), (2, "alpha-model")):
        for seed in (1, 2):
            for noise, rate, acc in (("clean", 0.0, 0.9), ("casing", 0.1, 0.8), ("substitute", 0.1, 0.7)):
                rec = syn.make_record(model, seed, noise, rate, acc, realized=rate or None)
                rec["provenance"]["created"] = f"2026-01-01T00:0{minute}:0{seed}+00:00"
                store.put(rec)
    for fmt in ("table", "markdown", "csv", "json"):
        code, out, _ = cli(capsys, "report", "--results-dir", tmp_path, "--format", fmt)
        assert code == 0
        assert out.index("substitute") < out.index("casing"), fmt
        assert out.index("zeta-model") < out.index("alpha-model"), fmt


def test_dataset_filter_keeps_only_that_dataset(tmp_path, capsys):
    store = syn.write_synthetic(tmp_path)
    other = dict(syn.DATASET, name="ag_news", fingerprint="synthetic-ag-v1")
    for noise, rate, acc in (("clean", 0.0, 0.9), ("keyboard", 0.1, 0.8)):
        store.put(syn.make_record("bert-tiny", 1, noise, rate, acc, dataset=other, realized=rate or None))
    code, out, _ = cli(capsys, "report", "--results-dir", tmp_path)
    assert code == 0 and "ag_news" in out and "sst2" in out
    code, out, _ = cli(capsys, "report", "--results-dir", tmp_path, "--dataset", "sst2")
    assert code == 0 and "ag_news" not in out and "sst2" in out and "char-swap" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "bert"], "unknown model 'bert' (did you mean 'bert-tiny'?)"),
        (["--dataset", "sst"], "unknown dataset 'sst' (did you mean 'sst2'?)"),
        (["--noise", "keybord"], "unknown noise 'keybord' (did you mean 'keyboard'?)"),
        (["--format", "xml"], "unknown format 'xml'"),
        (["--metric", "f1"], "unknown metric 'f1'"),
        (["--level", "95"], "--level must be between 0 and 1"),
        (["--ci", "boot"], "(did you mean 'bootstrap'?)"),
        (["--mcnemar"], "--mcnemar needs --compare"),
        (["--compare", "bert"], "unknown reference model"),
        (["--compare", "bert-tiny", "--format", "csv"], "--compare is shown in the table, markdown, json formats"),
    ],
)
def test_bad_options_exit_2_with_one_clear_line(results, capsys, args, message):
    code, out, err = cli(capsys, "report", "--results-dir", results, *args)
    assert code == 2
    assert message in err and err.count("\n") == 1 and err.startswith("noisebench: error:")
    assert out == ""


def test_unknown_filter_lists_what_exists(results, capsys):
    _, _, err = cli(capsys, "report", "--results-dir", results, "--model", "nope")
    assert "bert-tiny, byt5-small, qwen-0.5b" in err


def test_missing_or_empty_results_dir(tmp_path, capsys):
    code, _, err = cli(capsys, "report", "--results-dir", tmp_path / "absent")
    assert code == 2 and "does not exist" in err
    (tmp_path / "empty" / "records").mkdir(parents=True)
    code, _, err = cli(capsys, "report", "--results-dir", tmp_path / "empty")
    assert code == 2 and "no results in" in err


def test_corrupt_record_is_named_and_fails_by_default(tmp_path, capsys):
    syn.write_synthetic(tmp_path)
    bad = tmp_path / "records" / "0000broken.json"
    bad.write_text('{"schema": "noisebench.result/1", "status": "ok"')
    edited = sorted((tmp_path / "records").glob("*.json"))[1]
    data = json.loads(edited.read_text())
    data["seed"] = 99  # a hand edit: the id no longer matches the identity
    edited.write_text(json.dumps(data))
    code, out, err = cli(capsys, "report", "--results-dir", tmp_path)
    assert code == 2 and out == ""
    assert "2 corrupt result record(s)" in err and str(bad) in err and str(edited) in err
    assert "not valid JSON" in err and "id does not match" in err and "--skip-corrupt" in err

    code, out, err = cli(capsys, "report", "--results-dir", tmp_path, "--skip-corrupt", "--format", "json")
    assert code == 0
    assert err.count("noisebench: warning: skipped corrupt result record") == 2 and str(bad) in err
    assert sorted(s["path"] for s in json.loads(out)["skipped_corrupt"]) == sorted([str(bad), str(edited)])


def test_training_variants_are_never_pooled(tmp_path, capsys):
    syn.write_synthetic(tmp_path)
    store = syn.ResultsStore(tmp_path)
    other = dict(syn.TRAINING, epochs=10)
    for i, seed in enumerate(syn.SEEDS[:1]):
        for noise, rate, acc in (("clean", 0.0, 0.9), ("keyboard", 0.1, 0.85)):
            rec = syn.make_record("bert-tiny", seed, noise, rate, acc, key=[seed, i, 9], realized=rate or None)
            rec["training"]["config"] = other
            store.put(rec)
    code, out, _ = cli(capsys, "report", "--results-dir", tmp_path, "--format", "markdown", "--model", "bert-tiny")
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith("| bert-tiny (full) #")]
    assert len(rows) == 2  # two rows, told apart by their variant hash
    single = next(r for r in rows if "90.0†" in r)  # one seed: no interval, marked
    assert "85.0 (5.0)† 1/1 seeds" not in single and "85.0 (5.0)†" in single
    assert "† fewer than two seeds: no interval." in out


def test_terminal_rendering_has_colour_and_the_same_cells(results):
    """On a terminal the command renders with rich (ANSI styles, wrapped to the terminal width)."""
    from noisebench import report as rep

    records, _ = rep.load(results)
    report = rep.make_report(records, rep.Settings())
    text = rep.render(report, "table", color=True, width=300)
    assert "\x1b[1m" in text  # bold: the most robust cells
    for cell in ("74.9 (6.5 [5.5, 7.5])", "84.3 (2.2 [1.5, 2.9]) *", "4/5 seeds", "failed"):
        assert cell in text


@pytest.mark.parametrize("level", [0.8, 0.99])
def test_other_levels_match_scipy(results, capsys, level):
    code, out, _ = cli(capsys, "report", "--results-dir", results, "--format", "json", "--level", level)
    assert code == 0
    cell = next(c for c in json.loads(out)["conditions"]
                if (c["model"], c["noise"]["name"], c["noise"]["rate"]) == ("byt5-small", "keyboard", 0.1))
    drops = [syn.CLEAN["byt5-small"][i] - syn.noisy_accuracy("byt5-small", "keyboard", 0.1, i) for i in range(5)]
    low, high = ss.t.interval(level, 4, loc=np.mean(drops), scale=ss.sem(drops))
    got = cell["accuracy"]["drop"]
    assert got["level"] == level and got["low"] == pytest.approx(low, abs=1e-9)
    assert got["high"] == pytest.approx(high, abs=1e-9)


def test_a_multi_dataset_report_adds_the_mean_drops_side_by_side(tmp_path, capsys):
    """Two datasets: each keeps its own table, and the across-datasets block gives per model and noise the mean of
    that dataset's drops over the noise's rates — checked against the per-condition drops of the JSON."""
    import copy

    from noisebench.store import ResultsStore

    store = ResultsStore(tmp_path / "results")
    for rec in syn.records():
        store.put(rec)
        other = copy.deepcopy(rec)
        other["dataset"] = {**other["dataset"], "name": "sst2-copy", "fingerprint": "f" * 16}
        store.put(other)
    assert run_cli(["report", "--results-dir", str(store.root), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_cell: dict = {}
    for c in data["conditions"]:
        if c["accuracy"]["drop"] is not None:
            by_cell.setdefault((c["label"], c["noise"]["label"], c["dataset"]), []).append(c["accuracy"]["drop"]["point"])
    assert data["across_datasets"]
    for row in data["across_datasets"]:
        for ds, value in row["drops"].items():
            drops = by_cell.get((row["model"], row["noise"], ds))
            expected_rates = sum(1 for c in data["conditions"] if (c["label"], c["noise"]["label"], c["dataset"])
                                 == (row["model"], row["noise"], ds))
            if drops and len(drops) == expected_rates:
                assert value == pytest.approx(sum(drops) / len(drops))
            else:
                assert value is None
    plots = tmp_path / "plots"
    assert run_cli(["report", "--results-dir", str(store.root), "--plots", str(plots)]) == 0
    out = capsys.readouterr().out
    assert "all datasets · char-swap" in out and "sst2-copy" in out
    assert (plots / "all-datasets-drops.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (plots / "sst2-copy-drop-heatmap.svg").is_file()  # and each dataset keeps its own figures
    assert run_cli(["report", "--results-dir", str(store.root), "--dataset", "sst2", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["across_datasets"] == []  # one dataset: no summary


_VERSION_VALUES = [1, 2, 1.0, True, "1", None]


@pytest.mark.parametrize("seed", range(40))
def test_the_fast_version_check_never_passes_records_that_version_conflicts_refuses(seed):
    """`build` first checks the records' versions with a few comparisons per record (`_versions_agree`) and asks
    the exact `version_conflicts` only when that check does not pass. Over random mixes of versions that compare
    equal but read differently (1, 1.0, True, "1"), missing blocks, different weights and a second record of one
    cell and seed: whenever the fast check passes, the exact one finds no conflict; and build refuses exactly when
    the exact one finds one."""
    import random

    from noisebench.errors import UsageError
    from noisebench.report import aggregate

    settings = aggregate.Settings()
    rng = random.Random(seed)
    records = []
    for s in (1, 2):
        for noise, rate in (("clean", 0.0), ("char-swap", 0.1), ("keyboard", 0.1)):
            rec = syn.make_record("bert-tiny", s, noise, rate, 0.8 - rate, realized=rate or None)
            if rng.random() < 0.9:
                pick = rng.choice
                rec["versions"] = {"noise": {} if noise == "clean" else {noise: pick(_VERSION_VALUES[:5])},
                                   "training": pick(_VERSION_VALUES), "model": pick(["w1", "w1", "w2", 1])}
                if rng.random() < 0.8:  # mostly alike, so that the fast check often passes
                    rec["versions"] = {"noise": {} if noise == "clean" else {noise: 1}, "training": 1, "model": "w1"}
            records.append(rec)
    if rng.random() < 0.3:  # the same cell and seed again, written by other code (another identity)
        again = json.loads(json.dumps(rng.choice(records)))
        again["versions"] = {"noise": {}, "training": rng.choice([1, 2]), "model": rng.choice(["w1", "w2"])}
        records.insert(rng.randrange(len(records) + 1), again)
    keys = aggregate.record_keys(records)
    exact = aggregate.version_conflicts(records, keys)
    clean, noisy = {}, {}
    collided = False
    for rec, (arm, noise) in zip(records, keys, strict=True):
        by_seed = clean.setdefault(arm, {}) if noise is None else noisy.setdefault(arm, {}).setdefault(noise, {})
        collided = collided or rec["seed"] in by_seed
        by_seed[rec["seed"]] = rec
    if not collided and aggregate._versions_agree(clean, noisy):
        assert exact == []
    if exact:
        with pytest.raises(UsageError, match="cannot pool results computed by different code versions"):
            aggregate.build(records, settings)
    else:
        aggregate.build(records, settings)


@pytest.mark.parametrize("second", [1.0, True, "1", 2])
def test_training_versions_that_compare_equal_but_read_differently_are_not_pooled(second):
    """Training version 1 on seed 1 and 1.0 (or True) on seed 2 compare equal in Python but are shown as different
    versions: the report refuses them as `version_conflicts` does, though a plain == check would pass them. "1"
    reads like 1 and is pooled; 2 is refused."""
    from noisebench.errors import UsageError
    from noisebench.report import aggregate

    records = []
    for s, training in ((1, 1), (2, second)):
        for noise, rate in (("clean", 0.0), ("char-swap", 0.1)):
            rec = syn.make_record("bert-tiny", s, noise, rate, 0.8 - rate, realized=rate or None)
            rec["versions"] = {"noise": {} if noise == "clean" else {noise: 1}, "training": training, "model": "w"}
            records.append(rec)
    if second == "1":
        assert len(aggregate.build(records, aggregate.Settings()).cells) == 1
    else:
        with pytest.raises(UsageError, match=f"training v1, weights w .2 records. vs training v{second}"):
            aggregate.build(records, aggregate.Settings())


@pytest.mark.parametrize("order", ["old first", "new first", "interleaved"])
def test_every_seed_written_by_two_noise_versions_is_refused_in_any_order(order):
    """Each seed's noisy cell stored twice, by noise version 1 and by version 2 (two identities): a report would
    keep one record per seed, so the check must look at every record, whatever their order."""
    from noisebench.errors import UsageError
    from noisebench.report import aggregate

    def make(seed, version):
        rec = syn.make_record("bert-tiny", seed, "char-swap", 0.1, 0.7, realized=0.1)
        rec["versions"] = {"noise": {"char-swap": version}, "training": 1, "model": "w"}
        return rec

    clean = []
    for s in (1, 2):
        rec = syn.make_record("bert-tiny", s, "clean", 0.0, 0.8)
        rec["versions"] = {"noise": {}, "training": 1, "model": "w"}
        clean.append(rec)
    old, new = [make(s, 1) for s in (1, 2)], [make(s, 2) for s in (1, 2)]
    noisy = {"old first": old + new, "new first": new + old, "interleaved": [old[0], new[0], new[1], old[1]]}[order]
    with pytest.raises(UsageError, match=r"char-swap v1 \(2 records\) vs char-swap v2 \(2 records\)"):
        aggregate.build(clean + noisy, aggregate.Settings())
