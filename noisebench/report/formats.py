"""Render a Report: terminal table, Markdown, CSV, LaTeX, HTML (the JSON format lives in report.jsonfmt).

All renderers are pure functions Report → str and deterministic: no timestamps, no absolute paths, no colour unless
`render_table(color=True)` (the command asks for colour only when stdout is a terminal).
"""

from __future__ import annotations

import csv
import html
import io

from noisebench.report import boxtable
from noisebench.report.aggregate import METRICS, Report
from noisebench.report.boxtable import Block, cell_width
from noisebench.report.text import ACROSS_HEADER, PATCH_HEADER, ROBUST, DatasetTable, headline, tables
from noisebench.store.records import rate_text

DEFAULT_WIDTH = 100  # the long layout fits the offline default's blocks into 100 columns


def table_blocks(report: Report, layout: str = "long", width: int | None = None) -> list[Block]:
    """The degradation tables (and comparisons) as terminal-table blocks; the most robust cell carries ' *'.

    layout "wide": one grid per dataset, every noise × rate side by side (as wide as it needs).
    layout "long": per dataset a block of clean results (model, params, train s, clean), then one block per noise
    (rows = models, columns = rates with the realized level in the header); a noise's rates are split over
    several blocks only when they do not fit `width` together. The dataset's notes follow its last block.
    """
    blocks = []
    for t in tables(report):
        headers = [c.name if not c.group else f"{c.group}\n{c.name}\n{c.realized}" for c in t.columns]
        rows = [[c.text + (f" {ROBUST}" if c.bold else "") for c in row] for row in t.rows]
        styles = {(i, j): "bold" for i, row in enumerate(t.rows) for j, c in enumerate(row) if c.bold}
        if layout == "wide":
            blocks.append(Block(t.title, headers, rows, [j > 0 for j in range(len(headers))], t.notes, styles))
            continue
        fixed_cols = [j for j, c in enumerate(t.columns) if not c.group]
        patches = t.columns[-1].realized == PATCH_HEADER
        across = t.columns[-1].realized == ACROSS_HEADER
        ds_blocks = [] if patches or across else [_sub_block(t.title, headers, rows, styles, fixed_cols)]
        for group, span_cols in _groups(t):
            header_of = {j: (f"{t.columns[j].name}" if across else f"rate {t.columns[j].name}")
                         + f"\n{t.columns[j].realized}" for j in span_cols}
            title = f"{t.dataset} · {group}" + (" · BLT patch boundaries" if patches else "")
            for chunk in _fit(rows, header_of, span_cols, width or DEFAULT_WIDTH):
                ds_blocks.append(_sub_block(title, {0: "model", **header_of}, rows, styles, [0, *chunk]))
        ds_blocks[-1].notes = list(t.notes)
        blocks += ds_blocks
    return blocks + comparison_blocks(report, width)


def _groups(t: DatasetTable) -> list[tuple[str, list[int]]]:
    """(noise label, column indices) of each noise group, in column order."""
    out: list[tuple[str, list[int]]] = []
    for j, col in enumerate(t.columns):
        if not col.group:
            continue
        if out and out[-1][0] == col.group:
            out[-1][1].append(j)
        else:
            out.append((col.group, [j]))
    return out


def _sub_block(title: str, headers, rows: list[list[str]], styles: dict, cols: list[int]) -> Block:
    """The block of `cols` (indices into the full rows); headers is a list or {index: header}."""
    return Block(title, [headers[j] for j in cols], [[r[j] for j in cols] for r in rows],
                 [k > 0 for k in range(len(cols))], [],
                 {(i, k): s for (i, j), s in styles.items() for k, c in enumerate(cols) if c == j}, edges=False)


def _fit(rows: list[list[str]], headers: dict[int, str], cols: list[int], width: int) -> list[list[int]]:
    """`cols` split into consecutive chunks whose block (model column + chunk, inner rules only) fits `width`."""
    def w(j: int) -> int:  # the column's text, its padding and the rule after it
        return max([cell_width(x) for x in headers.get(j, "").split("\n")] + [cell_width(r[j]) for r in rows]) + 3

    base = w(0) - 1  # no rule after the last column
    chunks: list[list[int]] = []
    used = base
    for j in cols:
        if chunks and used + w(j) <= width:
            chunks[-1].append(j)
            used += w(j)
        else:
            chunks.append([j])
            used = base + w(j)
    return chunks


