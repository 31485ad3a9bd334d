"""The human-readable degradation table, independent of output format: cell strings, headers and footnotes.

Every human format (rich table, Markdown, LaTeX, HTML) renders the same `DatasetTable`s, so the numbers and the
rules stated in the footnotes are identical across formats. Numbers are percentages / percentage points with one
decimal; nominal rates use Python's `g` format, realized levels three decimals.

Cell grammar:  "<noisy> (<drop> [<low>, <high>])"   drop = clean - noisy, positive = the noise costs accuracy
               "<noisy> (<drop>)†"                  fewer than two paired seeds: no interval
               suffix " k/N seeds" (+ ", j failed")  only k of the model's N seeds are paired
               "failed"                              every run of the cell failed
               "—"                                   not run, or no clean result to pair with
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from noisebench.report.aggregate import METRIC_NAMES, Cell, Noise, Report, Row
from noisebench.report.stats import Estimate
from noisebench.store import records
from noisebench.store.records import rate_text

DAGGER = "†"
CLIPPED = "‡"
AT_CHANCE = "§"
ACCURACY_RANGE = (0.0, 1.0)  # what an accuracy (or macro-F1) can be, as a fraction
DROP_RANGE = (-1.0, 1.0)  # clean - noisy of two such values
FEW_SEEDS_FOR_BOOTSTRAP = 10  # below this many seeds the percentile bootstrap over seeds undercovers
DASH = "—"
ROBUST = "*"


@dataclass
class TextCell:
    text: str
    bold: bool = False


@dataclass
class Column:
    group: str  # noise label ("" for the fixed columns)
    name: str  # nominal rate, or the fixed column's name
    realized: str  # "realized 0.100", or ""


@dataclass
class DatasetTable:
    dataset: str
    title: str
    columns: list[Column]
    rows: list[list[TextCell]]
    notes: list[str] = field(default_factory=list)

    def groups(self) -> list[tuple[str, int]]:
        """Consecutive column groups as (label, span); the fixed columns form groups with an empty label."""
        out: list[tuple[str, int]] = []
        for col in self.columns:
            if out and col.group and out[-1][0] == col.group:
                out[-1] = (col.group, out[-1][1] + 1)
            else:
                out.append((col.group, 1))
        return out


@lru_cache(maxsize=1 << 16)
def fixed(x: float, places: int = 1, sign: bool = False) -> str:
    """`x` with `places` decimals, rounded half away from zero after snapping to 9 decimals, so 0.0525 (stored as
    0.052499999…) and 5.25 both print 5.3 — the report, the JSON-based `check` and a reader agree on every digit.
    (Memoised: a pure function of its arguments, called ~10^5 times by a study-scale report.)"""
    text = str(Decimal(repr(round(float(x), 9))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))
    if text.startswith("-") and not any(ch in "123456789" for ch in text):
        text = text[1:]  # no "-0.0"
    return ("+" if sign and not text.startswith("-") else "") + text


def pct(x: float) -> str:
    """A fraction as a percentage (or percentage points) with one decimal."""
    return fixed(100.0 * x)


def interval_text(low: float, high: float, bounds: tuple[float, float]) -> str:
    """'[80.2, 82.6]' in percent, the bounds clipped to what the quantity can be ('[72.1, 100.0]‡' when clipped:
    a t interval over two or three seeds easily reaches past 100%)."""
    lo, hi = max(low, bounds[0]), min(high, bounds[1])
    return f"[{pct(lo)}, {pct(hi)}]" + (CLIPPED if (lo, hi) != (low, high) else "")


def estimate_text(e: Estimate, bounds: tuple[float, float] = ACCURACY_RANGE) -> str:
    """'81.4 [80.2, 82.6]', or '81.4†' without an interval."""
    if e.low is not None and e.high is not None:
        return f"{pct(e.point)} {interval_text(e.low, e.high, bounds)}"
    return f"{pct(e.point)}{DAGGER}"


def params_text(n: int | None) -> str:
    if n is None:
        return DASH
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def realized_text(report: Report, dataset: str, noise: Noise) -> str:
    """"realized 0.100"; a composition's parts joined like its rate, "realized 1.000+0.050"."""
    parts = report.realized_steps.get((dataset, noise))
    if parts is not None:
        return "realized " + records.COMPOSE.join(fixed(p.point, 3) if p is not None else "—" for p in parts)
    realized = report.realized.get((dataset, noise))
    return f"realized {fixed(realized.point, 3)}" if realized is not None else "realized —"


