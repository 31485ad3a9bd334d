"""Study files, `plan` and `status`, and the local executor: the same records however the units are run."""

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
from noisebench.errors import UsageError
from noisebench.store import ResultsStore
from noisebench.study.studyfile import load_study

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--epochs", "1", "--batch-size", "16", "--seeds", "1,2", "--noise", "swap,casing", "--rate", "0.2",
         "--threads-per-worker", "1", "--quiet"]


@pytest.fixture()
def data(tmp_path) -> Path:
    return write_data(tmp_path / "reviews.tsv")


def study_file(tmp_path: Path, data: Path, extra: str = "") -> Path:
    path = tmp_path / "study.toml"
    path.write_text(f"""
[study]
datasets = [{{ name = "{data}", id_col = "id" }}]
noises = ["swap"]
rates = [0.2]
seeds = [1, 2]

[training]
epochs = 1
batch_size = 16

[[models]]
name = "bert-tiny"
{extra}
""", encoding="utf-8")
    return path


def _records(results: Path) -> dict:
    records, bad = ResultsStore(results).load(strict=False, predictions=True)
    assert not bad, bad
    return {r["id"]: (r["status"], r["metrics"], r["predictions"], r["realized"]) for r in records}


def test_every_problem_of_a_study_file_is_reported_at_once_with_its_key(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("""
[study]
datasets = ["clinical-notes"]
rates = [0.1, "x"]
sedes = [1]

[training]
epochs = "three"

[[models]]
name = "bert-tiny"
lr = "fast"

[[models]]
recipe = "full"

[executor]
workers = 0
""", encoding="utf-8")
    with pytest.raises(UsageError) as e:
        load_study(path)
    message = str(e.value)
    for fragment in ("study.sedes: unknown key (did you mean 'seeds'", "training.epochs: must be an integer",
                     "models[0].lr: must be a number", "models[1].name: required", "--workers must be at least 1",
                     "'x' is not a number"):
        assert fragment in message, message
    path.write_text("[study\n", encoding="utf-8")
    with pytest.raises(UsageError, match="is not valid TOML"):
        load_study(path)
    with pytest.raises(UsageError, match="not found"):
        load_study(tmp_path / "none.toml")


def test_the_offline_demo_study_is_the_offline_default():
    """`run --study studies/offline-demo.toml` owes exactly the cells of `noisebench run` with no arguments."""
    from noisebench.config import build_run_config
    from noisebench.datasets import load_dataset
    from noisebench.store.records import record_id
    from noisebench.study.run import conditions, make_units

    data = load_dataset("clinical-notes")

    def ids(configs):
        return sorted(record_id(u.skeleton(c)) for cfg in configs for u in make_units(cfg, data)
                      for c in conditions(cfg))

    assert ids(load_study(REPO / "studies" / "offline-demo.toml").configs) == ids([build_run_config()])


@pytest.mark.parametrize("cores", [1, 2, 16])
def test_the_offline_default_runs_one_single_thread_worker_per_core(monkeypatch, tmp_path, cores):
    """No --workers: the offline default (and its study file, `workers = "auto"`) uses single-thread workers, one
    per core, at most one per unit (10); any other run, or an explicit --workers, keeps the given executor."""
    from noisebench.study.studyfile import from_flags

    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    demo = REPO / "studies" / "offline-demo.toml"
    for study in (from_flags({}), load_study(demo)):
        assert (study.executor.workers, study.executor.threads_per_worker) == (min(cores, 10), 1)
    assert from_flags({"threads_per_worker": 2}).executor.workers == max(1, cores // 2)
    assert from_flags({"workers": 1}).executor.workers == 1
    assert load_study(demo, {"workers": 3}).executor.workers == 3
    assert load_study(demo, {"kind": "slurm"}).executor.workers == 1  # every unit is its own task there
    named = from_flags({"model": "bert-tiny"})
    assert (named.executor.workers, named.executor.threads_per_worker) == (1, None)
    bad = tmp_path / "bad.toml"
    bad.write_text(demo.read_text().replace('workers = "auto"', 'workers = "many"'))
    with pytest.raises(UsageError, match='executor.workers: must be an integer or "auto", got \'many\''):
        load_study(bad)


def test_plan_lists_the_studys_units_and_cells_offline_without_weights(capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert run_cli(["plan", "--study", str(REPO / "studies" / "blt-noise.toml"), "--results-dir", "/nonexistent"]) == 0
    out = capsys.readouterr().out
    assert "120 units (model configuration × dataset × seed) and 2,640 cells (units × 22 conditions)" in out
    assert out.count("│ blt ") == 8 and "probe" in out and "tweet_eval" in out  # BLT twice: probe and LoRA


def test_plan_and_status_follow_a_run(data, tmp_path, capsys):
    results = tmp_path / "results"
    study = study_file(tmp_path, data)
    args = ["--study", str(study), "--results-dir", str(results)]
    assert run_cli(["plan", *args]) == 0
    assert "stored: 0;" in capsys.readouterr().out
    assert run_cli(["run", *args, "--quiet"]) == 0
    capsys.readouterr()
    assert run_cli(["plan", *args]) == 0
    out = capsys.readouterr().out
    assert "stored: 4;" in out and "│      0 │" in out  # nothing left to run
    assert run_cli(["status", *args]) == 0
    out = capsys.readouterr().out
    assert "units: 2 done" in out
    # a live lease on a unit: running, with its holder; a failed cell: failed, with its reason
    unit = next(d for d in os.listdir(results / "checkpoints")
                if json.loads((results / "checkpoints" / d / "training.json").read_text())["seed"] == 1)
    (results / "leases").mkdir(exist_ok=True)
    (results / "leases" / f"unit-{unit}.lease").write_text(json.dumps(
        {"holder": "h", "host": "node-3", "pid": 99, "started": time.time(), "heartbeat": time.time()}))
    for record in (results / "records").glob("*.json"):  # each seed's swap cell failed
        rec = json.loads(record.read_text())
        if rec["noise"]["name"] == "swap":
            rec.update(status="failed", error="out of memory while training", metrics=None)
            record.write_text(json.dumps(rec))
    assert run_cli(["status", *args]) == 0
    out = capsys.readouterr().out
    assert "node-3 pid 99 since" in out and "out of memory while training" in out
    assert "units: 1 running, 1 failed" in out


def test_two_local_workers_write_the_records_of_one_process_and_train_each_unit_once(data, tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    base = [sys.executable, "-m", "noisebench", "run", "--model", "bert-tiny,byt5-tiny", "--dataset", str(data),
            "--id-col", "id", *SMALL]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([*base, "--results-dir", str(one)], env=env, check=True, capture_output=True, timeout=900)
    proc = subprocess.run([*base, "--results-dir", str(two), "--workers", "2"], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-800:]
    # the workers share the launcher's terminal: one closing table and summary line (the launcher's), not one each
    assert proc.stdout.count("noisebench run on") == 1 and proc.stderr.count("cells written") == 1, proc.stderr
    assert "12 cells written, 0 already stored" in proc.stderr
    assert _records(one) == _records(two) and len(_records(two)) == 12
    trainings = sorted(p.name.rsplit("-", 1)[0] for p in (two / "trainings").iterdir())
    assert trainings == sorted(os.listdir(two / "checkpoints")) and len(trainings) == 4  # each unit once
    threads = {json.loads(p.read_text())["provenance"]["threads"] for p in (two / "records").glob("*.json")}
    assert threads == {1}
    # run again: every unit is complete, so the launcher starts no worker (each would import torch to find nothing)
    loud = [a for a in base if a != "--quiet"]
    again = subprocess.run([*loud, "--results-dir", str(two), "--workers", "2"], env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and "local workers" not in again.stderr, again.stderr[-800:]
    assert "0 cells written, 12 already stored" in again.stderr and "4 skipped (all cells stored)" in again.stderr


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry))
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker processes through /proc")
@pytest.mark.parametrize("phase", ["training", "evaluation"])
def test_a_killed_worker_is_restarted_and_the_records_equal_an_uninterrupted_run(phase, data, tmp_path):
    """SIGKILL of a worker once a training has begun (no cell of it stored yet), or once cells are being written:
    the launcher restarts it, the unit resumes (its lease taken over at once on this host) and the final records
    equal an uninterrupted run's."""
    reference, results = tmp_path / "reference", tmp_path / "results"
    base = [sys.executable, "-m", "noisebench", "run", "--model", "bert-tiny", "--dataset", str(data), "--id-col",
            "id", *SMALL]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    subprocess.run([*base, "--results-dir", str(reference)], env=env, check=True, capture_output=True, timeout=900)
    launcher = subprocess.Popen([*base, "--results-dir", str(results), "--workers", "2"], env=env,
                                stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    killed = None
    while time.monotonic() < deadline and killed is None and launcher.poll() is None:
        folder = results / ("trainings" if phase == "training" else "records")
        started = list(folder.glob("*.json")) if folder.is_dir() else []
        workers = _children(launcher.pid)
        if started and workers:  # a training has begun, or cells are being written: kill a worker mid-unit
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    _, err = launcher.communicate(timeout=900)
    assert killed is not None, "the run finished before a worker could be killed"
    assert launcher.returncode == 0, err[-800:]
    assert "was killed (signal 9); restarting it" in err
    assert _records(results) == _records(reference)


def test_slurm_and_ray_executors_write_the_records_of_one_process(data, tmp_path):
    """The same units through submitit (its local executor: the job-array tasks run on this machine) and through a
    local Ray (this machine's 2 cores), one task per unit: bit-identical records at one thread per task."""
    pytest.importorskip("submitit")
    pytest.importorskip("ray")
    base = [sys.executable, "-m", "noisebench", "run", "--model", "bert-tiny", "--dataset", str(data), "--id-col",
            "id", *SMALL]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    one = tmp_path / "one"
    subprocess.run([*base, "--results-dir", str(one)], env=env, check=True, capture_output=True, timeout=900)
    for name, extra in (("slurm", ["--executor", "slurm", "--slurm-cluster", "local"]),
                        ("ray", ["--executor", "ray"])):
        results = tmp_path / name
        proc = subprocess.run([*base, "--results-dir", str(results), *extra], env=env, capture_output=True,
                              text=True, timeout=900)
        assert proc.returncode == 0, (name, proc.stderr[-800:])
        assert _records(results) == _records(one), name
        assert len(list((results / "trainings").iterdir())) == 2  # one task per unit, each trained once
    assert list((tmp_path / "slurm" / "slurm").glob("*_log.out"))  # submitit's logs in the results directory


def test_a_studys_noise_options_stand_unless_option_is_given(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('[study]\ndatasets = ["clinical-notes"]\nnoises = ["substitute"]\nrates = [0.1]\nseeds = [1]\n'
                    '[study.options]\nsubstitute = { mode = "keyboard" }\n[[models]]\nname = "bert-tiny"\n',
                    encoding="utf-8")
    (config,) = load_study(path, {"results_dir": str(tmp_path / "r")}).configs
    assert config.noises[0].options == {"mode": "keyboard"}
    (config,) = load_study(path, {"options": ["substitute.mode=uniform"]}).configs
    assert config.noises[0].options == {"mode": "uniform"}
