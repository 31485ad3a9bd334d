"""Where a study's units run. Every executor runs the same worker — `noisebench run` over the study's units under
their leases (`noisebench.lease`) — so records never depend on the executor; executors only decide where it runs.

`local`: `--workers N` processes on this machine. Each is a fresh `python -m noisebench run` with the launcher's
arguments, `NOISEBENCH_WORKER=<i>`, its torch thread count (`--threads-per-worker`, default cores ÷ workers, at least
1; `OMP_NUM_THREADS` too) and, with `--gpus 0,1,...`, `CUDA_VISIBLE_DEVICES` set before torch is imported. Worker i
starts at its own offset in the unit list, takes a unit's lease or moves on to the next, and comes back to units
other workers hold; so N workers split the units without a scheduler, and any of them finishes a unit whose worker
died (its lease is taken over at once on this host). A worker that dies (a signal, kill -9, out of host memory) is
restarted up to `--retries` times and resumes from what was stored; one that exits with a usage error (2) or a
failed run (1: a deterministic failure, stored as a failed record with its reason) is not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from noisebench.errors import NoisebenchError, RunError, UsageError

WORKER_ENV = "NOISEBENCH_WORKER"


@dataclass
class WorkerLog:
    index: int
    starts: int = 0
    codes: list[int] = field(default_factory=list)


def threads_for(workers: int, threads_per_worker: int | None) -> int:
    """torch threads per worker: the given number, else the cores divided among the workers (at least 1)."""
    return threads_per_worker or max(1, (os.cpu_count() or 1) // workers)


def worker_env(index: int, threads: int, gpus: tuple[str, ...]) -> dict[str, str]:
    env = {**os.environ, WORKER_ENV: str(index), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[index % len(gpus)]
    return env


def _worker_argv(argv: list[str], index: int, threads: int) -> list[str]:
    """The launcher's arguments for worker `index`: the same run, one process, its threads and offset."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in ("--workers", "--threads-per-worker", "--worker-index", "--gpus", "--retries"):
            skip = "=" not in arg
            continue
        out.append(arg)
    return [sys.executable, "-m", "noisebench", "run", *(out[1:] if out[:1] == ["run"] else out),
            "--workers", "1", "--threads-per-worker", str(threads), "--worker-index", str(index)]


def run_local(study, argv: list[str], *, quiet: bool) -> list[WorkerLog]:
    """Run the study in `study.executor.workers` local worker processes (see the module docstring)."""
    ex = study.executor
    threads = threads_for(ex.workers, ex.threads_per_worker)
    logs = [WorkerLog(i) for i in range(ex.workers)]
    running: dict[int, subprocess.Popen] = {}

    def start(log: WorkerLog) -> None:
        log.starts += 1
        running[log.index] = subprocess.Popen(_worker_argv(argv, log.index, threads),
                                              env=worker_env(log.index, threads, ex.gpus),
                                              stdout=subprocess.DEVNULL if quiet else None)

    if not quiet:
        print(f"noisebench: {ex.workers} local workers, {threads} torch thread(s) each"
              + (f", GPUs {','.join(ex.gpus)}" if ex.gpus else ""), file=sys.stderr, flush=True)
    for log in logs:
        start(log)
    try:
        while running:
            time.sleep(0.2)
            for index, proc in list(running.items()):
                code = proc.poll()
                if code is None:
                    continue
                del running[index]
                log = logs[index]
                log.codes.append(code)
                if code < 0 and log.starts <= ex.retries:  # killed by a signal: restart, it resumes
                    print(f"noisebench: worker {index} was killed (signal {-code}); restarting it "
                          f"({log.starts}/{ex.retries} restarts), it resumes from what was stored",
                          file=sys.stderr, flush=True)
                    start(log)
                elif code == 2:
                    raise UsageError(f"worker {index} stopped on a usage error (its message is above)")
    except (KeyboardInterrupt, NoisebenchError):
        for proc in running.values():
            proc.terminate()
        for proc in running.values():
            proc.wait()
        raise
    failed = [log for log in logs if log.codes and log.codes[-1] not in (0, 1)]
    if failed:
        raise RunError("worker(s) " + ", ".join(f"{log.index} (exit {log.codes[-1]} after {log.starts} start(s))"
                                                 for log in failed)
                       + " did not finish; re-run the same command to resume from what was stored")
    return logs
