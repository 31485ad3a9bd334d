"""Alignment of a clean text with its noisy copy: the Levenshtein distance and the edit script, linear in length.

Both work on strings (code points) or on sequences of hashable units (character clusters, words), through
rapidfuzz's bit-parallel C++ Levenshtein.

- Up to `EXACT_LIMIT` units on the longer side: the exact Levenshtein distance and an optimal edit script.
- Longer pairs (a discharge summary, a 1 MB note): a windowed alignment. The next `WINDOW` units of the first side
  and the matching stretch of the second (`WINDOW` scaled by the ratio of their lengths, plus a margin) are
  aligned exactly; the script is kept up to a matching unit past the middle of the window (or, with no match
  there, the edit boundary nearest to it); the next window starts at that point. The cost is the sum over windows:
  linear in the length, and equal to the exact distance whenever an optimal alignment never drifts by more than
  about half a window between two matching units — which the local edits of a rate-based noise do not — and an
  upper bound on it otherwise. A pair where one side is a subsequence of the other (only insertions, or only
  deletions, at any rate) gets the exact distance, the length difference. Measured against the exact distance on
  50,000-character notes (every noise, rates 0.05-1.0, three seeds; a subset is a test in
  tests/test_noise_contract.py): equal for every noise at rates 0.05-0.9 and for insert and
  delete at 1.0; substitute at 1.0, where no character is kept to align on, came out up to 0.6% high (edit
  distance only: its unit count is the exact Hamming distance).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Sequence

EXACT_LIMIT = 20_000  # longer side at most this many units: exact (≈ 20 ms at the limit)
WINDOW = 1_024  # units of the first side per window of the long-text alignment (fastest of 1,024-4,096)

Opcode = tuple[str, int, int, int, int]  # (tag, i1, i2, j1, j2) as difflib: equal | replace | insert | delete
Units = str | Sequence[Hashable]


def _opcodes(a: Units, b: Units) -> list[Opcode]:
    from rapidfuzz.distance import Levenshtein

    return [(op.tag, op.src_start, op.src_end, op.dest_start, op.dest_end) for op in Levenshtein.opcodes(a, b)]


def _cost(ops: Sequence[Opcode]) -> int:
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


def _cut(ops: Sequence[Opcode], half: int) -> tuple[list[Opcode], int, int]:
    """The window's script kept up to a point past `half` units of the first side: inside the first matching block
    that reaches past it, else at the first edit boundary past it. Returns (kept ops, i, j) with i + j > 0."""
    kept: list[Opcode] = []
    for tag, i1, i2, j1, j2 in ops:
        if tag == "equal" and i2 > half:
            k = min(max(half + 1 - i1, 1), i2 - i1)  # one matching unit past the middle (or the block's first)
            kept.append(("equal", i1, i1 + k, j1, j1 + k))
            return kept, i1 + k, j1 + k
        kept.append((tag, i1, i2, j1, j2))
        if i2 > half or j2 > half:
            return kept, i2, j2
    return kept, ops[-1][2] if ops else 0, ops[-1][4] if ops else 0


def opcodes(a: Units, b: Units) -> list[Opcode]:
    """An edit script turning `a` into `b` (difflib's opcode format, consecutive runs merged by tag)."""
    if max(len(a), len(b)) <= EXACT_LIMIT:
        return _opcodes(a, b)
    out: list[Opcode] = []
    i = j = 0
    while True:
        # the second side's window follows the length ratio of what is left (inserts at rate 1 double the text:
        # its window is twice as long), plus a margin for local drift
        ratio = (len(b) - j) / max(len(a) - i, 1)
        wb = math.ceil(WINDOW * ratio + WINDOW / 8 * min(ratio, 1.0)) + 8
        if len(a) - i <= WINDOW and len(b) - j <= wb:
            break
        window = _opcodes(a[i:i + WINDOW], b[j:j + wb])
        kept, di, dj = _cut(window, WINDOW // 2)
        out += [(tag, i + i1, i + i2, j + j1, j + j2) for tag, i1, i2, j1, j2 in kept]
        i, j = i + di, j + dj
    out += [(tag, i + i1, i + i2, j + j1, j + j2) for tag, i1, i2, j1, j2 in _opcodes(a[i:], b[j:])]
    return _merged(out)


def _merged(ops: Sequence[Opcode]) -> list[Opcode]:
    out: list[Opcode] = []
    for op in ops:
        if op[1] == op[2] and op[3] == op[4]:
            continue
        if out and out[-1][0] == op[0] == "equal":
            out[-1] = ("equal", out[-1][1], op[2], out[-1][3], op[4])
        else:
            out.append(op)
    return out


def distance(a: Units, b: Units) -> int:
    """The Levenshtein distance (insert, delete, substitute: cost 1); windowed for long pairs (module docstring)."""
    if isinstance(a, str) and isinstance(b, str):
        return _text_distance(a, b)
    return _distance(a, b)


@functools.lru_cache(maxsize=8)  # a measure computes the same pair's distance for its edit ratio and its units
def _text_distance(a: str, b: str) -> int:
    return _distance(a, b)


def _distance(a: Units, b: Units) -> int:
    if max(len(a), len(b)) <= EXACT_LIMIT:
        from rapidfuzz.distance import Levenshtein

        return int(Levenshtein.distance(a, b))
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    if _subsequence(short, long):  # only insertions (or only deletions): exactly the length difference
        return len(long) - len(short)
    windowed = _cost(opcodes(a, b))
    if len(a) == len(b):  # the Hamming distance is an upper bound too: the smaller one is the closer
        return min(windowed, sum(x != y for x, y in zip(a, b, strict=True)))
    return windowed


def _subsequence(short: Units, long: Units) -> bool:
    """Is `short` a subsequence of `long`? (Linear: one forward scan.)"""
    if isinstance(short, str) and isinstance(long, str):
        at = 0
        for ch in short:
            at = long.find(ch, at) + 1
            if not at:
                return False
        return True
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


def position_map(a: Units, b: Units) -> list[int]:
    """For each position 0..len(b) of `b`, the aligned position of `a` (an edit maps its inside to its start and
    its end to its end), so a span of `b` maps back to the span of `a` it came from."""
    to_a = [0] * (len(b) + 1)
    for tag, i1, i2, j1, j2 in opcodes(a, b):
        for j in range(j1, j2 + 1):
            to_a[j] = i1 + (j - j1 if tag == "equal" else (i2 - i1 if j == j2 else 0))
    return to_a
