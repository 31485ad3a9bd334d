"""Qwen family on the tiny offline config (CPU): padding invariance (right and left), what trains, and the
trainable-parameter formula."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from noisebench.models import qwen  # noqa: E402
from noisebench.models.base import ModelOptions, ModelSpec  # noqa: E402

torch.set_num_threads(1)

TRAIN = ["a gripping, funny film", "the plot wanders and the acting is flat", "no.", "I loved every minute of it",
         "dull", "an instant classic, with a score that lingers"] * 3
TEXTS = ["a gripping film", "flat acting, a plot that wanders for two hours and an ending that never arrives", "",
         "ok ✓", "I loved it"]
SPEC = ModelSpec(name="qwen-tiny", family="qwen", source="tiny config (random init)", tokenizer="bpe", params="~0.2M",
                 recipes=("lora", "probe"), default_recipe="lora", build=qwen.build, tiny=True)


def make(recipe="lora", targets="qv", rank=4, seed=42):
    options = ModelOptions(num_labels=3, recipe=recipe, lora_rank=rank, lora_alpha=2 * rank, lora_targets=targets,
                           lora_dropout=0.0, train_texts=TRAIN, seed=seed)
    clf = qwen.build(SPEC, options, "cpu")
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():  # LoRA B starts at zero: give it values so the adapters shape the output
        for name, param in clf.module.named_parameters():
            if ".lora_B." in name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    clf.module.eval()
    return clf


@pytest.fixture(scope="module")
def clf():
    return make()


def test_right_padded_batch_equals_single_examples(clf):
    batch = clf.encode(TEXTS)
    assert (batch["input_ids"][batch["attention_mask"] == 0] == clf.tokenizer.pad_token_id).all()
    with torch.no_grad():
        together = clf.forward(batch)
        alone = torch.cat([clf.forward(clf.encode([t])) for t in TEXTS])
    assert together.dtype == torch.float32 and together.shape == (len(TEXTS), 3)
    assert torch.allclose(together, alone, atol=1e-5, rtol=0)
    assert together[[0, 1, 3, 4]].std(0).max() > 1e-4


def test_left_padded_batch_equals_single_examples(clf):
    """The score head reads the rightmost non-pad token, so left padding works too (RoPE is relative)."""
    texts = [t for t in TEXTS if t]
    rows = [clf.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(map(len, rows))
    ids = torch.full((len(rows), width), clf.tokenizer.pad_token_id)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, width - len(row):] = torch.tensor(row)
        mask[r, width - len(row):] = 1
    with torch.no_grad():
        left = clf.forward({"input_ids": ids, "attention_mask": mask})
        alone = torch.cat([clf.forward(clf.encode([t])) for t in texts])
    assert torch.allclose(left, alone, atol=1e-5, rtol=0)


def analytic_trainable(recipe, targets, rank, *, d=64, d_kv=32, layers=2, labels=3):
    """LoRA: r·(d_in + d_out) per adapted matrix × layers; score head d·C (no bias)."""
    head = d * labels
    if recipe == "probe":
        return head
    dims = {"q_proj": (d, d), "k_proj": (d, d_kv), "v_proj": (d, d_kv), "o_proj": (d, d)}
    return head + layers * sum(rank * (dims[m][0] + dims[m][1]) for m in qwen.LORA_TARGETS[targets])


@pytest.mark.parametrize("recipe,targets,rank", [("probe", "qv", 8), ("lora", "qv", 8), ("lora", "qkvo", 4)])
def test_trainable_counts_match_formula(recipe, targets, rank):
    model = make(recipe, targets, rank)
    trainable = {n: p for n, p in model.module.named_parameters() if p.requires_grad}
    assert sum(p.numel() for p in trainable.values()) == analytic_trainable(recipe, targets, rank)
    assert all("lora_" in n or "score" in n for n in trainable)
    assert all(p.dtype == torch.float32 for p in trainable.values())


def test_full_size_qwen_lora_count():
    """Qwen2.5-1.5B's shapes (28 layers, d 1536, 2 KV heads of 128) on the meta device: r16 q,v = 2.18M."""
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    config = Qwen2Config(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, num_labels=2, pad_token_id=151643)
    with torch.device("meta"):
        model = Qwen2ForSequenceClassification(config)
    model = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=16, target_modules=qwen.LORA_TARGETS["qv"]))
    lora = sum(p.numel() for n, p in model.named_parameters() if p.requires_grad and "lora_" in n)
    assert lora == 28 * 16 * ((1536 + 1536) + (1536 + 256)) == 2_179_072


