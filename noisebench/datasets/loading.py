"""`load_dataset`: a registered name (built-in, local data directory, then the Hub) or a user's file or folder.

Resolution of a registered name: the generator for the built-in dataset; else `<data dir>/<spec.local_dir>` where
the data dir is the `data_dir` argument, else $NOISEBENCH_DATA_DIR; else `datasets.load_dataset(hub id)` (the
`datasets` package is optional and imported only here). When neither works, one UsageError names both ways.

Before any Hub request a plain TCP connect to the endpoint ($HF_ENDPOINT, default huggingface.co:443) with a
timeout of $NOISEBENCH_HUB_TIMEOUT seconds (default 5) checks reachability, because huggingface_hub otherwise
retries for ~25 s. With HF_HUB_OFFLINE / HF_DATASETS_OFFLINE set, only the local Hugging Face cache is tried.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path

from noisebench.datasets import readers
from noisebench.datasets.assemble import assemble
from noisebench.datasets.base import Dataset
from noisebench.datasets.catalog import DATASETS, DatasetSpec
from noisebench.datasets.readers import RawSplit
from noisebench.errors import UsageError, unknown_name

DATA_DIR_ENV = "NOISEBENCH_DATA_DIR"
HUB_TIMEOUT_ENV = "NOISEBENCH_HUB_TIMEOUT"
USER_TEST_FRACTION = 0.1
_TRUE = {"1", "true", "yes", "on"}


class HubUnavailable(Exception):
    """The Hub could not provide the dataset; the message says why (internal: turned into a UsageError)."""


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """The local data directory: the argument, else $NOISEBENCH_DATA_DIR, else None. It must exist if named."""
    if data_dir is not None:
        path, what = Path(data_dir).expanduser(), f"--data-dir {data_dir}"
    elif os.environ.get(DATA_DIR_ENV):
        path, what = Path(os.environ[DATA_DIR_ENV]).expanduser(), f"{DATA_DIR_ENV}={os.environ[DATA_DIR_ENV]}"
    else:
        return None
    if not path.is_dir():
        raise UsageError(f"{what}: not a directory")
    return path


def local_copy(spec: DatasetSpec, root: Path | None) -> Path | None:
    """The dataset's folder under the data directory when it exists, else None (never touches the network)."""
    if root is None or not spec.local_dir:
        return None
    folder = root / spec.local_dir
    return folder if folder.is_dir() else None


def _map_splits(spec: DatasetSpec, raw: dict[str, RawSplit], notes: dict) -> dict[str, RawSplit]:
    mapping = dict(spec.split_map)
    out = {mapping[s]: r for s, r in raw.items() if s in mapping}
    ignored = [r.origin for s, r in raw.items() if s not in mapping]
    if ignored:
        notes["ignored"] = f"not used by {spec.name}: {', '.join(ignored)}"
    for source, ours in spec.split_map:
        if source in raw and source != ours:
            notes[ours] = f"the source's {source} split ({raw[source].origin})"
    return out


def _load_local(spec: DatasetSpec, folder: Path, validation_fraction: float) -> Dataset:
    mapped = dict(spec.split_map)
    # Splits the spec does not use (e.g. SST-2's unlabelled GLUE test.tsv) are noted but never read.
    raw = {split: readers.read_file(path, "text", "label") if split in mapped else
           RawSplit(str(path), [], [], None, (), "line")
           for split, path in readers.split_files(folder).items()}
    names, names_origin = list(spec.label_names), f"the {spec.name} registry entry"
    if (folder / "labels.tsv").is_file():
        names, names_origin = readers.read_label_names(folder / "labels.tsv"), str(folder / "labels.tsv")
    notes: dict = {}
    raw = _map_splits(spec, raw, notes)
    return assemble(spec.name, raw, source=str(folder), label_names=names, names_origin=names_origin,
                    test_fraction=spec.test_fraction, validation_fraction=validation_fraction, notes=notes)


def _hub_offline_env() -> str | None:
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if os.environ.get(var, "").strip().lower() in _TRUE:
            return var
    return None


def hub_reachable() -> str | None:
    """None when a TCP connection to the Hub endpoint opens within the timeout, else the reason it did not."""
    url = urllib.parse.urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host = url.hostname or "huggingface.co"
    port = url.port or (80 if url.scheme == "http" else 443)
    try:
        timeout = float(os.environ.get(HUB_TIMEOUT_ENV) or 5)
    except ValueError:
        raise UsageError(f"{HUB_TIMEOUT_ENV}={os.environ[HUB_TIMEOUT_ENV]!r}: expected seconds") from None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as e:
        return f"cannot connect to {host}:{port} ({e.strerror or e})"
    return None


