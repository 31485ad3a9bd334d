"""BLT family on tiny random-weight configs (CPU): byte ids, patch boundaries, padding invariance of every pooler,
the decoder-free path against the stock BltModel forward, LoRA placement, and trainable-parameter formulas."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from noisebench.models import blt  # noqa: E402
from noisebench.models.base import ModelOptions  # noqa: E402

torch.set_num_threads(1)

TEXTS = [
    "a gripping, funny film",
    "no.",
    "the plot wanders, the acting is flat, and the ending never arrives — two hours I will not get back",
    "héllo wörld ✓",
    "",
]


def tiny_blt(**overrides):
    return blt.random_model(blt.tiny_config(**overrides), "cpu", torch.float32)


def multi_byte_threshold(model) -> float:
    """A threshold at the median entropy of the random patcher, so patches are ~2 bytes instead of 1."""
    ids = torch.tensor([blt.byte_ids(TEXTS[2])])
    with torch.no_grad():
        entropies, _, _ = model.patcher(ids)
    return float(entropies[0, 1:].median())


def make(recipe="lora", pooling="attention", targets="qv", rank=4, drop_decoder=True, **config):
    model = tiny_blt(**config)
    model.config.patching_threshold = multi_byte_threshold(model)
    options = ModelOptions(num_labels=3, recipe=recipe, pooling=pooling, lora_rank=rank, lora_alpha=2 * rank,
                           lora_targets=targets, lora_dropout=0.0)
    clf = blt.classifier_from_model(model, options, source="tiny", drop_decoder=drop_decoder)
    # Give the zero-initialised parts (LoRA B, attention query) values so they actually shape the output.
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, param in clf.module.named_parameters():
            if ".lora_B." in name or name == "pool_query":
                param.copy_(torch.randn(param.shape, generator=gen) * 0.1)
    clf.module.eval()
    return clf


# ---------------------------------------------------------------- bytes and boundaries


def test_byte_ids_golden():
    assert blt.byte_ids("é!") == [1, 0xC3 + 4, 0xA9 + 4, ord("!") + 4]
    assert blt.byte_ids("abcdef", max_bytes=3) == [1, 101, 102, 103]
    assert blt.byte_ids("") == [1]


def hf_lengths(entropies: np.ndarray, threshold: float) -> list[int]:
    """transformers' own rule on one unpadded example, its empty trailing patch removed."""
    e = torch.tensor(entropies, dtype=torch.float32).unsqueeze(0)
    out = transformers.BltPatcher.patch_lengths_from_entropies(e, e.shape[1], patch_size=4, threshold=threshold)
    return [int(x) for x in out[0] if x > 0]


@pytest.mark.parametrize("seed", range(20))
def test_boundaries_match_transformers_rule(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60)) if seed else 2
    entropies = rng.uniform(0.0, 3.0, size=n).astype(np.float32)
    ours = blt.patch_lengths_from_entropies(entropies, 1.5, None)
    assert ours.sum() == n and (ours > 0).all()
    if n >= 2:  # transformers' rule needs the two fixed starts
        assert ours.tolist() == hf_lengths(entropies, 1.5)
    capped = blt.patch_lengths_from_entropies(entropies, 1.5, 3)
    expected = transformers.models.blt.modeling_blt.process_patch_lengths(torch.tensor([ours.tolist()]), 3)
    assert capped.tolist() == [int(x) for x in expected[0] if x > 0]


def test_encode_puts_padding_in_one_trailing_patch():
    clf = make()
    batch = clf.encode(TEXTS)
    lengths, mask, ids = batch["patch_lengths"], batch["patch_mask"], batch["input_ids"]
    seq = ids.shape[1]
    for r, text in enumerate(TEXTS):
        real = len(text.encode()) + 1
        n_real = int(mask[r].sum())
        assert int(lengths[r, :n_real].sum()) == real and (lengths[r, :n_real] > 0).all()
        assert int(lengths[r].sum()) == seq  # every byte, padding included, is in exactly one patch
        if real < seq:
            assert int(lengths[r, n_real]) == seq - real
    mean_patch = float((lengths * mask).sum() / mask.sum())
    assert mean_patch > 1.5  # the fixture's threshold gives multi-byte patches, so boundaries matter