def test_seed_changes_head_and_adapters_but_not_the_backbone():
    a, b = make(seed=1), make(seed=2)
    pa, pb = dict(a.module.named_parameters()), dict(b.module.named_parameters())
    assert not torch.equal(pa["base_model.model.score.modules_to_save.default.linear.weight"],
                           pb["base_model.model.score.modules_to_save.default.linear.weight"])
    lora_a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"
    assert not torch.equal(pa[lora_a], pb[lora_a])
    assert torch.equal(make(seed=1).module.state_dict()[lora_a], a.module.state_dict()[lora_a])
    embed = "base_model.model.model.embed_tokens.weight"
    assert torch.equal(pa[embed], pb[embed])


def test_tiny_tokenizer_ignores_training_text_order():
    a, b = qwen.tiny_tokenizer(TRAIN), qwen.tiny_tokenizer(TRAIN[::-1])
    assert a.get_vocab() == b.get_vocab()
    assert a("an instant classic")["input_ids"] == b("an instant classic")["input_ids"]


def test_trainable_state_round_trip(clf):
    other = make(seed=9)
    other.load_trainable_state(clf.trainable_state())
    batch = clf.encode(TEXTS)
    with torch.no_grad():
        assert torch.equal(clf.forward(batch), other.forward(batch))


def test_bad_options_are_usage_errors():
    from noisebench.errors import UsageError

    for kwargs in ({"recipe": "full"}, {"pooling": "mean"}, {"lora_targets": "qk"}):
        with pytest.raises(UsageError):
            qwen.build(SPEC, ModelOptions(num_labels=2, train_texts=TRAIN, **kwargs), "cpu")


def test_registry_entries_and_offline_full_size_fails_in_one_line():
    from noisebench.errors import UsageError
    from noisebench.models import MODELS, build_classifier, resolve_model

    assert sorted(n for n, s in MODELS.items() if s.family == "qwen") == ["qwen-lora", "qwen-tiny"]
    assert MODELS.get("qwen-lora").source == "Qwen/Qwen2.5-1.5B"
    with pytest.raises(UsageError) as caught:  # HF_HUB_OFFLINE=1 (conftest): no download is attempted
        build_classifier(resolve_model("qwen-lora"), ModelOptions(num_labels=2, recipe="lora"), "cpu")
    assert "Qwen/Qwen2.5-1.5B" in str(caught.value) and "\n" not in str(caught.value)
    assert "--model qwen-lora:" in str(caught.value)


def test_local_folder_and_other_causal_lm_through_the_name_prefix(tmp_path):
    """`--model qwen-lora:/path` (or another hub id) = the qwen family on other weights, offline from a folder."""
    from noisebench.models import build_classifier, resolve_model

    tokenizer = qwen.tiny_tokenizer(TRAIN)
    qwen.tiny_model(tokenizer, 2).save_pretrained(tmp_path / "ckpt")
    tokenizer.save_pretrained(tmp_path / "ckpt")
    spec = resolve_model(f"qwen-lora:{tmp_path / 'ckpt'}")
    assert spec.family == "qwen" and spec.offline()
    clf = build_classifier(spec, ModelOptions(num_labels=2, recipe="lora", lora_rank=2, lora_dropout=0.0), "cpu")
    with torch.no_grad():
        logits = clf.forward(clf.encode(TEXTS))
        alone = torch.cat([clf.forward(clf.encode([t])) for t in TEXTS])
    assert logits.shape == (len(TEXTS), 2) and torch.allclose(logits, alone, atol=1e-5, rtol=0)
    assert clf.info["trainable_params"] == analytic_trainable("lora", "qv", 2, labels=2)


def test_offline_random_init_uses_built_in_shapes(monkeypatch):
    """Benchmark-only: with no Hub and no cache, --random-init builds Qwen2.5-1.5B's architecture from the built-in
    shapes (shrunk here to keep the test small) and a BPE trained on the train texts."""
    from noisebench.models import build_classifier, resolve_model

    small = dict(qwen.QWEN25_15B_SHAPES, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=2000)
    monkeypatch.setattr(qwen, "QWEN25_15B_SHAPES", small)
    options = ModelOptions(num_labels=2, recipe="lora", lora_rank=2, train_texts=TRAIN, random_init=True)
    clf = build_classifier(resolve_model("qwen-lora"), options, "cpu")
    assert clf.info["source"] == "random init (benchmark only)"
    assert clf.module.config.num_hidden_layers == 2 and clf.module.config.rope_parameters["rope_theta"] == 1000000.0
    assert clf.forward(clf.encode(TEXTS)).shape == (len(TEXTS), 2)


def test_registered_tiny_builds_through_the_registry():
    from noisebench.models import build_classifier, resolve_model

    clf = build_classifier(resolve_model("qwen-tiny"), ModelOptions(num_labels=2, recipe="lora", train_texts=TRAIN), "cpu")
    assert clf.info["recipe"] == "lora" and clf.info["trainable_params"] == analytic_trainable(
        "lora", "qv", 16, labels=2)
