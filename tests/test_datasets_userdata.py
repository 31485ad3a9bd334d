"""Users' own data (`--dataset PATH`): every format, column and label rules, splits, and each validation error."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter

import pytest

from noisebench.cli import run_cli
from noisebench.datasets import load_dataset
from noisebench.errors import UsageError

WORDS = "fever cough rash pain nausea fatigue dizzy swelling".split()


def _rows(n=60, classes=("neg", "pos", "neu")):
    """n distinct (id, text, label) rows cycling through `classes`; texts include a comma, a quote and a tab-free
    unicode character so CSV quoting and UTF-8 are exercised."""
    rng = random.Random(3)
    return [(f"id{i}", f"Pt {i}: {' '.join(rng.choice(WORDS) for _ in range(5))}, \"noted\" — ok", classes[i % 3])
            for i in range(n)]


def _write(path, rows, header=("id", "text", "label")):
    """Write rows in the format given by the file extension."""
    suffix = path.suffix
    if suffix == ".csv":
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
    elif suffix == ".tsv":
        path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows),
                        encoding="utf-8")
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps(dict(zip(header, r, strict=True))) + "\n" for r in rows), encoding="utf-8")
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table({h: [r[i] for r in rows] for i, h in enumerate(header)}), path)
    return path


def _error(path, **kwargs) -> str:
    with pytest.raises(UsageError) as e:
        load_dataset(str(path), **kwargs)
    message = str(e.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_file_format_gives_the_same_dataset(tmp_path, suffix):
    rows = _rows()
    ds = load_dataset(str(_write(tmp_path / f"data{suffix}", rows)))
    reference = load_dataset(str(_write(tmp_path / "ref.csv", rows)))
    assert ds.fingerprint == reference.fingerprint
    assert ds.label_names == ("neg", "neu", "pos")  # string labels → sorted unique names
    assert Counter((ex.text, ds.label_names[ex.label]) for s in (ds.train, ds.validation, ds.test) for ex in s) \
        == Counter((t, label) for _, t, label in rows)
    # Single file: test = round(10%) of each class of 20, then validation = round(10%) of the 18 left.
    assert Counter(ex.label for ex in ds.test) == {0: 2, 1: 2, 2: 2}
    assert Counter(ex.label for ex in ds.validation) == {0: 2, 1: 2, 2: 2}


def test_save_to_disk_folder_with_class_label(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = _rows(90)
    names = ["neg", "neu", "pos"]
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)})
    part = lambda rs: datasets.Dataset.from_dict(  # noqa: E731
        {"text": [r[1] for r in rs], "label": [names.index(r[2]) for r in rs]}, features=features)
    datasets.DatasetDict({"train": part(rows[:60]), "validation": part(rows[60:75]), "test": part(rows[75:])}) \
        .save_to_disk(str(tmp_path / "saved"))
    ds = load_dataset(str(tmp_path / "saved"))
    assert ds.label_names == tuple(names)
    assert (len(ds.train), len(ds.validation), len(ds.test)) == (60, 15, 15)
    assert {ex.text for ex in ds.test} == {r[1] for r in rows[75:]}
    part(rows).save_to_disk(str(tmp_path / "single"))  # one Dataset (state.json): split like a single file
    assert len(load_dataset(str(tmp_path / "single")).test) == 9


def test_folder_of_split_files_in_mixed_formats(tmp_path):
    rows = _rows(90)
    _write(tmp_path / "train.csv", rows[:60])
    _write(tmp_path / "dev.jsonl", rows[60:75])
    _write(tmp_path / "test.parquet", rows[75:])
    ds = load_dataset(str(tmp_path), id_col="id")
    assert [ex.id for ex in ds.validation] == sorted(r[0] for r in rows[60:75])
    assert all(ex.key == ex.id for ex in ds.test)
    assert "dev.jsonl" in ds.notes["validation"]


def test_validation_is_carved_from_train_never_test(tmp_path):
    rows = _rows(90)
    _write(tmp_path / "train.tsv", rows[:60])
    _write(tmp_path / "test.tsv", rows[60:])
    ds = load_dataset(str(tmp_path), validation_fraction=0.2)
    train_texts = {r[1] for r in rows[:60]}
    assert {ex.text for ex in ds.validation} <= train_texts
    assert {ex.text for ex in ds.test} == {r[1] for r in rows[60:]}
    assert Counter(ex.label for ex in ds.validation) == {0: 4, 1: 4, 2: 4}
    assert "carved 20%" in ds.notes["validation"]


def test_missing_test_file_is_carved_from_train(tmp_path):
    rows = _rows(90)
    _write(tmp_path / "train.csv", rows[:60])
    _write(tmp_path / "validation.csv", rows[60:])
    ds = load_dataset(str(tmp_path))
    assert len(ds.test) == 6 and {ex.text for ex in ds.test} <= {r[1] for r in rows[:60]}
    assert "no test file" in ds.notes["test"]


def test_split_ignores_file_order(tmp_path):
    rows = _rows(200)
    shuffled = rows[:]
    random.Random(1).shuffle(shuffled)
    a = load_dataset(str(_write(tmp_path / "a.csv", rows)))
    b = load_dataset(str(_write(tmp_path / "b.csv", shuffled)))
    assert a.fingerprint == b.fingerprint and a.test == b.test
    train, test = rows[:150], rows[150:]
    for name, reorder in (("x", lambda r: r), ("y", lambda r: r[::-1])):  # given splits are ordered by key too
        (tmp_path / name).mkdir()
        _write(tmp_path / name / "train.tsv", reorder(train))
        _write(tmp_path / name / "test.tsv", reorder(test))
    x, y = load_dataset(str(tmp_path / "x")), load_dataset(str(tmp_path / "y"))
    assert x.fingerprint != a.fingerprint
    assert x.fingerprint == y.fingerprint and x.test == y.test


def test_column_defaults_and_choices(tmp_path):
    rows = [(t, label) for _, t, label in _rows()]
    ds = load_dataset(str(_write(tmp_path / "s.csv", rows, header=("sentence", "label"))))
    assert ds.train[0].text.startswith("Pt ")
    both = _write(tmp_path / "b.csv", [(t, t, label) for t, label in rows], header=("note", "document", "label"))
    assert "several text-like columns (note, document)" in _error(both)
    assert len(load_dataset(str(both), text_col="document").train) == len(load_dataset(str(both),
                                                                                       text_col="note").train)
    custom = _write(tmp_path / "c.csv", rows, header=("body", "category"))
    assert load_dataset(str(custom), text_col="body", label_col="category").num_labels == 3


def test_integer_labels_keep_ids_and_names_from_labels_tsv(tmp_path):
    rows = [(i, t, {"neg": 0, "neu": 1, "pos": 2}[label]) for i, t, label in _rows(90)]
    _write(tmp_path / "train.tsv", rows[:60])
    _write(tmp_path / "test.tsv", rows[60:])
    assert load_dataset(str(tmp_path)).label_names == ("0", "1", "2")
    (tmp_path / "labels.tsv").write_text("label\tname\n0\tnegative\n1\tneutral\n2\tpositive\n", encoding="utf-8")
    ds = load_dataset(str(tmp_path))
    assert ds.label_names == ("negative", "neutral", "positive")
    assert {ex.text: ex.label for ex in ds.test} == {t: label for _, t, label in rows[60:]}


def test_long_documents_are_kept_whole(tmp_path):
    rows = _rows()
    long_text = "Discharge summary. " + "Pt stable, BP 120/80, cont. meds b.i.d. " * 6000  # ~240k characters
    rows[0] = (rows[0][0], long_text, rows[0][2])
    ds = load_dataset(str(_write(tmp_path / "long.csv", rows)))
    assert long_text in {ex.text for s in (ds.train, ds.validation, ds.test) for ex in s}


def test_imbalanced_many_classes_keep_every_class_in_train(tmp_path):
    rows = [(f"r{c}-{i}", f"doc {c} {i} {WORDS[i % 8]}", f"class{c:02d}") for c in range(30) for i in range(c + 1)]
    ds = load_dataset(str(_write(tmp_path / "many.tsv", rows)))
    assert ds.num_labels == 30
    train = Counter(ex.label for ex in ds.train)
    assert set(train) == set(range(30))
    test = Counter(ex.label for ex in ds.test)
    for c in range(30):  # class c has c+1 rows: round(10%) go to test, at most all but one
        assert test.get(c, 0) == min(int((c + 1) * 0.1 + 0.5), c)
    assert "class00" in ds.notes["too_small_for_test"] and "class03" in ds.notes["too_small_for_test"]


# ----- validation errors: each one line naming file / column / row --------------------------------------------

def test_error_missing_file_and_unknown_extension(tmp_path):
    assert "dataset file not found" in _error(tmp_path / "nope.csv")
    (tmp_path / "data.xlsx").write_bytes(b"x")
    assert "unknown file type '.xlsx'" in _error(tmp_path / "data.xlsx")


def test_error_missing_columns_lists_available(tmp_path):
    path = _write(tmp_path / "d.csv", [("a", "x", "y")], header=("txt", "lbl", "other"))
    message = _error(path)
    assert "no column 'text' (did you mean 'txt'?" in message and "no column 'label'" in message
    assert "available columns: txt, lbl, other" in message
    assert "no column 'nid'" in _error(_write(tmp_path / "e.csv", _rows()), id_col="nid")


def test_error_empty_text_names_the_row(tmp_path):
    rows = _rows()
    rows[2] = (rows[2][0], "   ", rows[2][2])
    assert f"{tmp_path / 'd.tsv'} line 4: empty or whitespace-only text" in _error(_write(tmp_path / "d.tsv", rows))
    assert "row 3: empty or whitespace-only text" in _error(_write(tmp_path / "d.parquet", rows))


def test_error_non_utf8_names_offset_and_line(tmp_path):
    path = _write(tmp_path / "d.csv", _rows())
    data = path.read_bytes()
    lines = data.split(b"\n")
    lines[3] = lines[3][:5] + b"\xe9" + lines[3][5:]  # Latin-1 é
    path.write_bytes(b"\n".join(lines))
    offset = len(b"\n".join(lines[:3])) + 1 + 5
    assert f"not UTF-8: byte 0xe9 at byte offset {offset} (line 4)" in _error(path)


def test_error_one_class_training_data(tmp_path):
    rows = [(f"i{n}", f"text {n}", "pos") for n in range(20)]
    assert "only one class ('pos')" in _error(_write(tmp_path / "d.jsonl", rows))


def test_error_duplicate_ids(tmp_path):
    rows = _rows()
    rows[7] = ("id3", rows[7][1], rows[7][2])
    message = _error(_write(tmp_path / "d.csv", rows), id_col="id")
    assert "duplicate id 'id3' in column 'id'" in message and "line 5" in message and "line 9" in message


def test_error_label_unseen_in_training(tmp_path):
    rows = _rows(90)
    _write(tmp_path / "train.csv", rows[:60])
    rows[70] = (rows[70][0], rows[70][1], "mixed")
    _write(tmp_path / "test.csv", rows[60:])
    message = _error(tmp_path)
    assert f"{tmp_path / 'test.csv'} line 12: label 'mixed' does not occur in the training data" in message


def test_error_integer_label_gap(tmp_path):
    rows = [(i, t, 2 * (n % 2)) for n, (i, t, _) in enumerate(_rows())]
    assert "'1' (id 1) have no training rows" in _error(_write(tmp_path / "d.tsv", rows))


def test_error_malformed_rows(tmp_path):
    tsv = tmp_path / "d.tsv"
    tsv.write_text("text\tlabel\nfine\tpos\nalso fine\tneg\nan extra\ttab\tneg\n", encoding="utf-8")
    assert f"{tsv} line 4: 3 tab-separated field(s), expected 2" in _error(tsv)
    bad_csv = tmp_path / "d.csv"
    bad_csv.write_text('text,label\n"a, b",pos\nc,d,neg\n', encoding="utf-8")
    assert "line 3: 3 comma-separated field(s), expected 2" in _error(bad_csv)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n', encoding="utf-8")
    assert "line 2: not valid JSON" in _error(jsonl)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "README.md").write_text("hi", encoding="utf-8")
    assert "no split files found" in _error(folder)


def test_errors_through_the_cli(tmp_path, capsys):
    tsv = tmp_path / "d.tsv"
    tsv.write_text("text\tlabel\nfine\tpos\n\tneg\n", encoding="utf-8")
    assert run_cli(["datasets", "--show", str(tsv)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"noisebench: error: {tsv} line 3: empty or whitespace-only text"]
    csv_path = _write(tmp_path / "d.csv", _rows(), header=("id", "body", "label"))
    assert run_cli(["datasets", "--show", str(csv_path)]) == 2
    assert "no column 'text'" in capsys.readouterr().err
    assert run_cli(["datasets", "--show", str(csv_path), "--text-col", "body"]) == 0
    out = capsys.readouterr().out
    assert "fingerprint" in out and "test: carved 10%" in out


@pytest.mark.parametrize(("name", "content"), [("h.csv", "text,label"), ("h.tsv", "text\tlabel\n")])
def test_a_header_without_rows_is_one_line(tmp_path, name, content):
    """Found by the fault tier's hypothesis test: a header-only file used to end in a ValueError traceback."""
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match="no data rows, only a header"):
        load_dataset(str(path))


def test_an_empty_parquet_file_is_one_line(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"text": pa.array([], pa.string()), "label": pa.array([], pa.string())}), path)
    with pytest.raises(UsageError, match="no data rows"):
        load_dataset(str(path))