def _seeds_suffix(done: int, expected: int, failed: int) -> str:
    if done == expected and not failed:
        return ""
    return f" {done}/{expected} seeds" + (f", {failed} failed" if failed else "")


def clean_text(row: Row, metric: str) -> str:
    e = row.clean[metric]
    if e is None:
        return "failed" if row.clean_failed else DASH
    text = estimate_text(e) + _seeds_suffix(len(row.clean_ok), len(row.expected), len(row.clean_failed))
    if row.at_chance:
        text += f" {AT_CHANCE}{len(row.at_chance)}/{len(row.clean_ok)}"
    return text


def cell_text(cell: Cell, metric: str) -> str:
    est = cell.estimates[metric]
    if est["drop"] is None:
        return "failed" if cell.status == "failed" else DASH
    noisy, drop = est["noisy"], est["drop"]
    assert noisy is not None  # estimated together with the drop
    if drop.low is not None and drop.high is not None:
        text = f"{pct(noisy.point)} ({pct(drop.point)} {interval_text(drop.low, drop.high, DROP_RANGE)})"
    else:
        text = f"{pct(noisy.point)} ({pct(drop.point)}){DAGGER}"
    return text + _seeds_suffix(len(cell.paired), len(cell.expected), len(cell.failed))


def interval_phrase(report: Report) -> str:
    s = report.settings
    level = f"{100 * s.level:g}%"
    if s.ci == "bootstrap":
        phrase = f"{level} percentile bootstrap over seeds ({s.resamples} resamples, seed {s.bootstrap_seed})"
        seeds = max((len(row.expected) for row in report.rows), default=0)
        if seeds < FEW_SEEDS_FOR_BOOTSTRAP:
            phrase += (f"; with only {seeds} seeds it is too narrow (at 5 seeds a nominal 95% covers about 85%): "
                       "prefer --ci t or --ci hierarchical")
        return phrase
    if s.ci == "hierarchical":
        return (f"{level} two-level bootstrap over seeds, then examples within each seed ({s.resamples} resamples, "
                f"seed {s.bootstrap_seed}); Student's t over seeds for macro-F1, realized levels and times")
    return f"{level} Student's t over seeds (n - 1 degrees of freedom)"


def headline(report: Report) -> str:
    metric = METRIC_NAMES[report.settings.metric]
    line = f"noisebench report: {metric}, {interval_phrase(report)}"
    if report.skipped:
        line += f"; {len(report.skipped)} corrupt record(s) skipped"
    return line


def tables(report: Report) -> list[DatasetTable]:
    """One DatasetTable per dataset: rows = models (model + recipe), column groups = noise × rate."""
    metric = report.settings.metric
    out = []
    for ds in report.datasets:
        noises = report.noises.get(ds, [])
        columns = [Column("", "model", ""), Column("", "params", ""), Column("", "train s", ""), Column("", "clean", "")]
        for noise in noises:
            columns.append(Column(noise.label, rate_text(noise.rate), realized_text(report, ds, noise)))
        rows, flags = [], set()
        for row in report.rows_of(ds):
            seconds = fixed(row.train_seconds.point) if row.train_seconds is not None else DASH
            line = [TextCell(row.arm.label), TextCell(params_text(row.trainable_params)), TextCell(seconds),
                    TextCell(clean_text(row, metric))]
            flags.update(_flags(line[-1].text))
            for noise in noises:
                cell = report.cells[(row.arm, noise)]
                line.append(TextCell(cell_text(cell, metric), bold=cell.most_robust[metric]))
                flags.update(_flags(line[-1].text))
            rows.append(line)
        title = f"{ds}: {METRIC_NAMES[metric]} (%) under noise"
        notes = _notes(report, ds, flags, any(c.bold for r in rows for c in r))
        cut = truncation_text(report, ds)
        if cut:
            notes.append(cut)
        sensitivity = report.sensitivity(ds)
        if sensitivity is not None:
            notes.append(sensitivity_text(sensitivity))
        out.append(DatasetTable(ds, title, columns, rows, notes))
        patches = patch_table(report, ds)
        if patches is not None:
            out.append(patches)
    summary = across_table(report)
    if summary is not None:
        out.append(summary)
    return out


