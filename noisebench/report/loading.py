"""Fast record loading for reports: the store's validation, plus a summary cache so repeated reports stay fast.

Parsing dominates a report on a large results directory: a record with 872 stored predictions is ~22 kB of JSON
(0.3 ms to parse), and the predictions are needed only for McNemar tests. So `load_records` keeps, next to the
records, a cache of the validated records' summaries (`summary`: without predictions, provenance, timing):

    <results>/.report-cache.json   {"version": ..., "entries": {"<file name>": [size, mtime_ns, inode, record]}}

A cache entry is used only when the record file's size, modification time (ns) and inode are unchanged; the store
replaces files atomically (`os.replace`: a new inode), so a rewritten or hand-edited record is always re-read and
re-validated. Corrupt records are never cached: every run re-reads and names them. The cache is rebuilt when the
noisebench version or the record schema changes, ignored when unreadable, and skipped silently when the directory
is read-only. Deleting it is always safe.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from noisebench import __version__, records
from noisebench.store import ResultsStore, atomic_write_text

CACHE_NAME = ".report-cache.json"
CACHE_VERSION = f"noisebench {__version__} / {records.SCHEMA} / cache 3"  # bump when summary() or validation changes


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def _read_cache(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("entries"), dict):
        return {}
    return data["entries"]


def _parse(path: Path) -> dict:
    """One record file → the validated record (raises records.CorruptRecord naming the file)."""
    try:
        data = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise records.CorruptRecord(f"corrupt result record {path}: not valid JSON ({e})") from None
    return records.validate(data, where=str(path))


def summary(record: dict) -> dict:
    """The fields a report reads: everything but predictions, provenance, timing and per-class F1 (validated before)."""
    out = {k: v for k, v in record.items() if k not in ("predictions", "provenance", "timing")}
    out["created"] = (record.get("provenance") or {}).get("created")  # the report orders models by it
    if isinstance(record.get("metrics"), dict):
        out["metrics"] = {k: v for k, v in record["metrics"].items() if k != "per_class_f1"}
    return out


def record_names(store: ResultsStore) -> list[str]:
    """Names of the same files as `store.paths()` (records/*.json, no dot-files), sorted. Strings, not Path objects:
    sorting and joining 10^4 Paths costs more than the rest of a warm report's loading."""
    if not store.records_dir.is_dir():
        return []
    return sorted(e.name for e in os.scandir(store.records_dir)
                  if e.name.endswith(".json") and not e.name.startswith(".") and e.is_file())


def _parse_many(folder: str, names: list[str], predictions: bool) -> list[tuple[str, dict | None, str | None]]:
    """Parse and validate record files: [(name, record or its summary, None) or (name, None, corruption reason)]."""
    out: list[tuple[str, dict | None, str | None]] = []
    for name in names:
        try:
            rec = _parse(Path(folder) / name)
        except records.CorruptRecord as e:
            out.append((name, None, str(e)))
            continue
        out.append((name, rec if predictions else summary(rec), None))
    return out


# Cold loads parse every file (~0.3 ms each with stored predictions): from this many files on, worker processes
# share the parsing, one per FILES_PER_WORKER files up to the CPU count (at most 8).
PARALLEL_FROM = 2000
FILES_PER_WORKER = 1000
_WORKER = "from noisebench.report.loading import _worker_main; _worker_main()"


def _worker_main() -> None:
    """A parsing worker: reads {"folder", "names", "predictions"} as JSON on stdin, writes the pickled
    `_parse_many` result on stdout. Started as `python -c` (not multiprocessing), so no caller's __main__ module is
    ever re-imported and no thread-holding process is forked."""
    import pickle
    import sys

    job = json.loads(sys.stdin.buffer.read())
    sys.stdout.buffer.write(pickle.dumps(_parse_many(job["folder"], job["names"], job["predictions"]), protocol=5))


def _parse_all(folder: str, names: list[str], predictions: bool) -> list[tuple[str, dict | None, str | None]]:
    workers = min(os.cpu_count() or 1, 8, len(names) // FILES_PER_WORKER)
    if len(names) < PARALLEL_FROM or workers < 2:
        return _parse_many(folder, names, predictions)
    import pickle
    import subprocess
    import sys

    chunks = [names[i::workers] for i in range(workers)]  # interleaved: equal work per worker
    try:
        procs = [subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                 for _ in chunks[1:]]
        for proc, chunk in zip(procs, chunks[1:], strict=True):
            assert proc.stdin is not None and proc.stdout is not None  # both are PIPEs
            proc.stdin.write(json.dumps({"folder": folder, "names": chunk, "predictions": predictions}).encode())
            proc.stdin.close()
        out = _parse_many(folder, chunks[0], predictions)  # this process takes the first share
        for proc in procs:
            assert proc.stdout is not None
            data = proc.stdout.read()
            if proc.wait() != 0:
                raise OSError(f"parsing worker exited with {proc.returncode}")
            out += pickle.loads(data)
    except OSError:  # no subprocesses here, or a worker died: parse everything in this process
        return _parse_many(folder, names, predictions)
    return out


def load_records(root: str | os.PathLike, *, predictions: bool = False,
                 use_cache: bool = True) -> tuple[list[dict], list[tuple[Path, str]]]:
    """Like `ResultsStore(root).load(strict=False)`: (records sorted by file name, [(path, reason)] of corrupt files).

    predictions=False returns `summary(record)`s (and allows the cache); True returns whole records.
    """
    store = ResultsStore(root)
    cache_path = store.root / CACHE_NAME
    cached = _read_cache(cache_path) if use_cache and not predictions else {}
    folder = str(store.records_dir)
    stamps, todo = {}, []
    for name in record_names(store):
        try:
            stamps[name] = _stamp(os.stat(os.path.join(folder, name)))
        except FileNotFoundError:  # removed between listing and reading
            continue
        hit = cached.get(name)
        if not (hit and hit[:3] == stamps[name]):
            todo.append(name)
    parsed = {name: (rec, reason) for name, rec, reason in _parse_all(folder, todo, predictions)}
    good: list[dict] = []
    bad: list[tuple[Path, str]] = []
    entries: dict[str, list] = {}
    for name, stamp in stamps.items():
        rec, reason = parsed[name] if name in parsed else (cached[name][3], None)
        if rec is None:  # corrupt: a reason, never a record
            bad.append((store.records_dir / name, reason or "unreadable"))
            continue
        good.append(rec)
        entries[name] = [*stamp, rec]
    fresh = any(rec is not None for rec, _ in parsed.values())  # corrupt files alone never rewrite the cache
    if use_cache and not predictions and (fresh or cached.keys() != entries.keys()):
        try:
            atomic_write_text(cache_path, json.dumps({"version": CACHE_VERSION, "entries": entries},
                                                     ensure_ascii=False, separators=(",", ":")))
        except OSError:
            pass  # a read-only results directory still reports, only without the cache
    return good, bad
