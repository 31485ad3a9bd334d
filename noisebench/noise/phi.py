"""The `phi` noise: de-identification placeholders, as found in de-identified clinical text.

Styles (option `style`):
    mimic  MIMIC-III: [**First Name**], [**Last Name**], [**Hospital**], a date-shifted date [**2150-3-14**]
           (year 2100-2199, month 1-12, day 1-28), [**Telephone/Fax**], [**Medical Record Number**],
           [**Age over 90**]
    i2b2   [NAME], [DATE], [PHONE], [ID], [AGE], [LOCATION]
    stars  ***

Units. n = the text's words (maximal non-whitespace runs outside protected spans); k = floor(rate * n + u), u the
example's STREAM_COUNT draw. Each placeholder written is one unit, whatever it replaced. PHI-like spans are detected
first (d of them): person names (one or two capitalised words after a title such as Dr./Mr./Mrs./Ms., or a
capitalised word in the shipped name list data/phi_names.tsv — two words after a title are first + last name),
dates (3/14/2150, 2150-03-14, March 14, 2150, 14 March 2150, Mar. 14th), US phone numbers, MRN/ID numbers (after
MRN, MR#, ID, Unit No, SSN, Account, or any standalone run of 6+ digits), ages over 89 (90-119 before
year(s)/yr(s)/yo/y/o or after "age"/"aged"), and hospital names ("Mercy General Hospital", "... Medical Center",
"... Clinic"). Overlaps resolve longest first. If k <= d, k detected spans chosen uniformly (STREAM_PICK) are
replaced by the placeholder of their type; otherwise all d are replaced and k - d placeholders (each followed by
one space) are inserted before distinct word starts chosen uniformly (STREAM_PICK2) among the words not strictly
inside a detected span — all of them when there are fewer. An inserted placeholder's type is uniform over the
style's types (STREAM_VALUE2 at counter = the boundary's index); dates use STREAM_VALUE (replacements) or
STREAM_VALUE2 (insertions) bits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np

from noisebench.noise import rng, units
from noisebench.noise.engine import NoiseSpec, Output, Request, register
from noisebench.noise.wordnoise import protected_per_text, values
from noisebench.resources import data_file

KINDS = ("first", "last", "hospital", "date", "phone", "id", "age")
_MIMIC = {"first": "[**First Name**]", "last": "[**Last Name**]", "hospital": "[**Hospital**]",
          "phone": "[**Telephone/Fax**]", "id": "[**Medical Record Number**]", "age": "[**Age over 90**]"}
_I2B2 = {"first": "[NAME]", "last": "[NAME]", "hospital": "[LOCATION]", "date": "[DATE]", "phone": "[PHONE]",
         "id": "[ID]", "age": "[AGE]"}
INSERT_KINDS = {"mimic": KINDS, "i2b2": ("first", "date", "phone", "id", "age", "hospital"), "stars": ("first",)}

_NAME = r"[A-Z][a-z]+(?:[-'][A-Z][a-z]+)?"
_MONTH = (r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sept?(?:ember)?|"
          r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)")
_PATTERNS: list[tuple[str, re.Pattern]] = [
    ("date", re.compile(r"(?<![\w/])\d{1,2}/\d{1,2}/(?:\d{4}|\d{2})(?![\w/])")),
    ("date", re.compile(r"(?<![\w-])\d{4}-\d{1,2}-\d{1,2}(?![\w-])")),
    ("date", re.compile(rf"\b{_MONTH}\.? \d{{1,2}}(?:st|nd|rd|th)?(?:,? \d{{4}})?\b")),
    ("date", re.compile(rf"\b\d{{1,2}}(?:st|nd|rd|th)? {_MONTH}\.?,? \d{{4}}\b")),
    ("phone", re.compile(r"(?<![\w(])(?:\(\d{3}\) ?|\d{3}[-. ])\d{3}[-.]\d{4}(?!\w)")),
    ("id", re.compile(r"(?:\bMRN|\bMR#|\bID|\bUnit No\.?|\bSSN|\bAccount|\bAcct)\s*[:#]?\s*(\d[\d-]{3,}\d)\b")),
    ("id", re.compile(r"(?<![\w./:-])\d{6,}(?![\w./-])")),
    ("age", re.compile(r"(?<![\w.])(9\d|1[01]\d)(?=[ -]?(?:years?|yrs?|yo|y/o|y\.o\.)(?!\w))")),
    ("age", re.compile(r"\b[Aa]ged? :?\s*(9\d|1[01]\d)\b")),
    ("hospital", re.compile(r"\b(?:St\. )?(?:[A-Z][a-z]+ ){1,3}(?:Hospital|Medical Center|Clinic|Infirmary)\b")),
]
_TITLED = re.compile(rf"\b(?:Dr|Mr|Mrs|Ms|Miss|Prof|Doctor)\.?\s+({_NAME})(?:\s+({_NAME}))?")
_CAPITALISED = re.compile(rf"\b{_NAME}\b")


@lru_cache(maxsize=1)
def names() -> dict[str, str]:
    """Shipped name list: name -> "first" | "last" (a name in both lists counts as first)."""
    out: dict[str, str] = {}
    with open(data_file("phi_names.tsv"), encoding="utf-8") as fh:
        rows = [line.rstrip("\n").split("\t") for line in fh if line.strip() and not line.startswith("#")]
    for name, kind, _source in rows[1:]:
        if kind == "first" or name not in out:
            out[name] = kind
    return out


def detect(text: str, protected: Sequence[units.Span]) -> list[tuple[int, int, str]]:
    """PHI-like spans (start, end, kind), non-overlapping, outside protected spans, sorted by start."""
    found: list[tuple[int, int, str]] = []
    for kind, pattern in _PATTERNS:
        for m in pattern.finditer(text):
            found.append((*m.span(m.lastindex or 0), kind))
    for m in _TITLED.finditer(text):
        if m.group(2):
            found += [(*m.span(1), "first"), (*m.span(2), "last")]
        else:
            found.append((*m.span(1), "last"))
    known = names()
    for m in _CAPITALISED.finditer(text):
        if m.group(0) in known:
            found.append((*m.span(), known[m.group(0)]))
    found.sort(key=lambda f: (f[0] - f[1], f[0], KINDS.index(f[2])))  # longest first, then leftmost
    return units.pick_non_overlapping(found, protected)


def placeholder(kind: str, style: str, draw: int) -> str:
    """The placeholder for a span of this kind; MIMIC dates take a shifted date from bits of the draw."""
    if style == "stars":
        return "***"
    if style == "i2b2":
        return _I2B2[kind]
    if kind == "date":
        return f"[**{2100 + (draw >> 8) % 100}-{1 + (draw >> 16) % 12}-{1 + (draw >> 24) % 28}**]"
    return _MIMIC[kind]


def _choose(keys: np.ndarray, stream_id: int, n: list[int], k: list[int]) -> list[list[int]]:
    """Per text, the chosen indices (ascending) of k[i] out of n[i]."""
    n_arr, k_arr = np.array(n, dtype=np.int64), np.array(k, dtype=np.int64)
    mask = rng.choose_distinct(rng.stream(keys, stream_id), n_arr, k_arr)
    out, at = [], 0
    for size in n:
        out.append(np.flatnonzero(mask[at:at + size]).tolist())
        at += size
    return out


def apply_phi(req: Request) -> Output:
    style = req.options["style"]
    protected = protected_per_text(req)
    words = [units.word_spans(t, p) for t, p in zip(req.texts, protected, strict=True)]
    spans = [detect(t, p) for t, p in zip(req.texts, protected, strict=True)]
    k = rng.stochastic_counts(req.keys, req.rate, np.array([len(w) for w in words], dtype=np.int64)).tolist()
    replaced = _choose(req.keys, rng.STREAM_PICK, [len(s) for s in spans],
                       [min(a, len(s)) for a, s in zip(k, spans, strict=True)])
    inside = [units.SpanIndex(sp) for sp in spans]
    slots = [[ws for ws, _ in w if not ix.strictly_inside(ws)] for w, ix in zip(words, inside, strict=True)]
    extra = [max(0, a - len(s)) for a, s in zip(k, spans, strict=True)]
    inserted = _choose(req.keys, rng.STREAM_PICK2, [len(s) for s in slots],
                       [min(x, len(s)) for x, s in zip(extra, slots, strict=True)])
    replace_draws = values(req.keys, rng.STREAM_VALUE, replaced)
    insert_draws = values(req.keys, rng.STREAM_VALUE2, inserted)
    kinds = INSERT_KINDS[style]
    texts, out_spans = [], []
    for i, text in enumerate(req.texts):
        edits = [(*spans[i][j][:2], placeholder(spans[i][j][2], style, x))
                 for j, x in zip(replaced[i], replace_draws[i], strict=True)]
        for j, x in zip(inserted[i], insert_draws[i], strict=True):
            kind = kinds[((x >> 32) * len(kinds)) >> 32]
            edits.append((slots[i][j], slots[i][j], placeholder(kind, style, x) + " "))
        new, sp = units.apply_edits(text, edits, protected[i]) if edits else (text, protected[i])
        texts.append(new)
        out_spans.append(sp)
    return texts, (out_spans if req.track else None)


def count_phi(clean: str, noisy: str, options: Mapping[str, str],
              protected: Sequence[units.Span] = ()) -> tuple[int, int]:
    """(placeholders added, words of the clean text outside protected spans): new placeholders of any style are the
    changed units."""
    eligible = len(units.word_spans(clean, units.protected_spans(clean, protected)))
    return max(0, units.count_placeholders(noisy) - units.count_placeholders(clean)), eligible


register(NoiseSpec(
    name="phi", unit="word", calibrated=True, apply=apply_phi, count_units=count_phi,
    source=("data/phi_names.tsv: US Social Security Administration top given names, US Census 2010 frequent "
            "surnames (public-domain US government data)"),
    summary="PHI-mask insertion: de-identification placeholders replace PHI-like spans or are inserted",
    rate_meaning=("placeholders written per eligible word: n = words (maximal non-whitespace runs outside "
                  "protected spans); k = floor(rate*n + u), u ~ U[0,1) from the example's generator; each "
                  "placeholder is one unit. Detected PHI-like spans (d: names after a title or from the name list, "
                  "dates, phone numbers, MRN/ID numbers, ages over 89, hospital names) are replaced first: k of them "
                  "chosen uniformly if k <= d, else all d, and the other k - d placeholders (each plus one space) "
                  "are inserted before distinct word starts chosen uniformly (all of them if fewer)"),
    protects=("placeholders already in the text and, in a chain, anything an earlier noise wrote; text outside "
              "the replaced spans and insertion points is unchanged byte for byte"),
    options={"style": {"default": "mimic", "choices": ("mimic", "i2b2", "stars"),
                       "help": "placeholder style: MIMIC-III [**...**], i2b2 [NAME]-style tags, or ***"}},
))
