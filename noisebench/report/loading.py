"""Fast record loading for reports: the store's validation, without parsing one file per record when it can.

A report reads record summaries (`records.summary`: no predictions, provenance, timing). Opening and parsing one
small file per cell costs ~50 µs here, 5 s for 100,000 cells, so summaries are also kept in two kinds of index:

    <results>/units/<unit>.json    written by the run with a unit's completion marker: its records' summaries
    <results>/.report-cache.json   written by a report: summaries of the records no unit index covers (units still
                                   running, sweeps, stores of 0.1)

Both hold {"<file name>": [size, mtime_ns, inode, summary]}. An entry is used only while the record file's stat
stamp is unchanged; the store replaces files atomically (a new inode), so a rewritten or hand-edited record is
always re-read and re-validated. Corrupt records are never indexed: every run re-reads and names them. An index of
another summary version is ignored; the cache is rebuilt when the noisebench version or the record schema changes,
ignored when unreadable, and skipped silently when the directory is read-only. Deleting either is always safe.
Per-example predictions (Parquet) are read only with predictions=True.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
from collections.abc import Iterator
from pathlib import Path

# Unit indexes and the cache are read with orjson: twice as fast as json on a study's tens of MB. (It refuses NaN,
# which json writes: such an index is skipped and its records parsed one by one, with json, as before.)
import orjson

from noisebench import __version__
from noisebench.store import ResultsStore, atomic_write_text, records
from noisebench.store.scan import Scan

CACHE_NAME = ".report-cache.json"
CACHE_VERSION = f"noisebench {__version__} / {records.SCHEMA} / summary {records.SUMMARY_VERSION}"


def _read_cache(path: Path) -> dict:
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
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


def _parse_many(folder: str, names: list[str], predictions: bool) -> list[tuple[str, dict | None, str | None]]:
    """Parse and validate record files: [(name, record with its predictions or its summary, None) or
    (name, None, corruption reason)]."""
    store = ResultsStore(Path(folder).parent)
    out: list[tuple[str, dict | None, str | None]] = []
    for name in names:
        try:
            rec = _parse(Path(folder) / name)
            rec = store.with_predictions(rec) if predictions else records.summary(rec)
        except records.CorruptRecord as e:
            out.append((name, None, str(e)))
            continue
        out.append((name, rec, None))
    return out


# Loads without an index parse every file: from this many files on, worker processes
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


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: building 10^5 acyclic records (JSON trees) otherwise triggers it
    over and over, each pass walking every object made so far (measured: 45% of loading 100,000 summaries). On
    leaving, everything the collector tracks is moved to its permanent generation (gc.freeze), or the first
    collection after re-enabling walks all of it again (0.4 s at 100,000 records), and later ones during
    aggregation and rendering again. Reference counting still frees those objects; only a reference cycle that is
    already garbage at that moment is never collected (loading and aggregating make none)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.freeze()
            gc.enable()


def load_records(root: str | os.PathLike, *, predictions: bool = False,
                 use_cache: bool = True) -> tuple[list[dict], list[tuple[Path, str]]]:
    """Like `ResultsStore(root).load(strict=False)`: (records sorted by file name, [(path, reason)] of corrupt files).

    predictions=False returns `summary(record)`s (and allows the cache); True returns whole records.
    """
    with paused_gc():
        return _load_records(root, predictions=predictions, use_cache=use_cache)


def _load_records(root: str | os.PathLike, *, predictions: bool,
                  use_cache: bool) -> tuple[list[dict], list[tuple[Path, str]]]:
    store = ResultsStore(root)
    cache_path = store.root / CACHE_NAME
    folder = str(store.records_dir)
    indexing = use_cache and not predictions
    # The record files' stamps and the unit indexes take about as long each (~1 s per 10^5 records): the scan runs
    # in a helper process while this one reads the indexes, when they are many.
    stamping = Scan(folder, background=indexing and _many_units(store))
    indexed = unit_index(store) if indexing else {}
    cached = _read_cache(cache_path) if indexing else {}
    stamps = stamping.result()
    # One pass in file-name order: a unit index entry whose stamp matches gives the summary at once; the rest is
    # taken from the cache or parsed (below), into the places kept for them.
    slots: list[dict | None] = []
    later: list[tuple[int, str, list[int]]] = []  # (place in slots, name, stamp)
    for name, stamp in stamps.items():
        unit = indexed.get(name)
        if unit is not None and unit[1][:3] == stamp:
            common, entry = unit
            slots.append({**common, **entry[3]})
        else:
            later.append((len(slots), name, stamp))
            slots.append(None)
    todo = [name for _, name, stamp in later if not ((hit := cached.get(name)) and hit[:3] == stamp)]
    parsed = {name: (rec, reason) for name, rec, reason in _parse_all(folder, todo, predictions)}
    bad: list[tuple[Path, str]] = []
    entries: dict[str, list] = {}
    for place, name, stamp in later:
        rec, reason = parsed[name] if name in parsed else (cached[name][3], None)
        if rec is None:  # corrupt: a reason, never a record
            bad.append((store.records_dir / name, reason or "unreadable"))
            continue
        slots[place] = rec
        entries[name] = [*stamp, rec]
    good = [rec for rec in slots if rec is not None]  # corrupt files leave no record
    fresh = any(rec is not None for rec, _ in parsed.values())  # corrupt files alone never rewrite the cache
    if use_cache and not predictions and (fresh or cached.keys() != entries.keys()):
        try:
            atomic_write_text(cache_path, json.dumps({"version": CACHE_VERSION, "entries": entries},
                                                     ensure_ascii=False, separators=(",", ":")))
        except OSError:
            pass  # a read-only results directory still reports, only without the cache
    return good, bad


SCAN_IN_PARALLEL_FROM = 100  # unit indexes (~2,000 records): below, a helper process costs more than it saves


def _many_units(store: ResultsStore) -> bool:
    try:
        with os.scandir(store.units_dir) as entries:
            return next(itertools.islice(entries, SCAN_IN_PARALLEL_FROM - 1, None), None) is not None
    except OSError:
        return False


def unit_index(store: ResultsStore) -> dict[str, tuple[dict, list]]:
    """{record file name: (common, [size, mtime_ns, inode, the summary's other fields])} from every unit's
    completion marker (store.mark_complete) of this summary version: the summary is {**common, **fields}, built
    only for the entries used. Unreadable markers are skipped (the records they cover are parsed instead)."""
    out: dict[str, tuple[dict, list]] = {}
    if not store.units_dir.is_dir():
        return out
    for entry in os.scandir(store.units_dir):
        if not entry.name.endswith(".json") or entry.name.startswith("."):
            continue
        try:
            doc = orjson.loads(Path(entry.path).read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue
        if not (isinstance(doc, dict) and doc.get("summary_version") == records.SUMMARY_VERSION
                and isinstance(doc.get("index"), dict) and isinstance(common := doc.get("common"), dict)):
            continue
        for name, entry in doc["index"].items():  # [size, mtime_ns, inode, the fields not in common]
            out[name] = (common, entry)
    return out
