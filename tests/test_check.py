"""`noisebench check`: baseline round trip and every exit code (0 no regression, 1 regression, 2 bad input or
conditions missing on either side), on variations of the fixed synthetic results set."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import synthetic_results as syn

from noisebench.cli import run_cli

BERT_CS01 = ("bert-tiny", "char-swap", 0.1)  # drop 6.5 [5.5, 7.5] points in the synthetic set


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = run_cli([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """A baseline written by `check --write-baseline` from the unmodified synthetic set."""
    root = tmp_path_factory.mktemp("base")
    syn.write_synthetic(root / "results")
    path = root / "baseline.json"
    assert run_cli(["check", "--write-baseline", str(path), "--results-dir", str(root / "results")]) == 0
    return path


def current(tmp_path: Path, **variation) -> Path:
    syn.write_synthetic(tmp_path / "results", **variation)
    return tmp_path / "results"


def test_write_baseline_is_the_report_json(baseline, capsys):
    code, out, _ = cli(capsys, "report", "--results-dir", baseline.parent / "results", "--format", "json")
    assert code == 0 and out == baseline.read_text()
    assert json.loads(out)["schema"] == "noisebench.report/1"


def test_same_results_pass(baseline, capsys):
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", baseline.parent / "results")
    assert code == 0
    assert "no regression in 15 conditions" in out  # 3 clean rows + 3 models × 4 noisy cells
    assert "sst2 · byt5-small (full) · char-swap @0.2" in out and "failed" not in out.split("verdict")[0]


def test_growing_drop_is_a_regression(baseline, tmp_path, capsys):
    results = current(tmp_path, shift={BERT_CS01: 0.02})  # the drop grows by 2 points
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", results)
    assert code == 1
    line = next(x for x in out.splitlines() if "bert-tiny (full) · char-swap @0.1" in x)
    assert "drop 6.5 [5.5, 7.5]" in line and "drop 8.5 [7.5, 9.5]" in line and "+2.00" in line
    assert "regression" in line
    assert "1 regression(s) in 15 conditions (accuracy, tolerance 1 points)" in out
    # A looser tolerance accepts it; an improvement is never a regression.
    assert cli(capsys, "check", "--baseline", baseline, "--results-dir", results, "--tolerance", "2.5")[0] == 0
    better = current(tmp_path / "better", shift={BERT_CS01: -0.02})
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", better)
    assert code == 0 and "improved" in out


def test_falling_clean_accuracy_is_a_regression(baseline, tmp_path, capsys):
    results = current(tmp_path, clean_shift={"qwen-0.5b": 0.015})  # everything 1.5 points lower, drops unchanged
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", results)
    assert code == 1
    line = next(x for x in out.splitlines() if "qwen-0.5b (lora) · clean" in x)
    assert "-1.50" in line and "regression" in line
    assert "1 regression(s)" in out


def test_tolerance_boundary_is_inclusive(baseline, tmp_path, capsys):
    results = current(tmp_path, shift={BERT_CS01: 0.01})  # exactly 1.0 point worse
    assert cli(capsys, "check", "--baseline", baseline, "--results-dir", results)[0] == 0


def test_require_significant(baseline, tmp_path, capsys):
    # +1.5 points breaches the 1-point tolerance, but [7.0, 9.0] overlaps the baseline's [5.5, 7.5]: not significant.
    small = current(tmp_path / "small", shift={BERT_CS01: 0.015})
    assert cli(capsys, "check", "--baseline", baseline, "--results-dir", small)[0] == 1
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", small, "--require-significant")
    assert code == 0 and "not significant" in out
    # +5 points: [10.5, 12.5] lies entirely above [5.5, 7.5]: significant.
    large = current(tmp_path / "large", shift={BERT_CS01: 0.05})
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", large, "--require-significant")
    assert code == 1 and "regression" in out


def test_a_condition_that_now_fails_is_a_regression(baseline, tmp_path, capsys):
    results = current(tmp_path, failed=(syn.FAILED, BERT_CS01))
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", results)
    assert code == 1
    assert "failed" in next(x for x in out.splitlines() if "bert-tiny (full) · char-swap @0.1" in x)


def test_missing_conditions_exit_2_and_are_named(baseline, tmp_path, capsys):
    results = current(tmp_path, drop_models=("qwen-0.5b",))
    code, out, err = cli(capsys, "check", "--baseline", baseline, "--results-dir", results)
    assert code == 2
    assert "5 condition(s) missing in current" in err and "sst2 · qwen-0.5b (lora) · clean" in err
    assert "--write-baseline" in err and "missing in current" in out


def test_a_skipped_corrupt_record_is_a_missing_seed_not_a_regression(baseline, tmp_path, capsys):
    """One noisy record unreadable: with --skip-corrupt the cell has 4 of the baseline's 5 seeds. That is an
    incomplete comparison (exit 2, named), never "regression (4/5 seeds)"."""
    results = current(tmp_path)
    victim = next(p for p in sorted((results / "records").glob("*.json"))
                  if (r := json.loads(p.read_text()))["model"]["name"] == "bert-tiny"
                  and r["noise"]["name"] == "keyboard" and r["noise"]["rate"] == 0.2 and r["seed"] == 3)
    victim.write_text(victim.read_text()[:100])  # truncated by a crash of some other tool
    code, out, err = cli(capsys, "check", "--baseline", baseline, "--results-dir", results, "--skip-corrupt")
    assert code == 2, out
    row = next(x for x in out.splitlines() if "bert-tiny (full) · keyboard @0.2" in x)
    assert "missing in current" in row and "seed(s) 3" in row and "regression" not in out.split("verdict")[1]
    assert "1 condition(s) missing in current: sst2 · bert-tiny (full) · keyboard @0.2" in err


def test_conditions_missing_from_the_baseline_exit_2(tmp_path, capsys):
    syn.write_synthetic(tmp_path / "small", drop_models=("bert-tiny",))
    base = tmp_path / "small-baseline.json"
    assert cli(capsys, "check", "--write-baseline", base, "--results-dir", tmp_path / "small")[0] == 0
    full = current(tmp_path / "full")
    code, _, err = cli(capsys, "check", "--baseline", base, "--results-dir", full)
    assert code == 2 and "missing in baseline" in err and "bert-tiny (full)" in err


def test_baseline_filters_apply_to_the_current_results(baseline, tmp_path, capsys):
    """A baseline written by `report --model bert-tiny --format json` only checks bert-tiny."""
    base = tmp_path / "bert.json"
    results = baseline.parent / "results"
    assert cli(capsys, "report", "--results-dir", results, "--model", "bert-tiny", "--format", "json", "--out",
               base)[0] == 0
    code, out, _ = cli(capsys, "check", "--baseline", base, "--results-dir", results)
    assert code == 0 and "no regression in 5 conditions" in out


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"schema": "noisebench.result/1"}), "schema is 'noisebench.result/1'"),
        (json.dumps([1, 2]), "schema is 'list'"),
        (json.dumps({"schema": "noisebench.report/1", "settings": {"ci": "t", "level": 0.95}, "models": []}),
         "missing list 'conditions'"),
        (json.dumps({"schema": "noisebench.report/1", "settings": {"ci": "t", "level": 0.95}, "models": [],
                     "conditions": [{"dataset": "sst2"}]}), "conditions[0] needs"),
        (json.dumps({"schema": "noisebench.report/1", "settings": {"ci": "t", "level": 0.95},
                     "models": [{"dataset": "d", "label": "m", "status": "ok", "clean": {"accuracy": {"point": "x"}}}],
                     "conditions": []}), "models[0].clean.accuracy is not an estimate"),
    ],
)
def test_bad_baseline_file_exits_2(baseline, tmp_path, capsys, content, message):
    path = tmp_path / "baseline.json"
    path.write_text(content)
    code, _, err = cli(capsys, "check", "--baseline", path, "--results-dir", baseline.parent / "results")
    assert code == 2 and message in err and str(path) in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "give exactly one of --baseline"),
        (["--baseline", "a.json", "--write-baseline", "b.json"], "give exactly one of --baseline"),
        (["--baseline", "does-not-exist.json"], "not found"),
        (["--tolerance", "-1"], "--tolerance must be >= 0"),
        (["--metric", "f1"], "unknown metric 'f1'"),
    ],
)
def test_usage_errors_exit_2(baseline, capsys, args, message):
    if args[:1] in ([], ["--tolerance"], ["--metric"]) and args:
        args = ["--baseline", str(baseline), *args]
    code, _, err = cli(capsys, "check", "--results-dir", baseline.parent / "results", *args)
    assert code == 2 and message in err


def test_markdown_summary_replaced_or_appended_to_the_step_summary(baseline, tmp_path, capsys, monkeypatch):
    results = current(tmp_path, shift={BERT_CS01: 0.02})
    md = tmp_path / "check.md"
    md.write_text("old\n")
    assert cli(capsys, "check", "--baseline", baseline, "--results-dir", results, "--markdown", md)[0] == 1
    text = md.read_text()
    assert text.startswith("### noisebench check: 1 regression(s)")  # an ordinary file is replaced
    assert "| sst2 · bert-tiny (full) · char-swap @0.1 | drop 6.5 [5.5, 7.5] | drop 8.5 [7.5, 9.5] | +2.00 | " \
           "regression |" in text
    assert "<details><summary>all 15 conditions</summary>" in text

    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert cli(capsys, "check", "--baseline", baseline, "--results-dir", results, "--markdown", summary)[0] == 1
    text = summary.read_text()
    assert text.startswith("# earlier step\n### noisebench check:")  # the job summary is appended to


def test_macro_f1_metric(baseline, tmp_path, capsys):
    results = current(tmp_path, shift={BERT_CS01: 0.03})
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", results, "--metric", "macro_f1")
    assert code == 1 and "macro_f1, tolerance 1 points" in out


def _welch_interval(base: dict, cur: dict) -> tuple[float, float, float]:
    """Point and 95% Welch interval of cur - base, in points, computed here with scipy from the stored sd and n."""
    from scipy import stats

    va, vb = cur["sd"] ** 2 / cur["n"], base["sd"] ** 2 / base["n"]
    se = (va + vb) ** 0.5
    df = (va + vb) ** 2 / (va**2 / (cur["n"] - 1) + vb**2 / (base["n"] - 1))
    t = stats.ttest_ind_from_stats(cur["point"], cur["sd"], cur["n"], base["point"], base["sd"], base["n"],
                                   equal_var=False).statistic
    diff = cur["point"] - base["point"]
    assert t == pytest.approx(diff / se)  # scipy's Welch statistic agrees with this se
    half = stats.t.ppf(0.975, df) * se
    return 100 * diff, 100 * (diff - half), 100 * (diff + half)


def _drop(report: dict, model: str) -> dict:
    return next(c for c in report["conditions"] if c["model"] == model and c["noise"]["name"] == "char-swap"
                and c["noise"]["rate"] == 0.1)["accuracy"]["drop"]


def test_margin_declares_a_regression_only_when_the_worsening_interval_lies_above_it(baseline, tmp_path, capsys):
    """Non-inferiority: +5 points with an interval wholly above a 1-point margin is a regression; the same change
    against a 4-point margin, and +1.5 points (a breach of the 1-point tolerance), are within the margin."""
    large = current(tmp_path / "large", shift={BERT_CS01: 0.05})
    base = _drop(json.loads(baseline.read_text()), "bert-tiny")
    code, report, _ = cli(capsys, "report", "--results-dir", large, "--format", "json")
    point, low, high = _welch_interval(base, _drop(json.loads(report), "bert-tiny"))
    assert 1.0 < low < 4.0 < high  # the cases below sit on both sides of the interval's lower end
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", large, "--margin", "1")
    line = next(x for x in out.splitlines() if "bert-tiny (full) · char-swap @0.1" in x)
    assert code == 1 and "regression" in line
    assert f"worse {point:+.2f} [{low:+.2f}, {high:+.2f}]" in line
    assert "margin 1 points, non-inferiority" in out
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", large, "--margin", "4")
    assert code == 0 and "within margin" in out and "no regression in 15 conditions" in out
    small = current(tmp_path / "small", shift={BERT_CS01: 0.015})
    assert cli(capsys, "check", "--baseline", baseline, "--results-dir", small)[0] == 1  # the tolerance rule
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", small, "--margin", "1")
    assert code == 0 and "within margin" in out
    # falling clean accuracy is a worsening too
    lower = current(tmp_path / "lower", clean_shift={"qwen-0.5b": 0.05})
    code, out, _ = cli(capsys, "check", "--baseline", baseline, "--results-dir", lower, "--margin", "1")
    line = next(x for x in out.splitlines() if "qwen-0.5b (lora) · clean" in x)
    assert code == 1 and "regression" in line


@pytest.mark.parametrize("args,message", [(["--margin", "-1"], "--margin must be >= 0"),
                                          (["--margin", "1", "--require-significant"], "drop --require-significant")])
def test_margin_usage_errors(baseline, capsys, args, message):
    code, _, err = cli(capsys, "check", "--baseline", baseline, "--results-dir", baseline.parent / "results", *args)
    assert code == 2 and message in err and "Traceback" not in err
