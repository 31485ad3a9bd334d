"""ByT5 (`google/byt5-small`, encoder 218M) and `byt5-tiny`: T5 encoder → masked mean pooling → dropout → linear.

Only the encoder is loaded (`T5EncoderModel`); the decoder is never needed to classify. Tokenizer: UTF-8 bytes,
id = byte + 3, `</s>`=1 appended, pad 0 — exactly `ByT5Tokenizer` on ordinary text, but computed directly, so a
text that happens to contain "</s>" or "<pad>" stays bytes. Truncation: head, 512 bytes by default, at most 1024
(the pretraining input length), counted before `</s>` is appended; a cut may split a multi-byte character.
Recipes: full (default), probe (the linear head), lora (attention q/v or q/k/v/o; the head also trains).
byt5-tiny: 1 layer, d_model 32, 1 head, no dropout, gated GELU (exact), random weights.
"""

from __future__ import annotations

from typing import Any

from noisebench.models import hub
from noisebench.models.base import MODELS, RECIPES, ModelOptions, ModelSpec
from noisebench.models.common import (
    BACKBONE_SEED,
    Adapter,
    Truncation,
    UnitEncoder,
    apply_recipe,
    init_modules_,
    masked_mean,
    seeded,
)

HUB_ID = "google/byt5-small"
TRUNCATION = Truncation("bytes", 512, 1024, "UTF-8 bytes, before </s> is appended")
PAD, EOS, BYTE_OFFSET = 0, 1, 3
LORA_TARGETS = {"qv": ("q", "v"), "qkvo": ("q", "k", "v", "o")}


def tiny_config() -> Any:
    from transformers import T5Config

    # 1 layer, 1 head, d_model 32, exact GELU and no dropout: on CPU at ~200-byte inputs, time goes to the
    # [B, heads, S, S] attention tensors (and to dropout's random masks over them). v2 (one layer and one head of 32
    # instead of two of each at d_model 64; exact GELU, one kernel, instead of T5's tanh approximation, a dozen
    # elementwise ops) costs about a third of v1 per example and learns the built-in notes as well (issue 11).
    # Eager attention: with T5's additive position bias, SDPA's CPU path spends its time building and
    # differentiating [B, heads, S, S] masks (a training step at [32, 257]: 193 ms with SDPA, 125 ms eager).
    config = T5Config(vocab_size=384, d_model=32, d_kv=32, d_ff=64, num_layers=1, num_heads=1,
                      feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, dropout_rate=0.0)
    config.dense_act_fn = "gelu"  # "gated-gelu" sets T5's "gelu_new"; the tiny config is rebuilt, never reloaded
    config._attn_implementation = "eager"
    return config


def full_config() -> Any:
    from transformers import T5Config

    # google/byt5-small's encoder
    return T5Config(vocab_size=384, d_model=1472, d_kv=64, d_ff=3584, num_layers=12, num_decoder_layers=4,
                    num_heads=6, feed_forward_proj="gated-gelu", relative_attention_num_buckets=32, dropout_rate=0.1)


def byte_encoder(max_bytes: int, policy: str = "head") -> UnitEncoder:
    return UnitEncoder("bytes", max_bytes, offset=BYTE_OFFSET, suffix=(EOS,), pad_id=PAD, policy=policy)


def cache_position_buckets(encoder: Any) -> None:
    """Memoise T5's relative-position buckets by (query length, key length, offset, device).

    T5 recomputes the bucket of every (query, key) pair on every forward (a log, a min and a where over an S x S
    tensor): a quarter of byt5-tiny's CPU time at ~200 bytes. The buckets depend only on the lengths, never on the
    weights (the bias embedding looked up with them still trains), so they are computed once per shape."""
    import torch

    cache: dict[tuple, Any] = {}
    for module in encoder.modules():
        bucket = getattr(module, "_relative_position_bucket", None)
        if bucket is None or not getattr(module, "has_relative_attention_bias", False):
            continue

        def cached(relative_position: Any, bidirectional: bool = True, num_buckets: int = 32,
                   max_distance: int = 128, _bucket: Any = bucket) -> Any:
            key = (tuple(relative_position.shape), int(relative_position[0, 0]), str(relative_position.device),
                   bidirectional, num_buckets, max_distance)
            if key not in cache:
                # a normal tensor even when first asked inside inference mode (validation, prediction): an
                # inference tensor cannot be saved for backward, and training reuses the entry
                with torch.inference_mode(False):
                    cache[key] = _bucket(relative_position.clone(), bidirectional=bidirectional,
                                         num_buckets=num_buckets, max_distance=max_distance)
            return cache[key]

        module._relative_position_bucket = cached


