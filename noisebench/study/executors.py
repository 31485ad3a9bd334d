"""Where a study's units run. Every executor runs the same worker — `noisebench run` over the study's units under
their leases (`noisebench.store.lease`) — so records never depend on the executor; executors only decide where it runs.

`slurm` (submitit, `noisebench[slurm]`): one job-array task per pending unit, each `noisebench run` limited to that
unit (`--unit ID`); partition, time limit, GPUs per task and array parallelism are options; logs go to
`<results>/slurm/`. A task that times out or is preempted is requeued by submitit (`checkpoint`) and resumes from
what it stored; one whose process died (node failure) is resubmitted up to `--retries` times; a deterministic
failure is stored as a failed record and reported, not retried. `--slurm-cluster local|debug` runs the same tasks on
this machine through submitit's local or debug executor (to try a study before submitting it).

`ray` (`noisebench[ray]`): one Ray task per pending unit (`num_gpus` = `--gpus-per-task`) on an existing cluster
(`--ray-address`) or a local Ray started on this machine; results go to the shared results directory, never
through Ray's object store (a task returns only its exit code). Ray retries a task whose worker died
(`max_retries` = `--retries`).

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
from pathlib import Path
from typing import Any

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
    own = ("--workers", "--threads-per-worker", "--worker-index", "--gpus", "--retries")
    return [sys.executable, "-m", "noisebench", "run", *_strip(argv, own),
            "--workers", "1", "--threads-per-worker", str(threads), "--worker-index", str(index)]


def run_local(study, argv: list[str], cells: list, *, quiet: bool) -> list[WorkerLog]:
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
    progress = None if quiet else _StoreProgress(cells)
    for log in logs:
        start(log)
    try:
        while running:
            time.sleep(0.2)
            if progress is not None:
                progress.poll()
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
    finally:
        if progress is not None:
            progress.stop()
    failed = [log for log in logs if log.codes and log.codes[-1] not in (0, 1)]
    if failed:
        raise RunError("worker(s) " + ", ".join(f"{log.index} (exit {log.codes[-1]} after {log.starts} start(s))"
                                                 for log in failed)
                       + " did not finish; re-run the same command to resume from what was stored")
    return logs


# ---- one task per pending unit (slurm, ray) -------------------------------------------------------------------

TASK_FLAGS = ("--executor", "--workers", "--threads-per-worker", "--worker-index", "--gpus", "--retries",
              "--partition", "--time", "--gpus-per-task", "--array-parallelism", "--slurm-cluster", "--ray-address",
              "--unit")


def _strip(argv: list[str], flags: tuple[str, ...]) -> list[str]:
    """`argv` without the given options (and their values)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg.split("=", 1)[0] in flags:
            skip = "=" not in arg
            continue
        out.append(arg)
    return out[1:] if out[:1] == ["run"] else out


class _StoreProgress:
    """The launcher's one progress bar over its workers: cells stored so far (record files present), counted from
    the results directory about once a second (the workers share the terminal but draw no bars of their own)."""

    def __init__(self, cells: list) -> None:
        from rich.console import Console

        from noisebench.store import ResultsStore
        from noisebench.study.run import RunProgress

        self.paths = [ResultsStore(config.results_dir).record_path(i) for config, _, rows in cells
                      for row in rows for i in row]
        self.bar = RunProgress(Console(stderr=True, soft_wrap=True))
        self.shown, self.last = self._count(), time.monotonic()
        self.bar.start(len(self.paths))
        self.bar.advance_cells(self.shown)

    def _count(self) -> int:
        return sum(p.is_file() for p in self.paths)

    def poll(self) -> None:
        if time.monotonic() - self.last >= 1.0:
            self.last = time.monotonic()
            now = self._count()
            self.bar.advance_cells(now - self.shown)
            self.shown = now

    def stop(self) -> None:
        self.bar.advance_cells(self._count() - self.shown)
        self.bar.stop()


def study_cells(study) -> list[tuple[Any, list, list[list[str]]]]:
    """Per run configuration of a study: (config, its units, each unit's record ids) — datasets loaded once, no
    model built. What the launchers and the closing summary share."""
    from noisebench.store.records import record_id
    from noisebench.study.run import units_of

    out = []
    for config in study.configs:
        _, units, wanted = units_of(config)
        out.append((config, units, [[record_id(u.skeleton(c)) for c in wanted] for u in units]))
    return out


def pending_units(cells: list) -> list[tuple[str, str]]:
    """(unit id, label) of every unit with a cell not yet stored as ok."""
    from noisebench.store import ResultsStore
    from noisebench.study.run import _done

    out = []
    for config, units, ids in cells:
        store = ResultsStore(config.results_dir)
        for unit, unit_ids in zip(units, ids, strict=True):
            if not all(_done(store, i) for i in unit_ids):
                out.append((unit.id(), f"{unit.plan.name} ({unit.plan.recipe}) on {unit.dataset.name} seed "
                                       f"{unit.seed}"))
    return out


