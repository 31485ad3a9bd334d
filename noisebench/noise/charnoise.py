"""The four character noises (substitute, insert, delete, swap), vectorised across the whole batch.

Shared rule. Eligible units: non-whitespace characters (grapheme-like clusters, see `units`) outside protected
spans; n of them in a text. k = floor(rate * n + u), u = the example's STREAM_COUNT draw (stochastic rounding:
E[k] = rate * n and |k - rate * n| < 1). The k edited characters are a uniform k-subset (`rng.choose_distinct`
with STREAM_PICK). A replacement or inserted character is drawn with STREAM_VALUE at counter = the unit's index
among the text's eligible characters. Everything outside the edited characters is left byte for byte.

How a batch runs: the texts are laid end to end with a "\n" after each (so nothing crosses a text boundary) as one
code-point array; eligibility, selection and edits are numpy operations over that array; the edited array is decoded
once and sliced back into texts. Cost is linear in the batch's characters and independent of how they are split
into texts, and a text's result never depends on the others (all draws are keyed by its own key).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from noisebench.noise import rng, units
from noisebench.noise.alphabets import tables
from noisebench.noise.engine import NoiseSpec, Output, Request, register

_PROTECTS = ("whitespace; placeholders already in the text ([**...**], [NAME]-style tags, ***) and, in a chain, "
             "anything an earlier noise wrote; combining marks, variation selectors and ZWJ sequences are never "
             "split from their base; text outside the edited characters is unchanged byte for byte")
_ELIGIBLE = ("n = the text's eligible characters (non-whitespace grapheme clusters outside protected spans); "
             "k = floor(rate*n + u), u ~ U[0,1) from the example's generator (exact in expectation, |k - rate*n| < 1)")


@dataclass
class Layout:
    """A batch laid end to end. Shapes: N code points, B texts, U eligible characters."""

    cps: np.ndarray  # (N,) uint32, texts joined with "\n" after each
    starts: np.ndarray  # (B,) int64, offset of each text in cps
    lens: np.ndarray  # (B,) int64, code points per text
    units: np.ndarray  # (U,) int64, offset of each eligible character's base code point
    ends: np.ndarray  # (U,) int64, end of each eligible character (base + marks)
    n: np.ndarray  # (B,) int64, eligible characters per text

    def locate(self, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(text, index among the text's eligible characters) of eligible characters given by position in U."""
        bounds = np.cumsum(self.n)
        text = np.searchsorted(bounds, chosen, side="right")
        return text, chosen - (bounds - self.n)[text]


