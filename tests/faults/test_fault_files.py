"""A filesystem that fails (ENOSPC, EIO, read-only) at the N-th write, and damaged records and checkpoints: each
fault ends in one line (exit 1 for a failed write, 2 for a corrupt record the user must look at), nothing partial
is left, and the plain re-run ends with exactly the uninterrupted run's records."""

from __future__ import annotations

import errno
import json
import os
import shutil

import pytest
from faultkit import COUNTS, comparable, leftovers, no_traceback, run_args

from noisebench.cli import run_cli
from noisebench.store import results as store


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = run_cli([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


class FailingDisk:
    """os.fsync fails with `code` on its N-th call from the store (every durable write fsyncs its file once)."""

    def __init__(self, fail_at: int, code: int) -> None:
        self.fail_at, self.code, self.calls = fail_at, code, 0
        self.real = os.fsync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            raise OSError(self.code, os.strerror(self.code))
        self.real(fd)


def _durable_writes(fault_data, tmp_path, monkeypatch, capsys) -> int:
    counter = FailingDisk(0, errno.ENOSPC)
    monkeypatch.setattr(store.os, "fsync", counter)
    assert cli(capsys, *run_args(fault_data, tmp_path / "count"))[0] == 0
    monkeypatch.undo()
    return counter.calls


def test_a_write_failing_at_every_point_ends_in_one_line_and_resumes(fault_data, reference, tmp_path, monkeypatch,
                                                                      capsys):
    """Fail the 1st, 2nd, … durable write of a run (records, checkpoint weights, training.json, directory
    fsyncs), alternating a full disk and an I/O error; then re-run with a healthy disk."""
    writes = _durable_writes(fault_data, tmp_path, monkeypatch, capsys)
    assert writes >= 10  # 6 records + 2 × (weights + training.json), each with its directory fsync
    for n in range(1, writes + 1):
        code = errno.ENOSPC if n % 2 else errno.EIO
        results = tmp_path / f"disk-{n}"
        monkeypatch.setattr(store.os, "fsync", FailingDisk(n, code))
        rc, out, err = cli(capsys, *run_args(fault_data, results))
        monkeypatch.undo()
        COUNTS["write failure (ENOSPC/EIO)"] += 1
        no_traceback(out, err)
        if rc == 0:  # the failed fsync was a directory's, which is best effort: the data itself was written
            assert comparable(results) == reference
            continue
        lines = [line for line in err.splitlines() if line.startswith("noisebench: error:")]
        assert rc == 1 and len(lines) == 1, (n, err)
        assert f"cannot write in {results}" in lines[0] and os.strerror(code) in lines[0] and "kept" in lines[0]
        assert "resume with: noisebench run" in lines[0]
        assert leftovers(results) == [], n  # the failed write removed its temporary file
        assert cli(capsys, *run_args(fault_data, results))[0] == 0
        assert comparable(results) == reference, n


def test_a_read_only_results_directory_is_one_line(fault_data, tmp_path, monkeypatch, capsys):
    """Root ignores permission bits, so read-only is injected where the store creates its files."""
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), kwargs.get("dir"))

    results = tmp_path / "ro"
    monkeypatch.setattr(store.tempfile, "mkstemp", read_only)
    rc, out, err = cli(capsys, *run_args(fault_data, results))
    COUNTS["read-only directory"] += 1
    no_traceback(out, err)
    assert rc == 1 and err.count("noisebench: error:") == 1 and "Read-only file system" in err
    out_file = tmp_path / "report.md"
    rc, out, err = cli(capsys, "report", "--results-dir", tmp_path / "nothing-here", "--out", out_file)
    assert rc == 2 and err.count("noisebench: error:") == 1  # no results: a usage error, not a traceback


DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "zero-length": lambda data: b"",
    "not JSON": lambda data: b"\x00\xffgarbage",
    "wrong schema": lambda data: json.dumps({**json.loads(data), "schema": "noisebench.result/0"}).encode(),
    "edited by hand": lambda data: json.dumps({**json.loads(data), "seed": 999}).encode(),
}


