"""The small two-class review file the run-engine tests and the fault tier train on (written, never shipped)."""

from __future__ import annotations

from pathlib import Path

POSITIVE = ["great", "wonderful", "moving", "sharp", "delightful", "brilliant"]
NEGATIVE = ["dull", "clumsy", "tedious", "flat", "awful", "lifeless"]


def write_data(path: Path, rows: int = 120) -> Path:
    """`rows` TSV rows (id, text, label): alternating pos / neg reviews, each with two words of its class."""
    lines = ["id\ttext\tlabel"]
    for i in range(rows):
        words = POSITIVE if i % 2 == 0 else NEGATIVE
        lines.append(f"r{i:04d}\tThe Film was {words[i % 6]} and {words[(i // 2) % 6]}, Take {i}\t"
                     f"{'pos' if i % 2 == 0 else 'neg'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
