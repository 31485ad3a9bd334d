"""`noisebench check`: compare current results with a baseline report and gate CI on regressions.

The baseline is a report JSON ("noisebench.report/1", written by `noisebench check --write-baseline FILE` or
`noisebench report --format json --out FILE`). The current results are aggregated with the baseline's interval
settings (method, level) and filters, so both sides are computed the same way.

Compared conditions, keyed by labels (dataset, model row, and noise + rate):
- "clean": the model row's clean metric. Worse = it FALLS: worse = baseline - current (points).
- "<noise> @<rate>": the cell's drop (clean - noisy). Worse = it GROWS: worse = current - baseline (points).
Verdicts (points = percentage points; the tolerance is inclusive: exactly `tolerance` worse passes):
- "regression": worse > tolerance; with require_significant, additionally the intervals separate in the bad
  direction (clean: current.high < baseline.low; drop: current.low > baseline.high — non-overlapping intervals).
  Without an interval on either side a breach cannot be shown significant → "not significant".
- "not significant": a tolerance breach whose intervals overlap (only with require_significant).
- "improved": worse < -tolerance; "ok" otherwise.
With a margin (non-inferiority, `--margin POINTS`) instead of the tolerance rule: the worsening's interval is
Welch's interval for the difference of the two sides' means (from each side's mean, sd and seed count, at the
baseline's level), and
- "regression": the whole interval lies above the margin (worse than the margin, beyond chance);
- "within margin": anything else — including a point estimate past the margin whose interval reaches below it;
- "not significant": no interval (fewer than 2 seeds on a side) — a regression cannot be shown.
- "failed": the current condition has runs but none succeeded while the baseline had results → a regression.
- "still failed": no successful run on either side (the baseline accepted the failure) → not a regression.
- "no baseline value": the baseline's condition had no successful runs → nothing to compare, not a regression.
- "missing in current" / "missing in baseline": the condition was not run on one side, or the current results
  lack any record for a seed the baseline had (not run yet, or a corrupt record skipped with --skip-corrupt).
Exit status (see `exit_code`): 2 when any condition is missing on either side (the comparison is incomplete: rerun or
rewrite the baseline), else 1 when any regression or failure, else 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from noisebench.errors import NoisebenchError, UsageError
from noisebench.report.aggregate import METRICS
from noisebench.report.jsonfmt import SCHEMA
from noisebench.report.stats import METHODS
from noisebench.report.text import fixed, pct
from noisebench.store.records import rate_key, rate_text

REGRESSING = ("regression", "failed")
MISSING = ("missing in current", "missing in baseline")


class RegressionFound(NoisebenchError):
    """`check` found a regression or a newly failed condition (exit code 1)."""

    exit_code = 1


@dataclass
class Row:
    condition: str
    kind: str  # "clean" | "drop"
    baseline: dict | None
    current: dict | None
    delta: float | None  # current - baseline, percentage points
    verdict: str
    note: str = ""  # shown after the verdict: "3/5 seeds" when partial, lost seeds, the worsening under --margin


@dataclass
class CheckResult:
    metric: str
    tolerance: float
    require_significant: bool
    rows: list[Row] = field(default_factory=list)
    margin: float | None = None  # non-inferiority mode (see the module docstring)

    def rule(self) -> str:
        if self.margin is not None:
            return f"margin {self.margin:g} points, non-inferiority"
        sig = ", significance required" if self.require_significant else ""
        return f"tolerance {self.tolerance:g} points{sig}"

    def with_verdict(self, *verdicts: str) -> list[Row]:
        return [r for r in self.rows if r.verdict in verdicts]

    @property
    def exit_code(self) -> int:
        if self.with_verdict(*MISSING):
            return 2
        return 1 if self.with_verdict(*REGRESSING) else 0

    def summary(self) -> str:
        n = len(self.rows)
        tail = f"{n} conditions ({self.metric}, {self.rule()})"
        missing = self.with_verdict(*MISSING)
        if missing:
            return f"{len(missing)} of {tail} missing on one side: comparison incomplete"
        bad = self.with_verdict(*REGRESSING)
        return f"{len(bad)} regression(s) in {tail}" if bad else f"no regression in {tail}"


def _bad(path, why: str) -> UsageError:
    return UsageError(f"bad baseline {path}: {why} (write one with `noisebench check --write-baseline FILE`)")


def _check_estimate(value, where: str, path) -> None:
    if value is None:
        return
    if not isinstance(value, dict) or not isinstance(value.get("point"), (int, float)):
        raise _bad(path, f"{where} is not an estimate with a numeric point")
    for k in ("low", "high"):
        if value.get(k) is not None and not isinstance(value[k], (int, float)):
            raise _bad(path, f"{where}.{k} is not a number")


def load_baseline(path: str | Path) -> dict:
    """Read and validate a baseline report JSON; every problem is a UsageError naming the file (exit 2)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"baseline {path} not found (write one with `noisebench check --write-baseline {path}`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _bad(path, f"not valid JSON ({e})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        got = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise _bad(path, f"schema is {got!r}, expected {SCHEMA!r}")
    settings = data.get("settings")
    if not isinstance(settings, dict) or settings.get("ci") not in METHODS or not (
        isinstance(settings.get("level"), (int, float)) and 0 < settings["level"] < 1
    ):
        raise _bad(path, "settings.ci / settings.level missing or invalid")
    filters = data.get("filters", {})
    if not isinstance(filters, dict) or any(k not in ("dataset", "model", "noise") or not isinstance(v, list)
                                            for k, v in filters.items()):
        raise _bad(path, "filters must map dataset/model/noise to lists")
    for section in ("models", "conditions"):
        if not isinstance(data.get(section), list):
            raise _bad(path, f"missing list {section!r}")
    for i, m in enumerate(data["models"]):
        where = f"models[{i}]"
        if not isinstance(m, dict) or not all(isinstance(m.get(k), str) for k in ("dataset", "label", "status")):
            raise _bad(path, f"{where} needs dataset, label and status")
        for metric in METRICS:
            _check_estimate((m.get("clean") or {}).get(metric), f"{where}.clean.{metric}", path)
    for i, c in enumerate(data["conditions"]):
        where = f"conditions[{i}]"
        noise = c.get("noise") if isinstance(c, dict) else None
        if not isinstance(noise, dict) or not isinstance(noise.get("label"), str) or not _is_rate(
                noise.get("rate")) or not all(isinstance(c.get(k), str) for k in ("dataset", "label",
                                                                                                 "status")):
            raise _bad(path, f"{where} needs dataset, label, status and noise.label/rate")
        for metric in METRICS:
            _check_estimate((c.get(metric) or {}).get("drop"), f"{where}.{metric}.drop", path)
    return data


