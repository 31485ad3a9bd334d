"""Raw splits → a validated `Dataset`: label mapping, content checks, deterministic stratified splits, fingerprint.

Contracts (the README copies these):
- Keys: the id column's value when the data has one, else the sha256 hex of the UTF-8 text (`content_key`).
- Order: every split is sorted by (key, label, text), so the order of rows in a file never matters; without an
  id column, ids are "<split>-<n>" numbered in that order. Shuffling a file's rows gives the identical Dataset.
- Carving (a split the source lacks): per class, the distinct keys are ranked by sha256("noisebench/split/v1\\n" +
  key) and the first round(fraction × class size) rows go to the carved split; rows with the same key stay
  together; a class too small for even one row stays entirely in train (and the notes name it). Test is carved
  first (only from a single unsplit file), validation second, always from train, never from test.
- Fingerprint: sha256 over each split's (id, text, label) triples, train, validation, test in that order.
- Labels: integer labels (ints or digit strings everywhere) keep their ids, named by labels.tsv / a ClassLabel /
  the registry, else "0".."K-1"; any other labels are strings, mapped to their sorted unique names (or to the
  order of labels.tsv when every label is one of its names). Every class must occur in training.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from collections.abc import Sequence

from noisebench.datasets.base import Dataset, Example
from noisebench.datasets.readers import RawSplit
from noisebench.errors import UsageError

SPLIT_SALT = "noisebench/split/v1\n"
SPLITS = ("train", "validation", "test")
_INT = re.compile(r"[+-]?\d+")

# (key, label index, text, id from the id column or None): one example before its split is final.
Row = tuple[str, int, str, "str | None"]


def content_key(text: str) -> str:
    """The noise key of a text without an id: sha256 hex of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def split_rank(key: str) -> str:
    """Position of a key in the carving order (independent of file order and of the process)."""
    return hashlib.sha256((SPLIT_SALT + key).encode("utf-8")).hexdigest()


