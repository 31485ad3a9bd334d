"""`noisebench noises` and `noisebench perturb` through `run_cli`: output, piping, and one-line usage errors."""

from __future__ import annotations

import hashlib
import io
import sys

import pytest

from noisebench.cli import run_cli
from noisebench.noise import NOISES, perturb, perturb_batch


def test_noises_lists_the_registry(capsys):
    assert run_cli(["noises"]) == 0
    out = capsys.readouterr().out
    for name in NOISES.names():
        assert name in out


def test_perturb_shows_clean_noisy_and_realized_level(capsys):
    text = "The quick brown fox jumps over the lazy dog."
    assert run_cli(["perturb", text, "--noise", "delete", "--rate", "0.2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    expected = perturb(text, noise="delete", rate=0.2, seed=3, key=hashlib.sha256(text.encode()).hexdigest())
    assert f"clean: {text}" in out and f"noisy: {expected}" in out
    assert "realized: 7/36 eligible characters changed" in out  # floor(0.2 * 36 + u) = 7 for this key


def test_perturb_plain_with_key_and_option(capsys):
    text = "Patient has BP 120/80"
    assert run_cli(["perturb", text, "--noise", "substitute", "--rate", "0.5", "--key", "k1", "--option",
                    "mode=keyboard", "--plain"]) == 0
    assert capsys.readouterr().out == perturb(text, noise="substitute", rate=0.5, seed=0, key="k1",
                                              mode="keyboard") + "\n"


def test_perturb_a_composition_shows_each_parts_level(capsys):
    text = "The Patient Has SOB and a fever."
    assert run_cli(["perturb", text, "--noise", "casing+substitute", "--rate", "1+0.2", "--key", "k",
                    "--option", "substitute.mode=keyboard"]) == 0
    out = capsys.readouterr().out
    from noisebench.noise import perturb_chain

    expected = perturb_chain(text, [("casing", 1.0), ("substitute", 0.2, {"mode": "keyboard"})], seed=0, key="k")
    assert f"noisy: {expected}" in out
    assert "realized casing: 4/4 eligible words changed" in out  # The, Patient, Has, SOB
    assert "realized substitute: 5/26 eligible characters changed" in out  # floor(0.2 * 26 + u) for this key


def test_perturb_file_lines_keyed_by_sha256(tmp_path, capsys):
    lines = ["first line of text", "", "third line, with [NAME]"]
    path = tmp_path / "texts.txt"
    path.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    assert run_cli(["perturb", "--file", str(path), "--noise", "swap", "--rate", "0.5", "--plain"]) == 0
    keys = [hashlib.sha256(t.encode()).hexdigest() for t in lines]
    assert capsys.readouterr().out.split("\n")[:-1] == perturb_batch(lines, keys, noise="swap", rate=0.5, seed=0)


def test_perturb_reads_stdin(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"Hello There\nSECOND text\n")))
    assert run_cli(["perturb", "--noise", "casing", "--rate", "1", "--plain"]) == 0
    assert capsys.readouterr().out == "hello there\nsecond text\n"  # every line read, every cased word lowered
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert run_cli(["perturb"]) == 2  # nothing piped in: said, not a silent success
    assert "no input: stdin is empty" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9\n")))
    assert run_cli(["perturb"]) == 2
    assert "stdin is not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "message"), [
    (["perturb", "x", "--rate", "1.5"], "rate must be between 0 and 1"),
    (["perturb", "x", "--rate", "-0.1"], "rate must be between 0 and 1"),
    (["perturb", "x", "--noise", "substitue"], "did you mean 'substitute'"),
    (["perturb", "x", "--option", "mode"], "--option expects NAME=VALUE"),
    (["perturb", "x", "--option", "mode=qwerty"], "choose from: uniform, keyboard"),
    (["perturb", "x", "--noise", "abbreviation", "--option", "lexicon=/no/such.tsv"], "not found"),
    (["perturb", "--file", "/no/such/file.txt"], "file not found"),
    (["perturb", "x", "--rate", "abc"], "'abc' is not a number"),
    (["perturb", "x", "--noise", "casing+swap", "--rate", "0.1"], "give one rate per noise, e.g. --rate 0.1+0.1"),
    (["perturb", "x", "--noise", "swap", "--rate", "0.1+0.2"], "has 2 parts, but 'swap' is one noise"),
    (["perturb", "x", "--noise", "casing+swap", "--rate", "1+1", "--option", "mode=keyboard"],
     "in a composition write NOISE.NAME=VALUE"),
    (["noises", "--rate", "0.2"], "--rate applies only with --dataset"),
    (["noises", "--dataset", "clinical-notes", "--rate", "1.5"], "rate must be between 0 and 1"),
    (["noises", "--dataset", "clinical-notes", "--split", "tset"], "did you mean 'test'"),
    (["noises", "--dataset", "clinical-notes", "--noise", "swpa"], "did you mean 'swap'"),
    (["noises", "--dataset", "clinical-note"], "did you mean 'clinical-notes'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_non_utf8_file_and_key_with_many_lines(tmp_path, capsys):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"ok\ncaf\xe9\n")
    assert run_cli(["perturb", "--file", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "is not UTF-8 text (byte 0xe9 at offset 6)" in err and len(err.strip().splitlines()) == 1
    good = tmp_path / "two.txt"
    good.write_text("a\nb\n", encoding="utf-8")
    assert run_cli(["perturb", "--file", str(good), "--key", "k"]) == 2
    assert "--key applies to a single text" in capsys.readouterr().err


def _rows(out: str) -> dict[tuple[str, str], dict[str, str]]:
    """`noises --dataset ... --plain` output: (noise, nominal rate) -> row."""
    header, *lines = out.rstrip("\n").split("\n")
    names = header.split("\t")
    rows = [dict(zip(names, line.split("\t"), strict=True)) for line in lines]
    return {(r["noise"], r["nominal_rate"]): r for r in rows}


def test_noises_dataset_prints_realized_next_to_nominal(capsys):
    """Calibrated noises realize the rate on the built-in dataset's validation split within 4 sd of stochastic rounding
    (sd <= sqrt(texts)/2 units); the delete row's counts equal an independent count (characters removed;
    non-whitespace characters) over the examples' own keys. (nlpaug's adapters are slow: they get their rows in
    the next test, on a small file.)"""
    calibrated = [n for n in NOISES.names() if NOISES.get(n).calibrated]
    argv = ["noises", "--dataset", "clinical-notes", "--split", "validation", "--rate", "0.1", "--rate", "0.3",
            "--plain"]
    assert run_cli(argv + [arg for n in calibrated for arg in ("--noise", n)]) == 0
    rows = _rows(capsys.readouterr().out)
    assert set(rows) == {(n, r) for n in calibrated for r in ("0.1", "0.3")}
    from noisebench.datasets import load_dataset

    split = load_dataset("clinical-notes").validation
    bound = 4 * (len(split) ** 0.5) / 2
    for (name, rate), row in rows.items():
        spec = NOISES.get(name)
        if row["realized_unit_fraction"] == "":
            assert spec.requires, row  # only a missing optional package leaves a row empty
            continue
        changed, eligible = int(row["units_changed"]), int(row["eligible_units"])
        assert abs(float(row["realized_unit_fraction"]) - changed / eligible) < 1e-4
        assert row["calibrated"] == ("yes" if spec.calibrated else "no")
        if spec.calibrated:
            slack = 2 if name == "swap" else 1  # one transposition moves two characters
            assert abs(changed - float(rate) * eligible) <= slack * bound, row
    texts, keys = [ex.text for ex in split], [ex.key for ex in split]
    noisy = perturb_batch(texts, keys, noise="delete", rate=0.1, seed=0)
    assert int(rows[("delete", "0.1")]["units_changed"]) == sum(map(len, texts)) - sum(map(len, noisy))
    assert int(rows[("delete", "0.1")]["eligible_units"]) == sum(not c.isspace() for t in texts for c in t)


def test_noises_dataset_has_a_row_for_every_noise_and_shows_missing_targets(tmp_path, capsys):
    path = tmp_path / "lower.tsv"
    path.write_text("text\tlabel\n" + "".join(f"an all lower-case review number {i}\t{i % 2}\n" for i in range(30)),
                    encoding="utf-8")
    assert run_cli(["noises", "--dataset", str(path), "--plain"]) == 0
    assert set(_rows(capsys.readouterr().out)) == {(n, "0.1") for n in NOISES.names()}
    assert run_cli(["noises", "--dataset", str(path), "--noise", "casing", "--rate", "0.2"]) == 0
    out = capsys.readouterr().out
    assert "no targets" in out and "0/0" in out
    assert run_cli(["noises", "--dataset", str(path), "--noise", "casing", "--split", "train", "--plain"]) == 0
    row = _rows(capsys.readouterr().out)[("casing", "0.1")]
    assert (row["units_changed"], row["eligible_units"], row["changed_examples"]) == ("0", "0", "0.0000")


def test_noises_dataset_keys_by_the_id_column(tmp_path, capsys):
    """With --id-col the ids are the example keys: the delete row equals an independent count over those keys."""
    texts = [f"Note {i}: the patient reports pain in the left knee since {i} days." for i in range(40)]
    path = tmp_path / "notes.tsv"
    path.write_text("note_id\ttext\tlabel\n" + "".join(f"n{i}\t{t}\t{i % 2}\n" for i, t in enumerate(texts)),
                    encoding="utf-8")
    argv = ["noises", "--dataset", str(path), "--id-col", "note_id", "--split", "train", "--noise", "delete",
            "--rate", "0.3", "--seed", "5", "--plain"]
    assert run_cli(argv) == 0
    row = _rows(capsys.readouterr().out)[("delete", "0.3")]
    from noisebench.datasets import load_dataset

    train = load_dataset(str(path), id_col="note_id").train
    assert {ex.key for ex in train} <= {f"n{i}" for i in range(40)}
    noisy = perturb_batch([ex.text for ex in train], [ex.key for ex in train], noise="delete", rate=0.3, seed=5)
    assert int(row["units_changed"]) == sum(len(ex.text) for ex in train) - sum(map(len, noisy))
    by_hash = perturb_batch([ex.text for ex in train], [hashlib.sha256(ex.text.encode()).hexdigest() for ex in train],
                            noise="delete", rate=0.3, seed=5)
    assert by_hash != noisy  # the key matters: sha256 keys would give other edits
