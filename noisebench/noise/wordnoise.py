"""Shared machinery for word and span noises, and the `casing` noise.

A word/span noise finds its eligible units in each text (spans outside protected spans), draws
k = floor(rate * n + u) with u the example's STREAM_COUNT draw, chooses a uniform k-subset of the units
(`rng.choose_distinct`, STREAM_PICK) and rewrites each chosen unit; the rewrite may use the STREAM_VALUE draw at
counter = the unit's index among the text's units. Text outside the rewritten spans is kept byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from noisebench.noise import align, rng, units
from noisebench.noise.engine import NoiseSpec, Output, Request, register

U = TypeVar("U")  # what a noise's unit is: a span, a (start, end, kind) match, ...
Finder = Callable[[str, Sequence[units.Span], Mapping[str, str]], list[U]]  # (text, protected, options) -> units
Rewriter = Callable[[str, U, int, Mapping[str, str]], units.Edit]  # (text, unit, value draw, options) -> edit


def protected_per_text(req: Request) -> list[list[units.Span]]:
    extra = req.protected if req.protected is not None else [()] * len(req.texts)
    return [units.protected_spans(t, e) for t, e in zip(req.texts, extra, strict=True)]


def chosen_units(req: Request, found: list[list], states: np.ndarray | None = None) -> list[list[int]]:
    """For each text, the indices (ascending) of its chosen units: k = stochastic count of len(found[i])."""
    n = np.array([len(f) for f in found], dtype=np.int64)
    k = rng.stochastic_counts(req.keys, req.rate, n)
    if states is None:
        states = rng.stream(req.keys, rng.STREAM_PICK)
    mask = rng.choose_distinct(states, n, k)
    bounds = np.cumsum(n).tolist()
    flat = np.flatnonzero(mask).tolist()
    out: list[list[int]] = [[] for _ in found]
    t = 0
    for g in flat:
        while g >= bounds[t]:
            t += 1
        out[t].append(g - (bounds[t] - int(n[t])))
    return out


def values(keys: np.ndarray, stream_id: int, picks: list[list[int]]) -> list[list[int]]:
    """Draws of stream `stream_id` for each text at the given counters (as Python ints)."""
    text = np.repeat(np.arange(len(picks)), [len(p) for p in picks])
    counters = np.array([c for p in picks for c in p], dtype=np.int64)
    flat = rng.draw(rng.stream(keys, stream_id)[text], counters).tolist() if len(counters) else []
    out, i = [], 0
    for p in picks:
        out.append(flat[i:i + len(p)])
        i += len(p)
    return out


def run_units(req: Request, find: Finder[U], rewrite: Rewriter[U], protect_written: bool = True) -> Output:
    """Find units, choose k per text, rewrite them, keep everything else (see the module docstring). In a chain,
    what the rewrites wrote is protected from later noises unless `protect_written` is False."""
    protected = protected_per_text(req)
    found = [find(t, p, req.options) for t, p in zip(req.texts, protected, strict=True)]
    picks = chosen_units(req, found)
    draws = values(req.keys, rng.STREAM_VALUE, picks)
    texts, spans = [], []
    for text, prot, unit_list, pick, draw in zip(req.texts, protected, found, picks, draws, strict=True):
        edits = [rewrite(text, unit_list[i], x, req.options) for i, x in zip(pick, draw, strict=True)]
        if not edits:
            texts.append(text)
            spans.append(prot)
            continue
        new, sp = units.apply_edits(text, edits, prot, protect_written)
        texts.append(new)
        spans.append(sp)
    return texts, (spans if req.track else None)


def words_of(text: str) -> list[str]:
    """The words of a text (placeholders excluded), as strings."""
    return [text[s:e] for s, e in units.word_spans(text, units.placeholder_spans(text))]


def kept_words(clean: list[str], noisy: list[str]) -> set[int]:
    """Indices of clean words kept verbatim: positionally when the word counts match, else by a word alignment."""
    if len(clean) == len(noisy):
        return {i for i, (a, b) in enumerate(zip(clean, noisy, strict=True)) if a == b}
    kept: set[int] = set()
    for tag, i1, i2, _, _ in align.opcodes(clean, noisy):
        if tag == "equal":
            kept.update(range(i1, i2))
    return kept


# ---- casing -------------------------------------------------------------------------------------------------------

def _cased_words(text: str, protected: Sequence[units.Span], options: Mapping[str, str]) -> list[units.Span]:
    return [(s, e) for s, e in units.word_spans(text, protected) if text[s:e] != text[s:e].lower()]


def _lower(text: str, span: units.Span, draw: int, options: Mapping[str, str]) -> units.Edit:
    s, e = span
    return s, e, text[s:e].lower()


def apply_casing(req: Request) -> Output:
    # Lower-casing writes no new content: in a chain a later noise may still edit the lower-cased words
    # (casing+substitute = typos anywhere in lower-cased text).
    return run_units(req, _cased_words, _lower, protect_written=False)


def count_casing(clean: str, noisy: str, options: Mapping[str, str],
                 protected: Sequence[units.Span] = ()) -> tuple[int, int]:
    """(cased words changed, words of the clean text with an uppercase letter). With `protected` (a chain step's
    spans), the units are the cased pieces of words outside them, as `apply_casing` sees them."""
    if protected:
        from noisebench.noise.measure import preserved

        pieces = _cased_words(clean, units.protected_spans(clean, protected), options)
        kept_span = preserved(clean, noisy)
        return sum(not kept_span(s, e) for s, e in pieces), len(pieces)
    a, b = words_of(clean), words_of(noisy)
    eligible = [i for i, w in enumerate(a) if w != w.lower()]
    kept = kept_words(a, b)
    return sum(i not in kept for i in eligible), len(eligible)


register(NoiseSpec(
    name="casing", unit="word", calibrated=True, apply=apply_casing, count_units=count_casing,
    summary="casing loss: cased words lose their case (rate 1.0 = the whole text lower-cased)",
    rate_meaning=("fraction of cased words lower-cased: n = words (maximal non-whitespace runs outside protected "
                  "spans) with at least one uppercase letter; k = floor(rate*n + u), u ~ U[0,1) from the example's "
                  "generator; k distinct words chosen uniformly and lower-cased (str.lower); rate 1.0 lower-cases "
                  "the whole text except protected spans"),
    protects=("placeholders already in the text ([**...**], [NAME]-style tags, ***) and, in a chain, anything an "
              "earlier noise wrote; text outside the chosen words is unchanged byte for byte"),
))
