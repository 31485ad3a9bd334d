"""The `abbreviation` noise: clinical and texting abbreviations, expanded and contracted from a lexicon.

Lexicon: a TSV with a header `abbreviation<TAB>full<TAB>section<TAB>source` (lines starting with # are comments);
the shipped one is data/abbreviations.tsv (clinical rows from the Joint Commission "Do Not Use" list, the ISMP
error-prone list and standard medical abbreviations; general rows of common texting abbreviations). A user lexicon
(option `lexicon=PATH`) has the same columns; a malformed one is a UsageError naming the line.

Matching (the units): abbreviations match case-sensitively — an all-lowercase abbreviation also in Capitalised form
("Pt") — and full forms case-insensitively; a match must start and end on a word boundary (no word character just
before or after it, no apostrophe either, so the split-off "n't" of "does n't" or the "s" of "it's" is never a
unit, and no dotted abbreviation around it, so the "U" of "U.S." is not "you") and lie outside protected spans. At each start position the longest entry matches; overlapping
matches are resolved longest first (ties: leftmost), giving non-overlapping units. `direction` keeps abbreviation
matches (expand), full-form matches (abbreviate) or both; `section` keeps clinical rows (the default: the study's
abbreviation noise is a clinical perturbation), general rows (texting: "you" <-> "u"), or all.

Rewrite: a chosen match is replaced by one of its lexicon alternatives, chosen uniformly with the unit's
STREAM_VALUE draw; the capital of a Capitalised match carries over to a lowercase replacement ("Patient" -> "Pt",
"Pt" -> "Patient"; an all-caps match such as "PO" does not capitalise "by mouth").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from noisebench.errors import UsageError
from noisebench.noise import units
from noisebench.noise.engine import NoiseSpec, Output, Request, register
from noisebench.noise.measure import preserved
from noisebench.noise.wordnoise import run_units
from noisebench.resources import data_file

HEADER = ("abbreviation", "full", "section", "source")
BUILTIN = "builtin"


@dataclass(frozen=True)
class Lexicon:
    """Both directions of a lexicon, with compiled matchers (None when a direction has no entries)."""

    expansions: Mapping[str, tuple[str, ...]]  # abbreviation as written (incl. Capitalised variants) -> full forms
    contractions: Mapping[str, tuple[str, ...]]  # full form, lower-cased -> abbreviations
    abbreviation_re: re.Pattern | None
    full_re: re.Pattern | None

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.contractions.values())


def _trie(keys: Sequence[str]) -> str:
    """A regex matching exactly the keys, as a trie: `(?:a(?:b|cd)?|x)`. Each branch point tries its longer
    continuations first (greedy `?`) and backtracks, so within the matcher it finds the same longest key as a flat
    longest-first alternation — at the cost of the text, not of the text times the number of keys."""
    root: dict = {}
    for key in keys:
        node = root
        for ch in key:
            node = node.setdefault(ch, {})
        node[""] = {}  # end of a key

    def render(node: dict) -> str:
        branches = [re.escape(ch) + render(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        if len(branches) == 1 and "" not in node:
            return branches[0]
        group = f"(?:{'|'.join(branches)})"
        return group + "?" if "" in node else group

    return render(root)


def _matcher(keys: Sequence[str], flags: int = 0) -> re.Pattern | None:
    """Finds, at every position, the longest key there that sits on word boundaries (zero-width lookahead, so
    overlapping candidates are all reported). With re.IGNORECASE the keys must be lower-cased (they are: full forms
    are stored lower-cased), so that no two branches of the trie match the same character."""
    if not keys:
        return None
    return re.compile(rf"(?=(?<![\w'’])(?<!\w\.)({_trie(sorted(set(keys)))})(?![\w'’])(?!\.\w))", flags)


def parse_lexicon(lines: Sequence[bytes], where: str, section: str) -> Lexicon:
    """Parse lexicon lines (raw bytes, so an encoding error can name its line); UsageError on any malformed line."""
    expansions: dict[str, list[str]] = {}
    contractions: dict[str, list[str]] = {}
    header_seen = False
    for number, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise UsageError(f"lexicon {where} line {number}: not UTF-8 text") from None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = line.split("\t")
        if not header_seen:
            if tuple(f.strip() for f in fields) != HEADER:
                raise UsageError(f"lexicon {where} line {number}: expected the header "
                                 f"'{chr(9).join(HEADER)}' (tab-separated), got {line[:60]!r}")
            header_seen = True
            continue
        if len(fields) != len(HEADER):
            raise UsageError(f"lexicon {where} line {number}: expected {len(HEADER)} tab-separated fields "
                             f"({', '.join(HEADER)}), got {len(fields)}")
        abbr, full, sect, _source = (f.strip() for f in fields)
        if not abbr or not full or not sect:
            raise UsageError(f"lexicon {where} line {number}: abbreviation, full and section must not be empty")
        if abbr.lower() == full.lower():
            raise UsageError(f"lexicon {where} line {number}: abbreviation and full form are the same ({abbr!r})")
        if section != "all" and sect != section:
            continue
        expansions.setdefault(abbr, []).append(full)
        contractions.setdefault(full.lower(), []).append(abbr)
    if not header_seen:
        raise UsageError(f"lexicon {where}: empty (expected the header '{chr(9).join(HEADER)}' and rows)")
    for abbr in list(expansions):  # "pt" also matches "Pt", unless the lexicon lists "Pt" itself
        cap = abbr[:1].upper() + abbr[1:]
        if abbr == abbr.lower() and cap != abbr and cap not in expansions:
            expansions[cap] = [f[:1].upper() + f[1:] for f in expansions[abbr]]
    exp = {k: tuple(dict.fromkeys(v)) for k, v in expansions.items()}
    con = {k: tuple(dict.fromkeys(v)) for k, v in contractions.items()}
    return Lexicon(exp, con, _matcher(list(exp)), _matcher([k for k in con], re.IGNORECASE))


@lru_cache(maxsize=16)
def _load(path: str, stamp: tuple[int, int], section: str) -> Lexicon:
    with open(path, "rb") as fh:
        return parse_lexicon(fh.readlines(), path, section)


def lexicon(options: Mapping[str, str]) -> Lexicon:
    """The lexicon named by the options (cached while the file is unchanged)."""
    value = options.get("lexicon", BUILTIN)
    path = str(data_file("abbreviations.tsv")) if value == BUILTIN else os.path.expanduser(value)
    try:
        st = os.stat(path)
    except OSError:
        raise UsageError(f"lexicon {value!r} not found (a TSV with columns {', '.join(HEADER)})") from None
    if not os.path.isfile(path):
        raise UsageError(f"lexicon {value!r} is not a file")
    return _load(path, (st.st_mtime_ns, st.st_size), options.get("section", "clinical"))


def check_options(options: dict) -> dict:
    lexicon(options)  # parse now: a bad file is a usage error before any work starts
    return options


def find_matches(text: str, protected: Sequence[units.Span], options: Mapping[str, str],
                 lex: Lexicon | None = None) -> list[tuple]:
    """The units: non-overlapping matches (start, end, kind) sorted by start; kind "abbreviation" | "full"."""
    lex = lex or lexicon(options)
    direction = options.get("direction", "both")
    candidates = []
    if direction in ("both", "expand") and lex.abbreviation_re is not None:
        candidates += [(m.start(1), m.end(1), "abbreviation") for m in lex.abbreviation_re.finditer(text)]
    if direction in ("both", "abbreviate") and lex.full_re is not None:
        candidates += [(m.start(1), m.end(1), "full") for m in lex.full_re.finditer(text)]
    candidates.sort(key=lambda c: (c[0] - c[1], c[0], c[2]))  # longest first, then leftmost
    return units.pick_non_overlapping(candidates, protected)


def _rewrite(lex: Lexicon, text: str, match: tuple, draw: int) -> units.Edit:
    s, e, kind = match
    found = text[s:e]
    choices = lex.expansions[found] if kind == "abbreviation" else lex.contractions[found.lower()]
    new = choices[((draw >> 32) * len(choices)) >> 32]
    if found[:1].isupper() and not found.isupper() and new[:1].islower():  # "Pt" -> "Patient", not "PO" -> "By"
        new = new[:1].upper() + new[1:]
    return s, e, new


def apply_abbreviation(req: Request) -> Output:
    lex = lexicon(req.options)  # once per batch, not once per match
    return run_units(req, lambda text, protected, options: find_matches(text, protected, options, lex),
                     lambda text, match, draw, options: _rewrite(lex, text, match, draw))


def count_abbreviation(clean: str, noisy: str, options: Mapping[str, str],
                       protected: Sequence[units.Span] = ()) -> tuple[int, int]:
    """(lexicon matches of the clean text not kept verbatim in the noisy one, lexicon matches of the clean text
    outside protected spans)."""
    matches = find_matches(clean, units.protected_spans(clean, protected), options)
    if not matches:
        return 0, 0
    kept = preserved(clean, noisy)
    return sum(not kept(s, e) for s, e, _ in matches), len(matches)


register(NoiseSpec(
    name="abbreviation", unit="span", calibrated=True, apply=apply_abbreviation, count_units=count_abbreviation,
    check_options=check_options,
    source=("data/abbreviations.tsv: The Joint Commission 'Do Not Use' list, the ISMP list of error-prone "
            "abbreviations, standard clinical abbreviations, texting abbreviations (each row names its source)"),
    summary="abbreviation expansion both ways from a lexicon ('shortness of breath' <-> 'SOB', 'patient' <-> 'pt')",
    rate_meaning=("fraction of lexicon matches rewritten: n = non-overlapping lexicon matches in the text (full "
                  "forms and/or abbreviations per `direction`, on word boundaries, outside protected spans, "
                  "longest match first); k = floor(rate*n + u), u ~ U[0,1) from the example's generator; k matches "
                  "chosen uniformly, each replaced by one of its lexicon alternatives chosen uniformly (the capital "
                  "of a Capitalised match carries over); a text without matches is unchanged"),
    protects=("everything outside the chosen matches, byte for byte; placeholders already in the text and, in a "
              "chain, anything an earlier noise wrote"),
    options={
        "direction": {"default": "both", "choices": ("both", "expand", "abbreviate"),
                      "help": "expand abbreviations, abbreviate full forms, or both"},
        "lexicon": {"default": BUILTIN, "choices": None,
                    "help": "path to a TSV lexicon (columns abbreviation, full, section, source); builtin = "
                            "data/abbreviations.tsv"},
        "section": {"default": "clinical", "choices": ("clinical", "general", "all"),
                    "help": "lexicon rows to use: clinical (medical abbreviations), general (texting), or all"},
    },
))
