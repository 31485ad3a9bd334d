"""Registered datasets: real shared data, deterministic splits, offline failure messages, the built-in generator.

Expected counts come from /work/shared/data/README.md (not from running the loader); the carving rule is checked
against an independent re-computation of the documented contract.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from noisebench.cli import run_cli
from noisebench.datasets import BUILTIN, DATASETS, load_dataset
from noisebench.errors import UsageError

# From /work/shared/data/README.md: folder, file → per-class row counts (label id → rows).
SHARED = {
    "sst2": ("sst2", {"train.tsv": {0: 29780, 1: 37569}, "dev.tsv": {0: 428, 1: 444}}),
    "ag_news": ("ag_news", {"test.tsv": {0: 1900, 1: 1900, 2: 1900, 3: 1900}}),
    "sms_spam": ("sms_spam", {"all.tsv": {0: 4827, 1: 747}}),
    "tweet_eval": ("tweeteval_sentiment", {"train.tsv": {0: 7093, 1: 20673, 2: 17849},
                                           "validation.tsv": {0: 312, 1: 869, 2: 819},
                                           "test.tsv": {0: 3972, 1: 5937, 2: 2375}}),
}
LABEL_NAMES = {"sst2": ("negative", "positive"), "ag_news": ("World", "Sports", "Business", "Sci/Tech"),
               "sms_spam": ("ham", "spam"), "tweet_eval": ("negative", "neutral", "positive"),
               BUILTIN: ("cardiology", "pulmonology", "gastroenterology", "neurology", "endocrinology")}
FILE_DATASETS = [n for n in DATASETS.names() if n != BUILTIN]


def _read_tsv(path) -> list[tuple[str, int]]:
    """Independent reader: the csv module with quoting off."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    assert rows[0] == ["text", "label"]
    return [(text, int(label)) for text, label in rows[1:]]


def _pairs(examples) -> Counter:
    return Counter((ex.text, ex.label) for ex in examples)


def _round(x: float) -> int:
    return int(x + 0.5)


_CACHE: dict = {}


def _load(name, data_dir):
    if name not in _CACHE:
        _CACHE[name] = load_dataset(name, data_dir=str(data_dir))
    return _CACHE[name]


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_registered_dataset_loads_from_the_shared_folder(name, shared_data):
    folder, files = SHARED[name]
    ds = _load(name, shared_data)
    assert ds.label_names == LABEL_NAMES[name] == DATASETS.get(name).label_names
    # Every labelled row of the folder appears exactly once across the three splits.
    rows = Counter()
    for file, per_class in files.items():
        pairs = _read_tsv(shared_data / folder / file)
        assert Counter(label for _, label in pairs) == Counter(per_class)
        rows.update(pairs)
    assert _pairs(ds.train) + _pairs(ds.validation) + _pairs(ds.test) == rows
    for split in ("train", "validation", "test"):
        examples = getattr(ds, split)
        assert [ex.id for ex in examples] == [f"{split}-{i}" for i in range(len(examples))]
        assert all(ex.key == hashlib.sha256(ex.text.encode()).hexdigest() for ex in examples)
        assert [ex.key for ex in examples] == sorted(ex.key for ex in examples)  # canonical order
    assert str(shared_data / folder) == ds.source


def test_sst2_dev_is_the_test_split_and_validation_is_carved_from_train(shared_data):
    ds = _load("sst2", shared_data)
    assert len(ds.test) == 872
    assert _pairs(ds.test) == Counter(_read_tsv(shared_data / "sst2" / "dev.tsv"))
    assert len(ds.train) + len(ds.validation) == 67349
    val = Counter(ex.label for ex in ds.validation)
    assert val == {0: _round(29780 * 0.1), 1: _round(37569 * 0.1)}
    assert "dev.tsv" in ds.notes["test"] and "carved 10%" in ds.notes["validation"]


def test_tweet_eval_keeps_its_official_splits(shared_data):
    ds = _load("tweet_eval", shared_data)
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (45615, 2000, 12284)
    assert _pairs(ds.test) == Counter(_read_tsv(shared_data / "tweeteval_sentiment" / "test.tsv"))


