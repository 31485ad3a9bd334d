"""Datasets: the registry of named datasets, the built-in synthetic one, and loading of users' own files.

    from noisebench.datasets import load_dataset, DATASETS, BUILTIN
    ds = load_dataset("sst2", data_dir="/data")          # or load_dataset("notes.csv", id_col="note_id")

Every loader returns `noisebench.datasets.base.Dataset` (train / validation / test of `Example`s). How keys, ids,
carved splits and fingerprints are derived: `noisebench.datasets.assemble`. Resolution of names (built-in, local
data directory, Hub): `noisebench.datasets.loading`.
"""

from noisebench.datasets.base import Dataset, Example
from noisebench.datasets.catalog import BUILTIN, DATASETS, DatasetSpec
from noisebench.datasets.loading import load_dataset

__all__ = ["BUILTIN", "DATASETS", "Dataset", "DatasetSpec", "Example", "load_dataset"]