# ---------------------------------------------------------------- padding invariance and the decoder-free path


@pytest.mark.parametrize("pooling", blt.POOLINGS)
def test_pooled_output_does_not_depend_on_the_batch(pooling):
    clf = make(pooling=pooling)
    with torch.no_grad():
        together = clf.forward(clf.encode(TEXTS))
        alone = torch.cat([clf.forward(clf.encode([t])) for t in TEXTS])
        reversed_ = clf.forward(clf.encode(TEXTS[::-1])).flip(0)
    assert torch.allclose(together, alone, atol=1e-5, rtol=0)
    assert torch.allclose(reversed_, alone, atol=1e-5, rtol=0)
    assert together.std(0).max() > 1e-4  # the examples do differ: not a constant output


@pytest.mark.parametrize("pooling", blt.POOLINGS)
def test_states_are_normalised_per_patch_before_pooling(pooling):
    """Rescaling each patch's global state by its own positive factor changes nothing when a per-patch norm comes
    before the pooler; without it (the control) the pooled vector moves."""
    clf = make(pooling=pooling)
    batch = clf.encode(TEXTS)
    gen = torch.Generator().manual_seed(11)
    scales = 0.5 + 2.5 * torch.rand(batch["patch_lengths"].shape + (1,), generator=gen)  # [B, P, 1]
    with torch.no_grad():
        plain = clf.forward(batch)
        hook = clf.module.blt.global_transformer.register_forward_hook(lambda mod, args, out: out * scales)
        try:
            rescaled = clf.forward(batch)
        finally:
            hook.remove()
        states = blt.patch_states(clf.module.blt, batch["input_ids"], batch["patch_lengths"])
        mask, query, attn = batch["patch_mask"], clf.module.pool_query, clf.module.pool_attention
        control = (blt.pool(states, mask, pooling, query, attn)
                   - blt.pool(states * scales, mask, pooling, query, attn)).abs()
    assert torch.allclose(plain, rescaled, atol=1e-4, rtol=0)
    assert control.max() > 1e-2


@pytest.mark.parametrize("window", [None, 8])
def test_decoder_free_states_equal_full_model_global_output(window):
    clf = make(drop_decoder=False, local_attention_window_len=window)
    model = clf.module.blt
    batch = clf.encode(TEXTS)
    captured = {}
    hook = model.global_transformer.register_forward_hook(lambda mod, args, out: captured.__setitem__("g", out))
    try:
        with torch.no_grad():
            model(input_ids=batch["input_ids"], patch_lengths=batch["patch_lengths"], use_cache=False)
            ours = blt.patch_states(model, batch["input_ids"], batch["patch_lengths"])
    finally:
        hook.remove()
    assert ours.shape == captured["g"].shape
    assert torch.allclose(ours, captured["g"], atol=1e-6, rtol=0)


def test_classifier_never_runs_the_local_decoder():
    clf = make(drop_decoder=False)
    calls = []
    clf.module.blt.local_decoder.register_forward_pre_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        clf.forward(clf.encode(TEXTS))
    assert calls == []
    assert make().module.blt.local_decoder is None


# ---------------------------------------------------------------- patch cache


def test_patcher_runs_once_per_distinct_text_and_cache_is_shared_across_seeds(tmp_path):
    texts = [f"cache probe {i}: " + "x" * i for i in range(6)]
    clf = make()
    calls = []
    clf.module.blt.patcher.register_forward_pre_hook(lambda *a: calls.append(1))
    first = [p.tolist() for p in clf.patch_lengths(texts)]
    assert len(calls) >= 1
    n = len(calls)
    clf.encode(texts[::-1] + texts)  # "second epoch", another order and batch
    assert len(calls) == n
    assert [p.tolist() for p in clf.patch_lengths(texts)] == first
    other_seed = blt.classifier_from_model(clf.module.blt, ModelOptions(num_labels=3, recipe="probe", seed=1),
                                           source="tiny")
    other_seed.module.blt.patcher.register_forward_pre_hook(lambda *a: calls.append(1))
    other_seed.encode(texts)
    assert len(calls) == n  # same patcher fingerprint → same cache

    path = clf.patch_cache.save(tmp_path / "patches.json")
    fresh = blt.PatchCache(clf.patch_cache.fingerprint)
    assert fresh.load(path) == len(clf.patch_cache)
    for text in texts:
        key = hashlib.sha256(text.encode()).hexdigest()
        assert fresh.get(key).tolist() == clf.patch_cache.get(key).tolist()
    assert blt.PatchCache("another patcher").load(path) == 0


