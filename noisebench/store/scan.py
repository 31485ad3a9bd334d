"""One scan of a store's records directory: the stat stamp (size, mtime_ns, inode) of every record file.

A report checks each unit-index entry against its file's stamp (noisebench.report.loading), so it stats every
record: about a second for 10^5 files, as long as reading the unit indexes. `Scan(folder, background=True)` runs
the scan in a helper process — this file run as a script, `python -I -S scan.py FOLDER`, which imports nothing but
the standard library and starts in milliseconds — while the caller reads the indexes on the other core. If the
helper cannot start or fails, the scan runs in the caller instead: the result is the same either way.
"""

from __future__ import annotations

import marshal
import os
import stat
import subprocess
import sys

Stamps = dict[str, list[int]]  # file name → [size, mtime_ns, inode], sorted by name


def stat_stamp(st: os.stat_result) -> list[int]:
    """What identifies one version of a file: size, modification time (ns), inode (an atomic replace makes a new
    inode, so a rewritten record never matches the stamp of the file it replaced). Unit indexes store it per record
    (ResultsStore.mark_complete); a report compares it with `scan`'s."""
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def scan(folder: str) -> Stamps:
    """The stamps of the regular files `folder/*.json` (no dot-files: temporaries), sorted by name; {} when the
    folder does not exist. A file removed while scanning is left out."""
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and not n.startswith("."))
    except FileNotFoundError:
        return {}
    prefix = os.path.join(folder, "")
    out: Stamps = {}
    for name in names:
        try:
            st = os.stat(prefix + name)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode):
            out[name] = stat_stamp(st)
    return out


class Scan:
    """`scan(folder)`, started now and collected by `result()`; with background=True in a helper process."""

    def __init__(self, folder: str, *, background: bool) -> None:
        self.folder = folder
        self._proc: subprocess.Popen | None = None
        if background:
            try:
                self._proc = subprocess.Popen([sys.executable, "-I", "-S", __file__, folder],
                                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
            except OSError:  # no subprocesses here: scan in this process
                self._proc = None

    def result(self) -> Stamps:
        proc = self._proc
        if proc is not None:
            assert proc.stdout is not None  # a PIPE
            data = proc.stdout.read()
            proc.stdout.close()
            if proc.wait() == 0:
                try:
                    stamps = marshal.loads(data)
                except (EOFError, ValueError, TypeError):
                    stamps = None
                if isinstance(stamps, dict):
                    return stamps
        return scan(self.folder)  # no helper, or it failed: the same scan here


if __name__ == "__main__":
    sys.stdout.buffer.write(marshal.dumps(scan(sys.argv[1])))