def _load_hub(spec: DatasetSpec, validation_fraction: float) -> Dataset:
    offline = _hub_offline_env()
    if offline is None:
        reason = hub_reachable()
        if reason:
            raise HubUnavailable(reason + "; if a copy is in the Hugging Face cache, set HF_HUB_OFFLINE=1 to use it")
    try:
        import datasets as hf
    except ImportError:
        raise HubUnavailable("the optional package 'datasets' is not installed "
                             "(pip install datasets pyarrow)") from None
    try:
        loaded = hf.load_dataset(spec.hub_id, spec.hub_config or None)
    except Exception as e:  # any failure (network, cache miss, auth): the user gets both ways in one line
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if offline:
            detail = f"{offline} is set and the Hugging Face cache has no copy: {detail}"
        raise HubUnavailable(detail) from None
    raw = {}
    for split in loaded:
        if split not in dict(spec.split_map):
            raw[split] = RawSplit(f"{spec.hub_id}[{split}]", [], [], None, (), "row")  # ignored; only noted
            continue
        ds = loaded[split]
        origin = f"{spec.hub_id}[{split}]"
        cols = readers.pick_columns(ds.column_names, origin, spec.hub_text_col, "label", None)
        raw[split] = RawSplit(origin, readers.arrow_column(ds, cols.text), readers.arrow_column(ds, cols.label), None,
                              range(1, len(ds) + 1), "row")
    notes: dict = {}
    raw = _map_splits(spec, raw, notes)
    return assemble(spec.name, raw, source=f"hub:{spec.hub_ref}", label_names=spec.label_names,
                    names_origin=f"the {spec.name} registry entry", test_fraction=spec.test_fraction,
                    validation_fraction=validation_fraction, notes=notes)


def _layout_hint(spec: DatasetSpec) -> str:
    sources = dict(spec.split_map)
    if sources.get("validation") == "test":
        files = "train.tsv and dev.tsv (the dev split is the test set)"
    else:
        files = "train.tsv, test.tsv and optionally dev.tsv|validation.tsv, or one all.tsv to split"
    return f"DIR/{spec.local_dir}/ holding {files}; text<TAB>label with a header row, labels.tsv optional"


def _load_registered(spec: DatasetSpec, data_dir, validation_fraction: float) -> Dataset:
    if spec.generate is not None:
        return spec.generate()
    root = resolve_data_dir(data_dir)
    folder = local_copy(spec, root)
    if folder is not None:
        return _load_local(spec, folder, validation_fraction)
    try:
        return _load_hub(spec, validation_fraction)
    except HubUnavailable as e:
        looked = f"no {root / spec.local_dir}" if root is not None else f"no --data-dir given and {DATA_DIR_ENV} unset"
        raise UsageError(f"dataset {spec.name!r} is not available here ({looked}; Hub {spec.hub_ref}: {e}). Either "
                         f"pass --data-dir DIR (or set {DATA_DIR_ENV}) with {_layout_hint(spec)}, or allow network "
                         f"access to the Hugging Face Hub to load {spec.hub_ref}") from None


def load_user_data(path: Path, *, text_col=None, label_col=None, id_col=None,
                   validation_fraction: float = 0.1) -> Dataset:
    """A file (csv/tsv/jsonl/parquet), a folder of split files, or a `datasets.save_to_disk` folder."""
    cols = dict(text_col=text_col, label_col=label_col, id_col=id_col)
    names, names_origin = None, ""
    if path.is_dir():
        if readers.is_saved_dataset(path):
            raw, names = readers.read_saved(path, **cols)
            names_origin = f"the ClassLabel feature of {path}"
        else:
            raw = {split: readers.read_file(f, **cols) for split, f in readers.split_files(path).items()}
            if (path / "labels.tsv").is_file():
                names, names_origin = readers.read_label_names(path / "labels.tsv"), str(path / "labels.tsv")
    else:
        raw = {"all": readers.read_file(path, **cols)}
    return assemble(path.stem if path.is_file() else path.name, raw, source=str(path), label_names=names,
                    names_origin=names_origin, test_fraction=USER_TEST_FRACTION,
                    validation_fraction=validation_fraction)


def load_dataset(name_or_path: str, *, data_dir: str | None = None, text_col: str | None = None,
                 label_col: str | None = None, id_col: str | None = None,
                 validation_fraction: float = 0.1) -> Dataset:
    """A registered dataset by name, or user data by path; always three validated splits.

    validation_fraction: share of each class of train carved as validation when the source has no validation
    split (0 < f ≤ 0.5; the built-in dataset has its own). text_col / label_col / id_col apply to user data only.
    Raises UsageError for unknown names, missing files, malformed data, or a dataset available neither locally
    nor from the Hub.
    """
    if not 0 < validation_fraction <= 0.5:
        raise UsageError(f"validation fraction {validation_fraction} must be in (0, 0.5]")
    if name_or_path in DATASETS:
        given = [f"--{n.replace('_', '-')}" for n, v in (("text_col", text_col), ("label_col", label_col),
                                                           ("id_col", id_col)) if v is not None]
        if given:
            raise UsageError(f"{', '.join(given)} applies to your own data files, not the registered dataset "
                             f"{name_or_path!r}")
        return _load_registered(DATASETS.get(name_or_path), data_dir, validation_fraction)
    path = Path(name_or_path).expanduser()
    if path.exists():
        return load_user_data(path, text_col=text_col, label_col=label_col, id_col=id_col,
                              validation_fraction=validation_fraction)
    if os.sep in name_or_path or "/" in name_or_path or path.suffix:
        raise UsageError(f"dataset file not found: {path}")
    raise UsageError(f"{unknown_name('dataset', name_or_path, DATASETS.names())}; or give the path of a "
                     f".csv/.tsv/.jsonl/.parquet file or a folder of split files")
