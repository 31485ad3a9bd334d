"""Golden contract: (noise, text, key, seed, rate, options) -> exact noisy text, for every registered noise.

Each output below was checked by eye against the noise's rule when it was written (the counts are worked out in
the comments); a change here is a change of every benchmark's noise and must be deliberate. A noise without a
golden case fails `test_every_noise_has_a_golden_case`.
"""

from __future__ import annotations

import re

import pytest

from noisebench.noise import NOISES, perturb

SEED = 2024
FOX = "The quick brown fox jumps over 13 lazy dogs."  # 37 eligible characters
NOTE = "The patient has shortness of breath; give 5 mg PO twice a day. Pt is stable."
MIS = "The patient recieved their medication and the condition improved; THE END [**Name**] untill iPhone."
PHI = "Dr. John Smith saw the 92 year old patient on 3/14/2150; call (617) 555-0199."  # 14 words, 5 PHI spans

GOLDEN = [
    # k = floor(0.25*37 + u) = 9: letters stay letters of the same case, 13 -> 63, "." -> "^"
    ("substitute", FOX, "g1", 0.25, {}, "The qzick xpotz foq jumps ojer 63 lazy dogs^"),
    # 19 eligible, k = 9 QWERTY neighbours of the same class (P->L, i->j, n->h, /->', 0->9, .->;); placeholder kept
    ("substitute", "Patient [**First Name**] has BP 120/80.", "g2", 0.5, {"mode": "keyboard"},
     "Latjeht [**First Name**] jaa HP 120'89;"),
    # every character replaced whole: é -> ä (Latin-1 lowercase), e+U+0301 -> n, thumbs-up+skin tone -> one emoji
    ("substitute", "Café e\u0301 👍🏽 日本", "g3", 1.0, {}, "Sxbä n 😞 旘朸"),
    # k = 7 insertions, each of the same class as the character before it
    ("insert", FOX, "g1", 0.2, {}, "The quicdkv brown fox jukmpsy oiveru 13 lazy dogsj."),
    # k = 7 deletions
    ("delete", FOX, "g1", 0.2, {}, "Th qui bwn fox jmp over 13 lazy dogs."),
    # k = floor(0.4*37/2 + u) = 7 transpositions of different adjacent characters inside words
    ("swap", FOX, "g1", 0.4, {}, "hTe qiukc brown ofx jumps ovre 31 layz dogs."),
    # 6 cased words ([NAME] is protected): k = 3 lower-cased
    ("casing", "The Quick Brown Fox met [NAME] in NEW YORK.", "g1", 0.5, {},
     "the Quick Brown fox met [NAME] in new YORK."),
    ("casing", "The Quick Brown Fox met [NAME] in NEW YORK.", "g1", 1.0, {},
     "the quick brown fox met [NAME] in new york."),
    # clinical rows (the default): 6 matches (patient, shortness of breath, mg, PO, twice a day, Pt), all rewritten
    ("abbreviation", NOTE, "g1", 1.0, {}, "The pt has SOB; give 5 milligrams by mouth b.i.d.. Patient is stable."),
    # all rows: 7 matches (The is a texting full form too), all rewritten both ways
    ("abbreviation", NOTE, "g1", 1.0, {"section": "all"},
     "Da pt has SOB; give 5 milligrams by mouth BID. Patient is stable."),
    # general rows: 7 texting matches (You, are, see you, tomorrow, the, and, thanks) all rewritten; the split-off
    # "n't" of "does n't" (SST-2's tokenisation) and the U of "U.S." are never units
    ("abbreviation", "You are late , it does n't matter , see you tomorrow in the U.S. and thanks",
     "g2", 1.0, {"section": "general"},
     "U r late , it does n't matter , cya tmrw in da U.S. n thx"),
    # expand only: 3 abbreviations (mg, PO, Pt), k = floor(1.5 + u) = 1 with this key's draw
    ("abbreviation", NOTE, "g1", 0.5, {"direction": "expand"},
     "The patient has shortness of breath; give 5 milligrams PO twice a day. Pt is stable."),
    # abbreviate with clinical rows only: patient, shortness of breath, twice a day
    ("abbreviation", NOTE, "g1", 1.0, {"direction": "abbreviate", "section": "clinical"},
     "The pt has SOB; give 5 mg PO BID. Pt is stable."),
    # k = 7: the 5 PHI spans replaced (first, last, age, date, phone) + 2 placeholders inserted before words
    ("phi", PHI, "g1", 0.5, {},
     "Dr. [**First Name**] [**Last Name**] [**Age over 90**] saw the [**Age over 90**] year old patient on "
     "[**Age over 90**] [**2188-1-26**]; call [**Telephone/Fax**]."),
    ("phi", PHI, "g1", 0.5, {"style": "i2b2"},
     "Dr. [NAME] [NAME] saw [PHONE] the [AGE] year [DATE] old patient on [DATE]; call [PHONE]."),
    # 6 listed words (The, their, and, the, condition, THE; "recieved" is already wrong, "iPhone" mixed-case, the
    # placeholder protected): all misspelled in their case pattern
    ("misspell", MIS, "g1", 1.0, {},
     "Tghe patient recieved thier medication andd tghe condidtion improved; TJE END [**Name**] untill iPhone."),
    # k = floor(0.5*6 + u) = 3 (The, their, condition with this key)
    ("misspell", MIS, "g1", 0.5, {},
     "Tghe patient recieved theri medication and the condidtion improved; THE END [**Name**] untill iPhone."),
    # k = 14 = all words: 5 replaced + 9 inserted
    ("phi", PHI, "g1", 1.0, {"style": "stars"},
     "*** Dr. *** *** *** *** *** saw *** the *** *** year *** old *** patient *** on ***; call ***."),
    # nlpaug 1.1.11 with its global random reseeded from the example key (not calibrated)
    ("nlpaug-keyboard", "The quick brown fox jumps over the lazy dog.", "g1", 0.3, {},
     "The qu8Xk Hro3n fox jumps over the Iaz^ dog."),
    ("nlpaug-ocr", "The quick brown fox jumps over the lazy dog.", "g1", 0.3, {},
     "The quick brown fux jumps uvek the lazy dog."),
]


