"""Files shipped with noisebench (lexicons, name lists) that live in the repository's top-level `data/`.

In a wheel they are installed as `noisebench/_data/`; in a source checkout or editable install they are read from
`data/` beside the package.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def data_file(name: str) -> Path:
    """Path of a shipped data file; raises FileNotFoundError naming both places looked at."""
    candidates = [_HERE / "_data" / name, _HERE.parent / "data" / name]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"shipped data file {name!r} not found in " + " or ".join(str(p) for p in candidates))