def _is_rate(value: object) -> bool:
    """A number, or a composition's list of numbers."""
    parts = value if isinstance(value, list) and value else [value]
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in parts)


def _entries(report: dict, metric: str) -> dict[tuple, tuple]:
    """key → (display name, kind, estimate or None, status, seeds) for every clean row and noisy cell of a report dict."""
    out: dict[tuple, tuple] = {}
    for m in report["models"]:
        key: tuple = (m["dataset"], m["label"], "clean", None)
        out[key] = (f"{m['dataset']} · {m['label']} · clean", "clean", (m.get("clean") or {}).get(metric), m["status"],
                    m.get("seeds"))
    for c in report["conditions"]:
        n = c["noise"]
        key = (c["dataset"], c["label"], n["label"], rate_key(n["rate"]))
        out[key] = (f"{c['dataset']} · {c['label']} · {n['label']} @{rate_text(n['rate'])}", "drop",
                    (c.get(metric) or {}).get("drop"), c["status"], c.get("seeds"))
    return out


def _separate(below: dict, above: dict) -> bool:
    return None not in (below.get("high"), above.get("low")) and below["high"] < above["low"]


def _verdict(kind: str, base: dict, cur: dict, tolerance: float, require_significant: bool) -> str:
    delta = 100.0 * (cur["point"] - base["point"])
    worse = round(-delta if kind == "clean" else delta, 9)  # rounding: 1.0 - 1e-15 must not read as a breach
    if worse > tolerance:
        if not require_significant:
            return "regression"
        significant = _separate(cur, base) if kind == "clean" else _separate(base, cur)
        return "regression" if significant else "not significant"
    return "improved" if worse < -tolerance else "ok"


def _margin_verdict(kind: str, base: dict, cur: dict, margin: float) -> tuple[str, str]:
    """(verdict, what the row says about the worsening) in non-inferiority mode."""
    from noisebench.report.stats import welch_summary

    a, b = (base, cur) if kind == "clean" else (cur, base)  # worsening = a - b: a fall of clean, a rise of drop
    worse = welch_summary(a["point"], a.get("sd"), int(a.get("n") or 0), b["point"], b.get("sd"),
                          int(b.get("n") or 0), float(base.get("level") or 0.95)).diff
    if worse.low is None or worse.high is None:
        return "not significant", f"worse {100 * worse.point:+.2f}, no interval"
    text = f"worse {100 * worse.point:+.2f} [{100 * worse.low:+.2f}, {100 * worse.high:+.2f}]"
    return ("regression" if round(100 * worse.low, 9) > margin else "within margin"), text


