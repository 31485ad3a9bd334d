"""nlpaug's keyboard and OCR augmenters as extra noises, under noisebench's seeding contract (not its calibration).

nlpaug is imported only when one of these noises is applied; registering them needs nothing, and applying one
without nlpaug installed is a UsageError saying how to install it.

Seeding: nlpaug draws from Python's global `random` and numpy's global `np.random`. For each example both are
reseeded from the example's derived 64-bit key (random.seed(key64); np.random.seed of its two 32-bit halves), the
example is augmented, and after the batch both global states are restored — so an output depends only on the
example's key (order-, batch- and process-invariant) and the caller's random state is left as it was.

Protection: nlpaug runs only on the stretches between protected spans, with each stretch's leading and trailing
whitespace put back; inside a stretch nlpaug's own tokenizer may still rewrite spacing around punctuation.

Long stretches: nlpaug's time grows faster than its input (0.3 s for 100 KB, 6 s for 1 MB) and it edits at most
`aug_word_max` (10) words per call, however long the text; a stretch over CHUNK characters is therefore augmented
in pieces of at most CHUNK characters cut at whitespace, one after the other from the same reseeded generators —
as nlpaug is used on sentences. Stretches up to CHUNK characters (every text of the study) are one call, as before.
"""

from __future__ import annotations

import random
from functools import lru_cache, partial

import numpy as np

from noisebench.errors import UsageError
from noisebench.noise import align, units
from noisebench.noise.engine import NoiseSpec, Output, Request, register

_CLASSES = {"nlpaug-keyboard": "KeyboardAug", "nlpaug-ocr": "OcrAug"}


@lru_cache(maxsize=32)
def augmenter(noise: str, rate: float):
    """The nlpaug augmenter for a noise at a rate: aug_char_p = aug_word_p = rate, other settings nlpaug's."""
    try:
        import nlpaug.augmenter.char as nac
    except ImportError:
        raise UsageError(f"noise {noise!r} needs nlpaug, which is not installed: pip install nlpaug "
                         "(or pip install 'noisebench[nlpaug]')") from None
    return getattr(nac, _CLASSES[noise])(aug_char_p=rate, aug_word_p=rate)


CHUNK = 4_096  # characters per nlpaug call on a long stretch (see the module docstring)


def _augment(aug, segment: str) -> str:
    """nlpaug on one stretch, in pieces of at most CHUNK characters cut at whitespace when it is longer."""
    if len(segment) <= CHUNK:
        return _augment_piece(aug, segment)
    pieces, start = [], 0
    while len(segment) - start > CHUNK:
        cut = max(segment.rfind(c, start + 1, start + CHUNK) for c in " \t\n")
        cut = cut if cut > start else start + CHUNK
        pieces.append(segment[start:cut])
        start = cut
    pieces.append(segment[start:])
    return "".join(_augment_piece(aug, piece) for piece in pieces)


def _augment_piece(aug, segment: str) -> str:
    """nlpaug on one stretch, keeping its leading and trailing whitespace."""
    core = segment.strip()
    if not core:
        return segment
    lead = segment[: len(segment) - len(segment.lstrip())]
    trail = segment[len(segment.rstrip()):]
    out = aug.augment(core)
    if isinstance(out, list):
        out = out[0] if out else core
    return lead + out + trail


def _apply(noise: str, req: Request) -> Output:
    aug = augmenter(noise, req.rate)
    extra = req.protected if req.protected is not None else [()] * len(req.texts)
    py_state, np_state = random.getstate(), np.random.get_state()
    texts, spans = [], []
    try:
        for text, key, more in zip(req.texts, req.keys.tolist(), extra, strict=True):
            random.seed(key)
            np.random.seed([key & 0xFFFFFFFF, key >> 32])
            protected = units.protected_spans(text, more)
            pieces: list[str] = []
            keep: list[units.Span] = []
            pos = at = 0
            for s, e in [*protected, (len(text), len(text))]:
                segment = text[pos:s]
                new = _augment(aug, segment)
                ops = align.opcodes(segment, new)  # what nlpaug wrote: later noises leave it alone
                keep += [(at + j1, at + j2) for tag, _, _, j1, j2 in ops if tag != "equal" and j2 > j1]
                pieces.append(new)
                at += len(new)
                pieces.append(text[s:e])
                keep.append((at, at + e - s))
                at += e - s
                pos = e
            texts.append("".join(pieces))
            spans.append(units.merge_spans(keep))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return texts, (spans if req.track else None)


_MEANING = ("NOT calibrated: the rate is passed to nlpaug {cls} as aug_char_p and aug_word_p (other settings nlpaug's "
            "defaults); nlpaug rounds counts up and applies its minimums, so the realized fraction of characters "
            "differs from the rate — read it from `measure`")
_PROTECTS = ("placeholders already in the text and, in a chain, anything an earlier noise wrote (nlpaug runs only "
             "between them); nlpaug's tokenizer may rewrite spacing around punctuation elsewhere")

for _name, _cls in _CLASSES.items():
    register(NoiseSpec(
        name=_name, unit="character", calibrated=False, requires="nlpaug",
        apply=partial(_apply, _name),
        summary=f"nlpaug {_cls} ({'keyboard typos' if 'keyboard' in _name else 'OCR confusions'}), reseeded per "
                "example",
        rate_meaning=_MEANING.format(cls=_cls),
        protects=_PROTECTS,
    ))
