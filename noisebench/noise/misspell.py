"""The `misspell` noise: real human misspellings from a published list.

List: a TSV with a header `correct<TAB>misspelling` (lines starting with # are comments), one row per observed
(correct word, misspelling) pair. The shipped one is data/misspellings.tsv: Wikipedia's "Lists of common
misspellings/For machines" (CC BY-SA 4.0, Wikipedia contributors; provenance and the changes made are in the file's
header), inverted and kept to single lower-case ASCII words. A user list (option `list=PATH`) has the same columns;
a malformed one is a UsageError naming the line.

Units: the words of the text that the list has a misspelling for — maximal runs of ASCII letters on word boundaries
(no word character, apostrophe or dotted abbreviation just before or after), outside protected spans, whose
lower-cased form is a `correct` entry and which are written lower-case, Capitalised or ALL CAPS (mixed-case words
such as "iPhone" are not units).

Rewrite: a chosen word is replaced by one of its misspellings, chosen uniformly with the unit's STREAM_VALUE draw,
in the word's case pattern ("The" -> "Teh", "THE" -> "TEH").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache

from noisebench.errors import UsageError
from noisebench.noise import units
from noisebench.noise.engine import NoiseSpec, Output, Request, register
from noisebench.noise.measure import preserved
from noisebench.noise.wordnoise import run_units
from noisebench.resources import data_file

HEADER = ("correct", "misspelling")
BUILTIN = "builtin"
SOURCE = ("data/misspellings.tsv: Wikipedia, 'Lists of common misspellings/For machines' (Wikipedia "
          "contributors), licence CC BY-SA 4.0; 4,325 (word, misspelling) pairs over 3,091 words")
_WORD = re.compile(r"(?<![\w'’])(?<!\w\.)[A-Za-z]+(?![\w'’])(?!\.\w)")

Misspellings = Mapping[str, tuple[str, ...]]  # correct word (lower-case) -> its misspellings


def parse_list(lines: Sequence[bytes], where: str) -> Misspellings:
    """Parse list lines (raw bytes, so an encoding error can name its line); UsageError on any malformed line."""
    found: dict[str, list[str]] = {}
    header_seen = False
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise UsageError(f"misspelling list {where} line {number}: not UTF-8 text") from None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if not header_seen:
            if tuple(fields) != HEADER:
                raise UsageError(f"misspelling list {where} line {number}: expected the header "
                                 f"'{chr(9).join(HEADER)}' (tab-separated), got {line[:60]!r}")
            header_seen = True
            continue
        if len(fields) != len(HEADER):
            raise UsageError(f"misspelling list {where} line {number}: expected 2 tab-separated fields "
                             f"(correct, misspelling), got {len(fields)}")
        correct, wrong = fields
        if not re.fullmatch(r"[a-z]+", correct) or not re.fullmatch(r"[a-z]+", wrong):
            raise UsageError(f"misspelling list {where} line {number}: both fields must be one lower-case word "
                             f"of letters a-z, got {correct!r} and {wrong!r}")
        if correct == wrong:
            raise UsageError(f"misspelling list {where} line {number}: the misspelling equals the word ({wrong!r})")
        found.setdefault(correct, []).append(wrong)
    if not header_seen or not found:
        raise UsageError(f"misspelling list {where}: empty (expected the header '{chr(9).join(HEADER)}' and rows)")
    return {k: tuple(dict.fromkeys(v)) for k, v in found.items()}


@lru_cache(maxsize=8)
def _load(path: str, stamp: tuple[int, int]) -> Misspellings:
    with open(path, "rb") as fh:
        return parse_list(fh.readlines(), path)


def misspellings(options: Mapping[str, str]) -> Misspellings:
    """The list named by the options (cached while the file is unchanged)."""
    value = options.get("list", BUILTIN)
    path = str(data_file("misspellings.tsv")) if value == BUILTIN else os.path.expanduser(value)
    try:
        st = os.stat(path)
    except OSError:
        raise UsageError(f"misspelling list {value!r} not found (a TSV with columns correct, misspelling)") from None
    if not os.path.isfile(path):
        raise UsageError(f"misspelling list {value!r} is not a file")
    return _load(path, (st.st_mtime_ns, st.st_size))


def check_options(options: dict) -> dict:
    misspellings(options)  # parse now: a bad file is a usage error before any work starts
    return options


def find_words(text: str, protected: Sequence[units.Span], table: Misspellings) -> list[units.Span]:
    """The units: words with a listed misspelling, in a case pattern that can carry over, outside protected spans."""
    candidates = []
    for m in _WORD.finditer(text):
        word = m.group()
        if word.lower() in table and (word.islower() or word.isupper() or word == word.capitalize()):
            candidates.append(m.span())
    return units.pick_non_overlapping(candidates, protected)


def _rewrite(table: Misspellings, text: str, span: units.Span, draw: int) -> units.Edit:
    s, e = span
    word = text[s:e]
    choices = table[word.lower()]
    new = choices[((draw >> 32) * len(choices)) >> 32]
    if word.isupper() and len(word) > 1:
        new = new.upper()
    elif word[0].isupper():
        new = new.capitalize()
    return s, e, new


def apply_misspell(req: Request) -> Output:
    table = misspellings(req.options)  # once per batch
    return run_units(req, lambda text, protected, options: find_words(text, protected, table),
                     lambda text, span, draw, options: _rewrite(table, text, span, draw))


def count_misspell(clean: str, noisy: str, options: Mapping[str, str],
                   protected: Sequence[units.Span] = ()) -> tuple[int, int]:
    """(listed words of the clean text not kept verbatim in the noisy one, listed words of the clean text outside
    protected spans)."""
    words = find_words(clean, units.protected_spans(clean, protected), misspellings(options))
    if not words:
        return 0, 0
    kept = preserved(clean, noisy)
    return sum(not kept(s, e) for s, e in words), len(words)


register(NoiseSpec(
    name="misspell", unit="word", calibrated=True, apply=apply_misspell, count_units=count_misspell,
    check_options=check_options, in_study=False, source=SOURCE,
    summary="real human misspellings from Wikipedia's list of common misspellings ('the' -> 'teh')",
    rate_meaning=("fraction of listed words misspelled: n = words (ASCII letters on word boundaries, outside "
                  "protected spans, lower-case, Capitalised or ALL CAPS) that the misspelling list has an entry for; "
                  "k = floor(rate*n + u), u ~ U[0,1) from the example's generator; k words chosen uniformly, each "
                  "replaced by one of its listed misspellings chosen uniformly, in the word's case pattern; a text "
                  "without listed words is unchanged"),
    protects=("everything outside the chosen words, byte for byte; placeholders already in the text and, in a "
              "chain, anything an earlier noise wrote"),
    options={
        "list": {"default": BUILTIN, "choices": None,
                 "help": "path to a TSV misspelling list (columns correct, misspelling); builtin = "
                         "data/misspellings.tsv (Wikipedia's list of common misspellings)"},
    },
))
