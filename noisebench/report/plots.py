"""Plots of a Report, as PNG and SVG, with matplotlib's object API (no pyplot, no global figure state, Agg canvas).

Per dataset `<ds>` (the name made file-safe), three figures, each written as .png and .svg into the plots directory:
- `<ds>-accuracy-vs-rate`: one panel per noise; x = nominal rate (0 = clean), y = the report metric in %, one line
  per model with its interval as a band (no band where a point has fewer than two seeds; gaps where a cell failed
  or was not run).
- `<ds>-drop-heatmap`: models × (noise, rate) drops in percentage points, annotated; grey = failed / not run.
- `<ds>-accuracy-vs-time`: x = mean training seconds per seed, y = clean metric in % (filled) and its mean over all
  noisy conditions (hollow), bubble area ∝ trainable parameters.
- `all-datasets-drops` (several datasets): one panel per dataset, per noise one bar per model, its mean drop over
  the noise's rates.
- `<ds>-patches-vs-drop` (BLT models only): x = patch-boundary F1, y = the drop with its interval, one point per
  (model, noise, rate).
A dataset with clean results only gets the last figure alone. matplotlib is imported here only, and this module
only when --plots is given.
"""

from __future__ import annotations

import math
import os
import re
import tempfile
from pathlib import Path

from noisebench.report.aggregate import METRIC_NAMES, Report
from noisebench.report.text import fixed, rate_text
from noisebench.store.records import rate_position

_DPI = 110


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "dataset"


