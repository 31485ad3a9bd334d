"""Shared test fixtures: where the real data lives, and a Hub that is known to be unreachable."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    return Path(os.environ.get("NOISEBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not (path / "sst2" / "dev.tsv").is_file():
        pytest.skip(f"real datasets not found at {path} (set NOISEBENCH_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True)
def _no_hub(monkeypatch):
    """Tests never reach for the Hub: fail fast instead of retrying for half a minute."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
