"""The results store: a directory of append-only, atomically written records.

Layout of a results directory (default `results/`):

    records/<record id>.json     one evaluation cell each (small metadata); the id hashes the cell's identity
    predictions/<record id>-<sha>.parquet  its per-example predictions (id, label, predicted), read only when asked
    checkpoints/<train id>/      trained weights of one (model, recipe, options, dataset, training config, seed)
    leases/<name>.lease          who works on a unit now (noisebench.store.lease: O_EXCL, heartbeat; no flock needed)
    trainings/<train id>-<n>.json  one file per training that started: a unit trained once has one
    units/<train id>.json        a unit's completion marker, written last: the records it completed and an index
                                 of their summaries, so that a report reads one file per unit, not one per cell

Results directories of 0.1 (records of schema 1, predictions inline) are read as they are; nothing rewrites them.

Guarantees:
- A record is written to a temporary file in the same directory, fsynced, then `os.replace`d into place and the
  directory fsynced: a reader sees either no file or a whole one, even after kill -9 or a power loss.
- Temporary files are named `.<name>.<host>-<pid>.<random>.tmp`; one whose writer is gone (a dead process on this
  host, or older than STALE_TEMPORARY_SECONDS from another host) is removed by `sweep_temporaries`.
- Writing the same cell twice replaces the file with an equivalent one: never a duplicate.
- Two processes sharing the directory write different temporary names and never corrupt each other.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from noisebench.errors import UsageError
from noisebench.store import records
from noisebench.store.scan import stat_stamp

_ABSENT = object()
STALE_TEMPORARY_SECONDS = 6 * 3600  # a temporary file from another host this old has no live writer
_HOST = socket.gethostname().replace(".", "_").replace("-", "_") or "host"


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that the file is either absent, the old one, or complete."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically and durably: a temporary file in the same directory, fsynced, renamed over
    `path`, then the directory fsynced (so the rename survives a power loss). On any failure (a full disk) the
    temporary file is removed and `path` is untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def fsync_dir(folder: Path) -> None:
    """Make the directory's entries (a rename) durable; a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories
    finally:
        os.close(fd)


