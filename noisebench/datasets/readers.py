"""Read labelled texts from files: TSV, CSV, JSONL, Parquet, a folder of split files, a `save_to_disk` folder.

Readers only parse and check the file's shape (encoding, columns, field counts); they return `RawSplit`s whose
labels are still as written. `noisebench.datasets.assemble` maps labels, checks contents and makes the splits.

Formats:
- `.tsv`: header row, tab-separated, quoting OFF (a `"` is part of the text), every row with the header's field
  count. Lines end in `\\n` (a trailing `\\r` is dropped); trailing blank lines are ignored.
- `.csv`: the csv module's standard dialect (`"` quoting, fields may span lines); blank rows are skipped.
- `.jsonl` / `.ndjson`: one JSON object per line; blank lines are skipped.
- `.parquet`: via pyarrow (imported lazily).
All text files must be UTF-8 (a leading byte-order mark is dropped).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from noisebench.errors import UsageError, did_you_mean

# File stem → canonical split name. "all" holds an unsplit dataset.
SPLIT_STEMS = {"train": "train", "validation": "validation", "dev": "validation", "test": "test", "all": "all"}
EXTENSIONS = (".tsv", ".csv", ".jsonl", ".ndjson", ".parquet")
TEXT_FALLBACKS = ("sentence", "note", "document")
_INSTALL_HUB = "pip install datasets pyarrow"


@dataclass(frozen=True)
class Columns:
    """Which columns hold the text, the label and (optionally) the example id."""

    text: str
    label: str
    id: str | None = None


@dataclass
class RawSplit:
    """One split as read: parallel lists, labels not yet mapped to class indices.

    origin:   the file (or hub split) it came from, used in messages.
    locs:     per row, the 1-based line number (text files) or row number (Parquet, Arrow) named in messages.
    """

    origin: str
    texts: list
    labels: list
    ids: list | None
    locs: Sequence[int]
    loc_kind: str  # "line" | "row"
    id_col: str | None = None

    def where(self, i: int) -> str:
        return f"{self.origin} {self.loc_kind} {self.locs[i]}"

    def __len__(self) -> int:
        return len(self.texts)


def pick_columns(available: Sequence[str], origin: str, text_col: str | None, label_col: str | None,
                 id_col: str | None) -> Columns:
    """Choose the text/label/id columns among `available`; one UsageError naming every missing column.

    Defaults: text = `text`, else the one of sentence/note/document present; label = `label`; no id column.
    """
    problems = []
    text = text_col
    if text is None:
        if "text" in available:
            text = "text"
        else:
            fallbacks = [c for c in TEXT_FALLBACKS if c in available]
            if len(fallbacks) == 1:
                text = fallbacks[0]
            elif len(fallbacks) > 1:
                raise UsageError(f"{origin}: several text-like columns ({', '.join(fallbacks)}); choose one with "
                                 f"--text-col")
            else:
                text = "text"
    label = label_col or "label"
    for name, option in ((text, "--text-col"), (label, "--label-col"), (id_col, "--id-col")):
        if name is not None and name not in available:
            problems.append(f"no column {name!r}{did_you_mean(name, available)} (set {option})")
    if problems:
        raise UsageError(f"{origin}: {'; '.join(problems)}; available columns: {', '.join(available) or 'none'}")
    return Columns(text, label, id_col)


def decode_utf8(path: Path) -> str:
    """The file's text; a UsageError naming the byte offset and line of the first byte that is not UTF-8."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UsageError(f"{path}: not UTF-8: byte 0x{data[e.start]:02x} at byte offset {e.start} (line {line}); "
                         f"re-save the file as UTF-8") from None
    return text[1:] if text.startswith("\ufeff") else text


def _check_header(header: list[str], path: Path) -> None:
    if not header or header == [""]:
        raise UsageError(f"{path}: empty file (expected a header row naming the columns)")
    seen = set()
    for name in header:
        if name in seen:
            raise UsageError(f"{path}: column {name!r} appears twice in the header")
        seen.add(name)


