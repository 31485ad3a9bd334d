"""nlpaug's keyboard and OCR augmenters as extra noises, under noisebench's seeding contract (not its calibration).

nlpaug is imported only when one of these noises is applied; registering them needs nothing, and applying one
without nlpaug installed is a UsageError saying how to install it.

Seeding: nlpaug draws from Python's global `random` and numpy's global `np.random`. For each example both are
reseeded from the example's derived 64-bit key (random.seed(key64); np.random.seed of its two 32-bit halves), the
example is augmented, and after the batch both global states are restored — so an output depends only on the
example's key (order-, batch- and process-invariant) and the caller's random state is left as it was.

Protection: nlpaug runs only on the stretches between protected spans, with each stretch's leading and trailing
whitespace put back; inside a stretch nlpaug's own tokenizer may still rewrite spacing around punctuation.
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


def _augment(aug, segment: str) -> str:
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