def _save(fig, path: Path, fmt: str) -> Path:
    """Write via a temporary file in the same folder and rename, so a reader never sees half a plot."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        metadata = {"Date": None} if fmt == "svg" else None  # no timestamp: the same report, the same SVG
        fig.savefig(tmp, format=fmt, dpi=_DPI, metadata=metadata)  # constrained layout: no "tight" re-draw
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; plots are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _pts(x):
    return float("nan") if x is None else 100.0 * x


def _rate_figure(report: Report, ds: str):
    from matplotlib.figure import Figure

    m = report.settings.metric
    noises = report.noises.get(ds, [])
    names = sorted({n.label for n in noises})
    ncols = min(4, max(1, len(names)))
    nrows = max(1, math.ceil(len(names) / ncols))
    fig = Figure(figsize=(3.6 * ncols, 3.0 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    rows = report.rows_of(ds)
    for i, name in enumerate(names):
        ax = axes[i // ncols][i % ncols]
        for j, row in enumerate(rows):
            clean = row.clean[m]
            xs, ys, lo, hi = [0.0], [_pts(clean and clean.point)], [_pts(clean and clean.low)], [_pts(clean and clean.high)]
            for noise in (n for n in noises if n.label == name):
                e = report.cells[(row.arm, noise)].estimates[m]["noisy"]
                xs.append(rate_position(noise.rate))
                ys.append(_pts(e and e.point))
                lo.append(_pts(e and e.low))
                hi.append(_pts(e and e.high))
            color = f"C{j % 10}"
            ax.plot(xs, ys, marker="o", ms=3, color=color, label=row.arm.label)
            ax.fill_between(xs, lo, hi, color=color, alpha=0.18, linewidth=0)
        ax.set_title(name)
        ax.set_xlabel("nominal rate")
        ax.grid(alpha=0.3)
        if i % ncols == 0:
            ax.set_ylabel(f"{METRIC_NAMES[m]} (%)")
    for k in range(len(names), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize="small")
    fig.suptitle(f"{ds}: {METRIC_NAMES[m]} vs noise rate (bands: {100 * report.settings.level:g}% interval)")
    return fig


def _heatmap_figure(report: Report, ds: str):
    import numpy as np
    from matplotlib.figure import Figure

    m = report.settings.metric
    noises = report.noises.get(ds, [])
    rows = report.rows_of(ds)
    data = np.full((len(rows), len(noises)), np.nan)  # [models, conditions], drop in points
    for i, row in enumerate(rows):
        for j, noise in enumerate(noises):
            e = report.cells[(row.arm, noise)].estimates[m]["drop"]
            if e is not None:
                data[i, j] = 100.0 * e.point
    fig = Figure(figsize=(max(4.0, 0.75 * len(noises) + 2.5), max(2.5, 0.45 * len(rows) + 1.6)), layout="constrained")
    ax = fig.subplots()
    ax.set_facecolor("#dddddd")  # NaN cells (failed / not run) show the background
    image = ax.imshow(np.ma.masked_invalid(data), cmap="Reds", aspect="auto")
    ax.set_xticks(range(len(noises)), [f"{n.label}\n{rate_text(n.rate)}" for n in noises], fontsize="small")
    ax.set_yticks(range(len(rows)), [r.arm.label for r in rows], fontsize="small")
    if data.size <= 600:
        top = np.nanmax(data) if np.isfinite(data).any() else 0.0
        for (i, j), value in np.ndenumerate(data):
            text = "—" if math.isnan(value) else fixed(value)
            dark = not math.isnan(value) and top > 0 and value > 0.6 * top  # white text on dark red
            ax.text(j, i, text, ha="center", va="center", fontsize="x-small", color="white" if dark else "black")
    fig.colorbar(image, ax=ax, label=f"drop in {METRIC_NAMES[m]} (points)")
    ax.set_title(f"{ds}: drop (clean - noisy), percentage points")
    return fig


def _time_figure(report: Report, ds: str):
    from matplotlib.figure import Figure

    m = report.settings.metric
    fig = Figure(figsize=(6.0, 4.2), layout="constrained")
    ax = fig.subplots()
    points = [(r, r.train_seconds.point, r.clean[m]) for r in report.rows_of(ds)
              if r.train_seconds is not None and r.clean[m] is not None]
    biggest = max((r.trainable_params or 0 for r, _, _ in points), default=0) or 1
    for j, (row, x, clean) in enumerate(points):
        assert clean is not None
        size = 40.0 + 900.0 * math.sqrt((row.trainable_params or 0) / biggest)  # area ∝ √params keeps small visible
        noisy = [est.point for (a, _), c in report.cells.items()
                 if a == row.arm and (est := c.estimates[m]["noisy"]) is not None]
        color = f"C{j % 10}"
        ax.scatter([x], [100 * clean.point], s=size, color=color, alpha=0.6, label=row.arm.label)
        if noisy:
            mean_noisy = 100 * sum(noisy) / len(noisy)
            ax.scatter([x], [mean_noisy], s=size, facecolors="none", edgecolors=color)
            ax.plot([x, x], [100 * clean.point, mean_noisy], color=color, linewidth=0.8)
        ax.annotate(row.arm.label, (x, 100 * clean.point), fontsize="x-small", xytext=(4, 4),
                    textcoords="offset points")
    xs = [x for _, x, _ in points]
    if xs and min(xs) > 0 and max(xs) / min(xs) > 20:
        from matplotlib.ticker import NullFormatter

        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short log ranges
    ax.set_xlabel("training time per seed (s)")
    ax.set_ylabel(f"{METRIC_NAMES[m]} (%)")
    ax.grid(alpha=0.3)
    ax.set_title(f"{ds}: filled = clean, hollow = mean under noise; area ∝ trainable params", fontsize="small")
    return fig


def _across_figure(report: Report):
    """Several datasets: one panel per dataset; per noise, one bar per model = its mean drop over the noise's rates
    (points); the panels share the drop axis."""
    import numpy as np
    from matplotlib.figure import Figure

    rows = report.across_datasets()
    datasets = report.datasets
    noises = list(dict.fromkeys(r["noise"] for r in rows))
    models = list(dict.fromkeys(r["model"] for r in rows))
    by = {(r["model"], r["noise"]): r["drops"] for r in rows}
    ncols = min(2, len(datasets))
    nrows = math.ceil(len(datasets) / ncols)
    fig = Figure(figsize=(max(5.0, 0.9 * len(noises) + 2.5) * ncols, 3.2 * nrows + 0.6), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    width = 0.8 / max(len(models), 1)
    for k, ds in enumerate(datasets):
        ax = axes[k // ncols][k % ncols]
        for j, model in enumerate(models):
            values = [by.get((model, n), {}).get(ds) for n in noises]
            ax.bar(np.arange(len(noises)) + (j - (len(models) - 1) / 2) * width,
                   [float("nan") if v is None else 100 * v for v in values], width, label=model, color=f"C{j % 10}")
        ax.axhline(0.0, color="grey", linewidth=0.6)
        ax.set_xticks(range(len(noises)), noises, fontsize="small", rotation=30)
        ax.set_title(ds, fontsize="small")
        ax.grid(alpha=0.3, axis="y")
        if k % ncols == 0:
            ax.set_ylabel(f"mean {METRIC_NAMES[report.settings.metric]} drop (points)")
    for k in range(len(datasets), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    axes[0][0].legend(fontsize="x-small")
    fig.suptitle("mean drop over each noise's rates, one panel per dataset", fontsize="small")
    return fig


def has_patches(report: Report, ds: str) -> bool:
    return any(c.patches is not None for c in report.cells_of(ds))


def _patch_figure(report: Report, ds: str):
    """BLT models: x = boundary F1 of a condition's patches against the clean ones, y = its accuracy drop (points,
    with the drop's interval), one point per (model, noise, rate), labelled noise@rate."""
    from matplotlib.figure import Figure

    m = report.settings.metric
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    for j, row in enumerate(r for r in report.rows_of(ds) if any(
            report.cells[(r.arm, n)].patches is not None for n in report.noises.get(ds, []))):
        xs: list[float] = []
        ys: list[float] = []
        err: list[list[float]] = [[], []]
        for noise in report.noises.get(ds, []):
            cell = report.cells[(row.arm, noise)]
            f1 = (cell.patches or {}).get("boundary_f1")
            drop = cell.estimates[m]["drop"]
            if f1 is None or drop is None:
                continue
            xs.append(f1.point)
            ys.append(100 * drop.point)
            err[0].append(100 * (drop.point - drop.low) if drop.low is not None else 0.0)
            err[1].append(100 * (drop.high - drop.point) if drop.high is not None else 0.0)
            ax.annotate(f"{noise.label}@{rate_text(noise.rate)}", (f1.point, 100 * drop.point), fontsize="x-small",
                        xytext=(4, 3), textcoords="offset points")
        ax.errorbar(xs, ys, yerr=err, fmt="o", ms=4, capsize=2, color=f"C{j % 10}", label=row.arm.label)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xlabel("patch-boundary F1 against the clean text (1 = no boundary moved)")
    ax.set_ylabel(f"{METRIC_NAMES[m]} drop (points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"{ds}: BLT patch stability and accuracy drop, per noise and rate", fontsize="small")
    return fig


def write_patch_plot(report: Report, directory: str | os.PathLike) -> list[Path]:
    """`<ds>-patches-vs-drop` (PNG and SVG) for every dataset with BLT patch measures; the paths written."""
    import matplotlib

    directory = Path(directory)
    written = []
    with matplotlib.rc_context({"svg.hashsalt": "noisebench", "font.size": 9}):
        for ds in report.datasets:
            if has_patches(report, ds):
                directory.mkdir(parents=True, exist_ok=True)
                fig = _patch_figure(report, ds)
                for fmt in ("png", "svg"):
                    written.append(_save(fig, directory / f"{_slug(ds)}-patches-vs-drop.{fmt}", fmt))
    return written


FIGURES = {"accuracy-vs-rate": _rate_figure, "drop-heatmap": _heatmap_figure, "accuracy-vs-time": _time_figure}


def write_plots(report: Report, directory: str | os.PathLike) -> list[Path]:
    """Write every figure for every dataset of `report` as PNG and SVG; returns the paths written, in order."""
    import matplotlib

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    # A fixed hash salt makes SVG element ids identical from run to run.
    with matplotlib.rc_context({"svg.hashsalt": "noisebench", "font.size": 9}):
        for ds in report.datasets:
            for name, make in FIGURES.items():
                if name != "accuracy-vs-time" and not report.noises.get(ds):
                    continue  # clean results only: no rate axis, no drops to draw
                fig = make(report, ds)
                for fmt in ("png", "svg"):
                    written.append(_save(fig, directory / f"{_slug(ds)}-{name}.{fmt}", fmt))
        if len(report.datasets) > 1 and report.across_datasets():  # a study: the datasets side by side
            fig = _across_figure(report)
            for fmt in ("png", "svg"):
                written.append(_save(fig, directory / f"all-datasets-drops.{fmt}", fmt))
    return written + write_patch_plot(report, directory)  # BLT models only