def _module(encoder: Any, num_labels: int) -> Any:
    from torch import nn

    class ByT5Classifier(nn.Module):
        """T5 encoder + masked mean pooling + linear head. forward: input_ids, attention_mask [B, S] → logits [B, C]."""

        def __init__(self) -> None:
            super().__init__()
            self.encoder = encoder
            self.dropout = nn.Dropout(encoder.config.dropout_rate)
            self.classifier = nn.Linear(encoder.config.d_model, num_labels)

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # [B, S, D]
            pooled = masked_mean(states, attention_mask)  # [B, D] float32
            return self.classifier(self.dropout(pooled))  # [B, C]

        def gradient_checkpointing_enable(self, gradient_checkpointing_kwargs: dict | None = None) -> None:
            self.encoder.gradient_checkpointing_enable(gradient_checkpointing_kwargs=gradient_checkpointing_kwargs)

    return ByT5Classifier()


def build(spec: ModelSpec, options: ModelOptions, device: Any) -> Adapter:
    """Encoder (tiny / random-init / pretrained) + head drawn from Generator(options.seed), recipe applied."""
    import torch
    from transformers import T5EncoderModel

    max_bytes = TRUNCATION.resolve(options.max_length, spec.name)
    if spec.tiny or options.random_init:
        config = tiny_config() if spec.tiny else full_config()
        with seeded(BACKBONE_SEED):
            encoder = T5EncoderModel(config)
        source = "tiny config (random init)" if spec.tiny else f"{HUB_ID} config, random init (benchmark only)"
    else:
        with seeded(options.seed):
            encoder = hub.from_pretrained(T5EncoderModel, spec.source)
        source = spec.source
    cache_position_buckets(encoder)
    module = _module(encoder, options.num_labels)
    generator = torch.Generator().manual_seed(options.seed)
    init_modules_(module, ["classifier"], generator, std=0.02)
    with seeded(options.seed):
        apply_recipe(module, options, head=["classifier"], lora_targets=LORA_TARGETS, generator=generator)
    module.float().to(device)
    info = {"source": source, "tokenizer": "byte (UTF-8 byte + 3, </s>=1, pad 0)", "pooling": "mean",
            "truncation": TRUNCATION.describe(max_bytes), "max_length": max_bytes, "recipe": options.recipe}
    return Adapter(module, byte_encoder(max_bytes, options.truncation), info, options.recipe)


NOTE = "head truncation: 512 bytes by default, at most 1024"
MODELS.register("byt5", ModelSpec(
    name="byt5", family="byt5", source=HUB_ID, tokenizer="byte", params="218M (encoder)", recipes=RECIPES,
    default_recipe="full", build=build, poolings=("mean",), licence="Apache-2.0",
    default_lr={"full": 1e-4, "probe": 1e-3, "lora": 5e-4},
    description=f"ByT5-small encoder, masked mean pooling + linear head; {NOTE}"))
MODELS.register("byt5-tiny", ModelSpec(
    name="byt5-tiny", family="byt5", source="tiny config (random init)", tokenizer="byte", params="23K",
    recipes=RECIPES, default_recipe="full", build=build, poolings=("mean",), tiny=True,
    version=2,  # v2: 1 layer, 1 head, d_model 32, exact GELU
    default_lr={"full": 1e-3, "probe": 3e-3, "lora": 3e-3},
    description=f"1-layer ByT5 encoder (d_model 32), random weights; {NOTE}"))
