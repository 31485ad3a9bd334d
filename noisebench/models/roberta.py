"""RoBERTa (`roberta-base`, 125M) and `roberta-tiny`: AutoModelForSequenceClassification (dense + out_proj head
on the <s> token).

Tokenizer: byte-level BPE (cased). Truncation: head, 128 tokens by default, at most 512, <s> and </s> included.
Recipes: full (default), probe (classification head), lora (query/value, or query/key/value/attention-output).
roberta-tiny: 2 layers, hidden 128, 2 heads, random weights; byte-level BPE (~1.5k) trained on the training texts.
"""

from __future__ import annotations

from typing import Any

from noisebench.models.base import MODELS, RECIPES, ModelSpec
from noisebench.models.seqcls import BERT_LORA, subword_builder
from noisebench.models.tiny import byte_bpe_tokenizer

HUB_ID = "roberta-base"
TRUNCATION_NOTE = "head truncation: 128 tokens by default, at most 512 (including <s>/</s>)"


def _config(**kwargs: Any) -> Any:
    from transformers import RobertaConfig

    # pad=1, bos=0, eos=2 and positions offset by pad+1, as in roberta-base
    return RobertaConfig(pad_token_id=1, bos_token_id=0, eos_token_id=2, max_position_embeddings=514,
                         type_vocab_size=1, layer_norm_eps=1e-5, **kwargs)


def tiny_config(vocab_size: int) -> Any:
    return _config(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                   intermediate_size=256)


def full_config() -> Any:
    return _config(vocab_size=50265)


build = subword_builder(tiny_config=tiny_config, full_config=full_config, tiny_tokenizer=byte_bpe_tokenizer,
                        tokenizer_kind="byte-level bpe", lora_targets=BERT_LORA)

MODELS.register("roberta", ModelSpec(
    name="roberta", family="roberta", source=HUB_ID, tokenizer="byte-level bpe", params="125M", recipes=RECIPES,
    default_recipe="full", build=build, licence="MIT",
    description=f"RoBERTa-base, <s> token + dense/out_proj head; {TRUNCATION_NOTE}"))
MODELS.register("roberta-tiny", ModelSpec(
    name="roberta-tiny", family="roberta", source="tiny config (random init)", tokenizer="byte-level bpe",
    params="0.6M", recipes=RECIPES, default_recipe="full", build=build, tiny=True,
    default_lr={"full": 1e-3, "probe": 3e-3, "lora": 3e-3},
    description=f"2-layer RoBERTa (hidden 128), random weights, byte-level BPE trained on the training texts; "
                f"{TRUNCATION_NOTE}"))
