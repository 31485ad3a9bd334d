"""The results store: where every number lives, with its provenance.

    results.py      the results directory: atomic records, Parquet predictions, unit markers and their index
    records.py      the record schema (what one evaluation cell holds, its identity and id)
    lease.py        who works on a unit now: O_EXCL lease files with a heartbeat (no flock: shared filesystems)
    provenance.py   package versions, git commit, device, host, time of a record
    scan.py         the record files' stat stamps in one directory scan (run in a helper process by a report)

Nothing here imports a workflow (training, studies, reports).
"""

from noisebench.store.results import (
    ResultsStore,
    atomic_write_bytes,
    atomic_write_text,
    fsync_dir,
    open_store,
    sweep_temporaries,
)
from noisebench.store.scan import stat_stamp

__all__ = ["ResultsStore", "atomic_write_bytes", "atomic_write_text", "fsync_dir", "open_store", "stat_stamp",
           "sweep_temporaries"]