@pytest.fixture(scope="module")
def finished(fault_data, tmp_path_factory):
    """A finished results directory to damage (copied per test)."""
    results = tmp_path_factory.mktemp("finished")
    assert run_cli(run_args(fault_data, results)) == 0
    return results


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_record_is_named_then_rewritten(kind, fault_data, finished, reference, tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(finished, results)
    victim = sorted((results / "records").glob("*.json"))[2]
    victim.write_bytes(DAMAGE[kind](victim.read_bytes()))
    COUNTS["damaged record"] += 1
    rc, out, err = cli(capsys, "report", "--results-dir", results)
    no_traceback(out, err)
    assert rc == 2 and victim.name in err and err.count("\n") == 1
    assert cli(capsys, "report", "--results-dir", results, "--skip-corrupt")[0] == 0
    rc, out, err = cli(capsys, *run_args(fault_data, results))
    no_traceback(out, err)
    assert rc == 0 and comparable(results) == reference


PARQUET_DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "zero-length": lambda data: b"",
    "garbage": lambda data: b"\x00\xffgarbage",
    "one byte flipped": lambda data: data[:40] + bytes([data[40] ^ 0xFF]) + data[41:],
}


@pytest.mark.parametrize("kind", [*PARQUET_DAMAGE, "missing"])
def test_a_damaged_predictions_file_is_named_then_recomputed(kind, fault_data, finished, reference, tmp_path,
                                                            capsys):
    """Tables never read the Parquet predictions; a statistic that needs them names the damaged file in one line,
    and the next run recomputes the cell (the record points at the file by its sha256)."""
    results = tmp_path / "results"
    shutil.copytree(finished, results)
    victim = sorted((results / "predictions").glob("*.parquet"))[1]
    if kind == "missing":
        victim.unlink()
    else:
        victim.write_bytes(PARQUET_DAMAGE[kind](victim.read_bytes()))
    COUNTS["damaged predictions file"] += 1
    rc, out, err = cli(capsys, "report", "--results-dir", results)
    assert rc == 0, err
    rc, out, err = cli(capsys, "report", "--results-dir", results, "--ci", "hierarchical", "--resamples", "200")
    no_traceback(out, err)
    assert rc == 2 and victim.name in err and err.count("\n") == 1 and "predictions file" in err
    rc, out, err = cli(capsys, *run_args(fault_data, results))
    no_traceback(out, err)
    assert rc == 0 and comparable(results) == reference and leftovers(results) == []


CHECKPOINT_DAMAGE = {
    "truncated weights": ("trainable.safetensors", lambda data: data[: len(data) // 3]),
    "zero-length weights": ("trainable.safetensors", lambda data: b""),
    "garbled weights": ("trainable.safetensors", lambda data: data[:8] + b"\x00" * (len(data) - 8)),
    "truncated training.json": ("training.json", lambda data: data[:20]),
    "training.json without training": ("training.json", lambda data: b'{"unit": "x"}'),
}


@pytest.mark.parametrize("kind", CHECKPOINT_DAMAGE)
def test_a_damaged_checkpoint_is_discarded_with_a_notice_and_retrained(kind, fault_data, finished, reference,
                                                                       tmp_path, capsys):
    """The unit owes a cell (one record removed), so the run must use its checkpoint, which is damaged."""
    results = tmp_path / "results"
    shutil.copytree(finished, results)
    folder = sorted((results / "checkpoints").iterdir())[0]
    unit = json.loads((folder / "training.json").read_text())
    owed = next(p for p in (results / "records").glob("*.json")
                if json.loads(p.read_text())["seed"] == unit["seed"])
    owed.unlink()
    name, damage = CHECKPOINT_DAMAGE[kind]
    (folder / name).write_bytes(damage((folder / name).read_bytes()))
    COUNTS["damaged checkpoint"] += 1
    rc, out, err = cli(capsys, *run_args(fault_data, results))
    no_traceback(out, err)
    assert rc == 0, err
    notices = [line for line in err.splitlines() if "checkpoint" in line and "discarded, retraining" in line]
    assert len(notices) == 1 and str(folder) in notices[0], err
    assert comparable(results) == reference  # retrained to the very same weights: the seed fixes everything
    rc, out, err = cli(capsys, *run_args(fault_data, results))  # the new checkpoint is whole
    assert rc == 0 and "discarded" not in err


def test_stray_temporaries_of_dead_writers_are_swept(fault_data, finished, tmp_path, capsys):
    results = tmp_path / "results"
    shutil.copytree(finished, results)
    dead = results / "records" / f".x.json.{store._HOST}-999999999.abcd.tmp"  # no such pid
    old = results / "records" / ".y.json.k2j3h4.tmp"  # a name from before 0.2, hours old
    live = results / "records" / f".z.json.{store._HOST}-{os.getpid()}.efgh.tmp"  # this process: alive
    for path in (dead, old, live):
        path.write_text("{")
    os.utime(old, (1, 1))
    COUNTS["stray temporary"] += 3
    rc, out, err = cli(capsys, *run_args(fault_data, results))
    assert rc == 0 and not dead.exists() and not old.exists() and live.exists()
    assert err.count("temporary file left by an interrupted writer") == 2
