"""The noise contract, checked for every registered noise (parametrized over NOISES, so a new one is covered).

Every noise: order, batch and process invariance; rate 0 is the identity; empty/whitespace texts unchanged;
placeholders survive; valid UTF-8. Calibrated noises also: edits only inside their eligible units (bytes outside
unchanged), no character split from its marks, and the realized level (from `measure`, which reads only the pair)
matches the rate — per text within one unit, pooled within 4 standard deviations of stochastic rounding.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

from noisebench.noise import NOISES, measure, measure_dataset, perturb, perturb_batch

REPO = Path(__file__).resolve().parents[1]
ALL = NOISES.names()
CALIBRATED = [n for n in ALL if NOISES.get(n).calibrated]
SEED = 7

TEXTS = [
    "The patient has shortness of breath and was seen by Dr. John Smith on 3/14/2150.",
    "pt c/o SOB x3 days, given 40 mg PO b.i.d.; NKDA. Follow-up with PCP in 2 wks.",
    "[**First Name**] [**Last Name**] is a 92 year old man admitted to [**Hospital**] with CHF.",
    "[NAME] called from (617) 555-0199 about MRN 4455667; plan: CBC, BMP *** pending.",
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
    "Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers are seeing green again.",
    "u r gr8 lol, c u l8r?  Thx 4 everything!!! Can't wait :)",
    "Café naïve e\u0301te\u0301 — 日本語のテキスト 👨\u200d👩\u200d👧 and 🇫🇷🇩🇪, 👍🏽 ❤️ Ünïcödé.",
    "Numbers 7.2% and 3,400 units; IDs 123456789 and dates 2150-03-14 / March 14, 2150.",
    "  leading and trailing spaces\tand\ttabs  ",
    "I", "OK", "a b c d e f g h",
    "Mrs. Garcia (aged 95) saw Dr. Patel at Mercy General Hospital; she is doing well today.",
    "SHE SAID THE BLOOD PRESSURE WAS FINE AND THE HEART RATE NORMAL",
]
KEYS = [f"ex-{i}" for i in range(len(TEXTS))]
EMPTY = ["", " ", "\n", "\t \n  "]
PLACEHOLDER = re.compile(r"\[\*\*[^\[\]\n]*?\*\*\]|\[[A-Z][A-Z0-9_]+(?:[ /-][A-Z0-9_]+)*\]|\*{3,}")
EXTENDER = {0x200C, 0x200D} | set(range(0xFE00, 0xFE10)) | set(range(0x1F3FB, 0x1F400)) | set(range(0xE0020, 0xE0080))


def _needs(noise: str) -> None:
    if NOISES.get(noise).requires:
        pytest.importorskip(NOISES.get(noise).requires)


@pytest.fixture(scope="module")
def other_process() -> dict:
    """Every applicable noise's output on TEXTS computed in a fresh interpreter with another PYTHONHASHSEED."""
    code = (
        "import json, sys\n"
        "from noisebench.noise import NOISES, perturb_batch\n"
        "texts, keys, names = json.loads(sys.stdin.read())\n"
        f"print(json.dumps({{n: perturb_batch(texts, keys, noise=n, rate=0.4, seed={SEED}) for n in names}}))\n")
    names = [n for n in ALL if not NOISES.get(n).requires or _importable(NOISES.get(n).requires)]
    env = dict(os.environ, PYTHONHASHSEED="4242")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps([TEXTS, KEYS, names]), env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    return json.loads(out.stdout)


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("noise", ALL)
def test_same_output_in_any_order_batch_or_process(noise, other_process):
    _needs(noise)
    whole = perturb_batch(TEXTS, KEYS, noise=noise, rate=0.4, seed=SEED)
    order = list(range(len(TEXTS)))
    random.Random(1).shuffle(order)
    shuffled = perturb_batch([TEXTS[i] for i in order], [KEYS[i] for i in order], noise=noise, rate=0.4, seed=SEED)
    assert [shuffled[order.index(i)] for i in range(len(TEXTS))] == whole
    one_by_one = [perturb(t, noise=noise, rate=0.4, seed=SEED, key=k) for t, k in zip(TEXTS, KEYS, strict=True)]
    assert one_by_one == whole
    chunked = [out for i in range(0, len(TEXTS), 5)
               for out in perturb_batch(TEXTS[i:i + 5], KEYS[i:i + 5], noise=noise, rate=0.4, seed=SEED)]
    assert chunked == whole
    assert other_process[noise] == whole
    assert whole != TEXTS  # it did something
    assert perturb_batch(TEXTS, KEYS, noise=noise, rate=0.4, seed=SEED + 1) != whole  # and the seed matters


