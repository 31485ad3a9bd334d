"""The realized noise level, computed from the (clean, noisy) pair alone — never from the generator's bookkeeping —
so it can check the generator (and measure any other tool's output the same way).

Per pair:
    edit_ratio    = Levenshtein distance in code points / code points of the clean text (0 when both are empty;
                    a non-empty output of an empty input counts its length, as if the clean length were 1).
                    Distances and alignments come from `noisebench.noise.align`: exact up to 20,000 units, windowed
                    (linear) beyond.
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

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from noisebench.errors import UsageError
from noisebench.noise import align, units
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


def count_characters(clean: str, noisy: str, options: Mapping[str, str],
                     protected: Sequence[units.Span] = ()) -> tuple[int, int]:
    """(characters changed, eligible characters of the clean text outside protected spans) — the character noises'
    unit count. A character noise never edits protected spans, so every change lies outside them."""
    a, b = units.characters(clean), units.characters(noisy)
    if len(a) == len(b):
        changed = sum(x != y for x, y in zip(a, b, strict=True))
    elif len(a) == len(clean) and len(b) == len(noisy):  # every character one code point: the same distance
        changed = align.distance(clean, noisy)
    else:
        changed = align.distance(a, b)
    return changed, units.eligible_characters(clean, protected)


_TOKEN_RE = re.compile(r"\w+|\s+|[^\w\s]")


def _token_blocks(clean: str, noisy: str) -> list[tuple[int, int, int]]:
    """Matching blocks (i, j, size) in characters of an alignment over tokens (words, whitespace runs, single
    punctuation marks): a rewritten phrase is one edit, and characters that merely recur inside it never count
    as kept — unlike a character-level minimal alignment, which would keep the "o" of "PO" -> "by mouth"."""
    a = [m.span() for m in _TOKEN_RE.finditer(clean)]
    b = [m.span() for m in _TOKEN_RE.finditer(noisy)]
    blocks = []
    for tag, i1, i2, j1, _ in align.opcodes([clean[s:e] for s, e in a], [noisy[s:e] for s, e in b]):
        if tag == "equal":
            blocks.append((a[i1][0], b[j1][0], a[i2 - 1][1] - a[i1][0]))
    return blocks


def preserved(clean: str, noisy: str) -> Callable[[int, int], bool]:
    """A test "is clean[s:e] kept verbatim, as a whole unit, in noisy": the span plus one character of context on
    each side (or the text's start/end) lies inside one matching block of a token-level alignment
    (`_token_blocks`, linear in length through `noisebench.noise.align`). The context makes "ok" -> "okay" count
    as changed."""
    import bisect

    blocks = _token_blocks(clean, noisy)
    starts = [i for i, _, _ in blocks]

    def kept(s: int, e: int) -> bool:
        lo, hi = max(0, s - 1), min(len(clean), e + 1)
        at = bisect.bisect_right(starts, lo) - 1  # the one block that can contain lo (blocks are disjoint)
        if at < 0:
            return False
        i, j, size = blocks[at]
        if i <= lo and hi <= i + size:
            return (s > 0 or j + (s - i) == 0) and (e < len(clean) or j + (e - i) == len(noisy))
        return False

    return kept


Counter = Callable[..., tuple[int, int]]  # (clean, noisy, options, protected=()) -> (changed, eligible)


def _counter(noise: str, options: Mapping[str, str]) -> tuple[Counter, dict]:
    """The noise's unit counter and its normalised options (validated once per call of measure*)."""
    opts = validate_options(noise, options)
    return NOISES.get(noise).count_units or count_characters, opts


def _counts(clean: str, noisy: str, counter: Counter, opts: Mapping[str, str],
            protected: Sequence[units.Span] = ()) -> tuple[int, int, int, int]:
    if not isinstance(clean, str) or not isinstance(noisy, str):
        raise UsageError("measure takes two strings (clean, noisy)")
    extra = (protected,) if protected else ()  # counters are called as declared: (clean, noisy, options[, protected])
    changed, eligible = (counter(clean, noisy, opts, *extra) if clean != noisy
                         else (0, counter(clean, clean, opts, *extra)[1]))
    edits = align.distance(clean, noisy) if clean != noisy else 0
    return edits, len(clean), changed, eligible


def _ratio(num: int, den: int) -> float:
    return num / den if den else float(num)


def measure(clean: str, noisy: str, *, noise: str, **options: str) -> Realized:
    """The realized level of one (clean, noisy) pair under `noise`'s unit definition (options: the noise's options,
    e.g. the abbreviation lexicon, when they change what counts as a unit)."""
    edits, length, changed, eligible = _counts(clean, noisy, *_counter(noise, options))
    return Realized(edit_ratio=_ratio(edits, length), unit_fraction=changed / eligible if eligible else 0.0,
                    edits=edits, length=length, units_changed=changed, units=eligible)


def measure_dataset(cleans: Sequence[str], noisys: Sequence[str], *, noise: str,
                    protected: Sequence[Sequence[units.Span]] | None = None, **options: str) -> Realized:
    """Pooled realized level of a dataset: totals over totals, plus the fraction of examples that changed.
    protected: per clean text, spans the noise was told not to edit (a chain step's); they hold no unit."""
    if len(cleans) != len(noisys) or (protected is not None and len(protected) != len(cleans)):
        raise UsageError(f"{len(cleans)} clean texts but {len(noisys)} noisy ones"
                         + (f" and {len(protected)} protected-span lists" if protected is not None else ""))
    counter, opts = _counter(noise, options)
    tot = [0, 0, 0, 0]
    changed_examples = 0
    for j, (clean, noisy) in enumerate(zip(cleans, noisys, strict=True)):
        for i, v in enumerate(_counts(clean, noisy, counter, opts, protected[j] if protected is not None else ())):
            tot[i] += v
        changed_examples += clean != noisy
    edits, length, changed, eligible = tot
    return Realized(edit_ratio=_ratio(edits, length), unit_fraction=changed / eligible if eligible else 0.0,
                    changed_examples=changed_examples / len(cleans) if len(cleans) else 0.0,
                    edits=edits, length=length, units_changed=changed, units=eligible)