ACROSS = "all datasets"
ACROSS_HEADER = "mean drop over rates"


def across_table(report: Report) -> DatasetTable | None:
    """With several datasets: per model and noise, the mean drop (points, over the noise's rates) on each dataset
    side by side (None with one dataset)."""
    rows_in = report.across_datasets()
    if not rows_in:
        return None
    datasets = report.datasets
    noises = list(dict.fromkeys(r["noise"] for r in rows_in))
    models = list(dict.fromkeys(r["model"] for r in rows_in))
    by = {(r["model"], r["noise"]): r["drops"] for r in rows_in}
    columns = [Column("", "model", "")] + [Column(n, ds, ACROSS_HEADER) for n in noises for ds in datasets]
    rows = []
    for model in models:
        line = [TextCell(model)]
        for noise in noises:
            drops = by.get((model, noise), {})
            line += [TextCell(DASH if drops.get(ds) is None else pct(drops[ds])) for ds in datasets]
        rows.append(line)
    note = (f"Across datasets: per model and noise, the mean of its drops (clean - noisy, points) over the noise's "
            f"rates on each dataset ({report.settings.metric}); — where the model has no estimate for some rate there. "
            "The intervals are in each dataset's own table.")
    return DatasetTable(ACROSS, f"{ACROSS}: mean drop per noise, dataset by dataset", columns, rows, [note])


PATCH_HEADER = "boundary F1 (Δ patches)"


def patch_table(report: Report, dataset: str) -> DatasetTable | None:
    """The BLT-only columns of a dataset: per BLT model and condition, the boundary F1 of the noisy text's patches
    against the clean text's and the mean change in patches per text (None when no cell has patch measures)."""
    noises = report.noises.get(dataset, [])
    rows_with = [row for row in report.rows_of(dataset)
                 if any(report.cells[(row.arm, n)].patches is not None for n in noises)]
    if not rows_with:
        return None
    columns = [Column("", "model", "")] + [Column(n.label, rate_text(n.rate), PATCH_HEADER) for n in noises]
    rows = []
    for row in rows_with:
        line = [TextCell(row.arm.label)]
        for noise in noises:
            p = report.cells[(row.arm, noise)].patches or {}
            f1, change = p.get("boundary_f1"), p.get("patch_count_change")
            line.append(TextCell(f"{fixed(f1.point, 3)} ({fixed(change.point, 1, sign=True)})"
                                 if f1 is not None and change is not None else DASH))
        rows.append(line)
    notes = [
        "BLT patch boundaries: boundary F1 = how many of the clean text's entropy-patch boundaries the noisy text keeps "
        "where the edit-aligned bytes put them (harmonic mean of precision and recall, pooled over the test set; 1 = "
        "no boundary moved); Δ patches = mean change in patches per text (noisy - clean). Mean over the paired seeds; "
        "the JSON output has precision, recall, patch lengths and the entropy shift with intervals. A drop that "
        "comes with a low F1 is the patcher re-segmenting the text, not only the text changing.",
    ]
    return DatasetTable(dataset, f"{dataset}: BLT patch-boundary stability under noise", columns, rows, notes)


def truncation_text(report: Report, dataset: str) -> str | None:
    """A note when any condition's model saw less than its whole inputs (None when nothing was cut)."""
    cells = [c for c in report.cells_of(dataset) if c.truncation and c.truncation["truncated_fraction"] > 0]
    if not cells:
        return None
    worst = max(cells, key=lambda c: c.truncation["truncated_fraction"])  # type: ignore[index]
    t = worst.truncation
    assert t is not None
    line = (f"Truncation: in {len(cells)} condition(s) some test texts were longer than the model's input; at worst "
            f"{pct(t['truncated_fraction'])}% of them were cut ({worst.arm.label} · {worst.noise.label} "
            f"@{rate_text(worst.noise.rate)}), the model seeing {pct(t['visible_fraction'])}% of each text on "
            "average")
    inside, whole = worst.realized.get("unit_fraction_visible"), worst.realized.get("unit_fraction")
    if inside is not None and whole is not None:
        line += (f"; the realized level inside its window was {fixed(inside.point, 3)} against "
                 f"{fixed(whole.point, 3)} over whole texts")
    return line + ". Noise beyond the window cannot cost accuracy: raise --max-length or use --truncation tail|head+tail."


