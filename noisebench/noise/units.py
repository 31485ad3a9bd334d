"""What the noises count and never touch: grapheme-like characters, words, and protected placeholder spans.

All offsets are code-point offsets into Python `str` (what `text[i]` indexes), half-open [start, end).

Character (cluster): a base code point plus everything that must never be split from it — combining marks
(categories Mn, Mc, Me), variation selectors, ZWJ/ZWNJ and the code point a ZWJ joins, emoji skin-tone modifiers,
tag characters (flag sequences), the second regional indicator of a pair, and conjoining Hangul medial/final jamo.
A text's first code point always starts a cluster. A cluster is whitespace when its base is (`str.isspace`).

Protected spans: placeholders already in a text — MIMIC `[**...**]`, all-caps bracket tags such as `[NAME]` or
`[CLS]` (two or more characters), and runs of three or more `*` — plus any spans a caller passes (in a chain: what an
earlier noise wrote). No noise edits inside them, and they count as no eligible unit.

Word: a maximal run of non-whitespace characters, cut at protected spans (a placeholder is never part of a word).
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Sequence
from functools import cache

import numpy as np

Span = tuple[int, int]
Edit = tuple[int, int, str]  # replace text[start:end] with the string

# [**...**] | [TAG] | ***+ ; written to start with a character set so the regex engine skips ahead fast
PLACEHOLDER_RE = re.compile(r"[\[*](?:(?<=\[)(?:\*\*[^\[\]\n]*?\*\*\]|[A-Z][A-Z0-9_]+(?:[ /-][A-Z0-9_]+)*\])"
                            r"|(?<=\*)\*\*+)")
_WORD_RE = re.compile(r"\S+")
_FAST_LIMIT = 0x300  # below U+0300 no code point extends a cluster, so every code point is its own character

_SPACE_TABLE = np.array([chr(c).isspace() for c in range(_FAST_LIMIT)], dtype=bool)


@cache
def _is_extender(cp: int) -> bool:
    """True for code points that attach to the preceding one (see the module docstring)."""
    if unicodedata.category(chr(cp)) in ("Mn", "Mc", "Me"):
        return True
    return (cp in (0x200C, 0x200D) or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF
            or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F or 0x1160 <= cp <= 0x11FF
            or 0xD7B0 <= cp <= 0xD7FF)


@cache
def _is_space(cp: int) -> bool:
    return chr(cp).isspace()


def code_points(text: str) -> np.ndarray:
    """The code points of `text` as a read-only uint32 array."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def from_code_points(cps: np.ndarray) -> str:
    return np.asarray(cps, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")


def cluster_starts(cps: np.ndarray, text_start: np.ndarray | None = None) -> np.ndarray:
    """Bool mask: which code points start a character (cluster). `text_start` marks extra forced starts (the first
    code point of each text when several are laid end to end). Vectorised; only code points >= U+0300 are looked
    up one by one (each distinct value once)."""
    start = np.ones(len(cps), dtype=bool)
    high = np.flatnonzero(cps >= _FAST_LIMIT)
    if len(high):
        values = cps[high]
        uniq, inverse = np.unique(values, return_inverse=True)
        ext = np.array([_is_extender(int(c)) for c in uniq], dtype=bool)[inverse]
        start[high[ext]] = False
        joined = high[values == 0x200D] + 1  # the code point after a ZWJ joins it, unless it is whitespace
        joined = joined[joined < len(cps)]
        start[joined[~space_mask(cps[joined])]] = False
        _pair_regional_indicators(cps, high[(values >= 0x1F1E6) & (values <= 0x1F1FF)], start)
    if len(cps):
        start[0] = True
    if text_start is not None:
        start |= text_start
    return start


def _pair_regional_indicators(cps: np.ndarray, ri: np.ndarray, start: np.ndarray) -> None:
    """In each run of consecutive regional indicators, the 2nd, 4th, ... join the one before (flags)."""
    run_pos = 0
    for j, pos in enumerate(ri):
        run_pos = run_pos + 1 if j and ri[j - 1] == pos - 1 else 0
        if run_pos % 2 == 1:
            start[pos] = False


def space_mask(cps: np.ndarray, fast: bool = False) -> np.ndarray:
    """Bool mask: whitespace code points (`str.isspace`). `fast`: the caller knows every code point < U+0300."""
    if fast:
        return _SPACE_TABLE.take(cps)
    out = _SPACE_TABLE.take(np.minimum(cps, _FAST_LIMIT - 1))
    high = np.flatnonzero(cps >= _FAST_LIMIT)
    if len(high):
        out[high] = [_is_space(int(c)) for c in cps[high]]
    return out


def placeholder_spans(text: str) -> list[Span]:
    """Spans of placeholders already in the text (see PLACEHOLDER_RE), sorted and non-overlapping.

    Tries the pattern only where a "[" or "***" occurs (str.find is far faster than a regex scan)."""
    found: list[Span] = []
    for literal in ("[", "***"):
        i = text.find(literal)
        while i != -1:
            m = PLACEHOLDER_RE.match(text, i)
            found += [m.span()] if m else []
            i = text.find(literal, m.end() if m else i + 1)
    if len(found) < 2:
        return found
    found.sort()
    out = [found[0]]
    for s, e in found[1:]:
        if s >= out[-1][1]:
            out.append((s, e))
    return out


def count_placeholders(text: str) -> int:
    """Placeholders of any style in the text; a run of n >= 3 stars counts n // 3 (inserted `***` may touch)."""
    total = 0
    for s, e in placeholder_spans(text):
        total += (e - s) // 3 if text[s] == "*" else 1
    return total


def merge_spans(spans: Sequence[Span]) -> list[Span]:
    """Sorted, non-overlapping union of spans (empty spans dropped)."""
    out: list[Span] = []
    for s, e in sorted(sp for sp in spans if sp[1] > sp[0]):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def protected_spans(text: str, extra: Sequence[Span] = ()) -> list[Span]:
    """Placeholders in the text plus the caller's extra spans, merged."""
    return merge_spans([*placeholder_spans(text), *extra])


class SpanIndex:
    """Non-empty, non-overlapping spans kept sorted, for O(log n) overlap and containment tests — so picking
    non-overlapping matches out of a long text costs n log n, not n² (a 1 MB note has ~10⁵ candidates)."""

    def __init__(self, spans: Sequence[tuple] = ()) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for sp in sorted(sp[:2] for sp in spans if sp[1] > sp[0]):
            if self.ends and sp[0] < self.ends[-1]:
                raise ValueError(f"spans overlap: {sp} and ({self.starts[-1]}, {self.ends[-1]})")
            self.starts.append(sp[0])
            self.ends.append(sp[1])

    def overlaps(self, s: int, e: int) -> bool:
        """Does [s, e) overlap a span? (An empty [s, s) overlaps a span that strictly contains s.)"""
        i = bisect.bisect_left(self.starts, max(e, s + 1)) - 1  # the last span starting before e
        return i >= 0 and self.ends[i] > s and (s < e or self.starts[i] < s)

    def strictly_inside(self, pos: int) -> bool:
        """Is start < pos < end for some span?"""
        i = bisect.bisect_left(self.starts, pos) - 1
        return i >= 0 and pos < self.ends[i]


def pick_non_overlapping(candidates: Sequence[tuple], protected: Sequence[Span]) -> list[tuple]:
    """Greedy selection in the candidates' order: each non-empty (start, end, ...) is kept unless it overlaps a
    protected span or one kept before it. Returned sorted by start. Linear in the text: taken positions are marked
    in a byte array, so an overlap test costs the candidate's length."""
    blocked = SpanIndex(merge_spans(protected))
    taken = bytearray(max((c[1] for c in candidates), default=0))
    out = []
    for c in candidates:
        s, e = c[0], c[1]
        if s < e and not blocked.overlaps(s, e) and taken.find(1, s, e) == -1:
            out.append(c)
            taken[s:e] = b"\x01" * (e - s)
    return sorted(out)


def word_spans(text: str, protected: Sequence[Span]) -> list[Span]:
    """Words: maximal non-whitespace runs with the protected spans cut out (see the module docstring)."""
    words: list[Span] = []
    cuts = merge_spans(protected)
    j = 0  # the first protected span that may still reach the current word (words come in order)
    for m in _WORD_RE.finditer(text):
        s, e = m.span()
        while j < len(cuts) and cuts[j][1] <= s:
            j += 1
        k = j
        while k < len(cuts) and cuts[k][0] < e:
            ps, pe = cuts[k]
            if ps > s:
                words.append((s, ps))
            s = max(s, pe)
            k += 1
        if s < e:
            words.append((s, e))
    return words


def characters(text: str) -> list[str]:
    """The text split into characters (clusters)."""
    if not text:
        return []
    cps = code_points(text)
    starts = np.flatnonzero(cluster_starts(cps)).tolist()
    ends = starts[1:] + [len(text)]
    return [text[s:e] for s, e in zip(starts, ends, strict=True)]


def eligible_characters(text: str, extra: Sequence[Span] = ()) -> int:
    """Characters a character noise may edit: non-whitespace clusters whose base lies outside protected spans."""
    if not text:
        return 0
    cps = code_points(text)
    mask = cluster_starts(cps) & ~space_mask(cps)
    for s, e in protected_spans(text, extra):
        mask[s:e] = False
    return int(mask.sum())


def apply_edits(text: str, edits: Sequence[Edit], protected: Sequence[Span] = (),
                protect_written: bool = True) -> tuple[str, list[Span]]:
    """Apply non-overlapping edits (sorted or not) and say where protected content ends up.

    Returns (new text, spans of the new text that later noises must not touch): the old protected spans moved by
    the edits before them, plus (protect_written) every edit's replacement (what this noise wrote). Deletions write
    nothing. Edits must not overlap each other or a protected span."""
    edits = sorted(edits)
    pieces: list[str] = []
    written: list[Span] = []
    shift_at: list[tuple[int, int]] = []  # (old position, cumulative shift after the edit ending there)
    pos = shift = 0
    for s, e, r in edits:
        pieces.append(text[pos:s])
        if r and protect_written:
            written.append((s + shift, s + shift + len(r)))
        pieces.append(r)
        shift += len(r) - (e - s)
        shift_at.append((e, shift))
        pos = e
    pieces.append(text[pos:])
    moved = []
    ends = [end for end, _ in shift_at]
    for ps, pe in protected:
        # edits never overlap protected spans, so an edit is wholly before or after: the shift of the last edit
        # ending at or before ps applies
        i = bisect.bisect_right(ends, ps) - 1
        delta = shift_at[i][1] if i >= 0 else 0
        moved.append((ps + delta, pe + delta))
    return "".join(pieces), merge_spans(moved + written)