def layout(req: Request) -> Layout:
    """Lay the batch out and find the eligible characters (see the module docstring)."""
    big = "\n".join(req.texts) + "\n"
    cps = units.code_points(big)
    lens = np.fromiter(map(len, req.texts), dtype=np.int64, count=len(req.texts))
    starts = np.cumsum(lens + 1) - (lens + 1)
    fast = int(cps.max()) < 0x300
    if fast:
        elig = ~units.space_mask(cps, fast=True)
    else:
        first = np.zeros(len(cps), dtype=bool)
        first[starts] = True
        cstart = units.cluster_starts(cps, first)
        elig = cstart & ~units.space_mask(cps)
    spans = units.placeholder_spans(big)
    if req.protected is not None:
        spans += [(int(st) + s, int(st) + e) for st, sp in zip(starts, req.protected, strict=True) for s, e in sp]
    if len(spans) < 64:  # usually none or a few: clear them directly
        for s, e in spans:
            elig[s:e] = False
    else:
        s, e = np.array(spans, dtype=np.int64).T
        depth = np.cumsum(np.bincount(s, minlength=len(cps) + 1) - np.bincount(e, minlength=len(cps) + 1))
        elig &= depth[:-1] == 0
    where = np.flatnonzero(elig)
    if fast:
        ends = where + 1
    else:
        all_starts = np.append(np.flatnonzero(cstart), len(cps))
        ends = all_starts[np.searchsorted(all_starts, where) + 1]
    n = np.diff(np.searchsorted(where, np.append(starts, len(cps))))
    return Layout(cps, starts, lens, where, ends, n)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Concatenation of arange(lo[i], hi[i]) for all i."""
    length = hi - lo
    return np.repeat(lo - (np.cumsum(length) - length), length) + np.arange(int(length.sum()))


def _finish(req: Request, lay: Layout, text: np.ndarray, lo: np.ndarray, hi: np.ndarray, rep_len: np.ndarray,
            rep: np.ndarray) -> Output:
    """Apply edits "replace cps[lo[i]:hi[i]] with the next rep_len[i] code points of rep" (sorted, disjoint)."""
    if req.track:
        return _finish_tracked(req, lay, text, lo, hi, rep_len, rep)
    cps, N = lay.cps, len(lay.cps)
    if np.array_equal(rep_len, hi - lo):  # same lengths (substitution of single code points, swaps): in place
        out = cps.copy()
        out[lo if np.array_equal(rep_len, np.ones_like(rep_len)) else _ranges(lo, hi)] = rep
    else:  # scatter: removed code points vanish, replacements land where their edit starts
        kept = cps
        removed_before = np.zeros(len(lo), dtype=np.int64)
        if np.any(hi > lo):
            gone = np.zeros(N, dtype=bool)
            gone[_ranges(lo, hi)] = True
            kept = cps[~gone]
            removed_before = np.cumsum(hi - lo) - (hi - lo)
        inserted_before = np.cumsum(rep_len) - rep_len
        dest = np.repeat(lo - removed_before + inserted_before, rep_len) + (
            np.arange(int(rep_len.sum())) - np.repeat(inserted_before, rep_len))
        out = np.empty(len(kept) + len(dest), dtype=np.uint32)
        free = np.ones(len(out), dtype=bool)
        free[dest] = False
        out[free] = kept
        out[dest] = rep
    delta = np.bincount(text, weights=rep_len - (hi - lo), minlength=len(lay.lens)).astype(np.int64)
    big = units.from_code_points(out)
    new_lens = lay.lens + delta
    new_starts = (np.cumsum(new_lens + 1) - (new_lens + 1)).tolist()
    return [big[s:s + n] for s, n in zip(new_starts, new_lens.tolist(), strict=True)], None


def _finish_tracked(req: Request, lay: Layout, text: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                    rep_len: np.ndarray, rep: np.ndarray) -> Output:
    """The same edits applied text by text with `units.apply_edits`, also returning the spans to protect."""
    per_text: list[list[units.Edit]] = [[] for _ in req.texts]
    rep_at = np.cumsum(rep_len) - rep_len
    columns = (text.tolist(), lo.tolist(), hi.tolist(), rep_at.tolist(), rep_len.tolist())
    for t, a, b, r0, rl in zip(*columns, strict=True):
        st = int(lay.starts[t])
        per_text[t].append((a - st, b - st, units.from_code_points(rep[r0:r0 + rl])))
    texts, spans = [], []
    for i, (t, edits) in enumerate(zip(req.texts, per_text, strict=True)):
        extra = req.protected[i] if req.protected is not None else ()
        new, protected = units.apply_edits(t, edits, units.protected_spans(t, extra))
        texts.append(new)
        spans.append(protected)
    return texts, spans


def _pick(req: Request, lay: Layout) -> np.ndarray:
    """Mask over eligible characters: the k chosen ones of each text."""
    k = rng.stochastic_counts(req.keys, req.rate, lay.n)
    return rng.choose_distinct(rng.stream(req.keys, rng.STREAM_PICK), lay.n, k)


def _values(req: Request, text: np.ndarray, index: np.ndarray) -> np.ndarray:
    """STREAM_VALUE draws for the chosen characters (counter = index among the text's eligible characters)."""
    return rng.draw(rng.stream(req.keys, rng.STREAM_VALUE)[text], index)


def _empty(req: Request) -> bool:
    return all(not t or t.isspace() for t in req.texts)


def apply_substitute(req: Request) -> Output:
    if _empty(req):
        return _finish_none(req)
    lay = layout(req)
    chosen = np.flatnonzero(_pick(req, lay))
    text, index = lay.locate(chosen)
    lo, hi = lay.units[chosen], lay.ends[chosen]
    x = _values(req, text, index)
    tab = tables()
    base = lay.cps[lo]
    rows, pos = tab.lookup(base)
    has = (pos >= 0).astype(np.int64)
    j = rng.below(x, tab.length[rows] - has)
    j += has * (j >= pos)
    new = tab.flat[tab.offset[rows] + j]
    if req.options.get("mode") == "keyboard":
        small = np.minimum(base, 0x2FF).astype(np.int64)
        near = (base < 0x300) & (tab.kb_len[small] > 0)
        kb = tab.kb_flat[tab.kb_off[small] + rng.below(x, np.maximum(tab.kb_len[small], 1))] if len(base) else new
        new = np.where(near, kb, new)
    return _finish(req, lay, text, lo, hi, np.ones(len(lo), dtype=np.int64), new.astype(np.uint32))


def apply_delete(req: Request) -> Output:
    if _empty(req):
        return _finish_none(req)
    lay = layout(req)
    chosen = np.flatnonzero(_pick(req, lay))
    lo, hi = lay.units[chosen], lay.ends[chosen]
    return _finish(req, lay, lay.locate(chosen)[0], lo, hi, np.zeros(len(lo), dtype=np.int64),
                   np.zeros(0, dtype=np.uint32))


def apply_insert(req: Request) -> Output:
    if _empty(req):
        return _finish_none(req)
    lay = layout(req)
    chosen = np.flatnonzero(_pick(req, lay))
    text, index = lay.locate(chosen)
    after = lay.ends[chosen]
    tab = tables()
    rows, _ = tab.lookup(lay.cps[lay.units[chosen]])
    new = tab.flat[tab.offset[rows] + rng.below(_values(req, text, index), tab.length[rows])]
    return _finish(req, lay, text, after, after, np.ones(len(after), dtype=np.int64),
                   new.astype(np.uint32))


def apply_swap(req: Request) -> Output:
    if _empty(req):
        return _finish_none(req)
    lay = layout(req)
    U = len(lay.units)
    # same word: the next eligible character starts where this one ends (no whitespace/protected gap between)
    joined = np.zeros(U, dtype=bool)
    joined[:-1] = lay.units[1:] == lay.ends[:-1]
    word_start = np.ones(U, dtype=bool)
    word_start[1:] = ~joined[:-1]
    # a pair (i, i+1) is swappable when both are in one word and the characters differ. This is the noise's hot
    # loop: whole arrays shifted by one, prefix maxima and sorted searches instead of gathers, np.repeat and cumsum.
    base = lay.cps[lay.units]
    swappable = np.zeros(U, dtype=bool)
    swappable[:-1] = joined[:-1] & (base[:-1] != base[1:])
    single = lay.ends - lay.units == 1
    for i in np.flatnonzero(joined[:-1] & ~(single[:-1] & single[1:])):  # clusters of several code points
        a, m, b = lay.units[i], lay.ends[i], lay.ends[i + 1]
        swappable[i] = not np.array_equal(lay.cps[a:m], lay.cps[m:b])
    # tile each word into pairs from its 1st (phase 0) or 2nd (phase 1) character: the tiling with more swappable
    # pairs, a STREAM_PICK2 coin (counter = the word's first character index) on ties
    starts = np.flatnonzero(word_start)
    pos = np.arange(U)
    phase = (pos - np.maximum.accumulate(np.where(word_start, pos, 0))) & 1  # position in the word, mod 2
    bounds = np.append(starts, U)
    per_word = [np.diff(np.searchsorted(np.flatnonzero(swappable & (phase == p)), bounds)) for p in (0, 1)]
    offset = (per_word[1] > per_word[0]).astype(np.int64)
    tie = np.flatnonzero((per_word[0] == per_word[1]) & (per_word[0] > 0))  # a word without candidates needs no coin
    if len(tie):
        text, index = lay.locate(starts[tie])
        coin = rng.draw(rng.stream(req.keys, rng.STREAM_PICK2)[text], index) >> np.uint64(63)
        offset[tie] = coin.astype(np.int64)
    # character i is a pair's first when (i - its word's start - the word's offset) is even
    first = np.zeros(U, dtype=np.int64)
    first[starts] = starts + offset  # nondecreasing along the words, so a running maximum spreads it
    idx = np.flatnonzero(swappable & (((pos - np.maximum.accumulate(first)) & 1) == 0))
    text_bounds = np.cumsum(lay.n)
    n_cand = np.diff(np.searchsorted(idx, np.append(0, text_bounds)))
    k = np.minimum(rng.stochastic_counts(req.keys, req.rate, lay.n, scale=0.5), n_cand)
    idx = idx[rng.choose_distinct(rng.stream(req.keys, rng.STREAM_PICK), n_cand, k)]
    owner = np.searchsorted(text_bounds, idx, side="right")
    lo, mid, hi = lay.units[idx], lay.ends[idx], lay.ends[idx + 1]
    span = _ranges(lo, hi)
    length = hi - lo
    local = span - np.repeat(lo, length)
    rotated = np.repeat(lo, length) + (local + np.repeat(mid - lo, length)) % np.repeat(length, length)
    return _finish(req, lay, owner, lo, hi, length, lay.cps[rotated])


def _finish_none(req: Request) -> Output:
    """Nothing to edit anywhere in the batch (all texts empty or whitespace)."""
    texts = list(req.texts)
    if not req.track:
        return texts, None
    extra = req.protected if req.protected is not None else [()] * len(texts)
    return texts, [units.protected_spans(t, e) for t, e in zip(texts, extra, strict=True)]


register(NoiseSpec(
    name="substitute", unit="character", calibrated=True, apply=apply_substitute,
    summary="replaces characters with others of the same class",
    rate_meaning=("fraction of eligible characters replaced. " + _ELIGIBLE + "; k distinct characters chosen "
                  "uniformly, each replaced (with its marks) by a different character of the same class: "
                  "letter -> letter of the same case, digit -> digit, punctuation/symbol -> punctuation/symbol, "
                  "drawn from the same Unicode block (mode=keyboard: a QWERTY neighbour of the same class when "
                  "the key has one)"),
    protects=_PROTECTS,
    options={"mode": {"default": "uniform", "choices": ("uniform", "keyboard"),
                      "help": "uniform: any character of the same class; keyboard: a QWERTY neighbour"}},
))
register(NoiseSpec(
    name="insert", unit="character", calibrated=True, apply=apply_insert,
    summary="inserts characters",
    rate_meaning=("fraction of eligible characters that get a character inserted right after them. " + _ELIGIBLE
                  + "; k distinct characters chosen uniformly; the inserted character is drawn uniformly from the "
                  "class alphabet of the character before it, so it joins that word"),
    protects=_PROTECTS,
))
register(NoiseSpec(
    name="delete", unit="character", calibrated=True, apply=apply_delete,
    summary="deletes characters",
    rate_meaning=("fraction of eligible characters deleted. " + _ELIGIBLE + "; k distinct characters chosen "
                  "uniformly and deleted together with their combining marks"),
    protects=_PROTECTS,
))
register(NoiseSpec(
    name="swap", unit="character", calibrated=True, apply=apply_swap,
    summary="swaps a character with its adjacent neighbour inside a word",
    rate_meaning=("fraction of eligible characters that change position (n as for substitute); "
                  "k = floor(rate*n/2 + u) transpositions, each moving two characters: candidate pairs are two "
                  "adjacent, different characters of one word, the word tiled into pairs from its 1st or 2nd "
                  "character (whichever tiling has more such pairs; a random choice on ties) so no two overlap; k "
                  "candidates are chosen uniformly, or all of them when the text has fewer (the measured level "
                  "then shows the shortfall)"),
    protects=_PROTECTS,
))