def test_boundaries_do_not_depend_on_which_texts_share_the_patcher_batch():
    clf = make()
    together = [p.tolist() for p in clf.patch_lengths(TEXTS)]
    blt._PATCH_CACHES.clear()
    alone = []
    for text in TEXTS:
        blt._PATCH_CACHES.clear()
        fresh = blt.BltClassifier(clf.module, {}, clf.max_bytes)
        alone.append(fresh.patch_lengths([text])[0].tolist())
    assert together == alone


def test_patch_cache_folder_carries_boundaries_to_a_new_process(tmp_path):
    texts = [f"persisted {i} " + "yz" * i for i in range(5)]
    blt._PATCH_CACHES.clear()  # the cache is process-wide: start from what earlier tests left out
    clf = make()
    first = [p.tolist() for p in clf.patch_lengths(texts)]
    path = clf.save_patch_cache(tmp_path / "cache")
    assert path.name == f"blt-patches-{clf.patch_cache.fingerprint}.json"
    blt._PATCH_CACHES.clear()  # what a new process starts with
    again = blt.BltClassifier(clf.module, {}, clf.max_bytes)
    assert again.load_patch_cache(tmp_path / "cache") == len(texts)
    calls = []
    clf.module.blt.patcher.register_forward_pre_hook(lambda *a: calls.append(1))
    assert [p.tolist() for p in again.patch_lengths(texts)] == first and calls == []
    assert again.load_patch_cache(tmp_path / "elsewhere") == 0


# ---------------------------------------------------------------- what trains


def test_lora_step_trains_only_adapters_and_head_and_leaves_patching_alone():
    clf = make(recipe="lora", targets="qkvo")
    module = clf.module
    trainable = {n for n, p in module.named_parameters() if p.requires_grad}
    lora_re = r"blt\.global_transformer\.layers\.\d+\.self_attn\.[qkvo]_proj\.lora_[AB]\.default\.weight"
    head = {"norm.weight", "norm.bias", "head.weight", "head.bias", "pool_query", "pool_attention.in_proj_weight",
            "pool_attention.in_proj_bias", "pool_attention.out_proj.weight", "pool_attention.out_proj.bias"}
    assert trainable == {n for n in trainable if re.fullmatch(lora_re, n)} | head
    assert head <= trainable and len(trainable - head) == 2 * 4 * 2  # layers × matrices × (A, B)
    ids = torch.tensor([blt.byte_ids(TEXTS[2])])
    with torch.no_grad():
        entropies_before, _, _ = module.blt.patcher(ids)
    bounds_before = clf.encode(TEXTS)["patch_lengths"]
    frozen_before = {n: p.detach().clone() for n, p in module.named_parameters() if not p.requires_grad}
    trained_before = {n: p.detach().clone() for n, p in module.named_parameters() if p.requires_grad}

    module.train()
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-2)
    loss = torch.nn.functional.cross_entropy(clf.forward(clf.encode(TEXTS)), torch.tensor([0, 1, 2, 0, 1]))
    loss.backward()
    optimizer.step()

    for name, param in module.named_parameters():
        if not param.requires_grad:
            assert param.grad is None, name
            assert torch.equal(param, frozen_before[name]), name
    assert all(not torch.equal(p, trained_before[n]) for n, p in module.named_parameters() if ".lora_A." in n)
    with torch.no_grad():
        entropies_after, _, _ = module.blt.patcher(ids)
    assert torch.equal(entropies_before, entropies_after)
    blt._PATCH_CACHES.clear()  # recompute boundaries from the patcher itself, not the cache
    assert torch.equal(clf.encode(TEXTS)["patch_lengths"], bounds_before)
    assert not module.blt.patcher.training  # train() keeps the frozen patcher in eval mode