def comparison_blocks(report: Report, width: int | None = None) -> list[Block]:
    """The --compare section as blocks: the drop comparisons, then McNemar on noisy accuracy when requested."""
    blocks = []
    if report.comparisons is not None:
        from noisebench.report.compare import (
            COMPARISON_HEADERS,
            MCNEMAR_HEADERS,
            MCNEMAR_NOTE,
            comparison_note,
            comparison_rows,
            mcnemar_rows,
        )

        section = report.comparisons
        blocks.append(Block(f"comparisons with {section['reference']}", list(COMPARISON_HEADERS),
                            comparison_rows(section), [j >= 4 for j in range(len(COMPARISON_HEADERS))],
                            [comparison_note(section)]))
        if section["mcnemar_noisy_accuracy"] is not None:
            blocks.append(Block(f"noisy accuracy against {section['reference']} (McNemar)", list(MCNEMAR_HEADERS),
                                mcnemar_rows(section), [j >= 4 for j in range(len(MCNEMAR_HEADERS))], [MCNEMAR_NOTE]))
    return blocks


def render_table(report: Report, *, color: bool = False, width: int | None = None, layout: str = "long") -> str:
    """Terminal tables (see `table_blocks`): plain box drawing (deterministic; files, pipes, goldens), or rich with
    colour wrapped to `width` when `color` (a terminal)."""
    blocks = table_blocks(report, layout, width)
    if color:
        return boxtable.rich(blocks, [headline(report)], width)
    return boxtable.plain(blocks, [headline(report)])


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(report: Report) -> str:
    out = ["# noisebench report", "", headline(report) + ".", ""]
    for t in tables(report):
        out += [f"## {t.title}", ""]
        headers = [c.name if not c.group else f"{c.group} {c.name} ({c.realized})" for c in t.columns]
        out.append("| " + " | ".join(_md_escape(h) for h in headers) + " |")
        out.append("|" + "|".join([":---"] + ["---:"] * (len(headers) - 1)) + "|")
        for row in t.rows:
            cells = [f"**{_md_escape(c.text)}**" if c.bold else _md_escape(c.text) for c in row]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
        out += [f"- {note}" for note in t.notes]
        out.append("")
    for block in comparison_blocks(report):
        out += [f"## {block.title}", ""]
        out.append("| " + " | ".join(block.headers) + " |")
        out.append("|" + "|".join([":---"] * 4 + ["---:"] * (len(block.headers) - 4)) + "|")
        out += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in block.rows]
        out += [""] + [f"- {note}" for note in block.notes] + [""]
    return "\n".join(out)


CSV_COLUMNS = (
    "dataset", "model", "recipe", "variant", "noise", "rate", "noise_variant", "status", "seeds", "seeds_expected",
    "seeds_failed", "metric", "clean_pct", "clean_low", "clean_high", "noisy_pct", "noisy_low", "noisy_high",
    "drop_pts", "drop_low", "drop_high", "drop_sd", "level", "method", "realized_unit_fraction", "most_robust",
    "train_seconds", "trainable_params", "seeds_not_above_majority", "boundary_f1", "patch_count_change",
)


def _num(x: float | None, scale: float = 100.0) -> str:
    return "" if x is None else f"{scale * x:.4f}"


def _patch_columns(cell) -> list[str]:
    """boundary_f1 (a fraction, six decimals) and patch_count_change (patches per text) of a BLT cell, else empty."""
    p = cell.patches or {}
    return [f"{e.point:.6f}" if (e := p.get(name)) is not None else "" for name in ("boundary_f1",
                                                                                  "patch_count_change")]


