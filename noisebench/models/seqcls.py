"""Families built on `transformers`' AutoModelForSequenceClassification (BERT, RoBERTa, MiniLM, CANINE, `hf:`).

`subword_builder(...)` returns a family's `build(spec, options, device)`; the family module only supplies its
configs, tokenizer trainer and LoRA target names. Three ways to get weights, one code path after that:
- pretrained (`spec.source`, through `noisebench.models.hub`): the checkpoint's backbone (and pooler), a new
  classifier head;
- tiny (`spec.tiny`): the family's small config, random weights from the fixed `BACKBONE_SEED`, a tokenizer
  trained on `options.train_texts` (noisebench.models.tiny);
- random init (`options.random_init`, benchmarks only): the full-size config with random weights; the real
  tokenizer when it is available offline, else one trained on the texts with the config's vocabulary size.
Then: the head (classifier, and any newly initialised module) is re-drawn from `Generator(options.seed)`, the
recipe sets what trains, and the module moves to `device` in float32 (bf16 comes from autocast in the train loop).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from noisebench.models import hub
from noisebench.models.base import ModelOptions, ModelSpec
from noisebench.models.common import (
    BACKBONE_SEED,
    SUBWORD_TRUNCATION,
    Adapter,
    TokenizerEncoder,
    Truncation,
    apply_recipe,
    head_prefixes,
    init_modules_,
    seeded,
)

# LoRA targets by module-name suffix, per architecture (BERT-style names are shared by RoBERTa, MiniLM, CANINE)
BERT_LORA = {"qv": ("query", "value"), "qkvo": ("query", "key", "value", "attention.output.dense")}


def load_pretrained(source: str, num_labels: int, seed: int, **kwargs: Any) -> tuple[Any, list[str]]:
    """(AutoModelForSequenceClassification from `source`, names of its newly initialised parameters)."""
    from transformers import AutoModelForSequenceClassification

    with seeded(seed):  # transformers draws new weights from the global RNG: keep it contained
        model, loading = hub.from_pretrained(AutoModelForSequenceClassification, source, num_labels=num_labels,
                                             output_loading_info=True, **kwargs)
    return model, sorted(loading.get("missing_keys", ()))


def random_model(config: Any, num_labels: int) -> Any:
    """A sequence classifier for `config` with random weights drawn from the fixed BACKBONE_SEED."""
    from transformers import AutoModelForSequenceClassification

    config.num_labels = num_labels
    with seeded(BACKBONE_SEED):
        return AutoModelForSequenceClassification.from_config(config)


def finish(model: Any, encoder: Any, spec: ModelSpec, options: ModelOptions, device: Any, *,
           new_keys: Sequence[str], lora_targets: Mapping[str, Sequence[str]] | None, info: dict) -> Adapter:
    """Head re-drawn from the run seed, recipe applied, moved to `device`: the finished Classifier."""
    import torch

    generator = torch.Generator().manual_seed(options.seed)
    head = head_prefixes(model, new_keys)
    classifier_head = [p for p in head if p.rsplit(".", 1)[-1] in ("classifier", "score", "pre_classifier")]
    std = float(getattr(model.config, "initializer_range", 0.02))
    init_modules_(model, sorted(set(classifier_head) | {k.rsplit(".", 1)[0] for k in new_keys}), generator, std)
    with seeded(options.seed):
        apply_recipe(model, options, head=head, lora_targets=lora_targets, generator=generator)
    model.float().to(device)
    info = {**info, "new_head_keys": sorted(new_keys), "recipe": options.recipe,
            "trainable": f"head {head}" if options.recipe == "probe" else (
        f"LoRA {options.lora_targets} r={options.lora_rank} + head {head}" if options.recipe == "lora" else "all")}
    return Adapter(model, encoder, info, options.recipe)


def subword_builder(*, tiny_config: Callable[[int], Any], full_config: Callable[[], Any],
                    tiny_tokenizer: Callable[..., Any], tokenizer_kind: str,
                    lora_targets: Mapping[str, Sequence[str]] = BERT_LORA,
                    truncation: Truncation = SUBWORD_TRUNCATION) -> Callable[..., Adapter]:
    """A family builder for a subword AutoModelForSequenceClassification model.

    tiny_config(vocab_size) / full_config(): transformers configs for the tiny variant and for random init.
    tiny_tokenizer(texts, vocab_size=...): an offline tokenizer trained on the training texts.
    """

    def build(spec: ModelSpec, options: ModelOptions, device: Any) -> Adapter:
        from transformers import AutoTokenizer

        max_length = truncation.resolve(options.max_length, spec.name)
        new_keys: list[str] = []
        if spec.tiny:
            tokenizer = tiny_tokenizer(options.train_texts)
            model = random_model(tiny_config(len(tokenizer)), options.num_labels)
            source = "tiny config (random init)"
        elif options.random_init:
            config = full_config()
            if hub.available_offline(spec.source):
                tokenizer = hub.from_pretrained(AutoTokenizer, spec.source)
            else:
                tokenizer = tiny_tokenizer(options.train_texts, vocab_size=config.vocab_size)
            model = random_model(config, options.num_labels)
            source = f"{spec.source} config, random init (benchmark only)"
        else:
            tokenizer = hub.from_pretrained(AutoTokenizer, spec.source)
            model, new_keys = load_pretrained(spec.source, options.num_labels, options.seed)
            source = describe_source(spec.source)
        info = {"source": source, "tokenizer": tokenizer_kind, "vocab_size": len(tokenizer),
                "truncation": truncation.describe(max_length), "max_length": max_length}
        return finish(model, TokenizerEncoder(tokenizer, max_length, options.truncation), spec, options, device,
                      new_keys=new_keys, lora_targets=lora_targets, info=info)

    return build


def describe_source(source: str) -> str:
    """Provenance for `info["source"]`: the hub id plus where it was actually read from."""
    path = hub.local_dir(source)
    if path is None:
        return source
    version = hub.packaged_version(source)
    where = f"PyPI {hub.PACKAGED[source][2]} {version} at {path}" if version else str(path)
    return source if str(path) == source else f"{source} ({where})"
