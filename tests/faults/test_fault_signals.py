"""SIGKILL and Ctrl-C at random times: a chain of kills on one results directory, then a clean finish, must leave
exactly the uninterrupted run's records; Ctrl-C must exit 130 with one line saying what was kept and how to resume."""

from __future__ import annotations

import random
import signal
import subprocess
import time

from faultkit import COUNTS, FAULT_SEED, command, comparable, env, leftovers, no_traceback, startup_seconds

KILLS = 22  # ≥ 20 kill points per CI run


def _counts(results) -> tuple[int, int]:
    """What a run has left so far: training checkpoints and records."""
    return (sum(1 for _ in results.glob("checkpoints/*/training.json")),
            sum(1 for _ in results.glob("records/*.json")))


def _phase(results) -> str:
    """Where the run was when killed, read from what it left: no checkpoint yet (training), a checkpoint and k
    records (evaluation / record writing)."""
    checkpoints, records = _counts(results)
    return f"{checkpoints} checkpoint(s), {records} record(s)"


def _await_new(proc, results, which: int) -> bool:
    """Poll until the run leaves one more checkpoint (which=0) or record (which=1) than it found; False when the
    process ended first."""
    before = _counts(results)[which]
    while proc.poll() is None:
        if _counts(results)[which] > before:
            return True
        time.sleep(0.01)
    return False


def _finish_and_check(fault_data, results, reference, phases) -> None:
    final = subprocess.run(command(fault_data, results), env=env(), capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, (FAULT_SEED, phases, final.stderr[-2000:])
    no_traceback(final.stderr)
    assert comparable(results) == reference, (FAULT_SEED, phases)
    assert leftovers(results) == [], (FAULT_SEED, phases)  # every temporary of a killed writer was swept


def _whole_run_seconds(fault_data, folder) -> float:
    """One uninterrupted run's duration on this machine now (fault times are spread over it)."""
    started = time.perf_counter()
    subprocess.run(command(fault_data, folder), env=env(), check=True, capture_output=True, timeout=600)
    return time.perf_counter() - started


def test_sigkill_at_random_times_then_a_rerun_gives_the_uninterrupted_records(fault_data, reference, tmp_path):
    """Kill at a random moment, restart on the same directory, kill again …; whenever a chain's run completes,
    check it against the reference and start a new chain, until KILLS kills have landed. A kill's moment is drawn
    after one of three anchors: the process start (a time past start-up, anywhere in the run), the next checkpoint
    written, or the next record written (a short random delay after them): timing alone put every kill of a CI run
    in training, the stage before the first checkpoint taking most of a run."""
    rng = random.Random(FAULT_SEED)
    startup = startup_seconds()
    # One uninterrupted run's duration on this machine now: start-anchored kills are spread from the end of
    # start-up to past it, whatever the machine's load.
    whole = _whole_run_seconds(fault_data, tmp_path / "timing")
    chain, kills, phases = 0, 0, []
    results = tmp_path / f"chain-{chain}"
    while kills < KILLS:
        proc = subprocess.Popen(command(fault_data, results), env=env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        anchor = rng.choice(("start", "checkpoint", "record"))
        if anchor == "start":
            delay = rng.uniform(startup, max(whole, startup + 1.0))
        else:
            delay = rng.uniform(0.0, 0.3)
            if not _await_new(proc, results, 0 if anchor == "checkpoint" else 1):
                delay = 0.0  # the run ended first: it is checked below
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            COUNTS["SIGKILL"] += 1
            phases.append(f"chain {chain} kill {delay:.2f} s after {anchor}: {_phase(results)}")
            continue
        assert proc.returncode == 0, (FAULT_SEED, phases)
        _finish_and_check(fault_data, results, reference, phases)  # the run ended before its kill: check it
        chain += 1
        results = tmp_path / f"chain-{chain}"
    _finish_and_check(fault_data, results, reference, phases)
    stages = {p.split(": ", 1)[1] for p in phases}
    assert len(stages) >= 2, phases  # kills landed in more than one stage (before and after checkpoints, records)


def test_ctrl_c_exits_130_with_what_was_kept_and_the_resume_command(fault_data, reference, tmp_path):
    rng = random.Random(FAULT_SEED + 1)
    startup = startup_seconds()
    # past start-up (imports), and before the end of an uninterrupted run measured now: the run has become fast
    # enough that a fixed offset after start-up could land after its last record
    whole = _whole_run_seconds(fault_data, tmp_path / "timing")
    low = 1.1 * startup
    high = max(low, whole - 0.4 * (whole - startup))
    results = tmp_path / "interrupted"
    interrupted = 0
    for _ in range(3):
        proc = subprocess.Popen(command(fault_data, results), env=env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(low, high))
        if proc.poll() is not None:
            proc.communicate()
            continue
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        no_traceback(out, err)
        if "cells written" in (err.strip().splitlines() or [""])[-1]:
            # the run had printed its closing summary — every record written — when the signal landed (exit 0, or
            # killed by it during interpreter shutdown): nothing was left to interrupt
            continue
        COUNTS["SIGINT"] += 1
        interrupted += 1
        assert proc.returncode == 130, err[-2000:]
        last = err.strip().splitlines()[-1]
        assert last.startswith("noisebench: error: interrupted") and "kept in" in last, err
        assert "resume with: noisebench run --model bert-tiny" in last and str(results) in last
    assert interrupted, "no SIGINT landed while the run was working"
    final = subprocess.run(command(fault_data, results), env=env(), capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    assert comparable(results) == reference and leftovers(results) == []
