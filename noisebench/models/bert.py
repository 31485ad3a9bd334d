"""BERT (`bert-base-uncased`, 110M) and `bert-tiny`: AutoModelForSequenceClassification, CLS pooler + linear head.

Tokenizer: WordPiece (uncased). Truncation: head, 128 tokens by default, at most 512, special tokens included.
Recipes: full (default), probe (pooler + classifier), lora (query/value, or query/key/value/attention-output).
bert-tiny: 1 layer, hidden 64, 2 heads, random weights; WordPiece vocabulary (~1.5k) built from the training texts.
"""

from __future__ import annotations

from typing import Any

from noisebench.models.base import MODELS, RECIPES, ModelSpec
from noisebench.models.seqcls import BERT_LORA, subword_builder
from noisebench.models.tiny import wordpiece_tokenizer

HUB_ID = "bert-base-uncased"
TRUNCATION_NOTE = "head truncation: 128 tokens by default, at most 512 (including [CLS]/[SEP])"


def tiny_config(vocab_size: int) -> Any:
    from transformers import BertConfig

    # no dropout: on 2 CPU cores drawing its random masks took a fifth of a training step (as for byt5-tiny).
    # v2: 1 layer of hidden 64 instead of 2 of 128 (and lr 3e-3 instead of 1e-3): a third of the training time and a
    # fifth of the evaluation time, clean accuracy on the built-in notes within 3 points (issue 11)
    return BertConfig(vocab_size=vocab_size, hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=128, max_position_embeddings=512, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)


def full_config() -> Any:
    from transformers import BertConfig

    return BertConfig()  # the defaults are bert-base-uncased's shape


build = subword_builder(tiny_config=tiny_config, full_config=full_config, tiny_tokenizer=wordpiece_tokenizer,
                        tokenizer_kind="wordpiece", lora_targets=BERT_LORA)

MODELS.register("bert", ModelSpec(
    name="bert", family="bert", source=HUB_ID, tokenizer="wordpiece", params="110M", recipes=RECIPES,
    default_recipe="full", build=build, licence="Apache-2.0",
    description=f"BERT-base uncased, CLS pooler + linear head; {TRUNCATION_NOTE}"))
MODELS.register("bert-tiny", ModelSpec(
    name="bert-tiny", family="bert", source="tiny config (random init)", tokenizer="wordpiece", params="0.2M",
    recipes=RECIPES, default_recipe="full", build=build, tiny=True, version=2,  # v2: 1 layer, hidden 64, lr 3e-3
    default_lr={"full": 3e-3, "probe": 3e-3, "lora": 3e-3},
    description=f"1-layer BERT (hidden 64), random weights, WordPiece built from the training texts; {TRUNCATION_NOTE}"))