def task_argv(argv: list[str], unit_id: str, threads: int) -> list[str]:
    """The arguments of the task that runs one unit: the launcher's run, in one local process, that unit only."""
    return [*_strip(argv, TASK_FLAGS), "--executor", "local", "--workers", "1", "--threads-per-worker", str(threads),
            "--unit", unit_id]


def run_task(argv: list[str]) -> int:
    """The worker of the slurm and ray executors: `noisebench run ARGV` in this process; its exit code."""
    from noisebench.cli import run_cli

    return run_cli(["run", *argv])


class UnitTask:
    """A submitit task running one unit. `checkpoint` makes submitit requeue it on timeout or preemption: the new
    task resumes from what the unit stored (its checkpoint and finished cells)."""

    def __call__(self, argv: list[str]) -> int:
        return run_task(argv)

    def checkpoint(self, argv: list[str]):
        import submitit

        return submitit.helpers.DelayedSubmission(UnitTask(), argv)


def _check_codes(codes: list[tuple[str, int]]) -> None:
    usage = [label for label, code in codes if code == 2]
    if usage:
        raise UsageError(f"the task of {usage[0]} stopped on a usage error (see its log)")
    failed = [label for label, code in codes if code not in (0, 1)]
    if failed:
        raise RunError(f"{len(failed)} unit task(s) did not finish ({', '.join(failed[:3])}); re-run the same command "
                       "to resume from what was stored")


def run_slurm(study, argv: list[str], cells: list, *, quiet: bool) -> None:
    """Submit one job-array task per pending unit through submitit and wait for them (see the module docstring)."""
    import submitit

    ex = study.executor
    units = pending_units(cells)
    if not units:
        return
    threads = ex.threads_per_worker or 1
    folder = Path(study.configs[0].results_dir) / "slurm"
    executor = submitit.AutoExecutor(folder=folder, cluster=None if ex.cluster == "slurm" else ex.cluster)
    params: dict = {"timeout_min": ex.time, "cpus_per_task": threads, "name": "noisebench"}
    if ex.gpus_per_task:
        params["gpus_per_node"] = ex.gpus_per_task
    if ex.cluster == "slurm":
        params.update(slurm_array_parallelism=ex.array_parallelism, slurm_max_num_timeout=max(ex.retries, 1))
        if ex.partition:
            params["slurm_partition"] = ex.partition
    executor.update_parameters(**params)
    todo = {unit_id: label for unit_id, label in units}
    codes: list[tuple[str, int]] = []
    for _ in range(ex.retries + 1):
        ids = list(todo)
        jobs = executor.map_array(UnitTask(), [task_argv(argv, u, threads) for u in ids])
        if not quiet:
            print(f"noisebench: submitted {len(jobs)} unit task(s) (job {jobs[0].job_id.split('_')[0]}); logs in "
                  f"{folder}", file=sys.stderr, flush=True)
        died = {}
        for unit_id, job in zip(ids, jobs, strict=True):
            try:
                codes.append((todo[unit_id], int(job.result())))
            except Exception as e:  # the task's process died (node failure, kill -9): run it again
                died[unit_id] = todo[unit_id]
                if not quiet:
                    print(f"noisebench: the task of {todo[unit_id]} died ({str(e).splitlines()[0][:160]})",
                          file=sys.stderr, flush=True)
        todo = died
        if not todo:
            break
    codes += [(label, -1) for label in todo.values()]
    _check_codes(codes)


def run_ray(study, argv: list[str], cells: list, *, quiet: bool) -> None:
    """One Ray task per pending unit on a Ray cluster (or a local one), results in the shared results directory."""
    import ray

    ex = study.executor
    units = pending_units(cells)
    if not units:
        return
    threads = ex.threads_per_worker or 1
    started = not ray.is_initialized()
    if started:
        if ex.ray_address:
            ray.init(address=ex.ray_address, log_to_driver=not quiet)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=not quiet)
    try:
        task = ray.remote(num_cpus=threads, num_gpus=ex.gpus_per_task, max_retries=ex.retries)(run_task)
        refs = [task.remote(task_argv(argv, unit_id, threads)) for unit_id, _ in units]
        codes = []
        for (_, label), ref in zip(units, refs, strict=True):
            try:
                codes.append((label, int(ray.get(ref))))
            except ray.exceptions.RayError as e:  # its worker died more often than --retries allows
                if not quiet:
                    print(f"noisebench: the task of {label} failed in Ray ({str(e).splitlines()[0][:160]})",
                          file=sys.stderr, flush=True)
                codes.append((label, -1))
    finally:
        if started:
            ray.shutdown()
    _check_codes(codes)