def _carve_by_contract(keys_by_class: dict[int, list[str]], fraction: float) -> set[str]:
    """The documented carving rule, re-implemented: per class, distinct keys ranked by
    sha256("noisebench/split/v1\\n" + key); take the first round(fraction * n) rows (no duplicate keys here)."""
    chosen = set()
    for keys in keys_by_class.values():
        assert len(set(keys)) == len(keys)
        ranked = sorted(keys, key=lambda k: hashlib.sha256(("noisebench/split/v1\n" + k).encode()).hexdigest())
        chosen.update(ranked[:_round(len(keys) * fraction)])
    return chosen


def test_ag_news_single_file_is_split_by_the_documented_rule(shared_data):
    ds = _load("ag_news", shared_data)
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (4 * 1368, 4 * 152, 4 * 380)
    by_class: dict[int, list[str]] = {}
    for text, label in _read_tsv(shared_data / "ag_news" / "test.tsv"):
        by_class.setdefault(label, []).append(hashlib.sha256(text.encode()).hexdigest())
    test_keys = _carve_by_contract(by_class, 0.2)
    assert {ex.key for ex in ds.test} == test_keys
    rest = {c: [k for k in keys if k not in test_keys] for c, keys in by_class.items()}
    assert {ex.key for ex in ds.validation} == _carve_by_contract(rest, 0.1)


def test_sms_spam_is_split_stratified(shared_data):
    ds = _load("sms_spam", shared_data)
    assert Counter(ex.label for ex in ds.test) == {0: _round(4827 * 0.2), 1: _round(747 * 0.2)}
    # Identical messages (the collection has duplicates) never straddle splits.
    split_of = {}
    for split in ("train", "validation", "test"):
        for ex in getattr(ds, split):
            assert split_of.setdefault((ex.key, ex.label), split) == split


def test_shuffled_rows_give_the_same_dataset(shared_data, tmp_path):
    for folder in ("sms_spam", "ag_news"):
        (tmp_path / folder).mkdir()
        shutil.copy(shared_data / folder / "labels.tsv", tmp_path / folder)
        src = next(p for p in (shared_data / folder).glob("*.tsv") if p.name != "labels.tsv")
        header, *lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
        random.Random(7).shuffle(lines)
        (tmp_path / folder / src.name).write_text(header + "".join(lines), encoding="utf-8")
        original, shuffled = _load(folder, shared_data), load_dataset(folder, data_dir=str(tmp_path))
        assert shuffled.fingerprint == original.fingerprint
        assert (shuffled.train, shuffled.validation, shuffled.test) == (original.train, original.validation,
                                                                       original.test)


def test_fingerprint_follows_the_documented_definition(shared_data):
    ds = _load("sms_spam", shared_data)
    h = hashlib.sha256()
    for split in ("train", "validation", "test"):
        rows = [[ex.id, ex.text, ex.label] for ex in getattr(ds, split)]
        h.update(json.dumps([split, rows], ensure_ascii=False).encode() + b"\n")
    assert ds.fingerprint == h.hexdigest()


def test_fingerprint_changes_with_one_label(shared_data, tmp_path):
    (tmp_path / "sms_spam").mkdir()
    lines = (shared_data / "sms_spam" / "all.tsv").read_text(encoding="utf-8").split("\n")
    text, label = lines[10].split("\t")
    lines[10] = f"{text}\t{1 - int(label)}"
    (tmp_path / "sms_spam" / "all.tsv").write_text("\n".join(lines), encoding="utf-8")
    changed = load_dataset("sms_spam", data_dir=str(tmp_path))
    assert changed.fingerprint != _load("sms_spam", shared_data).fingerprint


def test_data_dir_from_the_environment(shared_data, monkeypatch):
    monkeypatch.setenv("NOISEBENCH_DATA_DIR", str(shared_data))
    assert load_dataset("sms_spam").fingerprint == _load("sms_spam", shared_data).fingerprint


@pytest.mark.parametrize("name", FILE_DATASETS)
def test_offline_without_a_local_copy_names_both_ways(name, monkeypatch, tmp_path):
    monkeypatch.delenv("NOISEBENCH_DATA_DIR", raising=False)
    spec = DATASETS.get(name)
    for kwargs in ({}, {"data_dir": str(tmp_path)}):
        with pytest.raises(UsageError) as e:
            load_dataset(name, **kwargs)
        message = str(e.value)
        assert "\n" not in message
        assert "--data-dir DIR" in message and f"{spec.local_dir}/" in message and "train.tsv" in message
        assert spec.hub_id in message and "HF_HUB_OFFLINE" in message