def sensitivity_text(s: dict) -> str:
    """The minimum-detectable-effect line of a dataset (see Report.sensitivity)."""
    line = (f"Resolution: test set n = {s['n']:,}; at {pct(s['accuracy'])}% one seed's accuracy is known to "
            f"±{pct(s['half_width'])} points (95%)")
    if s["mde"] is not None:
        line += (f"; with {s['seeds']} seeds and the median per-seed sd of the drops here ({pct(s['sd'])} points), "
                 f"a drop smaller than {pct(s['mde'])} points is not reliably detected (80% power, t over seeds)")
    return line + "."


def _flags(text: str) -> set[str]:
    flags = set()
    if DAGGER in text:
        flags.add("single")
    if CLIPPED in text:
        flags.add("clipped")
    if AT_CHANCE in text:
        flags.add("at_chance")
    if " seeds" in text:
        flags.add("partial")
    if text == "failed" or " failed" in text:
        flags.add("failed")
    if text == DASH:
        flags.add("missing")
    return flags


def _interval_sizes(report: Report, dataset: str) -> list[int]:
    """The number of seeds behind every interval one dataset's table shows for the report's metric."""
    m = report.settings.metric
    sizes = [len(row.clean_ok) for row in report.rows_of(dataset) if (e := row.clean[m]) is not None
             and e.has_interval]
    sizes += [len(cell.paired) for cell in report.cells_of(dataset)
              if (d := cell.estimates[m]["drop"]) is not None and d.has_interval]
    return sizes


def _notes(report: Report, dataset: str, flags: set[str], any_bold: bool) -> list[str]:
    metric = METRIC_NAMES[report.settings.metric]
    notes = [
        f"Cells: noisy {metric} in % (drop = clean - noisy, in percentage points [interval]); clean, noisy and drop "
        "use the seeds where both the clean and the noisy run succeeded, paired by seed (the same trained model).",
        f"Intervals: {interval_phrase(report)}.",
        "Columns: noise, nominal rate, and the realized level (mean fraction of units changed, over every run of the "
        "condition). params = trainable parameters; train s = mean training seconds per seed.",
        f"{ROBUST} (bold) = most robust in its column: the smallest drop, marked only when its interval lies entirely "
        "below the interval of every other model with results in that column (non-overlapping intervals; failed and "
        "missing cells do not take part)"
        + ("." if any_bold else "; no column has such a model here."),
    ]
    if "single" in flags:
        notes.append(f"{DAGGER} fewer than two seeds: no interval.")
    if "at_chance" in flags:
        notes.append(f"{AT_CHANCE}k/N: on k of N seeds the clean accuracy is not above the majority-class rate of the "
                     "test set (one-sided binomial test at 5%): those models did not learn, so their drops under "
                     "noise are not robustness. Check the training (learning rate, epochs, --patience) first.")
    if "clipped" in flags:
        notes.append(f"{CLIPPED} interval clipped to the possible range (accuracy 0 to 100, drop -100 to 100); the "
                     "JSON output keeps the unclipped bounds.")
    few = min(_interval_sizes(report, dataset), default=None)
    if few is not None and few < 3:
        notes.append(f"Warning: some intervals rest on only {few} seeds and are very wide (the t quantile for 1 "
                     "degree of freedom is 12.7); run at least 3 seeds, 5 for the study's design.")
    if "partial" in flags:
        notes.append("k/N seeds: only k of the model's N seeds have results; the estimate uses those k and nothing is "
                     "filled in.")
    if "failed" in flags:
        notes.append("failed: every run of the cell failed; 'j failed' counts failed seeds (see each record's error).")
    if "missing" in flags:
        notes.append(f"{DASH}: not run, or no clean result to pair with.")
    return notes