def _writer_gone(name: str, age: float) -> bool:
    """Whether the writer of temporary file `name` can no longer finish it (see the module docstring)."""
    parts = name.rsplit(".", 3)  # [".<target>", "<host>-<pid>", "<random>", "tmp"]
    if len(parts) == 4 and "-" in parts[1]:
        host, _, pid = parts[1].rpartition("-")
        if host == _HOST and pid.isdigit():
            try:
                os.kill(int(pid), 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False  # alive, another user's
            return False
    return age > STALE_TEMPORARY_SECONDS  # another host, or a name from before 0.2: only when old


def sweep_temporaries(folder: Path) -> list[Path]:
    """Remove the temporary files below `folder` (one level of sub-folders too) whose writer is gone; returns them."""
    import time

    removed = []
    now = time.time()
    for directory in [folder, *(p for p in folder.glob("*") if p.is_dir())] if folder.is_dir() else []:
        for entry in os.scandir(directory):
            if not (entry.name.startswith(".") and entry.name.endswith(".tmp") and entry.is_file()):
                continue
            try:
                age = now - entry.stat().st_mtime
                if _writer_gone(entry.name, age):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
            except FileNotFoundError:
                continue  # its writer just finished
    return removed


class ResultsStore:
    """Read and append result records under `root`."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.records_dir = self.root / "records"
        self.checkpoints_dir = self.root / "checkpoints"
        self.leases_dir = self.root / "leases"
        self.trainings_dir = self.root / "trainings"
        self.units_dir = self.root / "units"
        self.predictions_dir = self.root / "predictions"

    def record_path(self, record_id: str) -> Path:
        return self.records_dir / f"{record_id}.json"

    def has(self, record_id: str) -> bool:
        return self.record_path(record_id).is_file()

    def get(self, record_id: str, *, predictions: bool = False) -> dict | None:
        """The stored record, or None; predictions=True reads its predictions file into it (`with_predictions`)."""
        path = self.record_path(record_id)
        if not path.is_file():
            return None
        record = self._read(path)
        return self.with_predictions(record) if predictions else record

    def put(self, record: Mapping[str, Any]) -> Path:
        """Validate and atomically write one record; its file name is its id. Predictions given inline go to their
        Parquet file first (named by its content), so the record never points at a file that is not complete."""
        record = dict(record, schema=records.SCHEMA)
        record["id"] = records.record_id(record)
        if records.is_inline(record.get("predictions")):
            record["predictions"] = self._write_predictions(record["id"], record["predictions"])
        records.validate(record, where=f"(about to be written for {record['model']['name']})")
        path = self.record_path(record["id"])
        before = self._old_predictions(path)
        atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
        new = (record.get("predictions") or {}).get("file")
        if before and before != new:  # the cell was rewritten with other predictions: its old file is nobody's
            with contextlib.suppress(OSError):
                (self.predictions_dir / before).unlink()
        return path

    def _old_predictions(self, path: Path) -> str | None:
        try:
            ref = json.loads(path.read_bytes()).get("predictions")
        except (OSError, ValueError, AttributeError):
            return None
        return ref.get("file") if isinstance(ref, dict) and isinstance(ref.get("file"), str) else None

    def _write_predictions(self, record_id: str, pred: Mapping[str, Any]) -> dict:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"id": pa.array([str(i) for i in pred["ids"]], pa.string()),
                          "label": pa.array(pred["labels"], pa.int64()),
                          "predicted": pa.array(pred["predicted"], pa.int64())})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        data = sink.getvalue().to_pybytes()
        digest = hashlib.sha256(data).hexdigest()
        name = f"{record_id}-{digest[:16]}.parquet"
        atomic_write_bytes(self.predictions_dir / name, data)
        return {"file": name, "n": table.num_rows, "sha256": digest}

    def predictions_intact(self, record: Mapping[str, Any]) -> bool:
        """Whether the record's predictions file is there with the bytes it names (sha256; not parsed). True for a
        record without predictions or with them inline (schema 1)."""
        ref = record.get("predictions")
        if ref is None or records.is_inline(ref):
            return True
        try:
            return hashlib.sha256((self.predictions_dir / ref["file"]).read_bytes()).hexdigest() == ref["sha256"]
        except OSError:
            return False

    def with_predictions(self, record: dict) -> dict:
        """The record with its predictions inline ({"ids", "labels", "predicted"}), read from its Parquet file and
        checked against the record's sha256; records of schema 1 already hold them. CorruptRecord (one line naming
        the file) when the file is missing or damaged."""
        ref = record.get("predictions")
        if ref is None or records.is_inline(ref):
            return record
        path = self.predictions_dir / ref["file"]
        rerun = "delete its record and run again to recompute the cell"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise records.CorruptRecord(f"missing predictions file {path} of record {record['id']} ({rerun})") from None
        if hashlib.sha256(data).hexdigest() != ref["sha256"]:
            raise records.CorruptRecord(f"damaged predictions file {path}: its sha256 differs from the one record "
                                        f"{record['id']} stored ({rerun})")
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(pa.BufferReader(data))
            pred = {"ids": table.column("id").to_pylist(), "labels": table.column("label").to_pylist(),
                    "predicted": table.column("predicted").to_pylist()}
        except (pa.ArrowException, KeyError) as e:
            raise records.CorruptRecord(f"damaged predictions file {path}: {e} ({rerun})") from None
        if len(pred["ids"]) != ref["n"]:
            raise records.CorruptRecord(f"damaged predictions file {path}: {len(pred['ids'])} rows, its record says "
                                        f"{ref['n']} ({rerun})")
        return {**record, "predictions": pred}

    def lease(self, name: str):
        """The lease on `name` (a `noisebench.store.lease.Lease`), or None while a live process holds it."""
        from noisebench.store import lease

        return lease.acquire(self.leases_dir, name)

    def wait_for_lease(self, name: str, echo: Any = None, poll: float = 2.0):
        """The lease on `name`, waiting (polling) while another live process holds it."""
        import time

        while (held := self.lease(name)) is None:
            if echo is not None:
                echo(f"waiting for {name}: another process holds it")
                echo = None  # say it once
            time.sleep(poll)
        return held

    def mark_complete(self, unit_id: str, record_ids: list[str]) -> Path:
        """Write the unit's completion marker (after all its records): the records it completed, and their index —
        per record file its stat stamp and `records.summary` (a reader uses an entry only while the file's stamp is
        unchanged, so a record rewritten later is read again; see report.loading)."""
        summaries = {}
        for rid in sorted(set(record_ids)):
            path = self.record_path(rid)
            with contextlib.suppress(FileNotFoundError, records.CorruptRecord):
                stamp = stat_stamp(os.stat(path))
                summaries[path.name] = (stamp, records.summary(self._read(path)))
        # The fields every record of the unit shares (model, dataset, training, seed…) are written once.
        first = next(iter(summaries.values()))[1] if summaries else {}
        common = {k: v for k, v in first.items() if all(s.get(k, _ABSENT) == v for _, s in summaries.values())}
        index = {name: [*stamp, {k: v for k, v in s.items() if k not in common}]
                 for name, (stamp, s) in summaries.items()}
        doc = {"unit": unit_id, "records": sorted(record_ids), "summary_version": records.SUMMARY_VERSION,
               "common": common, "index": index}
        path = self.units_dir / f"{unit_id}.json"
        atomic_write_text(path, json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
        return path

    def complete(self, unit_id: str, record_ids: list[str]) -> bool:
        """Whether the unit is complete: its marker parses, names this unit and lists every one of these records,
        and each of them is a valid record with status ok (a damaged record makes the unit incomplete again)."""
        try:
            data = json.loads((self.units_dir / f"{unit_id}.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return False
        listed = data.get("records") if isinstance(data, dict) and data.get("unit") == unit_id else None
        if not isinstance(listed, list) or not set(record_ids) <= set(listed):
            return False
        try:
            return all((self.get(i) or {}).get("status") == "ok" for i in record_ids)
        except records.CorruptRecord:
            return False

    def log_training(self, train_id: str, about: Mapping[str, Any]) -> Path:
        """Record that a training of `train_id` starts (one new file each time: the store counts trainings)."""
        import uuid

        path = self.trainings_dir / f"{train_id}-{uuid.uuid4().hex[:12]}.json"
        atomic_write_text(path, json.dumps({**about, "host": socket.gethostname(), "pid": os.getpid()}) + "\n")
        return path

    def trainings(self, train_id: str) -> list[Path]:
        return sorted(self.trainings_dir.glob(f"{train_id}-*.json")) if self.trainings_dir.is_dir() else []

    def paths(self) -> list[Path]:
        if not self.records_dir.is_dir():
            return []
        names = sorted(n for n in os.listdir(self.records_dir) if n.endswith(".json") and not n.startswith("."))
        return [self.records_dir / n for n in names]

    def load(self, *, strict: bool = True, predictions: bool = False) -> tuple[list[dict], list[tuple[Path, str]]]:
        """All records, sorted by id (with their predictions inline when asked). Corrupt files raise (strict) or
        are returned as (path, reason)."""
        good, bad = [], []
        for path in self.paths():
            try:
                record = self._read(path)
                good.append(self.with_predictions(record) if predictions else record)
            except records.CorruptRecord as e:
                if strict:
                    raise
                bad.append((path, str(e)))
        return good, bad

    @staticmethod
    def _read(path: Path) -> dict:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise records.CorruptRecord(f"corrupt result record {path}: not valid JSON ({e})") from None
        return records.validate(data, where=str(path))


def open_store(root: str | os.PathLike, *, must_exist: bool = False) -> ResultsStore:
    store = ResultsStore(root)
    if must_exist and not store.paths():
        raise UsageError(f"no results in {store.root} (run `noisebench run` first, or pass --results-dir)")
    return store
