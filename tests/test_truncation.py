"""Truncation: which units a too-long text keeps (head, tail, head+tail), the character window a model sees, and
the run recording per cell how much its model saw (and the noise inside that window), shown by the report."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from noisebench.cli import run_cli  # noqa: E402
from noisebench.models import MODELS, build_classifier  # noqa: E402
from noisebench.models.base import ModelOptions  # noqa: E402
from noisebench.models.blt import byte_ids  # noqa: E402
from noisebench.models.common import UnitEncoder, kept, unit_window  # noqa: E402
from noisebench.store import ResultsStore  # noqa: E402

TRAIN = [f"the film was {w} and {v} take {i}" for i, (w, v) in enumerate([("good", "fine"), ("bad", "dull")] * 20)]


def test_kept_by_hand():
    assert kept(5, 8) == [0, 1, 2, 3, 4]
    assert kept(10, 4, "head") == [0, 1, 2, 3]
    assert kept(10, 4, "tail") == [6, 7, 8, 9]
    assert kept(10, 5, "head+tail") == [0, 1, 2, 8, 9]  # ⌈5/2⌉ from the start, ⌊5/2⌋ from the end
    with pytest.raises(Exception, match="unknown truncation"):
        kept(10, 4, "middle")


def test_byte_windows_count_characters_not_bytes():
    text = "café au lait"  # é is 2 bytes: 13 bytes, 12 characters
    assert unit_window(text, "bytes", 100, "head") == ((0, 12),)
    assert unit_window(text, "bytes", 5, "head") == ((0, 4),)  # c a f é(2 bytes) → 4 characters
    assert unit_window(text, "bytes", 4, "tail") == ((8, 12),)
    assert unit_window(text, "characters", 6, "head+tail") == ((0, 3), (9, 12))
    enc = UnitEncoder("bytes", 4, offset=3, suffix=(1,), policy="tail")
    assert enc.ids("abcdef") == [ord(c) + 3 for c in "cdef"] + [1]
    assert byte_ids("abcdef", 3, "head+tail") == [1] + [b + 4 for b in b"abf"]


@pytest.fixture(scope="module")
def bert():
    def make(policy: str, max_length: int = 8):
        return build_classifier(MODELS.get("bert-tiny"), ModelOptions(num_labels=2, train_texts=TRAIN,
                                                                      max_length=max_length, truncation=policy), "cpu")
    return make


def test_subword_policies_keep_the_right_tokens_and_windows(bert):
    text = "alpha beta gamma delta epsilon zeta eta theta iota kappa"
    head, tail, both = bert("head"), bert("tail"), bert("head+tail")
    tok = head.encoder.tokenizer
    pieces = tok(text, add_special_tokens=False)["input_ids"]
    offsets = tok(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    budget = 8 - tok.num_special_tokens_to_add()
    assert head.encode([text])["input_ids"][0].tolist() == tok(text, truncation=True, max_length=8)["input_ids"]
    cls, sep = head.encode([text])["input_ids"][0].tolist()[0], head.encode([text])["input_ids"][0].tolist()[-1]
    assert tail.encode([text])["input_ids"][0].tolist() == [cls, *pieces[-budget:], sep]
    # head+tail: the characters of the first ⌈b/2⌉ and last ⌊b/2⌋ tokens, joined by a space, tokenized again
    (window,) = both.windows([text])
    first = (budget + 1) // 2
    assert window == ((0, offsets[first - 1][1]), (offsets[len(pieces) - (budget - first)][0], len(text)))
    joined = " ".join(text[s:e] for s, e in window)
    assert both.encode([text])["input_ids"][0].tolist() == tok(joined, truncation=True, max_length=8)["input_ids"]
    assert head.lengths([text]) == tail.lengths([text]) == both.lengths([text]) == [8]
    assert head.windows([text]) == [((0, offsets[budget - 1][1]),)]  # up to the end of the last kept token
    assert tail.windows([text]) == [((offsets[len(pieces) - budget][0], len(text)),)]
    assert bert("head", 128).windows([text]) == [((0, len(text)),)]  # fits: seen whole


def _data(tmp_path, long: bool):
    filler = " and then the story went on for a long while" * (6 if long else 0)
    rows = ["id\ttext\tlabel"] + [f"r{i}\tthe film was {'great' if i % 2 else 'awful'}{filler} take {i}\t"
                                  f"{'pos' if i % 2 else 'neg'}" for i in range(80)]
    path = tmp_path / ("long.tsv" if long else "short.tsv")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _run(tmp_path, data, name, *extra) -> list[dict]:
    results = tmp_path / name
    assert run_cli(["run", "--model", "bert-tiny", "--dataset", str(data), "--id-col", "id", "--results-dir",
                    str(results), "--epochs", "1", "--batch-size", "16", "--seeds", "1", "--noise", "substitute",
                    "--rate", "0.2", "--quiet", *extra]) == 0
    return ResultsStore(results).load()[0]


def test_each_cell_stores_how_much_its_model_saw_and_the_report_says_so(tmp_path, capsys):
    records = _run(tmp_path, _data(tmp_path, long=True), "long", "--max-length", "16")
    noisy = next(r for r in records if r["noise"]["name"] == "substitute")
    t = noisy["truncation"]
    assert t["policy"] == "head" and t["truncated_fraction"] == 1.0 and 0.0 < t["visible_fraction"] < 0.5
    assert 0.0 <= noisy["realized"]["unit_fraction_visible"] <= 1.0
    capsys.readouterr()
    assert run_cli(["report", "--results-dir", str(tmp_path / "long")]) == 0
    out = capsys.readouterr().out
    assert "Truncation: in 1 condition(s)" in out and "100.0% of them were cut" in out
    assert run_cli(["report", "--results-dir", str(tmp_path / "long"), "--format", "json"]) == 0
    (cond,) = json.loads(capsys.readouterr().out)["conditions"]
    assert cond["truncation"]["truncated_fraction"] == 1.0
    short = _run(tmp_path, _data(tmp_path, long=False), "short")
    assert all(r["truncation"]["truncated_fraction"] == 0.0 and r["truncation"]["visible_fraction"] == 1.0
               for r in short)
    noisy = next(r for r in short if r["noise"]["name"] == "substitute")
    assert noisy["realized"]["unit_fraction_visible"] == noisy["realized"]["unit_fraction"]  # nothing cut
    capsys.readouterr()
    assert run_cli(["report", "--results-dir", str(tmp_path / "short")]) == 0
    assert "Truncation" not in capsys.readouterr().out


def test_tail_truncation_is_another_cell(tmp_path):
    data = _data(tmp_path, long=True)
    head = {r["noise"]["name"]: r for r in _run(tmp_path, data, "h", "--max-length", "16")}
    tail = {r["noise"]["name"]: r for r in _run(tmp_path, data, "t", "--max-length", "16", "--truncation", "tail")}
    assert head["clean"]["id"] != tail["clean"]["id"]  # the policy is part of the identity (head, the default, not)
    assert tail["clean"]["model"]["options"]["truncation"] == "tail"
    assert "truncation" not in head["clean"]["model"]["options"]
    assert tail["clean"]["truncation"]["policy"] == "tail"
