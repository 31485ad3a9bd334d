"""`noisebench report`: result records → degradation tables (six formats) and plots.

Pipeline, top to bottom:  load (store, corrupt-record policy) → select (filters, checked against what exists) →
aggregate.build (paired per-seed estimates) → compare (optional) → render (formats / jsonfmt) and plots.

Corrupt records are never dropped silently: by default `load` fails with a UsageError naming every corrupt file and
its reason (exit 2); with `skip_corrupt=True` the rest is reported and the corrupt files are returned so the command
can list them on stderr (they also appear in the JSON under "skipped_corrupt").
"""

from __future__ import annotations

import os
from pathlib import Path

from noisebench.errors import UsageError, did_you_mean, unknown_name
from noisebench.report.aggregate import METRICS, Report, Settings, build
from noisebench.report.loading import load_records, paused_gc
from noisebench.report.stats import METHODS
from noisebench.store.records import CLEAN

FORMATS = ("table", "markdown", "csv", "latex", "json", "html")
LAYOUTS = ("long", "wide")
EXTENSIONS = {"table": "txt", "markdown": "md", "csv": "csv", "latex": "tex", "json": "json", "html": "html"}
FILTERS = ("dataset", "model", "noise")
COMPARISON_FORMATS = ("table", "markdown", "json")
__all__ = ["FORMATS", "EXTENSIONS", "METRICS", "Report", "Settings", "load", "select", "make_report", "render"]

_SHOW_CORRUPT = 5


def load(results_dir: str | os.PathLike, *, skip_corrupt: bool = False) -> tuple[list[dict], list[tuple[str, str]]]:
    """Validated record summaries of `results_dir` (from the unit indexes and the summary cache where possible: see
    report.loading; `with_predictions` reads the per-example predictions of the records a statistic needs) and the
    skipped corrupt ones as (path, reason).

    Raises UsageError (exit 2) when the directory is missing or holds no records, and — unless `skip_corrupt` —
    when any record is corrupt, naming each file (the first five, then a count).
    """
    root = Path(results_dir)
    if not root.is_dir():
        raise UsageError(f"results directory {root} does not exist (run `noisebench run` first, or pass --results-dir)")
    good, bad = load_records(root)
    if not good and not bad:
        raise UsageError(f"no results in {root} (run `noisebench run` first, or pass --results-dir)")
    skipped = [(str(path), reason) for path, reason in bad]
    if skipped and not skip_corrupt:
        shown = "; ".join(reason for _, reason in skipped[:_SHOW_CORRUPT])
        more = f"; and {len(skipped) - _SHOW_CORRUPT} more" if len(skipped) > _SHOW_CORRUPT else ""
        raise UsageError(f"{len(skipped)} corrupt result record(s): {shown}{more} "
                         "(fix or remove them, or pass --skip-corrupt to report the rest)")
    if not good:
        raise UsageError(f"no readable results in {root} ({len(skipped)} corrupt record(s) skipped)")
    return good, skipped


def with_predictions(results_dir: str | os.PathLike, records: list[dict]) -> list[dict]:
    """These (selected) records in full, each with its per-example predictions: read only for the records a
    statistic needs, not for the whole store. UsageError (one line) for a record or predictions file that is gone
    or damaged."""
    from noisebench.store import ResultsStore

    store = ResultsStore(results_dir)
    out = []
    for rec in records:
        full = store.get(rec["id"], predictions=True)
        if full is None:
            raise UsageError(f"record {rec['id']} disappeared from {store.records_dir} while reporting; run again")
        out.append(full)
    return out


def _values(records: list[dict], name: str) -> set[str]:
    if name == "dataset":
        return {r["dataset"]["name"] for r in records}
    if name == "model":
        return {r["model"]["name"] for r in records}
    return {r["noise"]["name"] for r in records if r["noise"]["name"] != CLEAN}


def _record_value(record: dict, name: str) -> str:
    return record[name]["name"]


