"""Registry listings (`models`, `datasets`, `noises`) that read at any width and never split a name or an id.

A listing is a title, columns and rows of plain strings. `render` lays it out for a console `width`:
1. as a box table when its natural width fits (or always with `wide`);
2. else with abbreviated values (an `abbreviate` column keeps the part before its first " (") and without the
   optional columns, least important first, as soon as that fits — the note under the table names what was left
   out and that `--wide` shows everything;
3. else as cards, one entry per block: the entry's name, then one `column: value` line per column, values wrapped
   at word boundaries with a hanging indent. Words longer than the width (an id, a path) are never broken.
Output is plain text (no colour), the same on a terminal, a pipe and in the golden tests.
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass

from noisebench.report.boxtable import Block, cell_width, plain


@dataclass(frozen=True)
class Column:
    name: str
    optional: int = 0  # 0 = always shown; otherwise dropped at narrow widths, the highest number first
    abbreviate: bool = False  # at narrow widths keep only the part before " (": "4.6B (1.3B global; …)" → "4.6B"


def console_width() -> int:
    """The terminal's width; on a pipe or a CI log $COLUMNS, else 80."""
    return shutil.get_terminal_size((80, 24)).columns


def _natural_width(block: Block) -> int:
    widths = [max([cell_width(x) for x in h.split("\n")] + [cell_width(r[i]) for r in block.rows])
              for i, h in enumerate(block.headers)]
    return sum(w + 3 for w in widths) + 1


def _block(title: str, columns: list[Column], rows: list[list[str]], keep: list[int], notes: list[str]) -> Block:
    return Block(title, [columns[i].name for i in keep], [[r[i] for i in keep] for r in rows],
                 [False] * len(keep), notes)


def render(title: str, columns: list[Column], rows: list[list[str]], *, width: int | None = None,
           wide: bool = False, notes: list[str] | None = None) -> str:
    """The listing as text for a console `width` (default: this console's); see the module docstring."""
    width = width or console_width()
    notes = list(notes or [])
    everything = list(range(len(columns)))
    full = _block(title, columns, rows, everything, notes)
    if wide or _natural_width(full) <= width:
        return plain([full])
    short = [[v.split(" (")[0] if c.abbreviate else v for c, v in zip(columns, r, strict=True)] for r in rows]
    keep = everything
    for level in [0, *sorted({c.optional for c in columns if c.optional}, reverse=True)]:
        keep = [i for i in keep if not level or columns[i].optional < level]
        dropped = [columns[i].name for i in everything if i not in keep]
        what = f"columns {', '.join(dropped)} not shown, " if dropped else ""
        block = _block(title, columns, short, keep,
                       [*notes, f"At {width} columns: {what}long values cut at their first ' (' (--wide shows all)."])
        if _natural_width(block) <= width:
            return plain([block])
    return cards(title, columns, rows, width, notes)


def cards(title: str, columns: list[Column], rows: list[list[str]], width: int, notes: list[str]) -> str:
    """One block per row: the first column's value as a heading, then `name: value` lines wrapped to `width`."""
    label = max(cell_width(c.name) for c in columns[1:]) + 2 if len(columns) > 1 else 2
    out = [title, ""]
    for row in rows:
        out.append(row[0])
        for col, value in zip(columns[1:], row[1:], strict=True):
            head = f"  {col.name}:".ljust(label + 2)
            for k, part in enumerate(value.split("\n") or [""]):
                lines = textwrap.wrap(part, max(20, width - len(head)), break_long_words=False,
                                      break_on_hyphens=False) or [""]
                for j, line in enumerate(lines):
                    out.append(((head if k == 0 and j == 0 else " " * len(head)) + line).rstrip())
        out.append("")
    out += notes
    return "\n".join(out).rstrip("\n") + "\n"
