"""`noisebench report --plots DIR`: every figure for the synthetic set exists as a valid PNG and SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import synthetic_results as syn

from noisebench.cli import run_cli
from noisebench.report.plots import FIGURES

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_plots_are_valid_png_and_svg(tmp_path, capsys):
    syn.write_synthetic(tmp_path / "results")
    plots = tmp_path / "plots"
    code = run_cli(["report", "--results-dir", str(tmp_path / "results"), "--plots", str(plots), "--format", "csv"])
    _, err = capsys.readouterr()
    assert code == 0, err
    expected = sorted(f"sst2-{name}.{ext}" for name in FIGURES for ext in ("png", "svg"))
    assert sorted(p.name for p in plots.iterdir()) == expected  # and no temporary files
    for name in FIGURES:
        png = (plots / f"sst2-{name}.png").read_bytes()
        assert png.startswith(PNG_SIGNATURE)
        width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")  # IHDR chunk
        assert png[12:16] == b"IHDR" and width > 200 and height > 150
        root = ET.parse(plots / f"sst2-{name}.svg").getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert "Date" not in (plots / f"sst2-{name}.svg").read_text()  # no timestamp
    assert err.count("noisebench: wrote ") == 6


def test_clean_only_results_plot_what_exists(tmp_path, capsys):
    store = syn.ResultsStore(tmp_path / "results")
    for rec in syn.records():
        if rec["noise"]["name"] == "clean":
            store.put(rec)
    code = run_cli(["report", "--results-dir", str(tmp_path / "results"), "--plots", str(tmp_path / "plots")])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Warning" not in err
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == ["sst2-accuracy-vs-time.png",
                                                                     "sst2-accuracy-vs-time.svg"]
    assert "81.4 [80.2, 82.6]" in out