def fingerprint(train: Sequence[Example], validation: Sequence[Example], test: Sequence[Example]) -> str:
    """sha256 over, per split in the order train/validation/test, the JSON of [split, [[id, text, label], ...]]
    (UTF-8, json.dumps defaults with ensure_ascii=False) followed by a newline."""
    h = hashlib.sha256()
    for split, examples in zip(SPLITS, (train, validation, test), strict=True):
        rows = [[ex.id, ex.text, ex.label] for ex in examples]
        h.update(json.dumps([split, rows], ensure_ascii=False).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def _labels_as_written(raw: RawSplit) -> list:
    """Labels normalised to int or str; a UsageError naming the row for a missing or unusable label."""
    out = []
    for i, v in enumerate(raw.labels):
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if v is None or (isinstance(v, float) and v != v):
            raise UsageError(f"{raw.where(i)}: missing label")
        if isinstance(v, bool):
            v = str(v)
        elif isinstance(v, str):
            v = v.strip()
            if not v:
                raise UsageError(f"{raw.where(i)}: empty label")
        elif not isinstance(v, (int, float)):
            raise UsageError(f"{raw.where(i)}: label {v!r} is a {type(v).__name__}; expected a string or an integer")
        out.append(v)
    return out


def _is_int(v) -> bool:
    return isinstance(v, int) or (isinstance(v, str) and _INT.fullmatch(v) is not None)


class _Labels:
    """The label → class-index mapping, decided from the training source; checks every other split against it."""

    def __init__(self, pool: RawSplit, values: dict[str, list], hint: list[str] | None, hint_origin: str):
        train = values["pool"]
        self.int_mode = all(_is_int(v) for vs in values.values() for v in vs)
        if self.int_mode:
            for split, vs in values.items():
                values[split] = [int(v) for v in vs]
            train = values["pool"]
            used = set(train)
            if min(used) < 0:
                i = train.index(min(used))
                raise UsageError(f"{pool.where(i)}: negative label {train[i]}; integer labels are class ids 0..K-1")
            if hint is not None:
                bad = next((i for i, v in enumerate(train) if v >= len(hint)), None)
                if bad is not None:
                    raise UsageError(f"{pool.where(bad)}: label {train[bad]} is not an id in {hint_origin} "
                                     f"(0..{len(hint) - 1})")
                self.names = list(hint)
            else:
                self.names = [str(i) for i in range(max(used) + 1)]
            self.index = {i: i for i in used}
            self.how = f"integer class ids; names from {hint_origin}" if hint is not None else "integer class ids"
        else:
            for split, vs in values.items():
                values[split] = [str(v) for v in vs]
            train = values["pool"]
            used = set(train)
            if hint is not None and used <= set(hint):
                self.names = list(hint)
                self.how = f"string labels in the order of {hint_origin}"
            else:
                self.names = sorted(used)
                self.how = "string labels mapped to their sorted unique names"
            self.index = {name: self.names.index(name) for name in used}
        missing = [f"{n!r} (id {i})" for i, n in enumerate(self.names) if i not in self.index.values()]
        if missing:
            raise UsageError(f"{pool.origin}: class(es) {', '.join(missing)} have no training rows; every class "
                             f"must occur in the training data")
        if len(used) < 2:
            raise UsageError(f"{pool.origin}: the training data has only one class ({self.names[0]!r}); a classifier "
                             f"needs at least two")

    def map(self, raw: RawSplit, values: list) -> list[int]:
        out = []
        for i, v in enumerate(values):
            c = self.index.get(v)
            if c is None:
                shown = ", ".join(repr(n) for n in self.names)
                raise UsageError(f"{raw.where(i)}: label {v!r} does not occur in the training data "
                                 f"(training labels: {shown})")
            out.append(c)
        return out


def _rows(raw: RawSplit, labels: list[int], seen_ids: dict[str, str]) -> list[Row]:
    """Check texts and ids of one split; `seen_ids` (id → where) finds duplicates across splits."""
    rows: list[Row] = []
    for i, text in enumerate(raw.texts):
        if not isinstance(text, str):
            kind = "missing" if text is None else f"a {type(text).__name__}, not a string"
            raise UsageError(f"{raw.where(i)}: text is {kind}")
        if not text.strip():
            raise UsageError(f"{raw.where(i)}: empty or whitespace-only text")
        if raw.ids is None:
            rows.append((content_key(text), labels[i], text, None))
            continue
        v = raw.ids[i]
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        ident = "" if v is None else str(v)
        if not ident.strip():
            raise UsageError(f"{raw.where(i)}: empty id in column {raw.id_col!r}")
        if ident in seen_ids:
            raise UsageError(f"duplicate id {ident!r} in column {raw.id_col!r}: {seen_ids[ident]} and "
                             f"{raw.where(i)}; ids must be unique across all splits")
        seen_ids[ident] = raw.where(i)
        rows.append((ident, labels[i], text, ident))
    return rows


def carve(rows: list[Row], fraction: float, names: Sequence[str]) -> tuple[list[Row], list[Row], list[str]]:
    """Split `rows` into (kept, carved, classes too small to give a row), stratified by class, by key rank.

    Per class of n rows, round(fraction × n) rows are carved (at most n − 1, so the class stays in `kept`); rows
    sharing a key are never separated, so the carved count can exceed the target by the size of one key group.
    """
    by_class: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        by_class[row[1]].append(row)
    kept: list[Row] = []
    carved: list[Row] = []
    small: list[str] = []
    for c in sorted(by_class):
        members = by_class[c]
        target = min(int(len(members) * fraction + 0.5), len(members) - 1)
        if target <= 0:
            small.append(names[c])
            kept.extend(members)
            continue
        groups: dict[str, list[Row]] = defaultdict(list)
        for row in members:
            groups[row[0]].append(row)
        taken = 0
        for key in sorted(groups, key=lambda k: (split_rank(k), k)):
            group = groups[key]
            if taken < target and taken + len(group) <= len(members) - 1:
                carved.extend(group)
                taken += len(group)
            else:
                kept.extend(group)
    return kept, carved, small


def _finish(split: str, rows: list[Row]) -> tuple[Example, ...]:
    rows = sorted(rows, key=lambda r: (r[0], r[1], r[2]))
    return tuple(Example(id=r[3] if r[3] is not None else f"{split}-{n}", text=r[2], label=r[1], key=r[0])
                 for n, r in enumerate(rows))


def _pct(x: float) -> str:
    return f"{x * 100:g}%"


def assemble(name: str, raw: dict[str, RawSplit], *, source: str, label_names: Sequence[str] | None = None,
             names_origin: str = "the registry", test_fraction: float = 0.1, validation_fraction: float = 0.1,
             notes: dict | None = None) -> Dataset:
    """Build a Dataset from raw splits keyed by "train" / "validation" / "test" / "all".

    One split of any name is an unsplit dataset: test (`test_fraction`) and then validation (`validation_fraction`
    of the rest) are carved from it. Otherwise "train" is required; a missing test or validation is carved from
    train. Raises UsageError for empty texts, duplicate ids, unseen or missing labels, one-class training data.
    """
    notes = dict(notes or {})
    if "all" in raw and len(raw) > 1:
        others = ", ".join(r.origin for s, r in raw.items() if s != "all")
        raise UsageError(f"{raw['all'].origin}: an unsplit 'all' file next to split files ({others}); keep one layout")
    if len(raw) == 1:
        pool_split = next(iter(raw))
    elif "train" not in raw:
        raise UsageError(f"{name}: no training split among {', '.join(r.origin for r in raw.values())}; add a train "
                         f"file (or give a single file to split)")
    else:
        pool_split = "train"
    pool = raw[pool_split]
    values = {"pool": _labels_as_written(pool)}
    values.update({s: _labels_as_written(r) for s, r in raw.items() if s != pool_split})
    labels = _Labels(pool, values, list(label_names) if label_names is not None else None, names_origin)
    seen_ids: dict[str, str] = {}
    rows = {s: _rows(r, labels.map(r, values["pool" if s == pool_split else s]), seen_ids) for s, r in raw.items()}
    train = rows.pop(pool_split)

    small: dict[str, list[str]] = {}
    if "test" in rows:
        test = rows["test"]
        notes.setdefault("test", f"from {raw['test'].origin}")
    else:
        train, test, small["test"] = carve(train, test_fraction, labels.names)
        notes["test"] = (f"carved {_pct(test_fraction)} per class from {pool.origin} by key rank (no test file)")
    if "validation" in rows:
        validation = rows["validation"]
        notes.setdefault("validation", f"from {raw['validation'].origin}")
    else:
        train, validation, small["validation"] = carve(train, validation_fraction, labels.names)
        notes["validation"] = f"carved {_pct(validation_fraction)} per class from train by key rank"
    for split, classes in small.items():
        if classes:
            notes[f"too_small_for_{split}"] = (f"classes with too few rows for the {split} split stay in train: "
                                               f"{', '.join(classes)}")
    for split, part in (("validation", validation), ("test", test)):
        if not part:
            raise UsageError(f"{name}: the {split} split is empty ({len(train)} training rows); add more rows or a "
                             f"{split} file")
    notes["labels"] = labels.how
    notes["key"] = (f"id column {pool.id_col!r}" if pool.ids is not None
                    else "sha256 of the text (no id column); ids are '<split>-<n>' in key order")
    splits = {s: _finish(s, r) for s, r in zip(SPLITS, (train, validation, test), strict=True)}
    notes["sizes"] = " · ".join(f"{s} {len(splits[s]):,}" for s in SPLITS)
    return Dataset(name=name, label_names=tuple(labels.names), train=splits["train"],
                   validation=splits["validation"], test=splits["test"], source=source,
                   fingerprint=fingerprint(splits["train"], splits["validation"], splits["test"]), notes=notes)
