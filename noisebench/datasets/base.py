"""What every dataset loader returns: three splits of labelled examples with stable ids and noise keys."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Example:
    """One labelled text.

    id:    unique within its split; from the dataset's id column when it has one, else "<split>-<row>".
    text:  the clean text, exactly as read (no normalisation).
    label: integer class index into `Dataset.label_names`.
    key:   the noise example key (see noisebench.noise): the id column's value when the dataset has one, else the
           sha256 of the text. Content keys make the noise independent of file order, and identical texts get
           identical noise (they are the same input).
    """

    id: str
    text: str
    label: int
    key: str


@dataclass(frozen=True)
class Dataset:
    """A loaded, validated dataset. `validation` is carved deterministically from train when the source has none;
    it is used for early stopping and sweeps, never the test split."""

    name: str
    label_names: tuple[str, ...]
    train: tuple[Example, ...]
    validation: tuple[Example, ...]
    test: tuple[Example, ...]
    source: str  # where it was read from: a path, a hub id, or "built-in generator vN"
    fingerprint: str  # sha256 over all splits' (id, text, label): changes when the data changes
    notes: dict = field(default_factory=dict)  # e.g. {"validation": "carved 10% stratified from train"}

    @property
    def num_labels(self) -> int:
        return len(self.label_names)
