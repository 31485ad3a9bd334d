"""Leases without flock: exclusive create, heartbeats, takeover of a dead holder's lease, and racing processes."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time

from noisebench.store import lease


def test_one_holder_at_a_time_and_release(tmp_path):
    first = lease.acquire(tmp_path, "unit-a")
    assert first is not None and (tmp_path / "unit-a.lease").is_file()
    assert lease.acquire(tmp_path, "unit-a") is None  # held by a live process (this one)
    info = lease.holder_of(tmp_path, "unit-a")
    assert info["holder"] == first.holder and info["pid"] == os.getpid() and info["host"] == lease.HOST
    first.release()
    assert not (tmp_path / "unit-a.lease").exists()
    again = lease.acquire(tmp_path, "unit-a")
    assert again is not None and again.holder != first.holder and again.taken_over is None
    again.release()


def test_a_dead_local_holder_is_taken_over_at_once(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os, sys; from pathlib import Path; from noisebench.store "
                           "import lease; l = lease.acquire(Path(sys.argv[1]), 'u'); print(l.holder); os._exit(0)",
                           str(tmp_path)], capture_output=True, text=True, check=True)
    dead = proc.stdout.strip()
    assert lease.holder_of(tmp_path, "u")["holder"] == dead  # left behind, as by kill -9
    taken = lease.acquire(tmp_path, "u")
    assert taken is not None and taken.taken_over["holder"] == dead
    taken.release()


def test_another_hosts_lease_is_taken_over_only_when_its_heartbeat_is_stale(tmp_path):
    path = tmp_path / "u.lease"
    now = time.time()
    path.write_text(json.dumps({"holder": "x", "host": "elsewhere", "pid": 1, "started": now, "heartbeat": now}))
    assert lease.acquire(tmp_path, "u", limit=60) is None  # alive by its heartbeat
    path.write_text(json.dumps({"holder": "x", "host": "elsewhere", "pid": 1, "started": now, "heartbeat": now - 61}))
    taken = lease.acquire(tmp_path, "u", limit=60)
    assert taken is not None and taken.taken_over["holder"] == "x"
    taken.release()


def test_heartbeat_keeps_a_lease_fresh_and_notices_when_it_is_lost(tmp_path):
    held = lease.acquire(tmp_path, "u")
    before = lease.holder_of(tmp_path, "u")["heartbeat"]
    time.sleep(0.01)
    assert held.heartbeat() and lease.holder_of(tmp_path, "u")["heartbeat"] > before
    (tmp_path / "u.lease").write_text(json.dumps({"holder": "someone else", "host": "h", "pid": 1, "started": 0,
                                                   "heartbeat": time.time()}))
    assert not held.heartbeat() and held.lost
    held.release()  # not ours any more: left alone
    assert lease.holder_of(tmp_path, "u")["holder"] == "someone else"


def test_an_empty_lease_left_by_a_dying_creator_is_taken_over_after_the_guard_time(tmp_path):
    path = tmp_path / "u.lease"
    path.write_text("")
    assert lease.acquire(tmp_path, "u") is None  # maybe being written right now
    old = time.time() - lease.TAKEOVER_GUARD_SECONDS - 1
    os.utime(path, (old, old))
    taken = lease.acquire(tmp_path, "u")
    assert taken is not None
    taken.release()


def _race(folder: str, name: str, out: multiprocessing.Queue) -> None:
    from pathlib import Path

    got = lease.acquire(Path(folder), name, limit=60.0)
    out.put(got.holder if got is not None else None)
    time.sleep(0.5)


def test_racing_processes_over_a_stale_lease_yield_one_winner(tmp_path):
    """Eight processes find the same stale lease at once: the takeover guard lets exactly one replace it."""
    path = tmp_path / "u.lease"
    path.write_text(json.dumps({"holder": "dead", "host": "elsewhere", "pid": 1, "started": 0, "heartbeat": 0}))
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_race, args=(str(tmp_path), "u", out)) for _ in range(8)]
    for p in procs:
        p.start()
    winners = [h for h in (out.get(timeout=60) for _ in procs) if h is not None]
    for p in procs:
        p.join()
    assert len(winners) == 1 and lease.holder_of(tmp_path, "u")["holder"] == winners[0]


def test_a_lease_this_process_left_behind_is_not_waited_for(tmp_path):
    """A run that failed (a full disk) before it could remove its lease file, in a process that lives on (a test,
    a notebook): the next run in the same process takes it over; a lease this process still holds is never taken."""
    held = lease.acquire(tmp_path, "u")
    assert lease.acquire(tmp_path, "u") is None
    lease._ACTIVE.discard(held.holder)  # what release() does before its unlink fails
    again = lease.acquire(tmp_path, "u")
    assert again is not None and again.taken_over["holder"] == held.holder
    again.release()
