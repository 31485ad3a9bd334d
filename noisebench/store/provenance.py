"""Provenance of a result: which code, which packages, which machine, when, and under which configuration.

    static = environment(device)            # once per run: versions, git commit, device, host
    record["provenance"] = stamp(static, config_hash)   # per record: adds the UTC time and the config hash

Fields (all JSON):
    noisebench   the package version (noisebench.__version__)
    git_commit   `git rev-parse HEAD` of the checkout the package was imported from (with "-dirty" appended when
                 tracked files differ from HEAD), or None when the package is not in a git checkout, git is missing,
                 or git does not answer within GIT_TIMEOUT_S seconds
    python       the interpreter version, e.g. "3.11.9"
    packages     {torch, transformers, peft, tokenizers, numpy: version or None when not installed}
    device       "cpu: <CPU model>" or "cuda: <GPU name>"
    host         the machine's network name
    created      the record's creation time, UTC, ISO 8601 with a trailing "Z"
    config_hash  short hash of the run configuration that produced the record (RunConfig.hash())
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import noisebench

PACKAGES = ("torch", "transformers", "peft", "tokenizers", "numpy")
GIT_TIMEOUT_S = 5.0
_PACKAGE_DIR = Path(noisebench.__file__).resolve().parent


def git_commit(where: Path = _PACKAGE_DIR) -> str | None:
    """HEAD of the git checkout containing `where` ("<sha>-dirty" with uncommitted changes to tracked files),
    or None when there is none. Never raises."""
    def git(*args: str) -> subprocess.CompletedProcess | None:
        try:
            return subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                                  check=False, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "--verify", "HEAD")
    if head is None or head.returncode != 0 or not head.stdout.strip():
        return None
    sha = head.stdout.strip()
    # --untracked-files=no: new files beside the checkout (results, caches) do not make the code "dirty".
    status = git("status", "--porcelain", "--untracked-files=no")
    dirty = status is not None and status.returncode == 0 and bool(status.stdout.strip())
    return f"{sha}-dirty" if dirty else sha


def package_versions(names: tuple[str, ...] = PACKAGES) -> dict[str, str | None]:
    """Installed distribution versions (None when a package is absent)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_name(device: Any) -> str:
    """"cuda: <GPU name>" for a CUDA torch device, else "cpu: <CPU model>" (`device`: torch.device or str)."""
    kind = getattr(device, "type", str(device).split(":")[0])
    if kind == "cuda":
        import torch

        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"{kind}: {cpu_name()}"


def environment(device: Any) -> dict:
    """The per-run part of the provenance (computed once: it runs git and reads package metadata)."""
    return {
        "noisebench": noisebench.__version__,
        "git_commit": git_commit(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "device": device_name(device),
        "host": platform.node(),
        "threads": _threads(),
    }


def _threads() -> int | None:
    """torch's intra-op thread count (CPU results can depend on it), or None without torch."""
    try:
        import torch
    except ImportError:
        return None
    return int(torch.get_num_threads())


def utc_now() -> str:
    """Current UTC time, ISO 8601 to the second with a trailing Z, e.g. "2026-11-23T14:05:09Z"."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stamp(static: dict, config_hash: str) -> dict:
    """A record's provenance: the run's environment plus its creation time and the configuration hash."""
    return {**static, "created": utc_now(), "config_hash": config_hash}