def _table(path: Path, header: list[str], rows: list[list[str]], locs: list[int], kind: str,
           text_col, label_col, id_col) -> RawSplit:
    cols = pick_columns(header, str(path), text_col, label_col, id_col)
    if not rows:
        raise UsageError(f"{path}: no data rows, only a header ({', '.join(header)})")
    ti, li = header.index(cols.text), header.index(cols.label)
    ids = [r[header.index(cols.id)] for r in rows] if cols.id else None
    return RawSplit(str(path), [r[ti] for r in rows], [r[li] for r in rows], ids, locs, kind, cols.id)


def read_tsv(path: Path, text_col=None, label_col=None, id_col=None) -> RawSplit:
    lines = decode_utf8(path).split("\n")
    lines = [line[:-1] if line.endswith("\r") else line for line in lines]
    while lines and lines[-1] == "":
        lines.pop()
    header = lines[0].split("\t") if lines else []
    _check_header(header, path)
    rows, width = [], len(header)
    for n, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != width:
            raise UsageError(f"{path} line {n}: {len(fields)} tab-separated field(s), expected {width} "
                             f"({', '.join(header)}); TSV is read with quoting off, so a text cannot contain a tab "
                             f"or a line break")
        rows.append(fields)
    return _table(path, header, rows, list(range(2, len(rows) + 2)), "line", text_col, label_col, id_col)


def read_csv(path: Path, text_col=None, label_col=None, id_col=None) -> RawSplit:
    csv.field_size_limit(2**31 - 1)  # long clinical documents exceed the default 128 KiB per field
    reader = csv.reader(io.StringIO(decode_utf8(path), newline=""))
    try:
        header = next(reader, [])
        _check_header(header, path)
        rows, locs, start = [], [], reader.line_num + 1
        for row in reader:
            if row:
                if len(row) != len(header):
                    raise UsageError(f"{path} line {start}: {len(row)} comma-separated field(s), expected "
                                     f"{len(header)} ({', '.join(header)}); quote texts that contain commas")
                rows.append(row)
                locs.append(start)
            start = reader.line_num + 1
    except csv.Error as e:
        raise UsageError(f"{path} line {reader.line_num}: malformed CSV ({e})") from None
    return _table(path, header, rows, locs, "line", text_col, label_col, id_col)


