"""The realized noise level, computed from the (clean, noisy) pair alone — never from the generator's bookkeeping —
so it can check the generator (and measure any other tool's output the same way).

Per pair:
    edit_ratio    = Levenshtein distance in code points / code points of the clean text (0 when both are empty;
                    a non-empty output of an empty input counts its length, as if the clean length were 1).
    unit_fraction = units changed / eligible units of the clean text (0 when it has none), where the noise
                    declares how its units are counted (`NoiseSpec.count_units`):
      character noises: eligible = non-whitespace characters (clusters) outside placeholders; changed = the
                        Hamming distance over characters when both texts have the same number of characters (a
                        substitution changes one, a transposition two), else the Levenshtein distance over
                        characters (an insertion or deletion is one).
      word/span noises: see their modules (casing: words with an uppercase letter that differ; abbreviation: lexicon
                        matches not kept verbatim; phi: placeholders added per eligible word).
Per dataset (`measure_dataset`): totals over totals — sum of edits / sum of clean lengths, sum of units changed /
sum of eligible units — and changed_examples = the fraction of examples whose text changed at all.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from noisebench.errors import UsageError
from noisebench.noise import units
from noisebench.noise.engine import NOISES, validate_options


@dataclass(frozen=True)
class Realized:
    """A realized noise level (see the module docstring). Counts are kept so levels can be pooled."""

    edit_ratio: float
    unit_fraction: float
    changed_examples: float | None = None  # datasets only
    edits: int = 0
    length: int = 0
    units_changed: int = 0
    units: int = 0


def levenshtein(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance (insert, delete, substitute: cost 1) between two sequences.

    Bit-parallel (Myers 1999 / Hyyrö 2003) over Python integers: O(len(b) * len(a) / 64) word operations, after
    stripping the common prefix and suffix."""
    lo = 0
    while lo < len(a) and lo < len(b) and a[lo] == b[lo]:
        lo += 1
    hi_a, hi_b = len(a), len(b)
    while hi_a > lo and hi_b > lo and a[hi_a - 1] == b[hi_b - 1]:
        hi_a, hi_b = hi_a - 1, hi_b - 1
    a, b = a[lo:hi_a], b[lo:hi_b]
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict = {}
    for i, c in enumerate(b):
        peq[c] = peq.get(c, 0) | (1 << i)
    full = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score = full, 0, m
    for c in a:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & full) ^ pv) | eq
        ph = mv | (~(xh | pv) & full)
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & full
        mh = (mh << 1) & full
        pv = mh | (~(xv | ph) & full)
        mv = ph & xv
    return score


def count_characters(clean: str, noisy: str, options: Mapping[str, str]) -> tuple[int, int]:
    """(characters changed, eligible characters of the clean text) — the character noises' unit count."""
    a, b = units.characters(clean), units.characters(noisy)
    if len(a) == len(b):
        changed = sum(x != y for x, y in zip(a, b, strict=True))
    else:
        changed = levenshtein(a, b)
    return changed, units.eligible_characters(clean)


def preserved(clean: str, noisy: str) -> Callable[[int, int], bool]:
    """A test "is clean[s:e] kept verbatim, as a whole unit, in noisy": the span plus one character of context on
    each side (or the text's start/end) lies inside one matching block of a character-level alignment
    (difflib.SequenceMatcher, no junk heuristic). The context makes "ok" -> "okay" count as changed."""
    blocks = difflib.SequenceMatcher(None, clean, noisy, autojunk=False).get_matching_blocks()

    def kept(s: int, e: int) -> bool:
        lo, hi = max(0, s - 1), min(len(clean), e + 1)
        for i, j, size in blocks:
            if i <= lo and hi <= i + size:
                return (s > 0 or j + (s - i) == 0) and (e < len(clean) or j + (e - i) == len(noisy))
        return False

    return kept


Counter = Callable[[str, str, Mapping[str, str]], tuple[int, int]]


def _counter(noise: str, options: Mapping[str, str]) -> tuple[Counter, dict]:
    """The noise's unit counter and its normalised options (validated once per call of measure*)."""
    opts = validate_options(noise, options)
    return NOISES.get(noise).count_units or count_characters, opts


def _counts(clean: str, noisy: str, counter: Counter, opts: Mapping[str, str]) -> tuple[int, int, int, int]:
    if not isinstance(clean, str) or not isinstance(noisy, str):
        raise UsageError("measure takes two strings (clean, noisy)")
    changed, eligible = counter(clean, noisy, opts) if clean != noisy else (0, counter(clean, clean, opts)[1])
    edits = levenshtein(clean, noisy) if clean != noisy else 0
    return edits, len(clean), changed, eligible


def _ratio(num: int, den: int) -> float:
    return num / den if den else float(num)


def measure(clean: str, noisy: str, *, noise: str, **options: str) -> Realized:
    """The realized level of one (clean, noisy) pair under `noise`'s unit definition (options: the noise's options,
    e.g. the abbreviation lexicon, when they change what counts as a unit)."""
    edits, length, changed, eligible = _counts(clean, noisy, *_counter(noise, options))
    return Realized(edit_ratio=_ratio(edits, length), unit_fraction=changed / eligible if eligible else 0.0,
                    edits=edits, length=length, units_changed=changed, units=eligible)


def measure_dataset(cleans: Sequence[str], noisys: Sequence[str], *, noise: str, **options: str) -> Realized:
    """Pooled realized level of a dataset: totals over totals, plus the fraction of examples that changed."""
    if len(cleans) != len(noisys):
        raise UsageError(f"{len(cleans)} clean texts but {len(noisys)} noisy ones")
    counter, opts = _counter(noise, options)
    tot = [0, 0, 0, 0]
    changed_examples = 0
    for clean, noisy in zip(cleans, noisys, strict=True):
        for i, v in enumerate(_counts(clean, noisy, counter, opts)):
            tot[i] += v
        changed_examples += clean != noisy
    edits, length, changed, eligible = tot
    return Realized(edit_ratio=_ratio(edits, length), unit_fraction=changed / eligible if eligible else 0.0,
                    changed_examples=changed_examples / len(cleans) if len(cleans) else 0.0,
                    edits=edits, length=length, units_changed=changed, units=eligible)