def test_unreachable_hub_fails_fast_without_offline_mode(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("HF_DATASETS_OFFLINE")
    monkeypatch.delenv("NOISEBENCH_DATA_DIR", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # the discard port: refused at once
    with pytest.raises(UsageError, match=r"cannot connect to 127\.0\.0\.1:9.*--data-dir DIR.*stanfordnlp/sst2"):
        load_dataset("sst2")


def test_hub_splits_are_mapped_like_local_ones(monkeypatch):
    """The Hub path's conversion, fed a DatasetDict shaped like stanfordnlp/sst2 (the Hub itself is unreachable
    here, so datasets.load_dataset is replaced by a local stand-in; our mapping is what is tested)."""
    datasets = pytest.importorskip("datasets")
    part = lambda texts, labels: datasets.Dataset.from_dict(  # noqa: E731
        {"idx": list(range(len(texts))), "sentence": texts, "label": labels})
    train = [f"a fine film number {i}" if i % 2 else f"a dull film number {i}" for i in range(40)]
    fake = datasets.DatasetDict({"train": part(train, [i % 2 for i in range(40)]),
                                 "validation": part(["great", "awful"], [1, 0]),
                                 "test": part(["unlabelled"], [-1])})
    calls = []
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: calls.append(a) or fake)
    monkeypatch.delenv("NOISEBENCH_DATA_DIR", raising=False)
    ds = load_dataset("sst2")
    assert calls == [("stanfordnlp/sst2", None)]
    assert [(ex.text, ex.label) for ex in sorted(ds.test, key=lambda e: e.label)] == [("awful", 0), ("great", 1)]
    assert len(ds.train) + len(ds.validation) == 40 and ds.source == "hub:stanfordnlp/sst2"
    assert "stanfordnlp/sst2[test]" in ds.notes["ignored"]


def test_local_split_the_entry_does_not_use_is_ignored(shared_data, tmp_path):
    shutil.copytree(shared_data / "sst2", tmp_path / "sst2")
    (tmp_path / "sst2" / "test.tsv").write_text("index\tsentence\n0\tan unlabelled GLUE test row\n")
    ds = load_dataset("sst2", data_dir=str(tmp_path))
    assert ds.fingerprint == _load("sst2", shared_data).fingerprint and "test.tsv" in ds.notes["ignored"]


def test_unavailable_dataset_through_the_cli(monkeypatch, capsys):
    monkeypatch.delenv("NOISEBENCH_DATA_DIR", raising=False)
    assert run_cli(["datasets", "--show", "tweet_eval"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("noisebench: error: dataset 'tweet_eval' is not available")


def test_unknown_name_suggests_the_nearest():
    with pytest.raises(UsageError, match=r"did you mean 'sst2'.*path"):
        load_dataset("sst-2")
    with pytest.raises(UsageError, match="applies to your own data"):
        load_dataset("sst2", text_col="sentence")
    with pytest.raises(UsageError, match="validation fraction"):
        load_dataset(BUILTIN, validation_fraction=0.9)


def test_listing_checks_local_folders_only(shared_data, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("the listing must not touch the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    assert run_cli(["datasets", "--data-dir", str(shared_data)]) == 0
    out = capsys.readouterr().out
    for name in DATASETS.names():
        assert name in out
    assert "yes (built-in)" in out and "67,349" in out and "Hub only" not in out
    monkeypatch.delenv("NOISEBENCH_DATA_DIR", raising=False)
    assert run_cli(["datasets"]) == 0
    assert capsys.readouterr().out.count("no (Hub only)") == len(FILE_DATASETS)


# ----- the built-in dataset -------------------------------------------------------------------------------------

def test_builtin_sizes_balance_and_description():
    ds = load_dataset(BUILTIN)
    spec = DATASETS.get(BUILTIN)
    assert spec.offline and "synthetic" in spec.description.lower()
    assert ds.label_names == LABEL_NAMES[BUILTIN]
    for split, size in (("train", 1200), ("validation", 200), ("test", 300)):
        examples = getattr(ds, split)
        assert Counter(ex.label for ex in examples) == {c: size // 5 for c in range(5)}
    texts = [ex.text for split in (ds.train, ds.validation, ds.test) for ex in split]
    assert len(set(texts)) == len(texts)
    assert all(100 <= len(t) <= 400 and "\t" not in t and "\n" not in t for t in texts)
    assert 150 <= np.mean([len(t) for t in texts]) <= 300
    assert "generator v1" in ds.source


def test_builtin_is_identical_across_processes():
    code = "from noisebench.datasets import load_dataset; print(load_dataset('clinical-notes').fingerprint)"
    prints = set()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        prints.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                  check=True).stdout.strip())
    assert prints == {load_dataset(BUILTIN).fingerprint}


# Each noise needs targets: regexes written here, independently of the generator's templates.
TARGETS = {
    "date m/d/y": r"\b\d{1,2}/\d{1,2}/\d{4}\b",
    "date iso": r"\b\d{4}-\d{2}-\d{2}\b",
    "title + surname": r"\b(?:Mr|Mrs|Ms|Dr)\. [A-Z][a-zA-Z']+",
    "phone": r"(?:\(\d{3}\) |\b\d{3}-)\d{3}-\d{4}\b",
    "mrn": r"\bMRN\W{0,2}\d{7,8}\b",
    "age over 89": r"\b9\d(?:-year-old| y/o| yo| year old)|\bage 9\d\b",
    "blood pressure value": r"\b\d{2,3}/\d{2,3}\b",
    "number with unit": r"\b\d+(?:\.\d+)? ?(?:mg/dL|mg|mcg|%|U/L|mEq/L|ng/mL|units)",
    "all-caps word": r"\b[A-Z]{3,}\b",
}
ABBREVIATIONS = [("pt", "patient"), ("SOB", "shortness of breath"), ("b.i.d.", "twice a day"),
                 ("BP", "blood pressure"), ("HR", "heart rate"), ("hx", "history"), ("c/o", "complains of"),
                 ("N/V", "nausea and vomiting"), ("CP", "chest pain"), ("q.d.", "once a day"), ("PRN", "as needed"),
                 ("h/o", "history of"), ("abd", "abdominal"), ("y/o", "year-old"), ("yo", "year old"),
                 ("q.d.", "once daily"), ("f/u", "follow-up"), ("w/", "with")]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_builtin_has_every_noise_target(target):
    texts = [ex.text for ex in load_dataset(BUILTIN).train]
    hits = sum(1 for t in texts if re.search(TARGETS[target], t))
    assert hits >= 30, f"{target}: {hits} notes"


@pytest.mark.parametrize("short, full", ABBREVIATIONS)
def test_builtin_has_abbreviations_and_their_full_forms(short, full):
    texts = [ex.text for ex in load_dataset(BUILTIN).train]
    word = lambda w: re.compile(r"(?<![\w/.])" + re.escape(w) + r"(?![\w/])", re.IGNORECASE)  # noqa: E731
    for form in (short, full):
        assert sum(1 for t in texts if word(form).search(t)) >= 10, form


def test_builtin_is_learnable_but_not_trivial():
    """A bag-of-words nearest-centroid classifier, written here in numpy: clearly above chance (0.2), below 100%."""
    ds = load_dataset(BUILTIN)
    tokens = lambda t: set(re.findall(r"[a-z0-9/]+", t.lower()))  # noqa: E731
    vocab = {w: i for i, w in enumerate(sorted(set().union(*(tokens(ex.text) for ex in ds.train))))}

    def bow(examples):
        m = np.zeros((len(examples), len(vocab)))
        for i, ex in enumerate(examples):
            m[i, [vocab[w] for w in tokens(ex.text) if w in vocab]] = 1.0
        return m / np.linalg.norm(m, axis=1, keepdims=True)

    x_train, x_test = bow(ds.train), bow(ds.test)
    y_train, y_test = np.array([ex.label for ex in ds.train]), np.array([ex.label for ex in ds.test])
    centroids = np.stack([x_train[y_train == c].mean(0) for c in range(5)])
    accuracy = float((np.argmax(x_test @ centroids.T, axis=1) == y_test).mean())
    assert 0.6 < accuracy < 0.97, accuracy


def test_builtin_export_round_trips(tmp_path, capsys):
    assert run_cli(["datasets", "--export", BUILTIN, str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["labels.tsv", "test.tsv", "train.tsv",
                                                                     "validation.tsv"]
    again = load_dataset(str(tmp_path / "out"))
    builtin = load_dataset(BUILTIN)
    assert again.fingerprint == builtin.fingerprint and again.label_names == builtin.label_names
    assert run_cli(["datasets", "--export", BUILTIN, str(tmp_path / "out")]) == 2  # refuses to overwrite
    assert "refusing to overwrite" in capsys.readouterr().err
