"""`noisebench report` (degradation tables and plots) and `noisebench check` (the CI regression gate).

Nothing heavy at module level: numpy, scipy, rich tables and matplotlib are imported inside the command bodies, so
`noisebench --help` stays instant. Exit codes: 0 fine, 1 `check` found a regression or a failed condition, 2 bad
input (missing/empty results, unknown filter value, corrupt record, bad baseline, conditions missing on one side).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from noisebench.errors import UsageError

ResultsDir = Annotated[Path, typer.Option("--results-dir", help="Results directory written by `noisebench run`.")]
Metric = Annotated[str, typer.Option("--metric", help="accuracy | macro_f1.")]
SkipCorrupt = Annotated[bool, typer.Option(
    "--skip-corrupt", help="Report the readable records and list corrupt ones on stderr (default: corrupt = exit 2).")]


def _warn_skipped(skipped: list[tuple[str, str]]) -> None:
    for _path, reason in skipped:
        typer.echo(f"noisebench: warning: skipped {reason}", err=True)


def _emit(text: str, out: Path | None, what: str) -> None:
    """Print `text`, or write it atomically to `out` (a temp file in the same folder, then rename)."""
    if out is None:
        typer.echo(text, nl=False)
        return
    from noisebench.store import atomic_write_text

    atomic_write_text(out, text)
    typer.echo(f"noisebench: wrote {what} to {out}", err=True)


def _terminal() -> tuple[bool, int | None]:
    """(colour, width): colour only on a terminal; the width is the terminal's, or $COLUMNS on a pipe (else the
    layout's own default)."""
    if sys.stdout.isatty():
        return True, shutil.get_terminal_size().columns
    columns = os.environ.get("COLUMNS", "")
    return False, int(columns) if columns.isdigit() and int(columns) > 0 else None


def report(
    results_dir: ResultsDir = Path("results"),
    dataset: Annotated[str | None, typer.Option(help="Only these datasets (comma list).")] = None,
    model: Annotated[str | None, typer.Option(help="Only these models (comma list).")] = None,
    noise: Annotated[str | None, typer.Option(help="Only these noises (comma list; clean is always kept).")] = None,
    metric: Metric = "accuracy",
    ci: Annotated[str, typer.Option(help="Interval: t (Student's t over seeds) | hierarchical (two-level bootstrap "
                                         "over seeds and examples) | bootstrap (percentile over seeds; needs ~10+ "
                                         "seeds).")] = "t",
    level: Annotated[float, typer.Option(help="Interval coverage, e.g. 0.95.")] = 0.95,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples (with --ci bootstrap).")] = 10_000,
    bootstrap_seed: Annotated[int | None, typer.Option(help="Bootstrap seed (default: the documented constant).")]
    = None,
    fmt: Annotated[str, typer.Option("--format", help="table | markdown | csv | latex | json | html.")] = "table",
    layout: Annotated[str, typer.Option(
        "--layout", help="The table format's shape: long (a block per noise, rates as columns; fits 100 columns) "
        "| wide (every noise × rate side by side).")] = "long",
    out: Annotated[Path | None, typer.Option(help="Write the report to this file (atomically) instead of stdout.")]
    = None,
    plots: Annotated[Path | None, typer.Option(help="Also write PNG and SVG plots into this directory.")] = None,
    compare: Annotated[str | None, typer.Option(
        help="Compare every model's drop with this reference model (paired by seed, Holm-adjusted).")] = None,
    compare_test: Annotated[str, typer.Option(
        "--compare-test", help="With --compare: paired (by seed, the design's default) | welch (unpaired designs, "
        "e.g. runs whose noise draws differ).")] = "paired",
    mcnemar: Annotated[bool, typer.Option(
        "--mcnemar", help="With --compare: also McNemar per seed on noisy accuracy (not the drop).")] = False,
    skip_corrupt: SkipCorrupt = False,
    current: Annotated[bool, typer.Option(
        "--current", help="Only records of this code's versions (noise implementations, training code; per model "
        "the newest weights); older records are left out and counted.")] = False,
) -> None:
    """Degradation tables with confidence intervals: rows = models, columns = noise × rate, cells = noisy accuracy
    and its drop with an interval, in percentage points; drops are paired by seed."""
    from noisebench import report as rep
    from noisebench.report.stats import DEFAULT_BOOTSTRAP_SEED

    if fmt not in rep.FORMATS:
        from noisebench.errors import unknown_name

        raise unknown_name("format", fmt, rep.FORMATS)
    if layout not in rep.LAYOUTS:
        from noisebench.errors import unknown_name

        raise unknown_name("layout", layout, rep.LAYOUTS)
    if mcnemar and not compare:
        raise UsageError("--mcnemar needs --compare MODEL (the reference model)")
    settings = rep.Settings(metric=metric, ci=ci, level=level, resamples=resamples,
                            bootstrap_seed=DEFAULT_BOOTSTRAP_SEED if bootstrap_seed is None else bootstrap_seed,
                            compare=compare, compare_test=compare_test, mcnemar=mcnemar)
    rep.check_settings(settings)
    records, skipped = rep.load(results_dir, skip_corrupt=skip_corrupt)
    _warn_skipped(skipped)
    if current:
        records, left = rep.current(records)
        if left:
            typer.echo(f"noisebench: --current: left out {left} record(s) of older code versions", err=True)
        if not records:
            raise UsageError(f"--current: no records of this code's versions in {results_dir} (run `noisebench run`)")
    filters = {"dataset": rep.parse_list(dataset), "model": rep.parse_list(model), "noise": rep.parse_list(noise)}
    selected = rep.select(records, f"the results in {results_dir}", **filters)
    if settings.needs_predictions:
        selected = rep.with_predictions(results_dir, selected)
    report_ = rep.make_report(selected, settings, filters, skipped)
    color, width = _terminal() if out is None else (False, None)
    _emit(rep.render(report_, fmt, color=color, width=width, layout=layout), out, f"the {fmt} report")
    if plots is not None:
        from noisebench.report.plots import write_plots

        for path in write_plots(report_, plots):
            typer.echo(f"noisebench: wrote {path}", err=True)


