"""The report's record loading: same records as the store, and a summary cache that never hides a change."""

from __future__ import annotations

import json

import pytest
import synthetic_results as syn

from noisebench.report.loading import CACHE_NAME, load_records
from noisebench.store import ResultsStore
from noisebench.store.records import CorruptRecord
from noisebench.store.scan import scan


def _without_predictions(recs):
    """The summary fields, selected here independently of report.loading.summary."""
    out = []
    for rec in recs:
        r = {k: v for k, v in rec.items() if k not in ("predictions", "provenance", "timing")}
        r["created"] = rec["provenance"]["created"]  # kept: the report orders models by it
        if r["metrics"]:
            r["metrics"] = {k: r["metrics"][k] for k in ("accuracy", "macro_f1", "n")}
        out.append(r)
    return out


@pytest.fixture()
def results(tmp_path):
    syn.write_synthetic(tmp_path)
    return tmp_path


def test_same_records_as_the_store_with_and_without_cache(results):
    store_good, store_bad = ResultsStore(results).load(strict=False, predictions=True)
    full, bad = load_records(results, predictions=True)
    assert full == store_good and bad == store_bad == []
    assert not (results / CACHE_NAME).exists()  # whole records are never cached
    cold, _ = load_records(results)
    assert (results / CACHE_NAME).is_file()
    warm, _ = load_records(results)
    assert cold == warm == _without_predictions(store_good)
    assert load_records(results, use_cache=False)[0] == cold


def test_a_changed_record_is_reread_and_a_corrupt_one_named_every_time(results):
    load_records(results)  # builds the cache
    path = next(p for p in sorted((results / "records").glob("*.json")) if json.loads(p.read_text())["metrics"])
    data = json.loads(path.read_text())
    data["metrics"]["accuracy"] = 0.123  # not part of the identity: still valid
    path.write_text(json.dumps(data))
    good, _ = load_records(results)
    assert next(r for r in good if r["id"] == data["id"])["metrics"]["accuracy"] == 0.123

    path.write_text("{broken")
    for _ in range(2):
        good, bad = load_records(results)
        assert [p for p, _ in bad] == [path] and "not valid JSON" in bad[0][1]
        assert data["id"] not in {r["id"] for r in good}
    with pytest.raises(CorruptRecord):
        ResultsStore(results).load()


def test_unreadable_or_foreign_cache_is_ignored(results):
    expected = _without_predictions(ResultsStore(results).load()[0])
    (results / CACHE_NAME).write_text("{nonsense")
    assert load_records(results)[0] == expected
    cache = json.loads((results / CACHE_NAME).read_text())
    cache["version"] = "another"
    first = next(iter(cache["entries"]))
    cache["entries"][first][3]["metrics"]["accuracy"] = 0.0  # a cache from another version must not be trusted
    (results / CACHE_NAME).write_text(json.dumps(cache))
    assert load_records(results)[0] == expected


def test_cache_that_cannot_be_written_is_skipped(results):
    """An unwritable cache location (here: a directory in its place, which fails even for root) is not an error."""
    (results / CACHE_NAME).mkdir()
    good, bad = load_records(results)
    assert len(good) == 74 and not bad
    assert [p.name for p in results.iterdir() if p.name.endswith(".tmp")] == []


