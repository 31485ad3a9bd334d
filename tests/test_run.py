"""`noisebench run`: end to end on tiny models, resumability, kill -9, concurrent runs, determinism, bad input.

The data are a 120-row two-class TSV (the class is decided by its words) with an id column; every run uses one
epoch and short texts so the whole file stays around a minute on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from reviews_data import write_data

from noisebench.cli import run_cli
from noisebench.models import tiny_models
from noisebench.store import ResultsStore

FAST = ["--epochs", "1", "--batch-size", "16", "--quiet"]


@pytest.fixture()
def data(tmp_path) -> Path:
    return write_data(tmp_path / "reviews.tsv")


def base_args(data: Path, results: Path, model: str = "bert-tiny") -> list[str]:
    return ["run", "--model", model, "--dataset", str(data), "--id-col", "id", "--results-dir", str(results), *FAST]


def load(results: Path) -> list[dict]:
    return ResultsStore(results).load(strict=True, predictions=True)[0]


def cells(records: list[dict]) -> set[tuple]:
    return {(r["model"]["name"], r["seed"], r["noise"]["name"], r["noise"]["rate"]) for r in records}


# ------------------------------------------------------------------ end to end


@pytest.mark.parametrize("model", tiny_models())
def test_every_tiny_model_runs_end_to_end(model, data, tmp_path, capsys):
    results = tmp_path / "results"
    rc = run_cli([*base_args(data, results, model), "--noise", "substitute", "--rate", "0.2", "--seeds", "7"])
    assert rc == 0, capsys.readouterr().err
    records = load(results)
    assert cells(records) == {(model, 7, "clean", 0.0), (model, 7, "substitute", 0.2)}
    for r in records:
        assert r["status"] == "ok"
        assert r["metrics"]["n"] == len(r["predictions"]["ids"]) == r["dataset"]["n"]
        assert r["training"]["trainable_params"] > 0 and r["training"]["seconds"] > 0
        assert set(r["provenance"]) >= {"noisebench", "packages", "device", "created", "config_hash"}
    noisy = next(r for r in records if r["noise"]["name"] == "substitute")
    assert 0.15 < noisy["realized"]["unit_fraction"] < 0.25
    assert "substitute @ 0.2" in capsys.readouterr().out  # the closing summary table


def test_accuracy_and_predictions_agree_with_labels(data, tmp_path):
    results = tmp_path / "results"
    assert run_cli([*base_args(data, results), "--noise", "casing", "--rate", "0.3", "--seeds", "1"]) == 0
    for r in load(results):
        labels, predicted = r["predictions"]["labels"], r["predictions"]["predicted"]
        assert r["metrics"]["accuracy"] == pytest.approx(sum(a == b for a, b in zip(labels, predicted,
                                                                                         strict=True)) / len(labels))


def test_same_seed_same_predictions_and_noise_shared_across_models(data, tmp_path):
    runs = []
    for name in ("a", "b"):
        results = tmp_path / name
        assert run_cli([*base_args(data, results, "bert-tiny,byt5-tiny"), "--noise", "swap", "--rate", "0.3",
                        "--seeds", "5"]) == 0
        runs.append({(r["model"]["name"], r["noise"]["name"]): r for r in load(results)})
    assert runs[0].keys() == runs[1].keys()
    for key, first in runs[0].items():
        assert first["id"] == runs[1][key]["id"]
        assert first["predictions"] == runs[1][key]["predictions"]
        assert first["metrics"] == runs[1][key]["metrics"]
    # both models saw the same noisy test set: the realized level is a property of (noise, rate, seed)
    assert runs[0][("bert-tiny", "swap")]["realized"] == runs[0][("byt5-tiny", "swap")]["realized"]


def test_rerun_trains_nothing_and_new_condition_reuses_the_checkpoint(data, tmp_path, capsys):
    results = tmp_path / "results"
    args = [*base_args(data, results), "--seeds", "3", "--noise", "delete", "--rate", "0.1"]
    assert run_cli(args) == 0
    first = {p.name: p.stat().st_mtime_ns for p in (results / "records").iterdir()}
    capsys.readouterr()
    assert run_cli(args) == 0
    err = capsys.readouterr().err
    assert "0 cells written, 2 already stored" in err and "0 models trained" in err
    assert {p.name: p.stat().st_mtime_ns for p in (results / "records").iterdir()} == first
    assert run_cli([*base_args(data, results), "--seeds", "3", "--noise", "delete,insert", "--rate", "0.1"]) == 0
    err = capsys.readouterr().err
    assert "1 cells written, 2 already stored" in err and "0 models trained, 1 loaded" in err
    assert len(load(results)) == 3


def test_seeds_train_different_models(data, tmp_path):
    """What the seed must change: the trained weights and the noise draw; a repeated seed reproduces both exactly
    (in another results directory, so nothing is reused)."""
    import torch
    from safetensors.torch import load_file

    results, again = tmp_path / "results", tmp_path / "again"
    assert run_cli([*base_args(data, results), "--seeds", "1,2", "--noise", "swap", "--rate", "0.1"]) == 0
    assert run_cli([*base_args(data, again), "--seeds", "1", "--noise", "swap", "--rate", "0.1"]) == 0

    def trained(root: Path, seed: int) -> tuple[dict, dict]:
        by = {(r["seed"], r["noise"]["name"]): r for r in load(root)}
        weights = load_file(root / by[(seed, "clean")]["training"]["checkpoint"] / "trainable.safetensors")
        return weights, by[(seed, "swap")]

    (w1, swap1), (w2, swap2), (w1_again, swap1_again) = trained(results, 1), trained(results, 2), trained(again, 1)
    assert w1.keys() == w2.keys() and any(not torch.equal(w1[k], w2[k]) for k in w1)
    assert all(torch.equal(w1[k], w1_again[k]) for k in w1)
    assert swap1["realized"]["draw"] != swap2["realized"]["draw"]
    assert swap1["realized"]["draw"] == swap1_again["realized"]["draw"]
    assert swap1["predictions"] == swap1_again["predictions"]


def test_a_model_that_did_not_learn_is_flagged_in_the_summary_and_the_report(data, tmp_path, capsys):
    """A learning rate of 1e-9 leaves bert-tiny at its initialisation: its clean accuracy is not above the
    majority-class rate of the balanced test set, and both the run's summary and every report say so."""
    results = tmp_path / "results"
    args = [*base_args(data, results), "--seeds", "1,2", "--noise", "swap", "--rate", "0.1"]
    assert run_cli([*args, "--lr", "1e-9"]) == 0
    err = capsys.readouterr().err
    assert "bert-tiny (full) did not learn on seed(s) 1, 2" in err and "majority-class rate 50.0%" in err
    assert run_cli(["report", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "§2/2" in out and "did not learn" in out
    assert run_cli(["report", "--results-dir", str(results), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)["models"]
    assert row["not_above_majority"] == [1, 2] and row["majority_rate"] == 0.5
    trained = tmp_path / "trained"  # six epochs at 1e-3 learn the task: no flag
    assert run_cli([*base_args(data, trained), "--seeds", "1,2", "--noise", "swap", "--rate", "0.1", "--epochs", "6",
                    "--lr", "1e-3"]) == 0
    assert "did not learn" not in capsys.readouterr().err
    assert run_cli(["report", "--results-dir", str(trained)]) == 0
    assert "§" not in capsys.readouterr().out


def test_labels_too_rare_for_the_test_split_are_named(tmp_path, capsys):
    lines = ["id\ttext\tlabel"] + [f"r{i}\tthe film was {'good' if i % 2 else 'bad'} take {i}\t{'pos' if i % 2 else 'neg'}"
                                   for i in range(100)] + ["rare1\tan odd one\trare"]
    data = tmp_path / "rare.tsv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run_cli([*base_args(data, tmp_path / "results"), "--seeds", "1", "--noise", "swap", "--rate", "0.1"]) == 0
    err = capsys.readouterr().err
    assert "classes with too few rows for the test split stay in train: rare; they are never evaluated" in err


def test_each_record_says_which_precision_computed_it(data, tmp_path, capsys):
    results = tmp_path / "results"
    assert run_cli([*base_args(data, results), "--seeds", "1", "--noise", "swap", "--rate", "0.1",
                    "--precision", "fp16"]) == 0
    for rec in load(results):
        assert rec["provenance"]["precision"] == "fp16" and rec["training"]["precision"] == "fp16"
    auto = tmp_path / "auto"
    assert run_cli([*base_args(data, auto), "--seeds", "1", "--noise", "swap", "--rate", "0.1"]) == 0
    assert {r["provenance"]["precision"] for r in load(auto)} == {"fp32"}  # auto on the CPU
    capsys.readouterr()
    assert run_cli([*base_args(data, tmp_path / "x"), "--precision", "fp8"]) == 2
    assert "--precision 'fp8'" in capsys.readouterr().err


@pytest.mark.parametrize("lr", ["1e30", "1e38"])  # NaN loss; an AdamW update that overflows
def test_diverged_training_is_stored_as_failed_and_exits_1(lr, data, tmp_path, capsys):
    results = tmp_path / "results"
    rc = run_cli([*base_args(data, results), "--seeds", "1", "--noise", "swap", "--rate", "0.1", "--lr", lr])
    assert rc == 1
    assert "training run(s) failed" in capsys.readouterr().err
    records = load(results)
    assert len(records) == 2 and all(r["status"] == "failed" and r["error"] for r in records)


# ------------------------------------------------------------------ bad input: exit 2, one line, nothing written


def _bad(tmp_path: Path, name: str, content: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


@pytest.mark.parametrize("case, expect", [
    (["--model", "bert-tinyy"], "did you mean"),
    (["--dataset", "sst3"], "did you mean"),
    (["--noise", "substitue"], "did you mean"),
    (["--rate", "1.5"], "between 0 and 1"),
    (["--rate", "-0.1"], "between 0 and 1"),
    (["--seeds", "x"], "not an integer"),
    (["--model", "bert"], "--model bert:/path/to/model"),  # a Hub model offline: says how to use a local path
    (["--device", "tpu"], "--device"),
    (["--noise", "casing+substitute", "--rate", "0.1"], "give it a rate with one part per noise, e.g. --rate 0.1+0.1"),
    (["--noise", "swap", "--rate", "0.1,1+0.1"], "--rate 1+0.1 has 2 parts but no requested noise composes 2"),
    (["--noise", "casing+substitue", "--rate", "1+0.1"], "did you mean 'substitute'"),
    (["--noise", "casing+swap", "--rate", "0.2,1+0.1"], "--rate 0.2 is a plain rate but every requested noise"),
    (["--noise", "casing+swap", "--rate", "1+x"], "'x' is not a number"),
    (["--noise", "casing+swap", "--rate", "1+0.1", "--option", "swap.mode=x"], "has no option 'mode'"),
])
def test_bad_options_exit_2_and_write_nothing(case, expect, data, tmp_path, capsys):
    results = tmp_path / "results"
    args = ["run", "--dataset", str(data), "--id-col", "id", "--results-dir", str(results), "--quiet",
            "--model", "bert-tiny", *case]
    assert run_cli(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("noisebench: error:") and len(err.splitlines()) == 1 and expect in err
    assert not results.exists()


@pytest.mark.parametrize("rates", ["abc", "0.1,abc", "1+x"])
def test_a_rate_that_is_not_a_number_is_the_one_problem_reported(rates, data, tmp_path, capsys):
    """Rates that do not parse are reported as such, not also as rates of the wrong shape for every noise."""
    results = tmp_path / "results"
    assert run_cli(["run", "--dataset", str(data), "--id-col", "id", "--results-dir", str(results), "--quiet",
                    "--model", "bert-tiny", "--rate", rates]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a number" in err and "plain rate" not in err and "composes" not in err
    assert "problems" not in err  # one problem: the message has no count
    assert not results.exists()


@pytest.mark.parametrize("name, content, expect", [
    ("nolabel.tsv", b"id\ttext\nr1\thello\n", "label"),
    ("latin1.tsv", "id\ttext\tlabel\nr1\tcaf\xe9\tpos\n".encode("latin-1"), "UTF-8"),
    ("missing.tsv", None, "not found"),
])
def test_bad_data_files_exit_2_and_write_nothing(name, content, expect, tmp_path, capsys):
    path = tmp_path / name if content is None else _bad(tmp_path, name, content)
    results = tmp_path / "results"
    assert run_cli(["run", "--model", "bert-tiny", "--dataset", str(path), "--results-dir", str(results),
                    "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("noisebench: error:") and len(err.splitlines()) == 1 and expect in err
    assert not results.exists()


def test_unseen_test_label_is_an_error(tmp_path, capsys):
    folder = tmp_path / "splits"
    folder.mkdir()
    write_data(folder / "train.tsv", 40)
    (folder / "test.tsv").write_text("id\ttext\tlabel\nt1\tsomething else\tneutral\n", encoding="utf-8")
    results = tmp_path / "results"
    assert run_cli(["run", "--model", "bert-tiny", "--dataset", str(folder), "--results-dir", str(results),
                    "--quiet"]) == 2
    assert "neutral" in capsys.readouterr().err
    assert not results.exists()


# ------------------------------------------------------------------ interruption and concurrency (real processes)


def _command(data: Path, results: Path, seeds: str) -> list[str]:
    return [sys.executable, "-m", "noisebench", *base_args(data, results, "bert-tiny"), "--seeds", seeds,
            "--noise", "substitute,swap,casing", "--rate", "0.1,0.3"]


def _env() -> dict:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _comparable(records: list[dict]) -> dict:
    return {r["id"]: (r["status"], r["metrics"], r["predictions"]) for r in records}


def test_kill_9_then_rerun_gives_the_uninterrupted_result(data, tmp_path):
    seeds = "1,2,3"
    reference = tmp_path / "reference"
    subprocess.run(_command(data, reference, seeds), env=_env(), check=True, capture_output=True, timeout=600)
    interrupted = tmp_path / "interrupted"
    proc = subprocess.Popen(_command(data, interrupted, seeds), env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:  # kill once some, not all, cells are stored
        if len(list(interrupted.glob("records/*.json"))) >= 4:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(list((interrupted / "records").glob("*.json")))
    assert 0 < partial < 21
    subprocess.run(_command(data, interrupted, seeds), env=_env(), check=True, capture_output=True, timeout=600)
    final = load(interrupted)
    assert len(final) == len(list((interrupted / "records").iterdir())) == 21  # no duplicates, no stray temp files
    assert _comparable(final) == _comparable(load(reference))


def test_two_concurrent_runs_share_a_results_directory(data, tmp_path):
    results = tmp_path / "shared"
    procs = [subprocess.Popen(_command(data, results, "1,2"), env=_env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-500:] for o in outs]
    records = load(results)  # strict: every file is a whole, valid record
    assert len(records) == len(list((results / "records").iterdir())) == 14
    assert len(list((results / "checkpoints").iterdir())) == 2
    trained = sum(int(err.split(" models trained")[0].rsplit(" ", 1)[-1]) for _, err in outs)
    assert trained == 2  # each (model, seed) trained by exactly one of the two processes
    # counted from the store too: one training file per unit (a second training would add one)
    units = os.listdir(results / "checkpoints")
    assert sorted(p.name.rsplit("-", 1)[0] for p in (results / "trainings").iterdir()) == sorted(units)
    assert not list((results / "leases").iterdir())  # every lease released
    # A process that waited for a unit another one held and then found every cell stored builds and loads nothing.
    assert all(" 0 loaded from checkpoints" in err for _, err in outs), [err[-300:] for _, err in outs]
    assert all(json.loads((results / "checkpoints" / d / "training.json").read_text())["seed"] in (1, 2)
               for d in os.listdir(results / "checkpoints"))


# ------------------------------------------------------------------ memoised evaluation


@pytest.mark.parametrize("model", ["bert-tiny", "byt5-tiny"])
def test_memoised_evaluation_gives_the_per_condition_records(model, data, tmp_path):
    """Predicting each distinct encoding once per unit (the default) and predicting every condition on its own
    store the same records, bit for bit, apart from timing and provenance; the memoised cells say how many of
    their rows were computed, and casing costs an uncased model nothing."""
    import dataclasses

    from noisebench.config import build_run_config
    from noisebench.study.run import execute

    def run(folder: str, memoise: bool) -> dict:
        config = build_run_config(model=model, dataset=str(data), id_col="id", noise="casing,substitute,phi",
                                  rate="0.1,0.3", seeds="3", epochs=1, batch_size=16, quiet=True,
                                  results_dir=tmp_path / folder)
        execute(dataclasses.replace(config, memoise=memoise))
        return {r["id"]: r for r in load(tmp_path / folder)}

    memo, plain = run("memo", True), run("plain", False)
    assert memo.keys() == plain.keys() and len(memo) == 7
    def comparable(record: dict) -> dict:
        out = {k: v for k, v in record.items() if k not in ("timing", "provenance")}
        training = {k: v for k, v in out["training"].items() if k != "seconds"}
        training["history"] = [{k: v for k, v in h.items() if k != "seconds"} for h in training["history"]]
        return {**out, "training": training}

    for rid, record in memo.items():
        assert comparable(record) == comparable(plain[rid])
        assert plain[rid]["timing"]["computed"] == record["dataset"]["n"] and plain[rid]["timing"]["reused"] == 0
        assert record["timing"]["computed"] + record["timing"]["reused"] == record["dataset"]["n"]
    by_cell = {(r["noise"]["name"], r["noise"]["rate"]): r["timing"] for r in memo.values()}
    assert by_cell[("clean", 0.0)]["reused"] == 0  # clean comes first: every distinct clean input is computed there
    if model == "bert-tiny":  # lower-casing WordPiece: a casing-noised text encodes exactly as its clean text
        assert by_cell[("casing", 0.1)]["computed"] == by_cell[("casing", 0.3)]["computed"] == 0


def test_predict_distinct_runs_each_distinct_encoding_once(data, tmp_path):
    """The number of rows the model is run on equals the number of distinct encodings across all streams, and
    each stream's logits equal a plain `predict` of that stream."""
    import numpy as np
    import torch

    from noisebench.config import build_run_config
    from noisebench.datasets import load_dataset
    from noisebench.models import build_classifier
    from noisebench.training import train

    dataset = load_dataset(str(data), id_col="id")
    plan = build_run_config(model="bert-tiny", dataset=str(data), id_col="id").models[0]
    options = plan.options(num_labels=dataset.num_labels, train_texts=[ex.text for ex in dataset.train], seed=1,
                           precision="fp32", label_names=dataset.label_names)
    clf = build_classifier(plan.spec, options, torch.device("cpu"))
    clean = [ex.text for ex in dataset.test]
    streams = [clean, [t.upper() for t in clean], clean[::-1], [t + " extra" for t in clean]]
    seen: list[int] = []
    forward = clf.forward
    clf.forward = lambda batch: (seen.append(len(batch["input_ids"])), forward(batch))[1]
    logits, computed = train.predict_distinct(clf, streams, device=torch.device("cpu"), batch_size=8)
    distinct = {key for stream in streams for key in clf.input_keys(stream)}
    assert sum(seen) == len(distinct) == sum(computed)
    assert computed[1] == computed[2] == 0  # upper-cased (the tokenizer lower-cases) and reordered: all reused
    clf.forward = forward
    for stream, got in zip(streams, logits, strict=True):
        assert np.allclose(got, train.predict(clf, stream, device=torch.device("cpu"), batch_size=8), atol=1e-6)


def test_a_composition_runs_as_one_condition_with_a_level_per_part(data, tmp_path, capsys):
    """`--noise casing+substitute,swap --rate 1.0+0.05,0.1`: the composition takes the two-part rate, swap the plain
    one; the record stores the rate as a list, each part's realized level, and the report shows it as 1+0.05."""
    results = tmp_path / "results"
    assert run_cli([*base_args(data, results), "--noise", "casing+substitute,swap", "--rate", "1.0+0.05,0.1",
                    "--seeds", "4", "--option", "substitute.mode=keyboard"]) == 0
    by_noise = {r["noise"]["name"]: r for r in load(results)}
    assert set(by_noise) == {"clean", "casing+substitute", "swap"}
    composed = by_noise["casing+substitute"]
    assert composed["noise"]["rate"] == [1.0, 0.05] and by_noise["swap"]["noise"]["rate"] == 0.1
    assert composed["noise"]["options"] == {"casing": {}, "substitute": {"mode": "keyboard"}}
    steps = composed["realized"]["steps"]
    assert [(s["name"], s["rate"]) for s in steps] == [("casing", 1.0), ("substitute", 0.05)]
    assert steps[0]["unit_fraction"] == 1.0 and abs(steps[1]["unit_fraction"] - 0.05) < 0.01
    assert composed["realized"]["unit_fraction"] is None and composed["realized"]["edit_ratio"] > 0.05
    capsys.readouterr()
    assert run_cli(["report", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "casing+substitute" in out and "rate 1+0.05" in out and "realized 1.000+0.0" in out
    assert run_cli(["report", "--results-dir", str(results), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    level = next(x for x in report["noise_levels"] if x["noise"]["name"] == "casing+substitute")
    assert level["noise"]["rate"] == [1.0, 0.05] and level["realized_unit_fraction"] is None
    assert [round(e["point"], 2) for e in level["realized_steps"]] == [1.0, round(steps[1]["unit_fraction"], 2)]
    # the same composition again is already stored; check reads the report's list rates
    assert run_cli([*base_args(data, results), "--noise", "casing+substitute", "--rate", "1+0.05", "--seeds", "4",
                    "--option", "substitute.mode=keyboard"]) == 0
    assert "0 cells written, 2 already stored" in capsys.readouterr().err


def test_a_record_of_an_older_noise_version_is_neither_reused_nor_pooled(data, tmp_path, capsys, monkeypatch):
    """Every record's identity carries a versions block. After a noise's implementation version is bumped, `run`
    recomputes its cells (and reuses the trained checkpoint: training did not change), `report` refuses to pool the
    two versions and names them, and `report --current` reports only the new ones."""
    import dataclasses

    from noisebench.noise import NOISES
    from noisebench.training.train import TRAINING_VERSION

    results = tmp_path / "results"
    args = [*base_args(data, results), "--noise", "swap", "--rate", "0.2", "--seeds", "1,2"]
    assert run_cli(args) == 0
    first = load(results)
    assert {r["versions"]["training"] for r in first} == {TRAINING_VERSION}
    assert {json.dumps(r["versions"]["noise"]) for r in first} == {"{}", '{"swap": 1}'}
    capsys.readouterr()
    monkeypatch.setitem(NOISES._items, "swap", dataclasses.replace(NOISES.get("swap"), version=2))
    assert run_cli(args) == 0
    err = capsys.readouterr().err
    assert "2 cells written, 2 already stored" in err and "0 models trained, 2 loaded from checkpoints" in err
    swaps = [r for r in load(results) if r["noise"]["name"] == "swap"]
    assert sorted(r["versions"]["noise"]["swap"] for r in swaps) == [1, 1, 2, 2]
    assert run_cli(["report", "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err
    assert "cannot pool results computed by different code versions" in err
    assert "swap v1 (2 records) vs swap v2 (2 records)" in err and "--current" in err
    assert run_cli(["report", "--results-dir", str(results), "--current", "--format", "json"]) == 0
    captured = capsys.readouterr()
    assert "left out 2 record(s) of older code versions" in captured.err
    cell = next(c for c in json.loads(captured.out)["conditions"] if c["noise"]["name"] == "swap")
    assert cell["seeds"]["used"] == [1, 2]


def test_a_lease_left_by_a_dead_process_on_another_host_is_taken_over_once_stale(data, tmp_path):
    """A unit's lease whose holder is another host that stopped heart-beating: the run first waits for it, takes it
    over once its heartbeat is older than the stale limit (3 s here), says so, and finishes every cell."""
    probe = tmp_path / "probe"
    subprocess.run(_command(data, probe, "1"), env=_env(), check=True, capture_output=True, timeout=600)
    unit_id = os.listdir(probe / "checkpoints")[0]  # the lease is named by the unit's id
    results = tmp_path / "results"
    (results / "leases").mkdir(parents=True)
    lease_file = results / "leases" / f"unit-{unit_id}.lease"
    lease_file.write_text(json.dumps({"holder": "gone", "host": "node-17", "pid": 4242, "started": time.time(),
                                      "heartbeat": time.time()}))
    started = time.monotonic()
    proc = subprocess.run(_command(data, results, "1"), env={**_env(), "NOISEBENCH_LEASE_STALE_SECONDS": "3"},
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert time.monotonic() - started > 3  # it waited for the lease to go stale
    assert "took over the unit from a process that stopped (node-17, pid 4242)" in proc.stderr
    assert _comparable(load(results)) == _comparable(load(probe))
    assert not lease_file.exists()


def test_a_units_completion_marker_is_written_last_and_must_validate(data, tmp_path, capsys):
    """Each finished unit gets units/<id>.json listing its records; a marker whose records are not all there (one
    deleted) does not count: the next run recomputes the missing cell, from the kept checkpoint."""
    results = tmp_path / "results"
    args = [*base_args(data, results), "--noise", "swap", "--rate", "0.2", "--seeds", "1"]
    assert run_cli(args) == 0
    (unit,) = os.listdir(results / "checkpoints")
    marker = json.loads((results / "units" / f"{unit}.json").read_text())
    assert marker["unit"] == unit and sorted(marker["records"]) == sorted(p.stem for p in (results / "records").iterdir())
    capsys.readouterr()
    assert run_cli(args) == 0
    assert "1 skipped (all cells stored)" in capsys.readouterr().err
    (results / "records" / f"{marker['records'][0]}.json").unlink()
    assert run_cli(args) == 0
    err = capsys.readouterr().err
    assert "1 cells written, 1 already stored" in err and "1 loaded from checkpoints" in err
