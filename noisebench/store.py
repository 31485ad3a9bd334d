"""The results store: a directory of append-only, atomically written JSON records.

Layout of a results directory (default `results/`):

    records/<record id>.json     one evaluation cell each; the id hashes the cell's identity (records.identity)
    checkpoints/<train id>/      trained weights of one (model, recipe, options, dataset, training config, seed)
    locks/<name>.lock            advisory locks (fcntl) so concurrent runs never train the same model twice

Guarantees:
- A record is written to a temporary file in the same directory, fsynced, then `os.replace`d into place: a reader
  sees either no file or a whole one, even after kill -9.
- Writing the same cell twice replaces the file with an equivalent one: never a duplicate.
- Two processes sharing the directory write different temporary names and never corrupt each other.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from noisebench import records
from noisebench.errors import UsageError


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` so that the file is either absent, the old one, or complete."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Exclusive advisory lock held for the `with` block (released by the OS if the process dies)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class ResultsStore:
    """Read and append result records under `root`."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self.records_dir = self.root / "records"
        self.checkpoints_dir = self.root / "checkpoints"
        self.locks_dir = self.root / "locks"

    def record_path(self, record_id: str) -> Path:
        return self.records_dir / f"{record_id}.json"

    def has(self, record_id: str) -> bool:
        return self.record_path(record_id).is_file()

    def get(self, record_id: str) -> dict | None:
        path = self.record_path(record_id)
        return self._read(path) if path.is_file() else None

    def put(self, record: Mapping[str, Any]) -> Path:
        """Validate and atomically write one record; its file name is its id."""
        record = dict(record, schema=records.SCHEMA)
        record["id"] = records.record_id(record)
        records.validate(record, where=f"(about to be written for {record['model']['name']})")
        path = self.record_path(record["id"])
        atomic_write_text(path, json.dumps(record, ensure_ascii=False, indent=1) + "\n")
        return path

    def lock(self, name: str):
        return file_lock(self.locks_dir / f"{name}.lock")

    def paths(self) -> list[Path]:
        if not self.records_dir.is_dir():
            return []
        names = sorted(n for n in os.listdir(self.records_dir) if n.endswith(".json") and not n.startswith("."))
        return [self.records_dir / n for n in names]

    def load(self, *, strict: bool = True) -> tuple[list[dict], list[tuple[Path, str]]]:
        """All records, sorted by id. Corrupt files raise (strict) or are returned as (path, reason)."""
        good, bad = [], []
        for path in self.paths():
            try:
                good.append(self._read(path))
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
