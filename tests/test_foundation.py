"""The foundation: registry lookups, error exit codes, the record schema, atomic store writes, instant --help."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from noisebench.cli import run_cli
from noisebench.errors import UsageError
from noisebench.registry import Registry
from noisebench.store import ResultsStore, records


def test_registry_suggests_the_nearest_name():
    reg: Registry[int] = Registry("widget")
    reg.register("substitute", 1)
    reg.register("swap", 2)
    with pytest.raises(UsageError) as e:
        reg.get("substitue")
    message = str(e.value)
    assert "unknown widget 'substitue'" in message
    assert "did you mean 'substitute'" in message
    assert "swap" in message  # the list of what exists


def test_registry_rejects_duplicates():
    reg: Registry[int] = Registry("widget")
    reg.register("a", 1)
    with pytest.raises(ValueError):
        reg.register("a", 2)


def _record(**over) -> dict:
    rec = {
        "schema": records.SCHEMA,
        "status": "ok",
        "error": None,
        "model": {"name": "bert-tiny", "family": "encoder", "source": "tiny", "recipe": "full", "options": {}},
        "dataset": {"name": "clinical-notes", "fingerprint": "abc", "split": "test", "n": 4},
        "training": {"config": {"epochs": 1}},
        "seed": 42,
        "noise": {"name": "substitute", "rate": 0.1, "options": {}},
        "metrics": {"accuracy": 0.75, "macro_f1": 0.7, "per_class_f1": {}, "n": 4},
    }
    rec.update(over)
    rec["id"] = records.record_id(rec)
    return rec


def test_record_id_depends_only_on_identity():
    a = _record()
    b = _record(metrics={"accuracy": 0.5, "macro_f1": 0.5, "per_class_f1": {}, "n": 4})
    c = _record(seed=43)
    assert a["id"] == b["id"]
    assert a["id"] != c["id"]


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda r: r.pop("model"), "missing section 'model'"),
        (lambda r: r["noise"].update(rate=1.5), "noise.rate"),
        (lambda r: r.update(status="maybe"), "status"),
        (lambda r: r["metrics"].update(accuracy=None), "metrics.accuracy"),
        (lambda r: r.update(seed=43), "id does not match"),
    ],
)
def test_validate_names_the_problem(mutate, reason):
    rec = _record()
    mutate(rec)
    with pytest.raises(records.CorruptRecord, match=reason):
        records.validate(rec, where="x.json")


def test_store_put_is_idempotent_and_leaves_no_temp_files(tmp_path):
    store = ResultsStore(tmp_path)
    store.put(_record())
    store.put(_record())
    files = os.listdir(tmp_path / "records")
    assert len(files) == 1 and files[0].endswith(".json")
    good, bad = store.load()
    assert len(good) == 1 and not bad


def _predictions(n: int = 4) -> dict:
    return {"ids": [f"ex{i}" for i in range(n)], "labels": [i % 2 for i in range(n)], "predicted": [1] * n}


def test_predictions_live_in_a_parquet_file_checked_by_its_digest(tmp_path):
    import hashlib

    import pyarrow.parquet as pq

    store = ResultsStore(tmp_path)
    rec = _record(predictions=_predictions())
    store.put(rec)
    on_disk = json.loads(store.record_path(rec["id"]).read_text())
    ref = on_disk["predictions"]
    assert on_disk["schema"] == "noisebench.result/2" and set(ref) == {"file", "n", "sha256"} and ref["n"] == 4
    path = tmp_path / "predictions" / ref["file"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == ref["sha256"]
    table = pq.read_table(path)  # read independently of the store
    assert table.column("id").to_pylist() == rec["predictions"]["ids"]
    assert table.column("predicted").to_pylist() == [1, 1, 1, 1]
    assert store.get(rec["id"])["predictions"] == ref  # not read unless asked for
    assert store.get(rec["id"], predictions=True)["predictions"] == rec["predictions"]

    path.write_bytes(path.read_bytes()[:-3] + b"xyz")  # damaged
    with pytest.raises(records.CorruptRecord, match="damaged predictions file .*sha256"):
        store.get(rec["id"], predictions=True)
    path.unlink()
    with pytest.raises(records.CorruptRecord, match="missing predictions file"):
        store.load(predictions=True)
    good, bad = store.load(strict=False, predictions=True)
    assert not good and "missing predictions file" in bad[0][1]


def test_a_cell_rewritten_with_other_predictions_leaves_one_file(tmp_path):
    store = ResultsStore(tmp_path)
    store.put(_record(predictions=_predictions()))
    store.put(_record(predictions=_predictions()))  # the same bytes: the same file
    assert len(os.listdir(tmp_path / "predictions")) == 1
    other = _predictions()
    other["predicted"] = [0, 0, 0, 0]
    rec = _record(predictions=other)
    store.put(rec)
    files = os.listdir(tmp_path / "predictions")
    assert files == [store.get(rec["id"])["predictions"]["file"]]
    assert store.get(rec["id"], predictions=True)["predictions"]["predicted"] == [0, 0, 0, 0]


def test_records_of_0_1_with_inline_predictions_are_read_as_they_are(tmp_path):
    store = ResultsStore(tmp_path)
    old = _record(schema="noisebench.result/1", predictions=_predictions())
    (tmp_path / "records").mkdir()
    text = json.dumps(old)
    store.record_path(old["id"]).write_text(text)
    good, bad = store.load(predictions=True)
    assert not bad and good[0]["predictions"] == old["predictions"] and good[0]["schema"] == "noisebench.result/1"
    assert store.record_path(old["id"]).read_text() == text and not (tmp_path / "predictions").exists()
    broken = _record(schema="noisebench.result/0")
    with pytest.raises(records.CorruptRecord, match="schema is 'noisebench.result/0'"):
        records.validate(broken)


def test_store_names_a_corrupt_record(tmp_path):
    store = ResultsStore(tmp_path)
    store.put(_record())
    broken = tmp_path / "records" / "deadbeef.json"
    broken.write_text("{not json")
    with pytest.raises(records.CorruptRecord, match="deadbeef.json"):
        store.load()
    good, bad = store.load(strict=False)
    assert len(good) == 1 and bad[0][0] == broken


def test_unknown_command_is_a_usage_error():
    assert run_cli(["no-such-command"]) == 2


@pytest.mark.parametrize(("argv", "fragment"), [
    (["perturb", "--seed", "abc", "x"], "Invalid value for '--seed'"),
    (["run", "--no-such-flag"], "No such option: --no-such-flag"),
    (["report", "--format"], "requires an argument"),
    (["nosies"], "Did you mean 'noises'"),
])
def test_parse_errors_are_one_line(argv, fragment, capsys):
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("noisebench: error: ") and fragment in err, err
    assert "╭" not in err and "Usage:" not in err and "--help" in err


def test_help_shows_words_not_python_types(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    for argv in (["--help"], ["perturb", "--help"], ["run", "--help"], ["report", "--help"]):
        assert run_cli(argv) == 0
        out = capsys.readouterr().out
        assert not re.search(r"<(bool|str|int|float|path|list\[\w+\])>", out), (argv, out)
    assert run_cli(["--help"]) == 0
    out = capsys.readouterr().out
    # Each command's summary reads as one sentence: wrapped by the terminal, never broken where the docstring was.
    assert "is never touched, options), or with --dataset show" in " ".join(
        line.strip("│ ") for line in out.splitlines())


HEAVY = ("torch", "transformers", "datasets", "matplotlib", "pandas", "peft", "scipy", "nlpaug", "numpy", "pyarrow",
         "safetensors", "tokenizers", "tomli")


def test_help_is_instant_without_heavy_packages():
    """`--help` of the root and of every command prints its usage while no heavy package can be imported (each is
    blocked in sys.modules, so an eager import anywhere on the help path fails the command), and none was loaded."""
    code = (
        "import sys, json\n"
        f"for m in {HEAVY!r}:\n"
        "    sys.modules[m] = None\n"
        "from noisebench.cli import run_cli\n"
        "codes = [run_cli(['--help'])] + [run_cli([c, '--help']) for c in sys.argv[1:]]\n"
        f"loaded = [m for m in {HEAVY!r} if sys.modules.get(m) is not None]\n"
        "print('LOADED=' + json.dumps(loaded))\n"
        "sys.exit(max(codes))\n"
    )
    import typer

    from noisebench.cli import app

    commands = sorted(c.name for c in typer.main.get_command(app).commands.values())
    assert {"run", "report", "check", "sweep", "noises", "perturb", "datasets", "models"} <= set(commands)
    proc = subprocess.run([sys.executable, "-c", code, *commands], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "120"})
    assert proc.returncode == 0, proc.stderr
    assert "Usage: noisebench [OPTIONS] COMMAND" in proc.stdout
    for command in commands:  # every command's own help was printed, not an error
        assert f"Usage: noisebench {command} " in proc.stdout, command
    assert "LOADED=[]" in proc.stdout


def test_ctrl_c_inside_a_finalizer_still_interrupts_the_command():
    """Python can only print an exception raised in a __del__; the CLI delivers such a Ctrl-C again, outside it."""
    import subprocess
    import sys

    code = ("import signal, sys, time\nfrom noisebench import cli\n"
            "signal.signal(signal.SIGINT, cli._interrupt_once)\nsys.unraisablehook = cli._unraisable\n"
            "class Finalizer:\n    def __del__(self):\n        raise KeyboardInterrupt\n"
            "try:\n    Finalizer()\n    time.sleep(2)\n    print('lost')\nexcept KeyboardInterrupt:\n    print('delivered')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "delivered" and "Traceback" not in proc.stderr, proc.stderr
