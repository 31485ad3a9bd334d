"""`hf:<hub-id-or-local-path>`: any AutoModelForSequenceClassification checkpoint, loaded through
`noisebench.models.hub` (never `trust_remote_code`; safetensors preferred).

Not registered by name: `resolve_model("hf:...")` calls `spec_for` to make a spec on the fly. Tokenizer: the
checkpoint's own (AutoTokenizer), right padding; a missing pad token becomes the EOS token (decoder models).
Truncation: head, 128 tokens by default (or the model's limit when smaller), at most the model's limit
(tokenizer `model_max_length` and config `max_position_embeddings`, the smaller that is sane). Recipes: full
(default), probe (modules named pooler/pre_classifier/classifier/score and any newly initialised module), lora
(known architectures' attention projections; otherwise peft's default q/v targets for the model type).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from noisebench.errors import UsageError
from noisebench.models import hub
from noisebench.models.base import AS_IS, RECIPES, ModelOptions, ModelSpec
from noisebench.models.common import Adapter, TokenizerEncoder, Truncation
from noisebench.models.seqcls import BERT_LORA, describe_source, finish, load_pretrained

PREFIX = "hf:"
DECODER_LORA = {"qv": ("q_proj", "v_proj"), "qkvo": ("q_proj", "k_proj", "v_proj", "o_proj")}
LORA_BY_TYPE = {
    **{t: BERT_LORA for t in ("bert", "roberta", "xlm-roberta", "camembert", "electra", "canine", "mpnet")},
    **{t: DECODER_LORA for t in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "modernbert")},
    "distilbert": {"qv": ("q_lin", "v_lin"), "qkvo": ("q_lin", "k_lin", "v_lin", "out_lin")},
    "deberta-v2": {"qv": ("query_proj", "value_proj"),
                   "qkvo": ("query_proj", "key_proj", "value_proj", "attention.output.dense")},
    "t5": {"qv": ("q", "v"), "qkvo": ("q", "k", "v", "o")},
}
SANE_LIMIT = 100_000  # tokenizers without a limit report ~1e30


def lora_targets_for(model_type: str) -> dict[str, tuple[str, ...]]:
    if model_type in LORA_BY_TYPE:
        return dict(LORA_BY_TYPE[model_type])
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as PEFT_DEFAULTS

    default = PEFT_DEFAULTS.get(model_type)
    return {"qv": tuple(default)} if default else {}


def length_limit(tokenizer: Any, config: Any) -> int:
    """The longest input the model takes, in tokens (specials included)."""
    limits = [int(tokenizer.model_max_length)] if tokenizer.model_max_length < SANE_LIMIT else []
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        offset = 2 if config.model_type in ("roberta", "xlm-roberta", "camembert") else 0  # pad + 1 position offset
        limits.append(int(positions) - offset)
    return min(limits) if limits else 512


def build(spec: ModelSpec, options: ModelOptions, device: Any) -> Any:
    from transformers import AutoConfig, AutoTokenizer

    if options.random_init:
        raise UsageError(f"{spec.name}: random init is for registered models only")
    config = hub.from_pretrained(AutoConfig, spec.source)
    tokenizer = hub.from_pretrained(AutoTokenizer, spec.source)
    limit = length_limit(tokenizer, config)
    truncation = Truncation("tokens", min(128, limit), limit, "including the special tokens")
    max_length = truncation.resolve(options.max_length, spec.name)
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise UsageError(f"{spec.name}: the tokenizer has neither a pad nor an EOS token to pad batches with")
        tokenizer.pad_token = tokenizer.eos_token
    if options.recipe == AS_IS:
        return _as_is(spec, options, device, tokenizer, TokenizerEncoder(tokenizer, max_length, options.truncation),
                      {"truncation": truncation.describe(max_length), "max_length": max_length})
    model, new_keys = load_pretrained(spec.source, options.num_labels, options.seed,
                                      pad_token_id=tokenizer.pad_token_id)
    info = {"source": describe_source(spec.source), "tokenizer": f"{type(tokenizer).__name__} (from checkpoint)",
            "model_type": config.model_type, "truncation": truncation.describe(max_length), "max_length": max_length}
    return finish(model, TokenizerEncoder(tokenizer, max_length, options.truncation), spec, options, device, new_keys=new_keys,
                  lora_targets=lora_targets_for(config.model_type), info=info)


def label_order(id2label: dict, label_names: Sequence[str], label_map: dict[str, str]) -> list[int]:
    """For each dataset label (in class order), the checkpoint's output column: by `label_map` (dataset label →
    checkpoint label), else by name, case-insensitively. UsageError listing both sides when a label has none."""
    by_name: dict[str, int] = {}
    for index, name in id2label.items():
        by_name.setdefault(str(name).lower(), int(index))
    order, unmatched = [], []
    for name in label_names:
        wanted = label_map.get(name, name).lower()
        if wanted in by_name:
            order.append(by_name[wanted])
        else:
            unmatched.append(name)
    if unmatched:
        theirs = ", ".join(str(id2label[k]) for k in sorted(id2label, key=int))
        raise UsageError(f"the checkpoint's labels ({theirs}) do not match the dataset's ({', '.join(label_names)}): "
                         f"no match for {', '.join(unmatched)}; map them with --label-map DATASET=CHECKPOINT,…")
    if len(set(order)) != len(order):
        raise UsageError(f"--label-map sends two dataset labels to one checkpoint label: {dict(zip(label_names, order, strict=True))}")
    return order


def _as_is(spec: ModelSpec, options: ModelOptions, device: Any, tokenizer: Any, encoder: Any, info: dict) -> Adapter:
    """Recipe "none": the fine-tuned classifier exactly as saved (its own head), nothing trained, eval mode."""
    from transformers import AutoModelForSequenceClassification

    model = hub.from_pretrained(AutoModelForSequenceClassification, spec.source,
                                pad_token_id=tokenizer.pad_token_id)
    order = label_order(dict(model.config.id2label), options.label_names, dict(options.label_map))
    for param in model.parameters():
        param.requires_grad_(False)
    model.float().to(device).eval()
    info = {**info, "source": describe_source(spec.source), "tokenizer": f"{type(tokenizer).__name__} (from checkpoint)",
            "model_type": model.config.model_type, "recipe": AS_IS, "trainable": "nothing (evaluated as is)",
            "revision": options.revision,
            "labels": {name: str(model.config.id2label[j]) for name, j in zip(options.label_names, order, strict=True)}}
    return Adapter(model, encoder, info, AS_IS, label_order=order)


def spec_for(name: str) -> ModelSpec:
    """A ModelSpec for `hf:<hub-id-or-local-path>`."""
    source = name[len(PREFIX):].strip()
    if not source:
        raise UsageError("give a hub id or a local folder after 'hf:', e.g. --model hf:/path/to/model")
    return ModelSpec(
        name=name, family="hf", source=source, tokenizer="from checkpoint", params="?", recipes=(*RECIPES, AS_IS),
        default_recipe="full", build=build,
        description="any AutoModelForSequenceClassification checkpoint; head truncation at 128 tokens by default, "
                    "at most the model's limit")