def compare(baseline: dict, current: dict, metric: str = "accuracy", tolerance: float = 1.0,
            require_significant: bool = False, margin: float | None = None) -> CheckResult:
    """Compare two report dicts condition by condition (see the module docstring for every verdict)."""
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}; choose from: {', '.join(METRICS)}")
    if tolerance < 0:
        raise UsageError(f"--tolerance must be >= 0 percentage points, got {tolerance}")
    if margin is not None and (margin < 0 or require_significant):
        raise UsageError(f"--margin must be >= 0 percentage points, got {margin}" if margin < 0 else
                         "--margin is its own rule (an interval of the worsening above the margin): drop "
                         "--require-significant")
    result = CheckResult(metric, tolerance, require_significant, margin=margin)
    base, cur = _entries(baseline, metric), _entries(current, metric)
    for key in list(base) + [k for k in cur if k not in base]:
        b = base.get(key)
        c = cur.get(key)
        name, kind = (b or c or ("", ""))[:2]
        b_est, c_est = (b[2] if b else None), (c[2] if c else None)
        note = ""
        if c and c[4] and c[3] == "partial":
            note = f"{len(c[4]['used'])}/{len(c[4]['expected'])} seeds"
        lost = _lost_seeds(b, c)
        if lost:
            note += (", " if note else "") + f"no result for seed(s) {', '.join(map(str, lost))}"
        if c is None or c[3] == "missing" or lost:
            verdict = "missing in current"
        elif b is None or b[3] == "missing":
            verdict = "missing in baseline"
        elif c_est is None:
            verdict = "still failed" if b_est is None else "failed"
        elif b_est is None:
            verdict = "no baseline value"
        elif margin is not None:
            verdict, worse = _margin_verdict(kind, b_est, c_est, margin)
            note += (", " if note else "") + worse
        else:
            verdict = _verdict(kind, b_est, c_est, tolerance, require_significant)
        delta = 100.0 * (c_est["point"] - b_est["point"]) if b_est and c_est else None
        result.rows.append(Row(name, kind, b_est, c_est, delta, verdict, note))
    return result


def _lost_seeds(b: tuple | None, c: tuple | None) -> list:
    """Seeds the baseline has results for that the current results hold no record of at all (neither ok nor
    failed: not run, or a corrupt record skipped) — an incomplete comparison, never a regression."""
    if not (b and c and isinstance(b[4], dict) and isinstance(c[4], dict)):
        return []
    return sorted(set(b[4].get("used", [])) - set(c[4].get("used", [])) - set(c[4].get("failed", [])))


def _est_text(e: dict | None, kind: str) -> str:
    if e is None:
        return "—"
    text = pct(e["point"])
    if e.get("low") is not None and e.get("high") is not None:
        text += f" [{pct(e['low'])}, {pct(e['high'])}]"
    return ("drop " if kind == "drop" else "") + text


def table_rows(result: CheckResult, rows: list[Row] | None = None) -> list[list[str]]:
    """[condition, baseline, current, delta, verdict] strings; delta in percentage points with a sign."""
    out = []
    for r in result.rows if rows is None else rows:
        delta = "—" if r.delta is None else fixed(r.delta, 2, sign=True)
        verdict = r.verdict + (f" ({r.note})" if r.note else "")
        out.append([r.condition, _est_text(r.baseline, r.kind), _est_text(r.current, r.kind), delta, verdict])
    return out


HEADERS = ("condition", "baseline", "current", "delta (pts)", "verdict")


def render_table(result: CheckResult, *, color: bool = False, width: int | None = None) -> str:
    """The verdict table and summary line: plain box drawing, or rich with colour on a terminal."""
    from noisebench.report import boxtable

    styles = {"regression": "bold red", "failed": "bold red", "improved": "green", "not significant": "yellow",
              "missing in current": "bold magenta", "missing in baseline": "bold magenta"}
    block = boxtable.Block(None, list(HEADERS), table_rows(result), [False, True, True, True, False],
                           [result.summary()],
                           row_styles={i: styles[r.verdict] for i, r in enumerate(result.rows) if r.verdict in styles})
    return boxtable.rich([block], width=width) if color else boxtable.plain([block])


def render_markdown(result: CheckResult, baseline_path: str) -> str:
    """Markdown for a CI job summary: the verdict line, the rows that need attention, then every row folded."""
    def table(rows: list[list[str]]) -> list[str]:
        lines = ["| " + " | ".join(HEADERS) + " |", "|:---|---:|---:|---:|:---|"]
        return lines + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]

    flagged = [r for r in result.rows if r.verdict not in ("ok", "improved", "within margin")]
    sig = "required" if result.require_significant else "not required"
    rule = (f"margin {result.margin:g} percentage points (a regression: the Welch interval of the worsening lies "
            "above it)" if result.margin is not None else
            f"tolerance {result.tolerance:g} percentage points; significance (non-overlapping intervals) {sig}")
    out = [f"### noisebench check: {result.summary()}", "",
           f"Baseline `{baseline_path}`; metric {result.metric}; {rule}.", ""]
    if flagged:
        out += table(table_rows(result, flagged)) + [""]
    out += [f"<details><summary>all {len(result.rows)} conditions</summary>", ""]
    out += table(table_rows(result)) + ["", "</details>", ""]
    return "\n".join(out)


def missing_message(result: CheckResult, baseline_path: str) -> str:
    parts = []
    for verdict in MISSING:
        names = [r.condition for r in result.with_verdict(verdict)]
        if names:
            shown = "; ".join(names[:10]) + (f"; and {len(names) - 10} more" if len(names) > 10 else "")
            parts.append(f"{len(names)} condition(s) {verdict}: {shown}")
    return ("; ".join(parts) + f" (run them, or rewrite the baseline with "
            f"`noisebench check --write-baseline {baseline_path}`)")