def test_parallel_parsing_gives_the_same_result(results, monkeypatch):
    """Worker processes (used from PARALLEL_FROM uncached files on) return exactly what one process does."""
    from noisebench.report import loading

    broken = results / "records" / "0broken.json"
    broken.write_text("[]")
    serial = load_records(results, use_cache=False)
    monkeypatch.setattr(loading, "PARALLEL_FROM", 10)
    monkeypatch.setattr(loading, "FILES_PER_WORKER", 10)
    monkeypatch.setattr(loading.os, "cpu_count", lambda: 2)
    shares, real = [], loading._parse_many
    monkeypatch.setattr(loading, "_parse_many", lambda f, n, p: shares.append(len(n)) or real(f, n, p))
    assert load_records(results, use_cache=False) == serial
    # This process parsed only its share; the worker parsed the rest (a serial fallback would parse them all here).
    total = len(scan(str(results / "records")))
    assert shares == [(total + 1) // 2]
    assert serial[1][0][0] == broken and "not a JSON object" in serial[1][0][1]


def test_results_of_0_1_load_alone_but_are_never_pooled_with_versioned_ones(tmp_path, capsys):
    """Records written before the versions block (0.1) still report on their own; the same cells written again by
    this code carry versions, and a store holding both is refused until --current picks this code's."""
    import copy
    import json

    import synthetic_results as syn

    from noisebench.cli import run_cli
    from noisebench.store import ResultsStore
    from noisebench.store.records import record_id
    from noisebench.training.train import TRAINING_VERSION

    old = list(syn.records())
    assert all("versions" not in r for r in old)
    store = ResultsStore(tmp_path / "results")
    old = [json.loads(p.read_text()) for p in (store.put(r) for r in old)]  # as stored: with their ids
    assert run_cli(["report", "--results-dir", str(store.root), "--format", "json"]) == 0
    capsys.readouterr()
    for r in old[:4]:
        new = copy.deepcopy(r)
        names = [] if r["noise"]["name"] == "clean" else [r["noise"]["name"]]
        new["versions"] = {"noise": {n: 1 for n in names}, "training": TRAINING_VERSION, "model": "tiny-config:v1"}
        new["id"] = record_id(new)
        assert new["id"] != r["id"]  # a new identity: never found as "already stored"
        store.put(new)
    assert run_cli(["report", "--results-dir", str(store.root)]) == 2
    err = capsys.readouterr().err
    assert "unversioned (written before 0.2)" in err and f"training v{TRAINING_VERSION}" in err
    assert run_cli(["report", "--results-dir", str(store.root), "--current", "--format", "json"]) == 0
    captured = capsys.readouterr()
    # every old record, and the three new noisy ones: the synthetic noises (char-swap, keyboard) are not this code's
    assert f"left out {len(old) + 3} record(s)" in captured.err
    assert len(json.loads(captured.out)["models"]) >= 1


def _mark_units(results) -> None:
    """Completion markers as a run writes them: one per (model, recipe, dataset, seed), listing its records."""
    store = ResultsStore(results)
    units: dict[tuple, list[str]] = {}
    for rec in store.load()[0]:
        units.setdefault((rec["model"]["name"], rec["model"]["recipe"], rec["dataset"]["name"], rec["seed"]),
                         []).append(rec["id"])
    for i, ids in enumerate(units.values()):
        store.mark_complete(f"unit{i:03d}", ids)


def _counting_parses(monkeypatch) -> list[str]:
    from noisebench.report import loading

    parsed: list[str] = []
    real = loading._parse_many
    monkeypatch.setattr(loading, "_parse_many", lambda f, n, p: parsed.extend(n) or real(f, n, p))
    return parsed


@pytest.mark.parametrize("helper", [False, True], ids=["scan-here", "scan-in-a-helper-process"])
def test_unit_index_is_read_instead_of_the_record_files(results, monkeypatch, helper):
    """With many unit indexes (here: from one on, for the test), the record files' stamps come from a helper process
    that scans while this one reads the indexes: the same records, and a rewritten record is still caught."""
    from noisebench.report import loading
    from noisebench.store.scan import Scan

    monkeypatch.setattr(loading, "SCAN_IN_PARALLEL_FROM", 1 if helper else 10**9)
    scans: list[Scan] = []
    monkeypatch.setattr(loading, "Scan", lambda *a, **k: scans.append(Scan(*a, **k)) or scans[-1])
    expected = load_records(results, use_cache=False)
    _mark_units(results)
    parsed = _counting_parses(monkeypatch)
    assert load_records(results) == expected
    assert (scans[-1]._proc is not None) == helper  # the stamps came from a helper process, or from this one
    assert parsed == [] and not (results / CACHE_NAME).exists()  # everything came from the units' index

    path = next(p for p in sorted((results / "records").glob("*.json")) if json.loads(p.read_text())["metrics"])
    data = json.loads(path.read_text())
    data["metrics"]["accuracy"] = 0.321  # rewritten after its unit's marker: the index entry no longer applies
    path.write_text(json.dumps(data))
    good, _ = load_records(results)
    assert parsed == [path.name]
    assert next(r for r in good if r["id"] == data["id"])["metrics"]["accuracy"] == 0.321


def test_unit_index_of_another_summary_version_is_ignored(results, monkeypatch):
    _mark_units(results)
    for marker in (results / "units").glob("*.json"):
        doc = json.loads(marker.read_text())
        doc["summary_version"] = -1
        for entry in doc["index"].values():
            entry[3]["metrics"] = {"accuracy": 0.0, "macro_f1": 0.0, "n": 1}  # must not be trusted
        marker.write_text(json.dumps(doc))
    expected = load_records(results, use_cache=False)
    parsed = _counting_parses(monkeypatch)
    assert load_records(results) == expected
    assert len(parsed) == 74


def test_a_scan_in_a_helper_process_equals_the_scan_here(results):
    """The helper (noisebench/store/scan.py run as a script) and the in-process scan give the same stamps: regular
    *.json files only (no dot-files, no directories), sorted by name; a missing folder gives nothing either way."""
    from noisebench.store.scan import Scan, scan

    folder = results / "records"
    (folder / ".x.json.tmp-1.json").write_text("{}")  # a temporary: never a record
    (folder / "sub.json").mkdir()
    here = scan(str(folder))
    assert list(here) == sorted(p.name for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))
    assert all(v == [(st := (folder / k).stat()).st_size, st.st_mtime_ns, st.st_ino] for k, v in here.items())
    helper = Scan(str(folder), background=True)
    assert helper._proc is not None and helper.result() == here
    assert Scan(str(results / "nothing"), background=True).result() == {} == scan(str(results / "nothing"))