def read_jsonl(path: Path, text_col=None, label_col=None, id_col=None) -> RawSplit:
    cols = None
    texts, labels, ids, locs = [], [], [], []
    for n, line in enumerate(decode_utf8(path).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UsageError(f"{path} line {n}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise UsageError(f"{path} line {n}: expected a JSON object per line, got {type(obj).__name__}")
        if cols is None:
            cols = pick_columns(list(obj), str(path), text_col, label_col, id_col)
        for name in (cols.text, cols.label, cols.id):
            if name is not None and name not in obj:
                raise UsageError(f"{path} line {n}: no key {name!r} (keys: {', '.join(obj)})")
        texts.append(obj[cols.text])
        labels.append(obj[cols.label])
        if cols.id:
            ids.append(obj[cols.id])
        locs.append(n)
    if cols is None:
        raise UsageError(f"{path}: empty file (expected one JSON object per line)")
    return RawSplit(str(path), texts, labels, ids if cols.id else None, locs, "line", cols.id)


def read_parquet(path: Path, text_col=None, label_col=None, id_col=None) -> RawSplit:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError(f"{path}: reading Parquet needs pyarrow ({_INSTALL_HUB})") from None
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises ArrowInvalid/OSError subclasses that vary by version
        raise UsageError(f"{path}: not a readable Parquet file ({e})") from None
    cols = pick_columns(table.column_names, str(path), text_col, label_col, id_col)
    if table.num_rows == 0:
        raise UsageError(f"{path}: no data rows (columns {', '.join(table.column_names)})")
    ids = table.column(cols.id).to_pylist() if cols.id else None
    return RawSplit(str(path), table.column(cols.text).to_pylist(), table.column(cols.label).to_pylist(), ids,
                    range(1, table.num_rows + 1), "row", cols.id)


READERS = {".tsv": read_tsv, ".csv": read_csv, ".jsonl": read_jsonl, ".ndjson": read_jsonl,
           ".parquet": read_parquet}


def read_file(path: Path, text_col=None, label_col=None, id_col=None) -> RawSplit:
    """One data file, by extension; UsageError for an unknown extension."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UsageError(f"{path}: unknown file type {path.suffix or '(no extension)'!r}; use "
                         f"{', '.join(EXTENSIONS)}, a folder of split files, or a datasets.save_to_disk folder")
    return reader(path, text_col, label_col, id_col)


def read_label_names(path: Path) -> list[str]:
    """`labels.tsv` (columns label, name; ids 0..K-1) → names indexed by id."""
    raw = read_tsv(path, "name", "label")
    names: dict[int, str] = {}
    for i, (label, name) in enumerate(zip(raw.labels, raw.texts, strict=True)):
        if not label.strip().isdigit() or int(label) in names:
            raise UsageError(f"{raw.where(i)}: expected a new integer label id, got {label!r}")
        names[int(label)] = name
    if sorted(names) != list(range(len(names))):
        raise UsageError(f"{path}: label ids must be 0..{len(names) - 1}, got {sorted(names)}")
    return [names[i] for i in range(len(names))]


def split_files(folder: Path) -> dict[str, Path]:
    """Canonical split name → file for the split files in `folder` (train, validation|dev, test, all)."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        split = SPLIT_STEMS.get(path.stem.lower())
        if split is None or path.suffix.lower() not in READERS or not path.is_file():
            continue
        if split in found:
            raise UsageError(f"{folder}: two files for the {split} split: {found[split].name} and {path.name}")
        found[split] = path
    if not found:
        present = ", ".join(p.name for p in sorted(folder.iterdir())[:10]) or "nothing"
        raise UsageError(f"{folder}: no split files found (it holds {present}); expected train, validation|dev, "
                         f"test or all, each with one of the extensions {', '.join(EXTENSIONS)}")
    return found


def is_saved_dataset(folder: Path) -> bool:
    return (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file()


def arrow_column(ds, name: str) -> list:
    """A `datasets.Dataset` column as a plain list. `ds[name][:]` because datasets ≥ 4 returns a lazy Column whose
    element-wise iteration is ~1000× slower than slicing it."""
    return ds[name][:]


def read_saved(folder: Path, text_col=None, label_col=None, id_col=None) -> tuple[dict[str, RawSplit], list | None]:
    """A `datasets.save_to_disk` folder → (split → RawSplit, class names from a ClassLabel feature or None)."""
    try:
        import datasets as hf
    except ImportError:
        raise UsageError(f"{folder}: a save_to_disk folder needs the datasets package ({_INSTALL_HUB})") from None
    try:
        loaded = hf.load_from_disk(str(folder))
    except Exception as e:  # corrupt or incompatible folder: whatever datasets raises, say which folder
        raise UsageError(f"{folder}: cannot load this datasets.save_to_disk folder ({e})") from None
    parts = dict(loaded) if isinstance(loaded, hf.DatasetDict) else {"all": loaded}
    out: dict[str, RawSplit] = {}
    names = None
    for part, ds in parts.items():
        split = SPLIT_STEMS.get(part.lower())
        if split is None:
            continue
        if split in out:
            raise UsageError(f"{folder}: two parts for the {split} split ({part!r} and another)")
        origin = f"{folder}[{part}]"
        cols = pick_columns(ds.column_names, origin, text_col, label_col, id_col)
        feature = ds.features[cols.label]
        if getattr(feature, "names", None):
            names = list(feature.names)
        out[split] = RawSplit(origin, arrow_column(ds, cols.text), arrow_column(ds, cols.label),
                              arrow_column(ds, cols.id) if cols.id else None, range(1, len(ds) + 1), "row", cols.id)
    if not out:
        raise UsageError(f"{folder}: no usable split among {', '.join(parts)}; expected train, validation|dev, test")
    return out, names