def analytic_trainable(recipe, pooling, targets, rank, *, d=128, layers=2, labels=3, d_kv=128):
    """LoRA: r·(d_in + d_out) per adapted matrix × layers; head side: LayerNorm 2d + Linear d·C + C, + d for a
    learned query (`query`, `attention`), + 4d² + 4d for the attention pooler's in/out projections."""
    head = 2 * d + d * labels + labels + (d if pooling in ("attention", "query") else 0)
    head += 4 * d * d + 4 * d if pooling == "attention" else 0
    if recipe == "probe":
        return head
    dims = {"q_proj": (d, d), "k_proj": (d, d_kv), "v_proj": (d, d_kv), "o_proj": (d, d)}
    names = blt.LORA_TARGETS[targets]
    return head + layers * sum(rank * (dims[m][0] + dims[m][1]) for m in names)


@pytest.mark.parametrize("recipe,pooling,targets,rank", [
    ("probe", "attention", "qv", 8), ("probe", "query", "qv", 8), ("probe", "mean", "qv", 8),
    ("lora", "attention", "qv", 8),
    ("lora", "max", "qkvo", 4), ("lora", "last", "qv", 16),
])
def test_trainable_counts_match_formula(recipe, pooling, targets, rank):
    clf = make(recipe=recipe, pooling=pooling, targets=targets, rank=rank)
    counted = sum(p.numel() for p in clf.module.parameters() if p.requires_grad)
    assert counted == analytic_trainable(recipe, pooling, targets, rank)
    assert set(clf.trainable_state()) == {n for n, p in clf.module.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("targets,rank,expected", [("qv", 8, 1_638_400), ("qv", 16, 3_276_800),
                                                    ("qkvo", 8, 3_276_800), ("qkvo", 32, 13_107_200)])
def test_full_size_lora_counts(targets, rank, expected):
    """The 1B config (25 global layers, d 2048) on the meta device: no weights are allocated."""
    with torch.device("meta"):
        model = transformers.BltModel(transformers.BltConfig())
    blt._add_lora(model, ModelOptions(num_labels=2, recipe="lora", lora_rank=rank, lora_targets=targets),
                  torch.Generator())
    counted = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert counted == expected == 25 * len(blt.LORA_TARGETS[targets]) * rank * (2048 + 2048)


@pytest.mark.parametrize(("recipe", "expected"), [("probe", 16_795_650), ("lora", 16_795_650 + 3_276_800)])
def test_full_size_heads_are_the_studys(recipe, expected):
    """At the 1B shapes (meta device, no weights): the probe trains the study's ~16.8M (MultiheadAttention(2048, 16)
    = 16,785,408, + query 2,048, LayerNorm 4,096, a 2-class head 4,098) and LoRA r16 q,v its ~20.1M."""
    with torch.device("meta"):
        model = transformers.BltModel(transformers.BltConfig())
    options = ModelOptions(num_labels=2, recipe=recipe, lora_rank=16, lora_alpha=32, lora_targets="qv")
    clf = blt.classifier_from_model(model, options, source="meta")
    assert clf.module.pool_attention.num_heads == 16
    assert sum(p.numel() for p in clf.module.pool_attention.parameters()) == 16_785_408
    counted = sum(p.numel() for p in clf.module.parameters() if p.requires_grad)
    assert counted == expected and round(counted / 1e6, 1) == (16.8 if recipe == "probe" else 20.1)


def test_trainable_state_round_trip():
    a, b = make(), make()
    with torch.no_grad():
        a.module.head.weight.add_(1.0)
    b.load_trainable_state(a.trainable_state())
    batch = a.encode(TEXTS)
    with torch.no_grad():
        assert torch.equal(a.forward(batch), b.forward(batch))


def test_bad_options_are_usage_errors():
    from noisebench.errors import UsageError

    for kwargs in ({"recipe": "full"}, {"pooling": "cls"}, {"recipe": "lora", "lora_targets": "qk"}):
        with pytest.raises(UsageError):
            blt.classifier_from_model(tiny_blt(), ModelOptions(num_labels=2, **kwargs), source="tiny")


def test_registry_entries_and_offline_full_size_fails_in_one_line():
    from noisebench.errors import UsageError
    from noisebench.models import MODELS, build_classifier, resolve_model

    family = [name for name, spec in MODELS.items() if spec.family == "blt"]
    assert sorted(family) == ["blt", "blt-tiny"]
    for name in family:
        spec = MODELS.get(name)
        assert "CC-BY-NC-4.0" in spec.licence and spec.poolings == blt.POOLINGS
        assert spec.default_recipe == "lora" and set(spec.recipes) == {"lora", "probe"}
    assert MODELS.get("blt").source == "itazap/blt-1b-hf"
    assert MODELS.get("blt").default_lr == {"probe": 1e-3, "lora": 2e-4}
    with pytest.raises(UsageError) as caught:  # HF_HUB_OFFLINE=1 (conftest): no download is attempted
        build_classifier(resolve_model("blt"), ModelOptions(num_labels=2, recipe="lora"), "cpu")
    message = str(caught.value)
    assert "itazap/blt-1b-hf" in message and "\n" not in message and "--model blt:" in message
    with pytest.raises(UsageError, match="after 'blt:'"):
        resolve_model("blt:")


def test_local_folder_checkpoint_loads_offline_through_the_name_prefix(tmp_path):
    """`--model blt:/path` = the blt family on a local checkpoint (how full-size weights are used offline)."""
    from noisebench.models import build_classifier, resolve_model

    tiny_blt().save_pretrained(tmp_path / "ckpt")
    spec = resolve_model(f"blt:{tmp_path / 'ckpt'}")
    assert spec.family == "blt" and spec.source == str(tmp_path / "ckpt") and spec.offline()
    options = ModelOptions(num_labels=2, recipe="probe", pooling="mean")
    loaded = build_classifier(spec, options, "cpu")
    reference = blt.classifier_from_model(tiny_blt(), options, source="memory")
    assert loaded.info["source"] == str(tmp_path / "ckpt") and "CC-BY-NC-4.0" in loaded.info["licence"]
    batch = reference.encode(TEXTS)
    with torch.no_grad():
        assert torch.allclose(loaded.forward(batch), reference.forward(batch), atol=1e-6, rtol=0)


def test_no_patcher_call_in_any_training_step_of_fit():
    """`fit` asks for every text's length first; that computes all boundaries in bulk, so no step (first epoch
    included) and no later validation pass runs the patcher."""
    from noisebench.datasets.base import Example
    from noisebench.models import build_classifier, resolve_model
    from noisebench.training.train import TrainConfig, fit

    def examples(split, n):
        return tuple(Example(f"{split}-{i}", f"fit probe {split} {i} " + "ab" * (i % 7), i % 2, str(i))
                     for i in range(n))

    train, validation = examples("train", 24), examples("val", 6)
    blt._PATCH_CACHES.clear()
    clf = build_classifier(resolve_model("blt-tiny"), ModelOptions(num_labels=2, recipe="lora", lora_rank=2),
                           "cpu")
    calls, seen = [], []
    clf.module.blt.patcher.register_forward_pre_hook(lambda *a: calls.append(1))
    steps_per_epoch = 3  # 24 examples, batch 8

    def progress(done, total, stage):
        seen.append((stage, done, len(calls)))

    result = fit(clf, train, validation, TrainConfig(epochs=2, batch_size=8, lr=1e-3, patience=5), seed=0,
                 device="cpu", progress=progress)
    assert result.epochs_run == 2
    second = next(i for i, (stage, done, _) in enumerate(seen) if stage == "train" and done == steps_per_epoch + 1)
    assert seen[second - 1][0] == "validate"  # epoch 1 ended with its validation pass
    after_epoch_one = seen[second - 1][2]
    assert after_epoch_one >= 1 and len(calls) == after_epoch_one  # epoch 2 and its validation: no patcher call
    epoch_one = {n for stage, done, n in seen if stage == "train" and done <= steps_per_epoch}
    assert epoch_one == {seen[0][2]} and seen[0][2] >= 1  # computed before step 1, never inside an epoch-1 step