def render_csv(report: Report) -> str:
    """Tidy CSV: one line per (model row, condition, metric); the clean condition first (noise 'clean', rate 0).

    Accuracy-type values in percent and drops in percentage points with four decimals; empty = not available.
    """
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    s = report.settings
    for row in report.rows:
        a = row.arm
        common: list[object] = [a.dataset, a.model, a.recipe, a.variant]
        cost = [_num(row.train_seconds.point if row.train_seconds else None, 1.0),
                "" if row.trainable_params is None else str(row.trainable_params),
                " ".join(map(str, row.at_chance))]
        for m in METRICS:
            e = row.clean[m]
            writer.writerow(common + ["clean", "0", "", row.status, len(row.clean_ok), len(row.expected),
                                      len(row.clean_failed), m, _num(e.point if e else None), _num(e.low if e else None),
                                      _num(e.high if e else None), "", "", "", "", "", "", "", f"{s.level:g}", s.ci, "", "",
                                      *cost, "", ""])
        for noise in report.noises.get(a.dataset, []):
            cell = report.cells[(a, noise)]
            for m in METRICS:
                c, z, d = (cell.estimates[m][k] for k in ("clean", "noisy", "drop"))
                realized = cell.realized["unit_fraction"]
                writer.writerow(common + [noise.name, rate_text(noise.rate), noise.variant, cell.status, len(cell.paired),
                                          len(cell.expected), len(cell.failed), m, _num(c.point if c else None),
                                          _num(c.low if c else None), _num(c.high if c else None), _num(z.point if z else None),
                                          _num(z.low if z else None), _num(z.high if z else None), _num(d.point if d else None),
                                          _num(d.low if d else None), _num(d.high if d else None), _num(d.sd if d else None), f"{s.level:g}",
                                          s.ci, "" if realized is None else f"{realized.point:.6f}",
                                          str(cell.most_robust[m]).lower(), *cost, *_patch_columns(cell)])
    return buf.getvalue()


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                  "†": r"$^\dagger$", "‡": r"$^\ddagger$", "§": r"\S{}", "—": "---"}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def _latex_table(t: DatasetTable) -> list[str]:
    n_fixed = sum(1 for c in t.columns if not c.group)
    spec = "l" + "r" * (len(t.columns) - 1)
    lines = [r"\begin{table}[t]", r"\centering", r"\small", rf"\begin{{tabular}}{{{spec}}}", r"\toprule"]
    group_cells, rules, col = [], [], 1
    for label, span in t.groups():
        if label:
            group_cells.append(rf"\multicolumn{{{span}}}{{c}}{{{latex_escape(label)}}}")
            rules.append(rf"\cmidrule(lr){{{col}-{col + span - 1}}}")
        else:
            group_cells += [""] * span
        col += span
    lines.append(" & ".join(group_cells) + r" \\")
    lines.append("".join(rules))
    heads = [latex_escape(c.name) for c in t.columns[:n_fixed]]
    heads += [latex_escape(f"{c.name} ({c.realized})") for c in t.columns[n_fixed:]]
    lines += [" & ".join(heads) + r" \\", r"\midrule"]
    for row in t.rows:
        cells = [rf"\textbf{{{latex_escape(c.text)}}}" if c.bold else latex_escape(c.text) for c in row]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    lines.append(rf"\caption{{{latex_escape(t.title)}. " + " ".join(latex_escape(n) for n in t.notes) + "}")
    lines.append(rf"\label{{tab:noisebench-{latex_escape(t.dataset)}}}")
    lines.append(r"\end{table}")
    return lines


def render_latex(report: Report) -> str:
    """booktabs tables (needs \\usepackage{booktabs}), one table environment per dataset."""
    out = [f"% {latex_escape(headline(report))}", "% requires \\usepackage{booktabs}", ""]
    for t in tables(report):
        out += _latex_table(t) + [""]
    return "\n".join(out)


_CSS = ("body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
        "th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right;white-space:nowrap}"
        "td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}.notes{font-size:.9em;color:#333}")


def render_html(report: Report) -> str:
    """A standalone HTML page: one table per dataset with noise column groups, bold = most robust."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           "<title>noisebench report</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
           "<h1>noisebench report</h1>", f"<p>{e(headline(report))}.</p>"]
    for t in tables(report):
        out += [f"<h2>{e(t.title)}</h2>", "<table>", "<thead>", "<tr>"]
        n_fixed = sum(1 for c in t.columns if not c.group)
        for c in t.columns[:n_fixed]:
            out.append(f'<th rowspan="2">{e(c.name)}</th>')
        for label, span in t.groups()[n_fixed:]:
            out.append(f'<th colspan="{span}">{e(label)}</th>')
        out += ["</tr>", "<tr>"]
        out += [f"<th>{e(c.name)}<br><small>{e(c.realized)}</small></th>" for c in t.columns[n_fixed:]]
        out += ["</tr>", "</thead>", "<tbody>"]
        for row in t.rows:
            cells = "".join(f"<td><strong>{e(c.text)}</strong></td>" if c.bold else f"<td>{e(c.text)}</td>" for c in row)
            out.append(f"<tr>{cells}</tr>")
        out += ["</tbody>", "</table>", '<ul class="notes">']
        out += [f"<li>{e(note)}</li>" for note in t.notes]
        out.append("</ul>")
    out += ["</body>", "</html>", ""]
    return "\n".join(out)
