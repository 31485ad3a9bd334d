"""CANINE (`google/canine-s`, 132M) and `canine-tiny`: CanineForSequenceClassification (CLS pooler + linear).

Tokenizer: Unicode code points, `[CLS]`=0xE000 + text + `[SEP]`=0xE001, pad 0 — exactly `CanineTokenizer` on
ordinary text, computed directly. Truncation: head, 2048 code points by default and at most (CANINE's pretraining
length), [CLS]/[SEP] not counted. Recipes: full (default), probe (pooler + classifier), lora (deep transformer and
character encoders' query/value, or query/key/value/attention-output).
canine-tiny: 2 deep layers, hidden 64, 2 heads, 8 × 1024 hash buckets, random weights.
"""

from __future__ import annotations

from typing import Any

from noisebench.models.base import MODELS, RECIPES, ModelOptions, ModelSpec
from noisebench.models.common import Adapter, Truncation, UnitEncoder
from noisebench.models.seqcls import BERT_LORA, describe_source, finish, load_pretrained, random_model

HUB_ID = "google/canine-s"
TRUNCATION = Truncation("characters", 2048, 2048, "Unicode code points, [CLS]/[SEP] not counted")
CLS, SEP, PAD = 0xE000, 0xE001, 0


def tiny_config() -> Any:
    from transformers import CanineConfig

    return CanineConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                        num_hash_functions=8, num_hash_buckets=1024, max_position_embeddings=4096,
                        local_transformer_stride=128, downsampling_rate=4)


def aligned_padding(length: int, rate: int = 4) -> int:
    """Ids a row of `length` needs so its padding is the same alone as in any batch: CANINE downsamples with a
    stride-`rate` convolution (a partial last molecule mixes in padding characters) and drops the LAST molecule
    of every row (transformers' CharactersToMolecules). Rounding up to a multiple of `rate` plus one spare molecule
    keeps every real character in a kept molecule whose padding is the same in every batch."""
    return -(-length // rate) * rate + rate


def char_encoder(max_chars: int, policy: str = "head") -> UnitEncoder:
    return UnitEncoder("characters", max_chars, offset=0, prefix=(CLS,), suffix=(SEP,), pad_id=PAD,
                       min_padding=aligned_padding, policy=policy)


def build(spec: ModelSpec, options: ModelOptions, device: Any) -> Adapter:
    from transformers import CanineConfig

    max_chars = TRUNCATION.resolve(options.max_length, spec.name)
    new_keys: list[str] = []
    if spec.tiny or options.random_init:
        model = random_model(tiny_config() if spec.tiny else CanineConfig(), options.num_labels)
        source = "tiny config (random init)" if spec.tiny else f"{HUB_ID} config, random init (benchmark only)"
    else:
        model, new_keys = load_pretrained(spec.source, options.num_labels, options.seed)
        source = describe_source(spec.source)
    info = {"source": source, "tokenizer": "char-codepoint ([CLS]=U+E000, [SEP]=U+E001, pad 0)",
            "truncation": TRUNCATION.describe(max_chars), "max_length": max_chars}
    return finish(model, char_encoder(max_chars, options.truncation), spec, options, device, new_keys=new_keys,
                  lora_targets=BERT_LORA, info=info)


NOTE = "head truncation: 2048 characters (default and max)"
MODELS.register("canine", ModelSpec(
    name="canine", family="canine", source=HUB_ID, tokenizer="char-codepoint", params="132M", recipes=RECIPES,
    default_recipe="full", build=build, licence="Apache-2.0",
    default_lr={"full": 5e-5, "probe": 1e-3, "lora": 5e-4},
    description=f"CANINE-S (character hashing, 4x downsampling), CLS pooler + linear head; {NOTE}"))
MODELS.register("canine-tiny", ModelSpec(
    name="canine-tiny", family="canine", source="tiny config (random init)", tokenizer="char-codepoint",
    params="0.9M", recipes=RECIPES, default_recipe="full", build=build, tiny=True,
    default_lr={"full": 1e-3, "probe": 3e-3, "lora": 3e-3},
    description=f"2-layer CANINE (hidden 64), random weights; {NOTE}"))
