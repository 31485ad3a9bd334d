"""BLT patch-boundary stability: the alignment on hand-built cases, the pooled measures against independent counts,
the entropy cache, and the pipeline on blt-tiny (whose patcher threshold makes patching non-trivial): `run` stores the
measures per cell, `report` shows them, `noisebench patches` computes the same numbers on demand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from noisebench.cli import run_cli
from noisebench.models.patching import PatchView, boundaries, matched, offset_map, stability


def view(data: bytes, starts: list[int], entropy: float = 0.0) -> PatchView:
    """A view whose entropy-driven patches start at the given byte offsets (ids: BOS + bytes)."""
    cuts = [0, 1, *(b + 1 for b in starts), len(data) + 1]
    return PatchView(data, np.diff(np.array(sorted(set(cuts)))), entropy)


def test_boundaries_are_the_entropy_driven_starts_as_byte_offsets():
    v = view(b"abcdefgh", [3, 6])
    assert v.lengths.tolist() == [1, 3, 3, 2] and boundaries(v.lengths) == [3, 6]
    assert boundaries(np.array([1, 1])) == [] and boundaries(np.array([1])) == []


def test_an_insertion_shifts_later_boundaries_by_one_byte_without_a_miss():
    clean = view(b"the cat sat", [4, 8])
    noisy = view(b"the caat sat", [4, 9])  # an "a" inserted inside the second word: the boundary at 8 moves to 9
    assert offset_map(clean.data, noisy.data)[8] == 9
    assert matched(clean, noisy) == (2, 2, 2)
    s = stability([clean], [noisy])
    assert (s["boundary_precision"], s["boundary_recall"], s["boundary_f1"]) == (1.0, 1.0, 1.0)
    assert s["patch_count_change"] == 0.0
    # a boundary that did not move with the text is a miss on both sides
    stuck = view(b"the caat sat", [4, 8])
    assert matched(clean, stuck) == (1, 2, 2)


def test_a_substitution_inside_a_patch_keeps_every_boundary():
    clean = view(b"the cat sat", [4, 8])
    noisy = view(b"the cot sat", [4, 8])
    assert matched(clean, noisy) == (2, 2, 2)
    assert stability([clean], [noisy])["boundary_f1"] == 1.0


def test_a_new_boundary_costs_precision_and_a_lost_one_recall():
    clean = view(b"abcdefghij", [3, 6])
    more = view(b"abcdefghij", [3, 5, 6])
    fewer = view(b"abcdefghij", [6])
    s = stability([clean], [more])
    assert (s["boundary_precision"], s["boundary_recall"]) == (2 / 3, 1.0)
    assert s["boundary_f1"] == pytest.approx(2 * (2 / 3) / (2 / 3 + 1))
    s = stability([clean], [fewer])
    assert (s["boundary_precision"], s["boundary_recall"]) == (1.0, 0.5)


def test_pooled_measures_are_totals_over_totals():
    """Two pairs: precision/recall pool the boundary counts; patch counts and lengths pool the texts; the entropy
    shift is the difference of the per-id means (all worked out by hand)."""
    a1, b1 = view(b"abcdef", [3], entropy=14.0), view(b"abcdef", [2, 3], entropy=21.0)  # 7 ids each
    a2, b2 = view(b"xyz", [], entropy=4.0), view(b"xz", [], entropy=6.0)  # 4 and 3 ids
    s = stability([a1, a2], [b1, b2])
    assert s["boundary_precision"] == 1 / 2 and s["boundary_recall"] == 1.0
    assert s["patches_clean"] == (3 + 2) / 2 and s["patches_noisy"] == (4 + 2) / 2
    assert s["patch_count_change"] == 0.5
    assert s["mean_patch_length_clean"] == 11 / 5 and s["mean_patch_length_noisy"] == 10 / 6
    assert s["entropy_shift"] == pytest.approx(27 / 10 - 18 / 11)
    nothing = stability([view(b"ab", [])], [view(b"ab", [])])
    assert nothing["boundary_f1"] == 1.0  # no boundary on either side: nothing moved
    with pytest.raises(ValueError):
        stability([a1], [])


# ---------------------------------------------------------------- blt-tiny

torch = pytest.importorskip("torch")


def tiny_probe():
    from noisebench.models import blt
    from noisebench.models.base import ModelOptions

    model = blt.random_model(blt.tiny_config(), "cpu", torch.float32)
    return blt.classifier_from_model(model, ModelOptions(num_labels=2, recipe="probe"), source="tiny")


@pytest.fixture(scope="module")
def tiny():
    return tiny_probe()


def test_blt_tiny_patching_is_not_trivial(tiny, shared_data):
    rows = [line.split("\t")[0] for line in (shared_data / "sst2" / "dev.tsv").read_text().splitlines()[1:200]]
    views = tiny.patch_views(rows)
    per_patch = sum(v.ids for v in views) / sum(len(v.lengths) for v in views)
    assert 2.5 < per_patch < 6.0  # BLT's default threshold would give 1 byte per patch with random weights


def test_views_see_what_the_model_sees_and_carry_the_entropy(tmp_path):
    from noisebench.models import blt

    texts = ["héllo wörld", "x" * 700]
    blt._PATCH_CACHES.clear()  # process-wide: only these two texts in the file written below
    tiny = tiny_probe()
    views = tiny.patch_views(texts)
    assert views[0].data == texts[0].encode("utf-8") and len(views[1].data) == tiny.max_bytes
    for v, lengths in zip(views, tiny.patch_lengths(texts), strict=True):
        assert v.lengths.tolist() == lengths.tolist() and int(v.lengths.sum()) == v.ids
        assert 4.0 * v.ids < v.entropy < 6.0 * v.ids  # the random patcher's entropies lie near ln(260) = 5.56
    # a cache file written before entropies were stored: boundaries kept, entropies recomputed
    path = tiny.save_patch_cache(tmp_path)
    data = json.loads(path.read_text())
    data.pop("entropy")
    path.write_text(json.dumps(data))
    blt._PATCH_CACHES.clear()
    again = blt.BltClassifier(tiny.module, {}, tiny.max_bytes)
    assert again.load_patch_cache(tmp_path) == 2
    assert again.patch_cache.entropy(blt.patch_key(blt.byte_ids(texts[0]))) is None
    redone = again.patch_views(texts)
    assert [v.entropy for v in redone] == pytest.approx([v.entropy for v in views], rel=1e-6)
    assert [v.lengths.tolist() for v in redone] == [v.lengths.tolist() for v in views]


def test_substitution_f1_equals_set_overlap_on_ascii_text(tiny, shared_data):
    """substitute keeps an ASCII letter an ASCII letter, so on ASCII text the byte strings have equal lengths; where
    the substitutions are also the cheapest explanation (Hamming = Levenshtein distance, nearly every pair) every
    byte keeps its place and the boundary F1 is the F1 of the two boundary sets as they stand — computed here
    without the alignment code."""
    from rapidfuzz.distance import Levenshtein

    from noisebench.noise import perturb_batch

    rows = [line.split("\t")[0] for line in (shared_data / "sst2" / "dev.tsv").read_text().splitlines()[1:300]]
    rows = [r for r in rows if r.isascii()]
    noisy = perturb_batch(rows, [str(i) for i in range(len(rows))], noise="substitute", rate=0.2, seed=5)
    pairs = [(a, b) for a, b in zip(rows, noisy, strict=True)
             if len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) == Levenshtein.distance(a, b)]
    assert len(pairs) > 0.9 * len(rows)
    rows, noisy = [a for a, _ in pairs], [b for _, b in pairs]
    inter = n_a = n_b = 0
    for a, b in zip(tiny.patch_lengths(rows), tiny.patch_lengths(noisy), strict=True):
        sa = set((np.cumsum(a)[:-1] - 1).tolist()) - {0}
        sb = set((np.cumsum(b)[:-1] - 1).tolist()) - {0}
        inter, n_a, n_b = inter + len(sa & sb), n_a + len(sa), n_b + len(sb)
    expected = 2 * inter / (n_a + n_b)
    measured = stability(tiny.patch_views(rows), tiny.patch_views(noisy))["boundary_f1"]
    assert measured == pytest.approx(expected, abs=1e-12) and 0.3 < measured < 0.95


def test_run_stores_patch_measures_and_report_and_patches_show_them(tmp_path, capsys):
    results = tmp_path / "results"
    args = ["run", "--model", "blt-tiny", "--noise", "substitute,casing", "--rate", "0.1", "--seeds", "1,2",
            "--epochs", "1", "--results-dir", str(results), "--quiet"]
    assert run_cli(args) == 0, capsys.readouterr().err
    recs = {(r["noise"]["name"], r["seed"]): r for p in (results / "records").glob("*.json")
            if isinstance(r := json.loads(p.read_text()), dict) and "noise" in r}
    assert set(recs) == {(n, s) for n in ("clean", "substitute", "casing") for s in (1, 2)}
    for (name, _), r in recs.items():
        p = r["patches"]
        assert 2.5 < p["mean_patch_length_clean"] < 6.0
        if name == "clean":
            assert p["boundary_f1"] == 1.0 and p["patch_count_change"] == 0.0
        else:
            assert 0.3 < p["boundary_f1"] < 1.0
    capsys.readouterr()
    assert run_cli(["report", "--results-dir", str(results)]) == 0
    out = capsys.readouterr().out
    assert "clinical-notes · substitute · BLT patch boundaries" in out and "boundary F1 (Δ patches)" in out
    mean_f1 = (recs[("substitute", 1)]["patches"]["boundary_f1"] + recs[("substitute", 2)]["patches"]["boundary_f1"]) / 2
    assert f"{mean_f1:.3f}" in out
    assert run_cli(["report", "--results-dir", str(results), "--format", "json"]) == 0
    cell = next(c for c in json.loads(capsys.readouterr().out)["conditions"] if c["noise"]["name"] == "substitute")
    assert cell["patches"]["boundary_f1"]["point"] == pytest.approx(mean_f1)
    # on demand, without training: the same numbers from the same seeds' noise draws
    plots = tmp_path / "plots"
    assert run_cli(["patches", "--model", "blt-tiny", "--noise", "substitute", "--rate", "0.1", "--seeds", "1,2",
                    "--plain", "--results-dir", str(results), "--plots", str(plots)]) == 0
    captured = capsys.readouterr()
    header, row = captured.out.splitlines()
    assert header.split("\t")[:3] == ["noise", "rate", "boundary_f1"]
    assert row.split("\t")[:3] == ["substitute", "0.1", f"{mean_f1:.3f}"]
    assert sorted(p.name for p in plots.iterdir()) == ["clinical-notes-patches-vs-drop.png",
                                                       "clinical-notes-patches-vs-drop.svg"]


def test_patches_refuses_other_families_and_plots_without_results(tmp_path, capsys):
    assert run_cli(["patches", "--model", "bert-tiny"]) == 2
    assert "patch boundaries exist only for BLT models" in capsys.readouterr().err
    assert run_cli(["patches", "--model", "blt-tiny", "--noise", "swap", "--rate", "0.1", "--seeds", "1",
                    "--results-dir", str(tmp_path / "none"), "--plots", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "--plots: no results directory" in err and "noisebench run --model blt-tiny" in err
    assert not Path(tmp_path / "p").exists()
