"""The noise engine's parts against independent computations: key derivation, the counter-based generator,
uniform selection, stochastic rounding, edit distance, segmentation, validation, lexicon, PHI detection, chains."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from noisebench.errors import UsageError
from noisebench.noise import (
    NOISES,
    Step,
    abbreviation,
    example_keys,
    measure,
    measure_dataset,
    perturb,
    perturb_batch,
    perturb_chain,
    perturb_chain_batch,
    phi,
    rng,
    units,
    validate_options,
    validate_rate,
)
from noisebench.noise.align import distance as levenshtein

MASK = (1 << 64) - 1


def _splitmix(state: int, count: int) -> list[int]:
    """Reference splitmix64 (Vigna), pure Python."""
    out = []
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        out.append(z ^ (z >> 31))
    return out


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def test_example_keys_follow_the_documented_blake2b_derivation():
    options = {"mode": "uniform"}
    keys = ["abc", 'quote"and\\slash', "ünï", "\n"]
    got = example_keys(keys, noise="substitute", rate=0.1, seed=42, options=options)
    for key, value in zip(keys, got.tolist(), strict=True):
        message = json.dumps(["noisebench.noise/1", 42, "substitute", 0.1, options, key], sort_keys=True,
                              separators=(",", ":"), ensure_ascii=True).encode("utf-8")
        assert value == int.from_bytes(hashlib.blake2b(message, digest_size=8).digest(), "little")


def test_draws_are_splitmix64_streams():
    key = 0x0123456789ABCDEF
    for s in (rng.STREAM_COUNT, rng.STREAM_PICK):
        state = _mix(key ^ s)
        got = rng.draw(rng.stream(np.array([key], dtype=np.uint64), s)[[0, 0, 0, 0, 0]], np.arange(5))
        assert got.tolist() == _splitmix(state, 5)


def test_below_and_unit_are_in_range():
    x = rng.draw(np.uint64(5), np.arange(10_000))
    b = rng.below(x, np.full(10_000, 7))
    assert b.min() == 0 and b.max() == 6
    u = rng.unit(x)
    assert 0 <= u.min() and u.max() < 1


def test_stochastic_counts_are_exact_in_expectation():
    keys = np.arange(20_000, dtype=np.uint64)
    n = np.full(20_000, 37)
    k = rng.stochastic_counts(keys, 0.3, n)
    assert set(np.unique(k).tolist()) == {11, 12}  # floor(11.1 + u)
    assert abs(k.mean() - 11.1) < 4 * np.sqrt(0.09 / 20_000)  # Bernoulli(0.1) part, 4 sd


@pytest.mark.parametrize(("n", "k"), [(6, 2), (6, 5), (5, 0), (5, 5), (1, 1)])
def test_choose_distinct_is_uniform_over_subsets(n, k):
    trials = 6000
    keys = rng.stream(np.arange(trials, dtype=np.uint64), rng.STREAM_PICK)
    mask = rng.choose_distinct(keys, np.full(trials, n), np.full(trials, k)).reshape(trials, n)
    assert (mask.sum(axis=1) == k).all()
    subsets = list(itertools.combinations(range(n), k))
    index = {s: i for i, s in enumerate(subsets)}
    counts = np.bincount([index[tuple(np.flatnonzero(row))] for row in mask], minlength=len(subsets))
    if len(subsets) > 1:
        assert stats.chisquare(counts).pvalue > 1e-4


def test_choose_distinct_mixed_batch_matches_single_runs():
    n = np.array([0, 3, 100, 1, 57])
    k = np.array([0, 2, 30, 1, 40])
    states = rng.stream(np.arange(5, dtype=np.uint64) + 99, rng.STREAM_PICK)
    batch = rng.choose_distinct(states, n, k)
    singles = np.concatenate([rng.choose_distinct(states[i:i + 1], n[i:i + 1], k[i:i + 1]) for i in range(5)])
    assert batch.tolist() == singles.tolist()


def _dp(a, b) -> int:
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1]


def test_levenshtein_matches_dynamic_programming():
    r = random.Random(3)
    for _ in range(300):
        a = "".join(r.choice("abc ") for _ in range(r.randint(0, 70)))
        b = "".join(r.choice("abcd") for _ in range(r.randint(0, 70)))
        assert levenshtein(a, b) == _dp(a, b)


def test_characters_keep_marks_and_emoji_sequences_whole():
    text = "e\u0301 👨\u200d👩\u200d👧 🇫🇷🇩🇪 👍🏽 ❤️ x"
    assert units.characters(text) == ["e\u0301", " ", "👨\u200d👩\u200d👧", " ", "🇫🇷", "🇩🇪", " ", "👍🏽", " ",
                                      "❤️", " ", "x"]
    assert units.eligible_characters(text) == 7
    assert units.eligible_characters("[**Name**] ab *** [NAME]") == 2


def test_placeholders_found():
    text = "a [**First Name**] b [NAME] c *** d [A] e [**2150-3-14**][LOCATION]"
    found = [text[s:e] for s, e in units.placeholder_spans(text)]
    assert found == ["[**First Name**]", "[NAME]", "***", "[**2150-3-14**]", "[LOCATION]"]


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), float("inf"), "0.1", True, None])
def test_validate_rate_rejects(bad):
    with pytest.raises(UsageError):
        validate_rate(bad)


def test_validate_options():
    assert validate_options("substitute", {}) == {"mode": "uniform"}
    assert validate_options("insert", {}) == {}
    for noise, options in [("substitute", {"mode": "qwerty"}), ("substitute", {"mdoe": "keyboard"}),
                           ("phi", {"style": "hipaa"}), ("casing", {"x": "y"})]:
        with pytest.raises(UsageError):
            validate_options(noise, options)
    with pytest.raises(UsageError, match="did you mean 'mode'"):
        validate_options("substitute", {"mdoe": "keyboard"})
    with pytest.raises(UsageError, match="did you mean 'substitute'"):
        perturb("x", noise="substitue", rate=0.1, seed=0, key="k")


def test_bad_batches_are_usage_errors():
    with pytest.raises(UsageError):
        perturb_batch(["a", "b"], ["k"], noise="delete", rate=0.1, seed=0)
    with pytest.raises(UsageError):
        perturb_batch("ab", "k", noise="delete", rate=0.1, seed=0)
    with pytest.raises(UsageError):
        perturb(b"bytes", noise="delete", rate=0.1, seed=0, key="k")


def test_spelling_out_a_default_option_changes_nothing():
    text = "The quick brown fox"
    assert perturb(text, noise="substitute", rate=0.5, seed=1, key="k") == perturb(
        text, noise="substitute", rate=0.5, seed=1, key="k", mode="uniform")


def test_shipped_lexicon_has_sources_and_sections():
    lines = [line for line in abbreviation.data_file("abbreviations.tsv").read_text("utf-8").splitlines()
             if line and not line.startswith("#")]
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) >= 300 and all(len(r) == 4 and all(r) for r in rows)
    assert {r[2] for r in rows} == {"clinical", "general"}
    assert {r[3] for r in rows} >= {"JC", "ISMP", "MED", "TXT"}


@pytest.mark.parametrize(("content", "message"), [
    ("abbreviation\tfull\tsection\tsource\npt\tpatient\tclinical\n", "line 2: expected 4"),
    ("abbr\tfull\n", "line 1: expected the header"),
    ("# only a comment\n", "empty"),
    ("abbreviation\tfull\tsection\tsource\n\tpatient\tclinical\tX\n", "line 2: abbreviation, full and section"),
])
def test_malformed_lexicon_names_the_line(tmp_path, content, message):
    path = tmp_path / "lex.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match=message):
        perturb("pt", noise="abbreviation", rate=1.0, seed=0, key="k", lexicon=str(path))


def test_lexicon_errors_for_missing_and_non_utf8_files(tmp_path):
    with pytest.raises(UsageError, match="not found"):
        validate_options("abbreviation", {"lexicon": str(tmp_path / "nope.tsv")})
    path = tmp_path / "latin1.tsv"
    path.write_bytes(b"abbreviation\tfull\tsection\tsource\nx\tcaf\xe9\tgeneral\tme\n")
    with pytest.raises(UsageError, match="line 2: not UTF-8"):
        validate_options("abbreviation", {"lexicon": str(path)})


def test_user_lexicon_matching_rules(tmp_path):
    path = tmp_path / "lex.tsv"
    path.write_text("abbreviation\tfull\tsection\tsource\nSOB\tshortness of breath\tclinical\tme\n"
                    "SB\tshortness\tclinical\tme\npt\tpatient\tclinical\tme\n", encoding="utf-8")
    opts = {"lexicon": str(path)}
    # longest match first; word boundaries (SOBER is no match); "Patient" -> "Pt", "Pt" -> "Patient"
    assert perturb("Shortness of breath, SOBER patient. Pt ok", noise="abbreviation", rate=1.0, seed=0, key="k",
                   **opts) == "SOB, SOBER pt. Patient ok"
    assert perturb("shortness", noise="abbreviation", rate=1.0, seed=0, key="k", **opts) == "SB"
    assert perturb("no matches here", noise="abbreviation", rate=1.0, seed=0, key="k", **opts) == "no matches here"


def test_phi_detection():
    text = ("Dr. John Smith and Mrs. Garcia saw the 92 year old (aged 95) on 3/14/2150 and March 3, 2150 at "
            "Mercy General Hospital; MRN: 1234567, call (617) 555-0199. An 85 year old was fine.")
    found = {(text[s:e], kind) for s, e, kind in phi.detect(text, [])}
    assert found == {("John", "first"), ("Smith", "last"), ("Garcia", "last"), ("92", "age"), ("95", "age"),
                     ("3/14/2150", "date"), ("March 3, 2150", "date"), ("Mercy General Hospital", "hospital"),
                     ("1234567", "id"), ("(617) 555-0199", "phone")}


def test_chain_never_edits_what_an_earlier_step_wrote():
    text = "Dr. John Smith saw the patient on 3/14/2150 for shortness of breath."
    out = perturb_chain(text, [("phi", 1.0), ("substitute", 1.0)], seed=0, key="k")
    placeholders = [out[s:e] for s, e in units.placeholder_spans(out)]
    assert len(placeholders) == 12 and all(p.startswith("[**") for p in placeholders)
    out = perturb_chain(text, [Step("abbreviation", 1.0), ("delete", 1.0)], seed=0, key="k")
    assert "pt" in out and "SOB" in out and "saw" not in out
    # style stars: the inserted *** are protected too, and a later casing step leaves [NAME] alone
    out = perturb_chain("Dr. John Smith [NAME] ok", [("phi", 1.0, {"style": "stars"}), ("delete", 1.0)], seed=0,
                        key="k")
    assert out.count("***") == 4 and "[NAME]" in out and "ok" not in out


@pytest.mark.parametrize("noise", NOISES.names())
def test_chain_of_one_step_equals_perturb(noise):
    if NOISES.get(noise).requires:
        pytest.importorskip(NOISES.get(noise).requires)
    texts = ["Dr. John Smith saw pt for SOB on 3/14/2150 [NAME] ***.", "e\u0301t\u00e9 👍🏽 ok", "", "The Quick fox"]
    keys = ["a", "b", "c", "d"]
    assert perturb_chain_batch(texts, keys, [(noise, 0.6)], seed=3) == perturb_batch(
        texts, keys, noise=noise, rate=0.6, seed=3)


def test_measure_hand_computed():
    sub = measure("abcd efgh", "abxd efgh", noise="substitute")
    assert (sub.edit_ratio, sub.unit_fraction, sub.units) == (1 / 9, 1 / 8, 8)
    swap = measure("abcd", "bacd", noise="swap")
    assert (swap.edit_ratio, swap.unit_fraction) == (0.5, 0.5)  # two characters moved
    ins = measure("ab [NAME]", "axb [NAME]", noise="insert")
    assert (ins.edits, ins.units_changed, ins.units) == (1, 1, 2)
    dele = measure("abcd", "ad", noise="delete")
    assert (dele.edit_ratio, dele.unit_fraction) == (0.5, 0.5)
    case = measure("The Cat sat ON it", "the Cat sat on it", noise="casing")
    assert (case.units_changed, case.units) == (2, 3)
    abbr = measure("pt has SOB ok", "patient has SOB okay", noise="abbreviation", section="all")
    assert (abbr.units_changed, abbr.units) == (2, 3)
    ph = measure("seen by Dr. Smith today", "seen by Dr. [**Last Name**] [NAME] today", noise="phi")
    assert (ph.units_changed, ph.units) == (2, 5)
    assert measure("", "", noise="delete").edit_ratio == 0.0


def test_measure_dataset_pools_totals_over_totals():
    cleans, noisys = ["abcd", "ab", "xyz"], ["abxd", "ab", "x"]
    pooled = measure_dataset(cleans, noisys, noise="substitute")
    assert pooled.edit_ratio == 3 / 9  # (1 + 0 + 2) / (4 + 2 + 3)
    assert pooled.unit_fraction == 3 / 9
    assert pooled.changed_examples == 2 / 3
    with pytest.raises(UsageError):
        measure_dataset(["a"], [], noise="substitute")


def test_nlpaug_noises_restore_global_random_state():
    pytest.importorskip("nlpaug")
    random.seed(123)
    np.random.seed(123)
    expected = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(123)
    perturb_batch(["some text here", "more text"], ["a", "b"], noise="nlpaug-keyboard", rate=0.5, seed=0)
    assert (random.random(), np.random.random()) == expected


def test_nlpaug_missing_is_a_usage_error(monkeypatch):
    from noisebench.noise import nlpaug_adapter

    nlpaug_adapter.augmenter.cache_clear()
    monkeypatch.setitem(sys.modules, "nlpaug", None)
    monkeypatch.setitem(sys.modules, "nlpaug.augmenter", None)
    monkeypatch.setitem(sys.modules, "nlpaug.augmenter.char", None)
    try:
        with pytest.raises(UsageError, match="pip install nlpaug"):
            perturb("some text", noise="nlpaug-ocr", rate=0.3, seed=0, key="k")
    finally:
        nlpaug_adapter.augmenter.cache_clear()


def test_engine_imports_without_nlpaug():
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'nlpaug':\n"
            "            raise ImportError('blocked')\n"
            "sys.meta_path.insert(0, Block())\n"
            "from noisebench.noise import NOISES, perturb\n"
            "assert 'nlpaug-keyboard' in NOISES and 'nlpaug' not in sys.modules\n"
            "print(perturb('hello world', noise='swap', rate=0.5, seed=0, key='k'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


def test_abbreviation_trie_matcher_finds_what_a_flat_longest_first_alternation_finds():
    """The trie-shaped matcher (linear in the text) against the plain alternation it replaced, on real notes and
    on hand-made prefix cases, in both directions of the shipped lexicon."""
    import re

    from noisebench.datasets import load_dataset
    from noisebench.noise import abbreviation

    def flat(keys, flags=0):
        alternation = "|".join(re.escape(k) for k in sorted(set(keys), key=lambda k: (-len(k), k)))
        return re.compile(rf"(?=(?<![\w'’])(?<!\w\.)({alternation})(?![\w'’])(?!\.\w))", flags)

    lex = abbreviation.lexicon({"lexicon": "builtin", "section": "all"})
    text = " ".join(ex.text for ex in load_dataset("clinical-notes").train[:400])
    text += " ab abc abd. x xy xyz ab.c Ab AB shortness of breath, Shortness Of Breath. pt's pts"
    for keys, flags, built in ((list(lex.expansions), 0, lex.abbreviation_re),
                               (list(lex.contractions), re.IGNORECASE, lex.full_re)):
        expected = [m.span(1) for m in flat(keys, flags).finditer(text)]
        assert expected, "the text must exercise the lexicon"
        assert [m.span(1) for m in built.finditer(text)] == expected
    small = abbreviation._matcher(["ab", "abc", "abd", "x", "xy"])
    assert [m.group(1) for m in small.finditer("ab abc abd abcd xy x xyz")] == ["ab", "abc", "abd", "xy", "x"]


def test_casing_output_stays_editable_in_a_chain_and_the_step_levels_hold_their_rates(shared_data):
    """casing writes no new content, so casing+substitute puts typos anywhere in the lower-cased text (also inside
    words that were capitalised), and each step's level — measured against the text it was given, over the units it
    could edit — is its rate: checked by independent counting (position-wise differences of equal-length texts)."""
    from noisebench.noise import composed_steps, measure_dataset, perturb_chain_steps

    rows = [line.split("\t")[0] for line in (shared_data / "ag_news" / "test.tsv").read_text().splitlines()[1:400]]
    keys = [str(i) for i in range(len(rows))]
    steps = composed_steps("casing+substitute", (1.0, 0.05), {"casing": {}, "substitute": {"mode": "uniform"}})
    lowered, typed = perturb_chain_steps(rows, keys, steps, seed=11)
    assert lowered.texts == [t.lower() for t in rows]  # AG News has no placeholders: all of it lower-cased
    assert lowered.protected == [[] for _ in rows] and typed.protected == [[] for _ in rows]
    changed = eligible = upper_hit = 0
    for clean, low, noisy in zip(rows, lowered.texts, typed.texts, strict=True):
        if len(low) != len(clean) or len(noisy) != len(low) or not low.isascii():
            continue  # the independent count below needs one code point per character
        diff = [i for i, (a, b) in enumerate(zip(low, noisy, strict=True)) if a != b]
        changed += len(diff)
        eligible += sum(not c.isspace() for c in low)
        upper_hit += sum(clean[i].isupper() for i in diff)
    assert eligible > 50_000 and abs(changed / eligible - 0.05) < 0.003
    assert upper_hit > 0  # a capitalised word's letters were not protected from the typos
    level = measure_dataset(lowered.texts, typed.texts, noise="substitute", protected=typed.protected)
    assert abs(level.unit_fraction - 0.05) < 0.003


def test_a_later_step_level_counts_only_what_it_could_edit():
    """abbreviation then substitute at 1.0: every character outside what the abbreviation step wrote is substituted,
    none inside; the substitute step's level over the characters it could edit is exactly 1, and lower when the
    written expansions are counted too."""
    from noisebench.noise import composed_steps, measure_dataset, perturb_chain_steps

    text = "The pt has SOB and CHF; give 5 mg PO."
    expanded, typed = perturb_chain_steps([text], ["k"], composed_steps("abbreviation+substitute", (1.0, 1.0),
                                                                        {}), seed=0)
    written = [expanded.texts[0][s:e] for s, e in typed.protected[0]]
    assert "shortness of breath" in written and "patient" in written
    for s, e in typed.protected[0]:
        assert typed.texts[0][s:e] == expanded.texts[0][s:e]
    with_spans = measure_dataset(expanded.texts, typed.texts, noise="substitute", protected=typed.protected)
    assert with_spans.unit_fraction == 1.0
    without = measure_dataset(expanded.texts, typed.texts, noise="substitute")
    assert without.unit_fraction < 0.5  # the expansions are most of the text


def test_composition_names_are_checked():
    from noisebench.errors import UsageError
    from noisebench.noise import composed_steps, composition

    assert composition("casing+substitute") == ["casing", "substitute"]
    assert composition("substitute") is None
    with pytest.raises(UsageError, match="unknown noise 'substitue'.*substitute"):
        composition("casing+substitue")
    with pytest.raises(UsageError, match="names a noise twice"):
        composition("swap+swap")
    with pytest.raises(UsageError, match="has 2 noises but its rate has 1 parts"):
        composed_steps("casing+swap", (0.1,), {})