def test_every_noise_has_a_golden_case():
    assert {case[0] for case in GOLDEN} == set(NOISES.names())


@pytest.mark.parametrize(("noise", "text", "key", "rate", "options", "expected"), GOLDEN,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(GOLDEN)])
def test_golden(noise, text, key, rate, options, expected):
    if NOISES.get(noise).requires:
        pytest.importorskip(NOISES.get(noise).requires)
    assert perturb(text, noise=noise, rate=rate, seed=SEED, key=key, **options) == expected


def test_abbreviation_on_general_text_keeps_to_clinical_rows_and_never_breaks_contractions(shared_data):
    """SST-2 (movie reviews, split-off negations "does n't"): the default clinical section rewrites few texts; the
    general section rewrites many, but never turns the "n't" of a negation into "and't"."""
    from noisebench.noise import measure_dataset, perturb_batch

    rows = [line.split("\t")[0] for line in (shared_data / "sst2" / "dev.tsv").read_text().splitlines()[1:]]
    keys = [str(i) for i in range(len(rows))]
    clinical = perturb_batch(rows, keys, noise="abbreviation", rate=0.3, seed=1)
    assert measure_dataset(rows, clinical, noise="abbreviation").changed_examples < 0.1
    general = perturb_batch(rows, keys, noise="abbreviation", rate=0.3, seed=1, section="general")
    assert measure_dataset(rows, general, noise="abbreviation", section="general").changed_examples > 0.4
    negations = [i for i, r in enumerate(rows) if "n't" in r]
    assert negations and all(general[i].count("n't") == rows[i].count("n't") for i in negations)
    assert not any("and't" in text for text in general)


def test_misspell_on_real_text_hits_its_rate_at_realistic_levels(shared_data):
    """SST-2 dev: at 0.02 and 0.05 the realized fraction of listed words misspelled is the rate (to the stochastic
    rounding's spread), counted independently: the letter runs of clean and noisy text pair up one to one, every
    changed run is a listed misspelling of the clean run, and the eligible runs are the listed words not glued to a
    word character, an apostrophe or a dotted abbreviation."""
    from noisebench.noise import measure_dataset, perturb_batch
    from noisebench.noise.misspell import misspellings

    def runs(text):
        return [(m.group(), text[max(m.start() - 2, 0):m.start()], text[m.end():m.end() + 2])
                for m in re.finditer(r"[A-Za-z]+", text)]

    def free(before, after):
        glued = any(c and (c.isalnum() or c in "_'’") for c in (before[-1:], after[:1]))
        dotted = (before[-1:] == "." and before[:1].isalnum()) or (after[:1] == "." and after[1:2].isalnum())
        return not glued and not dotted

    rows = [line.split("\t")[0] for line in (shared_data / "sst2" / "dev.tsv").read_text().splitlines()[1:]]
    keys = [str(i) for i in range(len(rows))]
    table = misspellings({})
    for rate in (0.02, 0.05):
        noisy = perturb_batch(rows, keys, noise="misspell", rate=rate, seed=3)
        changed = eligible = 0
        for a, b in zip(rows, noisy, strict=True):
            ra, rb = runs(a), runs(b)
            assert len(ra) == len(rb)
            eligible += sum(w.lower() in table and (w.islower() or w.isupper() or w == w.capitalize())
                            and free(before, after) for w, before, after in ra)
            for (x, _, _), (y, _, _) in zip(ra, rb, strict=True):
                if x != y:
                    assert y.lower() in table[x.lower()]
                    changed += 1
        assert eligible > 3000  # SST-2 dev has thousands of listed words ("the", "and", "their", ...)
        assert abs(changed / eligible - rate) < 4 / eligible ** 0.5  # k per text is exact in expectation
        assert measure_dataset(rows, noisy, noise="misspell").unit_fraction == pytest.approx(changed / eligible)


def test_a_malformed_misspelling_list_is_one_usage_error(tmp_path):
    from noisebench.errors import UsageError

    bad = tmp_path / "list.tsv"
    bad.write_text("correct\tmisspelling\nthe\tteh\nreceive\tRecieve\n", encoding="utf-8")
    with pytest.raises(UsageError, match="line 3: both fields must be one lower-case word"):
        perturb("the receive", noise="misspell", rate=1.0, seed=1, key="k", list=str(bad))
    good = tmp_path / "good.tsv"
    good.write_text("# mine\ncorrect\tmisspelling\nreceive\trecieve\n", encoding="utf-8")
    assert perturb("Receive the", noise="misspell", rate=1.0, seed=1, key="k", list=str(good)) == "Recieve the"
    with pytest.raises(UsageError, match="not found"):
        perturb("x", noise="misspell", rate=1.0, seed=1, key="k", list=str(tmp_path / "none.tsv"))


def test_noise_all_is_the_studys_seven_and_misspell_is_listed_with_its_source():
    from typer.testing import CliRunner

    from noisebench.cli import app
    from noisebench.config import core_noises

    assert core_noises() == ["substitute", "insert", "delete", "swap", "casing", "abbreviation", "phi"]
    out = CliRunner().invoke(app, ["noises", "--wide"], env={"COLUMNS": "400"}).output
    line = next(x for x in out.splitlines() if "misspell" in x and "Wikipedia" in x)
    assert "CC BY-SA 4.0" in line