def check(
    baseline: Annotated[Path | None, typer.Option(help="Baseline report JSON to compare against.")] = None,
    write_baseline: Annotated[Path | None, typer.Option(
        help="Write the current results as a baseline (report JSON) to this file and exit.")] = None,
    results_dir: ResultsDir = Path("results"),
    tolerance: Annotated[float, typer.Option(
        help="Allowed worsening in percentage points: clean falling or drop growing by more is a regression.")] = 1.0,
    metric: Metric = "accuracy",
    require_significant: Annotated[bool, typer.Option(
        "--require-significant", help="A breach counts only when current and baseline intervals do not overlap.")] = False,
    margin: Annotated[float | None, typer.Option(
        help="Non-inferiority instead of --tolerance: a regression only when the whole interval of the worsening "
             "(Welch, baseline vs current seeds) lies above this many percentage points.")] = None,
    markdown: Annotated[Path | None, typer.Option(
        help="Also write a Markdown summary (appended when the path is $GITHUB_STEP_SUMMARY).")] = None,
    skip_corrupt: SkipCorrupt = False,
) -> None:
    """Compare current results with a baseline: exit 0 no regression, 1 regression, 2 bad input or conditions
    missing on either side."""
    from noisebench import report as rep
    from noisebench.report import check as chk
    from noisebench.report.jsonfmt import render_json, to_json

    if (baseline is None) == (write_baseline is None):
        raise UsageError("give exactly one of --baseline FILE (compare) or --write-baseline FILE (record a baseline)")
    if write_baseline is not None:
        records, skipped = rep.load(results_dir, skip_corrupt=skip_corrupt)
        _warn_skipped(skipped)
        report_ = rep.make_report(records, rep.Settings(metric=metric), {}, skipped)
        from noisebench.store import atomic_write_text

        atomic_write_text(write_baseline, render_json(report_))
        typer.echo(f"noisebench: wrote baseline {write_baseline} ({len(report_.rows)} model rows, "
                   f"{len(report_.cells)} noisy conditions)", err=True)
        return
    assert baseline is not None  # exactly one of the two was given
    data = chk.load_baseline(baseline)
    s = data["settings"]
    boot = s.get("bootstrap") or {}
    settings = rep.Settings(metric=metric, ci=s["ci"], level=float(s["level"]),
                            **{k: boot[v] for k, v in (("bootstrap_seed", "seed"), ("resamples", "resamples"))
                               if isinstance(boot.get(v), int)})
    records, skipped = rep.load(results_dir, skip_corrupt=skip_corrupt)
    _warn_skipped(skipped)
    filters = {k: list(v) for k, v in data.get("filters", {}).items()}
    records = rep.matching(records, filters)
    if settings.needs_predictions:
        records = rep.with_predictions(results_dir, records)
    current = to_json(rep.make_report(records, settings, filters, skipped))
    result = chk.compare(data, current, metric, tolerance, require_significant, margin)
    color, width = _terminal()
    typer.echo(chk.render_table(result, color=color, width=width), nl=False)
    if markdown is not None:
        _write_markdown(markdown, chk.render_markdown(result, str(baseline)))
    if result.exit_code == 2:
        raise UsageError(chk.missing_message(result, str(baseline)))
    if result.exit_code:
        raise chk.RegressionFound(f"{result.summary()} against {baseline}")


def _write_markdown(path: Path, text: str) -> None:
    """Append when `path` is the GitHub job summary file ($GITHUB_STEP_SUMMARY: other steps write there too);
    otherwise replace the file atomically."""
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary and Path(summary).resolve() == path.resolve():
        with open(path, "a", encoding="utf-8") as f:
            f.write(text)
        return
    from noisebench.store import atomic_write_text

    atomic_write_text(path, text)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
    app.command("check")(check)
