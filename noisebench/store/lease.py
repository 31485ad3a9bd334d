"""Leases: exclusive claims on units of work in a results directory shared by processes, hosts and launchers.

`fcntl`/`flock` locks are a silent no-op on many NFS, Lustre and GPFS mounts — the shared filesystems of clusters —
so correctness rests on what those filesystems do guarantee: an exclusive create (`O_CREAT | O_EXCL`) succeeds for
exactly one process, and a rename is atomic.

A lease is the file `<folder>/<name>.lease`, created with `O_CREAT | O_EXCL`, holding JSON `{"holder", "host",
"pid", "started", "heartbeat"}`. Its holder rewrites it every `HEARTBEAT_SECONDS` (a new heartbeat time, written
to a temporary file and renamed over it) while it works, and removes it when done. Another process may take a lease
over only when it is stale:
- its holder was a process on this host that no longer exists (a kill -9: taken over at once), or
- its heartbeat is older than `stale_after` seconds by this host's clock (another host died or was preempted;
  hosts are assumed to keep their clocks in sync, as NTP does on clusters — the default margin is minutes).
A takeover is itself exclusive: the taker first creates `<name>.lease.takeover` with `O_EXCL` (a guard older than
`TAKEOVER_GUARD_SECONDS` was left by a dead taker and is removed), re-reads the lease, and replaces it only if it
is still the stale one it saw. A holder whose heartbeat finds that the lease is no longer its own has lost it
(`Lease.lost`): it must stop before writing more.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

HEARTBEAT_SECONDS = 15.0
STALE_SECONDS = 300.0  # no heartbeat for this long: the holder is gone (override: NOISEBENCH_LEASE_STALE_SECONDS)
TAKEOVER_GUARD_SECONDS = 60.0
HOST = socket.gethostname() or "host"
_ACTIVE: set[str] = set()  # holders of the leases this process holds now


def stale_after() -> float:
    value = os.environ.get("NOISEBENCH_LEASE_STALE_SECONDS")
    return float(value) if value else STALE_SECONDS


def read(path: Path) -> dict | None:
    """The lease's content, or None when there is none (or it is being rewritten or is not a lease)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("holder"), str) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


def is_stale(info: dict, now: float | None = None, limit: float | None = None) -> bool:
    """Whether a lease's holder is gone (see the module docstring). A lease of this very process that it no
    longer holds (a run that failed before it could remove the file) is gone too."""
    if info.get("host") == HOST and isinstance(info.get("pid"), int):
        if info["pid"] == os.getpid():
            return info.get("holder") not in _ACTIVE
        if not _pid_alive(info["pid"]):
            return True
    beat = info.get("heartbeat")
    if not isinstance(beat, (int, float)):
        return True
    return (time.time() if now is None else now) - beat > (stale_after() if limit is None else limit)


def _create(path: Path, holder: str) -> bool:
    now = time.time()
    body = json.dumps({"holder": holder, "host": HOST, "pid": os.getpid(), "started": now, "heartbeat": now})
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:  # a full disk: leave no empty lease behind for others to wait on
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    return True


@contextlib.contextmanager
def _takeover_guard(path: Path):
    guard = path.with_name(path.name + ".takeover")
    try:
        fd = os.open(guard, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        with contextlib.suppress(FileNotFoundError):
            if time.time() - guard.stat().st_mtime > TAKEOVER_GUARD_SECONDS:
                guard.unlink()  # left by a taker that died; the next attempt may take it
        yield False
        return
    os.close(fd)
    try:
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            guard.unlink()


@dataclass
class Lease:
    """A held lease (see `acquire`); `release()` or use it as a context manager."""

    path: Path
    holder: str
    taken_over: dict | None = None  # the stale lease this one replaced, if any
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def heartbeat(self) -> bool:
        """Refresh the heartbeat; False (and `lost`) when the lease is no longer this holder's."""
        from noisebench.store import atomic_write_text

        info = read(self.path)
        if info is None or info.get("holder") != self.holder:
            self.lost = True
            return False
        atomic_write_text(self.path, json.dumps({**info, "heartbeat": time.time()}))
        return True

    def start_heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> Lease:
        def beat() -> None:
            while not self._stop.wait(interval):
                with contextlib.suppress(OSError):
                    if not self.heartbeat():
                        return

        self._thread = threading.Thread(target=beat, name=f"lease {self.path.name}", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Stop the heartbeat and remove the lease if it is still ours (best effort: a lease that cannot be removed,
        on a failing disk, is recognised as released by `is_stale`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        _ACTIVE.discard(self.holder)
        info = read(self.path)
        if info is not None and info.get("holder") == self.holder:
            with contextlib.suppress(OSError):
                self.path.unlink()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire(folder: Path, name: str, *, limit: float | None = None) -> Lease | None:
    """Take the lease `<folder>/<name>.lease`: a new one, or a stale one taken over; None when a live holder has it
    (or another process is taking the stale one over right now)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.lease"
    holder = uuid.uuid4().hex
    _ACTIVE.add(holder)  # before the file exists: this process never takes its own live lease over
    try:
        held = _acquire(path, holder, limit)
    except BaseException:
        _ACTIVE.discard(holder)
        raise
    if held is None:
        _ACTIVE.discard(holder)
    return held


def _acquire(path: Path, holder: str, limit: float | None) -> Lease | None:
    if _create(path, holder):
        return Lease(path, holder)
    seen = read(path)
    if seen is None:  # released meanwhile, being written, or left empty by a holder that died while creating it
        if _create(path, holder):
            return Lease(path, holder)
        try:
            if time.time() - path.stat().st_mtime <= TAKEOVER_GUARD_SECONDS:
                return None
        except FileNotFoundError:
            return None
        seen = {"holder": None}
    elif not is_stale(seen, limit=limit):
        return None
    with _takeover_guard(path) as guarded:
        if not guarded:
            return None
        again = read(path)
        if again is not None and again.get("holder") != seen.get("holder"):
            return None  # someone else took it over and is alive
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        if not _create(path, holder):
            return None
    return Lease(path, holder, taken_over=seen)


def holder_of(folder: Path, name: str) -> dict | None:
    """Who holds `<name>` (the lease's content), or None."""
    return read(folder / f"{name}.lease")