def parse_list(value: str | None) -> list[str]:
    """'a, b,,c' → ['a', 'b', 'c']; None or '' → [] (no filter)."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def select(records: list[dict], where: str = "the results", **filters: list[str]) -> list[dict]:
    """Records matching every filter (dataset/model/noise names; [] = all). Clean records always pass the noise
    filter: drops need them. An unknown value raises UsageError listing what exists, with a did-you-mean."""
    for name, wanted in filters.items():
        if name not in FILTERS:
            raise ValueError(f"unknown filter {name!r}")
        if not wanted:
            continue
        existing = _values(records, name)
        for value in wanted:
            if value not in existing:
                raise UsageError(f"unknown {name} {value!r}{did_you_mean(value, sorted(existing))}; {where} hold "
                                 f"{name}s: {', '.join(sorted(existing)) or '(none)'}")
    out = matching(records, filters)
    if not out:
        given = " ".join(f"--{k} {','.join(v)}" for k, v in filters.items() if v)
        raise UsageError(f"no results match {given}")
    return out


def matching(records: list[dict], filters: dict[str, list[str]]) -> list[dict]:
    """Records whose dataset/model/noise names are in the filter lists ([] = any); clean records ignore the noise
    filter. No validation of the filter values (see `select`)."""
    filters = {name: wanted for name, wanted in filters.items() if wanted}
    if not filters:
        return list(records)
    out = []
    for rec in records:
        if all(not wanted or (name == "noise" and rec["noise"]["name"] == CLEAN) or _record_value(rec, name) in wanted
               for name, wanted in filters.items()):
            out.append(rec)
    return out


def check_settings(settings: Settings) -> None:
    """Validate user-facing settings once, at the boundary (UsageError, exit 2)."""
    if settings.metric not in METRICS:
        raise unknown_name("metric", settings.metric, METRICS)
    if settings.ci not in METHODS:
        raise unknown_name("interval method (--ci)", settings.ci, METHODS)
    if not 0.0 < settings.level < 1.0:
        raise UsageError(f"--level must be between 0 and 1 (e.g. 0.95), got {settings.level}")
    if settings.resamples < 100:
        raise UsageError(f"--resamples must be at least 100, got {settings.resamples}")
    if settings.ci == "hierarchical" and settings.metric != "accuracy":
        raise UsageError("--ci hierarchical resamples examples, so it needs a per-example metric: use --metric "
                         "accuracy (macro-F1 is not a mean over examples), or --ci t")
    from noisebench.report.compare import TESTS

    if settings.compare_test not in TESTS:
        raise unknown_name("comparison test (--compare-test)", settings.compare_test, TESTS)


def current(records: list[dict]) -> tuple[list[dict], int]:
    """The records this code would write: noise and training versions equal to the code's, and per model the
    weights of its newest record (the weights cannot be re-identified without loading them). Returns (kept, left)."""
    from noisebench.noise import NOISES
    from noisebench.training.train import TRAINING_VERSION

    newest: dict[str, tuple[str, str]] = {}
    for rec in records:
        v = rec.get("versions")
        if isinstance(v, dict):
            created = rec.get("created") or (rec.get("provenance") or {}).get("created") or ""
            name = rec["model"]["name"]
            if name not in newest or created > newest[name][0]:
                newest[name] = (created, str(v.get("model")))

    def is_current(rec: dict) -> bool:
        v = rec.get("versions")
        if not isinstance(v, dict) or v.get("training") != TRAINING_VERSION:
            return False
        if str(v.get("model")) != newest[rec["model"]["name"]][1]:
            return False
        return all(n in NOISES and NOISES.get(n).version == k for n, k in (v.get("noise") or {}).items())

    kept = [r for r in records if is_current(r)]
    return kept, len(records) - len(kept)


def make_report(records: list[dict], settings: Settings, filters: dict[str, list[str]] | None = None,
                skipped: list[tuple[str, str]] | None = None) -> Report:
    """Aggregate selected records (and run comparisons when settings.compare names a reference model). Records of
    different code versions are never pooled: a UsageError names the conflicts (see `version_conflicts`)."""
    check_settings(settings)
    with paused_gc():
        report = build(records, settings, filters)
    report.skipped = list(skipped or [])
    if settings.compare:
        from noisebench.report.compare import compare

        report.comparisons = compare(report, records)
    return report


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None, layout: str = "long") -> str:
    """The report in `fmt` (one of FORMATS) as text; `layout` ("long" | "wide") shapes the terminal table only."""
    if fmt not in FORMATS:
        raise unknown_name("format", fmt, FORMATS)
    with paused_gc():  # a study's report is ~10^6 new strings and dicts, none in a cycle: collections find nothing
        return _render(report, fmt, color=color, width=width, layout=layout)


def _render(report: Report, fmt: str, *, color: bool, width: int | None, layout: str) -> str:
    from noisebench.report import formats, jsonfmt

    if fmt == "json":
        return jsonfmt.render_json(report)
    if fmt == "table":
        return formats.render_table(report, color=color, width=width, layout=layout)
    if report.comparisons is not None and fmt not in COMPARISON_FORMATS:
        raise UsageError(f"--compare is shown in the {', '.join(COMPARISON_FORMATS)} formats, not {fmt}")
    return {"markdown": formats.render_markdown, "csv": formats.render_csv, "latex": formats.render_latex,
            "html": formats.render_html}[fmt](report)
