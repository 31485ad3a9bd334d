"""Terminal tables: rich (colour, wrapping) on a terminal, a plain box-drawing table everywhere else.

The plain renderer draws the same layout as rich's SQUARE box at natural width: no colour, no wrapping, no trailing
spaces, and output that does not change with the installed rich version — files, pipes and golden tests see exactly
this. It is also ~10× faster than rich on large reports (a 10,000-record report has ~2,000 cells).
"""

from __future__ import annotations

import functools
import io
import unicodedata
from dataclasses import dataclass, field


@dataclass
class Block:
    """One table: multi-line headers ('\\n'), rows of cell strings, right-aligned columns, and lines printed after it.
    `styles[i][j]` is a rich style for the cell (terminal only), `row_styles[i]` one for a whole row."""

    title: str | None
    headers: list[str]
    rows: list[list[str]]
    right: list[bool]
    notes: list[str] = field(default_factory=list)
    styles: dict[tuple[int, int], str] = field(default_factory=dict)
    row_styles: dict[int, str] = field(default_factory=dict)
    edges: bool = True  # False: no outer border (two columns narrower; the report's long layout)


def cell_width(text: str) -> int:
    """Display width: East Asian wide and full-width characters take two columns."""
    return len(text) if text.isascii() else _wide_width(text)


@functools.lru_cache(maxsize=65536)
def _wide_width(text: str) -> int:  # a report repeats its few non-ASCII cell texts (±, ▼, …) many times
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    gap = " " * (width - cell_width(text))
    return gap + text if right else text + gap


def plain(blocks: list[Block], lead: list[str] | None = None) -> str:
    """The blocks as box-drawing tables; headers bottom-aligned, one space of padding inside each cell."""
    out = list(lead or [])
    for b in blocks:
        head = [h.split("\n") for h in b.headers]
        height = max(len(h) for h in head)
        head = [[""] * (height - len(h)) + h for h in head]  # bottom-align multi-line headers
        widths = [max([cell_width(x) for x in head[i]] + [cell_width(r[i]) for r in b.rows])
                  for i in range(len(b.headers))]

        edge = b.edges

        def rule(left: str, mid: str, right: str, widths=widths, edge=edge) -> str:
            inner = mid.join("─" * (w + 2) for w in widths)
            return left + inner + right if edge else inner

        def line(cells: list[str], widths=widths, b=b, edge=edge) -> str:
            inner = "│".join(f" {_pad(c, w, r)} " for c, w, r in zip(cells, widths, b.right, strict=True))
            return ("│" + inner + "│" if edge else inner).rstrip()

        if out:
            out.append("")
        if b.title:
            out.append(b.title)
        if edge:
            out.append(rule("┌", "┬", "┐"))
        out += [line([h[k] for h in head]) for k in range(height)]
        out.append(rule("├", "┼", "┤"))
        out += [line(r) for r in b.rows]
        if edge:
            out.append(rule("└", "┴", "┘"))
        elif b.notes:
            out.append("")
        out += b.notes
    return "\n".join(out) + "\n"


def rich(blocks: list[Block], lead: list[str] | None = None, width: int | None = None) -> str:
    """The blocks rendered by rich with ANSI colour, wrapped to `width` (the terminal's)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    buf = io.StringIO()
    console = Console(file=buf, width=width or 200, color_system="standard", force_terminal=True, highlight=False,
                      emoji=False)
    for text in lead or []:
        console.print(Text(text))
    for b in blocks:
        console.print()
        table = Table(title=b.title, title_justify="left", box=box.SQUARE, show_edge=b.edges)
        for header, right in zip(b.headers, b.right, strict=True):
            table.add_column(header, justify="right" if right else "left", vertical="bottom")
        for i, row in enumerate(b.rows):
            table.add_row(*[Text(c, style=b.styles.get((i, j), "")) for j, c in enumerate(row)],
                          style=b.row_styles.get(i, ""))
        console.print(table)
        for note in b.notes:
            console.print(Text(note))
    return buf.getvalue()