@pytest.mark.parametrize("noise", ALL)
def test_rate_zero_is_identity_and_empty_texts_are_unchanged(noise):
    _needs(noise)
    assert perturb_batch(TEXTS, KEYS, noise=noise, rate=0.0, seed=SEED) == TEXTS
    assert perturb_batch(EMPTY, ["e"] * len(EMPTY), noise=noise, rate=1.0, seed=SEED) == EMPTY
    assert perturb_batch([], [], noise=noise, rate=0.5, seed=SEED) == []


@pytest.mark.parametrize("noise", ALL)
@pytest.mark.parametrize("rate", [0.5, 1.0])
def test_placeholders_survive_and_text_stays_valid(noise, rate):
    _needs(noise)
    for clean, noisy in zip(TEXTS, perturb_batch(TEXTS, KEYS, noise=noise, rate=rate, seed=SEED), strict=True):
        noisy.encode("utf-8")  # no lone surrogates
        before = PLACEHOLDER.findall(clean)
        after = iter(PLACEHOLDER.findall(noisy))
        assert all(p in after for p in before), (clean, noisy)  # each old placeholder, in order


def _clusters(text: str) -> list[str]:
    """Independent segmentation: a base plus following marks/extenders, and whatever a ZWJ joins."""
    out: list[str] = []
    for i, ch in enumerate(text):
        joins = unicodedata.category(ch).startswith("M") or ord(ch) in EXTENDER
        if out and i and (joins or text[i - 1] == "\u200d" or (_ri(ch) and _ri(text[i - 1]) and len(out[-1]) == 1)):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _ri(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(c in it for c in short)


def _lower_outside_placeholders(token: str) -> str:
    return "".join(p if PLACEHOLDER.fullmatch(p) else p.lower() for p in PLACEHOLDER.split(token) if p) if \
        PLACEHOLDER.search(token) else token.lower()


@functools.cache
def _misspellings() -> dict[str, set[str]]:
    """The shipped list read independently of the noise: correct word -> its misspellings."""
    table: dict[str, set[str]] = {}
    lines = (REPO / "data" / "misspellings.tsv").read_text(encoding="utf-8").splitlines()
    for line in [x for x in lines if x and not x.startswith("#")][1:]:
        correct, wrong = line.split("\t")
        table.setdefault(correct, set()).add(wrong)
    return table


def _check_token(noise: str, clean: str, noisy: str) -> bool:
    """A whitespace-delimited token's change is one this noise may make (checked without the noise's code)."""
    if clean == noisy:
        return True
    if PLACEHOLDER.fullmatch(clean):
        return False
    if noise == "substitute":
        a, b = _clusters(clean), _clusters(noisy)
        return len(a) == len(b)
    if noise == "swap":
        return sorted(_clusters(clean)) == sorted(_clusters(noisy))
    if noise == "insert":
        return _subsequence(clean, noisy)
    if noise == "delete":
        return _subsequence(noisy, clean)
    if noise == "casing":
        return noisy == _lower_outside_placeholders(clean) or noisy == clean.lower()
    if noise == "misspell":  # letter runs replaced by a listed misspelling in the same case pattern, nothing else
        a, b = re.split(r"([A-Za-z]+)", clean), re.split(r"([A-Za-z]+)", noisy)
        table = _misspellings()
        return len(a) == len(b) and all(
            x == y or (i % 2 == 1 and y.lower() in table.get(x.lower(), ()) and
                       y in (y.lower(), y.upper(), y.capitalize()) and
                       (x.isupper() == y.isupper() and x[0].isupper() == y[0].isupper()))
            for i, (x, y) in enumerate(zip(a, b, strict=True)))
    raise AssertionError(f"no token rule for noise {noise!r}: add one")


def _possible_outputs(noise: str, text: str) -> re.Pattern:
    """Every text a span noise may produce from `text`: the clean text with units optionally rewritten (and, for
    phi, "placeholder + space" optionally before word starts), everything else literal."""
    placeholders = [m.span() for m in PLACEHOLDER.finditer(text)]
    events: list[tuple[int, int, str]] = []  # (start, end, alternation) in text order
    if noise == "abbreviation":
        from noisebench.noise.abbreviation import find_matches, lexicon

        options = {"direction": "both", "section": "all", "lexicon": "builtin"}
        lex = lexicon(options)
        for s, e, kind in find_matches(text, placeholders, options):
            found = text[s:e]
            alts = lex.expansions[found] if kind == "abbreviation" else lex.contractions[found.lower()]
            alts = {found} | set(alts) | {a[:1].upper() + a[1:] for a in alts}
            events.append((s, e, "(?:" + "|".join(map(re.escape, sorted(alts, key=len, reverse=True))) + ")"))
    elif noise == "phi":
        from noisebench.noise.phi import detect

        ph = r"(?:\[\*\*[^\[\]\n]*?\*\*\]|\[[A-Z]+\]|\*\*\*)"
        spans = detect(text, placeholders)
        for m in re.finditer(r"\S+", text):
            if not PLACEHOLDER.fullmatch(m.group()) and not any(s < m.start() < e for s, e, _ in spans):
                events.append((m.start(), m.start(), f"(?:{ph} )?"))
        events += [(s, e, f"(?:{re.escape(text[s:e])}|{ph})") for s, e, _ in spans]
    else:
        raise AssertionError(f"no rule for noise {noise!r}: add one")
    pattern, pos = "", 0
    for s, e, alternation in sorted(events, key=lambda ev: (ev[0], ev[1])):
        pattern += re.escape(text[pos:s]) + alternation
        pos = e
    return re.compile(pattern + re.escape(text[pos:]))


@pytest.mark.parametrize("noise", CALIBRATED)
@pytest.mark.parametrize("rate", [0.3, 1.0])
def test_edits_stay_inside_eligible_units(noise, rate):
    """Character noises and casing never touch whitespace and change each token only as they may; span noises
    change the text only inside their units (lexicon matches, PHI-like spans, insertion points at word starts)."""
    for clean, noisy in zip(TEXTS, perturb_batch(TEXTS, KEYS, noise=noise, rate=rate, seed=SEED), strict=True):
        if NOISES.get(noise).unit == "character" or noise in ("casing", "misspell"):
            a, b = re.split(r"(\s)", clean), re.split(r"(\s)", noisy)  # tokens between whitespace characters
            assert len(a) == len(b) and a[1::2] == b[1::2], (clean, noisy)  # every whitespace character kept
            assert all(_check_token(noise, x, y) for x, y in zip(a[::2], b[::2], strict=True)), (clean, noisy)
            continue
        assert _possible_outputs(noise, clean).fullmatch(noisy), (noise, clean, noisy)


@pytest.mark.parametrize("noise", CALIBRATED)
def test_no_character_is_split_from_its_marks(noise):
    for clean, noisy in zip(TEXTS, perturb_batch(TEXTS, KEYS, noise=noise, rate=1.0, seed=SEED), strict=True):
        joined_before = {c for c in _clusters(clean) if len(c) > 1}
        joined_after = {c for c in _clusters(noisy) if len(c) > 1}
        assert joined_after <= joined_before, (noise, clean, noisy, joined_after - joined_before)
        assert not noisy or not (unicodedata.category(noisy[0]).startswith("M") and clean and
                                 not unicodedata.category(clean[0]).startswith("M"))


@pytest.mark.parametrize("noise", CALIBRATED)
@pytest.mark.parametrize("rate", [0.1, 0.3])
def test_realized_level_matches_the_rate(noise, rate):
    """Per text: |changed - rate * n| < 1 unit (2 characters for swap: one transposition moves two). Pooled over
    many (text, key) pairs: |sum(changed) - rate * sum(n)| within 4 sd of the stochastic rounding (sd <= sqrt(T)/2
    for T texts) — independent of the generator, since `measure` counts from the pair alone."""
    texts = [t for t in TEXTS if t.strip()] * 25
    keys = [f"k{i}" for i in range(len(texts))]
    noisy = perturb_batch(texts, keys, noise=noise, rate=rate, seed=SEED)
    slack = 2 if noise == "swap" else 1
    total_changed = total_units = shortfalls = 0
    for clean, key, new in zip(texts, keys, noisy, strict=True):
        level = measure(clean, new, noise=noise)
        if noise == "swap" and level.units_changed < 2 * int(rate * level.units / 2):
            # Fewer candidate pairs than asked: then every candidate must have been used — exactly what the
            # same text gives at rate 1 — so a swap that merely did too little cannot hide here.
            full = measure(clean, perturb(clean, noise="swap", rate=1.0, seed=SEED, key=key), noise="swap")
            assert level.units_changed == full.units_changed, (clean, new)
            shortfalls += 1
            continue
        assert abs(level.units_changed - rate * level.units) < slack, (clean, new, level)
        total_changed += level.units_changed
        total_units += level.units
    pooled = measure_dataset(texts, noisy, noise=noise)
    bound = 4 * slack * (len(texts) ** 0.5) / 2
    if noise != "swap":
        assert (pooled.units_changed, pooled.units) == (total_changed, total_units)
    assert abs(total_changed - rate * total_units) <= bound, (total_changed, rate * total_units, bound)
    assert pooled.changed_examples > 0
    assert shortfalls <= len(texts) // 10  # shortfalls are the exception (texts with few distinct neighbours)


def test_swap_shortfall_only_when_targets_run_out():
    """A text with too few swappable pairs gets all it has: 'aaaa bb' has none, 'ab' one."""
    assert perturb("aaaa bb", noise="swap", rate=1.0, seed=0, key="x") == "aaaa bb"  # identical pairs never count
    assert perturb("ab", noise="swap", rate=1.0, seed=0, key="x") == "ba"
    out = perturb("aabb", noise="swap", rate=1.0, seed=0, key="x")  # one distinct pair (a, b) in the middle
    assert out == "abab" and measure("aabb", out, noise="swap").units_changed == 2


def _long_text(size: int) -> str:
    """A single-line text of `size` characters: the contract texts (clinical, social, Unicode) repeated."""
    unit = " ".join(t.strip() for t in TEXTS if t.strip()) + " "
    return (unit * (size // len(unit) + 1))[:size]


def _best_seconds(fn, repeats: int = 3) -> float:
    import time

    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("noise", ALL)
def test_cost_per_character_does_not_grow_with_length(noise):
    """Perturbing, measuring and highlighting a text cost time linear in its length: the time per character at
    200,000 characters is at most 3x that at 20,000 (a quadratic step gives ~10x). A ratio of two runs made side
    by side, never an absolute time."""
    _needs(noise)
    from noisebench.commands.noise_cmd import _highlighted

    def work(text: str) -> None:
        noisy = perturb(text, noise=noise, rate=0.3, seed=SEED, key="long")
        measure(text, noisy, noise=noise)
        _highlighted(text, noisy)

    short, long = _long_text(20_000), _long_text(200_000)
    work(short)  # warm-up: imports, lexicons, name lists
    per_char_short = _best_seconds(lambda: work(short)) / len(short)
    per_char_long = _best_seconds(lambda: work(long), repeats=2) / len(long)
    assert per_char_long <= 3 * per_char_short, (noise, per_char_short * 1e9, per_char_long * 1e9)


@pytest.mark.parametrize("noise,rate", [("substitute", 0.3), ("insert", 0.3), ("insert", 1.0), ("delete", 0.5),
                                        ("swap", 0.3), ("phi", 0.3), ("abbreviation", 1.0)])
def test_windowed_distance_of_long_texts_equals_the_exact_distance(noise, rate):
    """Above align.EXACT_LIMIT the distance is computed window by window; on noisy copies of 45,000-character texts
    it equals rapidfuzz's exact (whole-matrix) Levenshtein distance, over code points and over character lists."""
    from rapidfuzz.distance import Levenshtein

    from noisebench.noise import align, units

    clean = _long_text(45_000)
    noisy = perturb(clean, noise=noise, rate=rate, seed=SEED, key="window")
    assert max(len(clean), len(noisy)) > align.EXACT_LIMIT
    assert align.distance(clean, noisy) == Levenshtein.distance(clean, noisy)
    a, b = units.characters(clean), units.characters(noisy)
    assert align.distance(a, b) == Levenshtein.distance(a, b)
    ops = align.opcodes(clean, noisy)  # a valid script: equal blocks really are equal and everything is covered
    assert ops[0][1] == ops[0][3] == 0 and ops[-1][2] == len(clean) and ops[-1][4] == len(noisy)
    for (tag, i1, i2, j1, j2), nxt in zip(ops, ops[1:] + [None], strict=True):
        if tag == "equal":
            assert clean[i1:i2] == noisy[j1:j2]
        if nxt is not None:
            assert (nxt[1], nxt[3]) == (i2, j2)
