"""Property-based tests (hypothesis): the noise engine over arbitrary Unicode, and the file loaders over fuzzed
bytes. Each generated case counts as a bad input tried in the suite's summary."""

from __future__ import annotations

import re

import pytest
from faultkit import COUNTS
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from noisebench.errors import UsageError
from noisebench.noise import NOISES, measure, perturb, perturb_batch

CALIBRATED = [n for n, spec in NOISES.items() if spec.calibrated]
PLACEHOLDERS = ["[**Name**]", "[**Hospital 123**]", "[NAME]", "***"]
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=120)  # any Unicode scalar values
WORDY = st.lists(st.one_of(st.sampled_from(["Pt", "the", "BP", "Patient", "history", "of", "Dr", "and", "n't",
                                            "DIABETES", "é", "🙂", "naïve", "ﬁ", "\u0301", " ", "\n", "-", ","]),
                           TEXT.filter(lambda t: len(t) < 12)), max_size=25).map(" ".join)
RATES = st.sampled_from([0.01, 0.05, 0.1, 0.3, 0.7, 1.0])
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("noise", CALIBRATED)
@SETTINGS
@given(text=st.one_of(TEXT, WORDY), rate=RATES, seed=st.integers(0, 2**32 - 1))
def test_noise_output_is_valid_text_and_rate_zero_is_the_identity(noise, text, rate, seed):
    COUNTS["fuzzed noise input"] += 1
    out = perturb(text, noise=noise, rate=rate, seed=seed, key="k")
    assert isinstance(out, str)
    out.encode("utf-8")  # never a lone surrogate or anything else that is not text
    assert perturb(text, noise=noise, rate=0.0, seed=seed, key="k") == text


@pytest.mark.parametrize("noise", CALIBRATED)
@SETTINGS
@given(text=WORDY, placeholder=st.sampled_from(PLACEHOLDERS), where=st.integers(0, 25), rate=RATES)
def test_placeholders_are_never_edited(noise, text, placeholder, where, rate):
    COUNTS["fuzzed noise input"] += 1
    words = text.split(" ")
    words.insert(where % (len(words) + 1), placeholder)
    clean = " ".join(words)
    out = perturb(clean, noise=noise, rate=rate, seed=3, key="p")
    pattern = re.escape(placeholder)
    assert len(re.findall(pattern, out)) >= len(re.findall(pattern, clean)), (clean, out)


@pytest.mark.parametrize("noise", CALIBRATED)
@SETTINGS
@given(texts=st.lists(st.one_of(TEXT, WORDY), min_size=1, max_size=8), rate=RATES,
       order=st.randoms(use_true_random=False))
def test_output_does_not_depend_on_batch_order(noise, texts, rate, order):
    COUNTS["fuzzed noise input"] += 1
    keys = [f"key-{i}" for i in range(len(texts))]
    forward = perturb_batch(texts, keys, noise=noise, rate=rate, seed=11)
    perm = list(range(len(texts)))
    order.shuffle(perm)
    shuffled = perturb_batch([texts[i] for i in perm], [keys[i] for i in perm], noise=noise, rate=rate, seed=11)
    assert [shuffled[perm.index(i)] for i in range(len(texts))] == forward


@pytest.mark.parametrize("noise", CALIBRATED)
@SETTINGS
@given(text=st.one_of(TEXT, WORDY), rate=RATES)
def test_realized_units_within_one_of_the_declared_count(noise, text, rate):
    """|changed - rate·n| < 1 unit (2 characters for swap, whose one transposition moves two); a swap that finds
    fewer distinct neighbouring pairs than asked changes all it can — what rate 1 changes."""
    COUNTS["fuzzed noise input"] += 1
    out = perturb(text, noise=noise, rate=rate, seed=5, key="r")
    level = measure(text, out, noise=noise)
    slack = 2 if noise == "swap" else 1
    if abs(level.units_changed - rate * level.units) < slack:
        return
    assert noise == "swap" and level.units_changed < rate * level.units, (text, out, level)
    full = measure(text, perturb(text, noise=noise, rate=1.0, seed=5, key="r"), noise=noise)
    assert level.units_changed == full.units_changed, (text, out, level, full)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(body=st.one_of(
    st.binary(max_size=300),
    st.lists(st.lists(st.sampled_from(["text", "label", "id", "a,b", '"q"', "x\ty", "", "pos", "neg", "é", "\x00",
                                       '{"text": "a", "label": 1}', "{", "null"]), max_size=4),
             max_size=12).map(lambda rows: "\n".join("\t".join(r) if i % 2 else ",".join(r)
                                                      for i, r in enumerate(rows)).encode("utf-8")),
))
@example(body=b"text,label")  # found by hypothesis in CI: a header and no rows was a ValueError traceback
@example(body=b"text\tlabel\n")
def test_file_loaders_give_a_dataset_or_one_usage_error_line(suffix, body, tmp_path_factory):
    """Fuzzed CSV/TSV/JSONL bytes: either a dataset, or one UsageError whose message is one line — never another
    exception (a traceback)."""
    from noisebench.datasets import load_dataset

    COUNTS["fuzzed data file"] += 1
    path = tmp_path_factory.mktemp("fuzz") / f"data{suffix}"
    path.write_bytes(body)
    try:
        dataset = load_dataset(str(path))
    except UsageError as e:
        assert "\n" not in str(e) and str(e)
    else:
        assert len(dataset.test) > 0
