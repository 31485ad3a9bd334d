"""The model registry and the two entry points the run engine uses.

`MODELS` holds one `ModelSpec` per name; each family module (listed in `FAMILIES`) registers its specs with one
line each at its bottom. `hf:<hub-id-or-local-path>` names any AutoModelForSequenceClassification checkpoint
without registering it. Importing this package imports no torch or transformers (the families import them inside
their builders), so listing models stays instant.

Seeds (see noisebench.models.common): tiny / random-init backbones come from a fixed key; the new head and LoRA
matrices come from `ModelOptions.seed`; `noisebench.training.train.fit(seed=...)` controls data order and dropout.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any

from noisebench.errors import UsageError
from noisebench.models.base import MODELS, Classifier, ModelOptions, ModelSpec

FAMILIES = ("bert", "roberta", "minilm", "byt5", "canine", "blt", "qwen")
LORA_TARGET_CHOICES = ("qv", "qkvo")

for _family in FAMILIES:
    importlib.import_module(f"noisebench.models.{_family}")

from noisebench.models.common import count_parameters  # noqa: E402  (re-exported)

__all__ = ["MODELS", "FAMILIES", "resolve_model", "build_classifier", "count_parameters", "parameter_table", "tiny_models",
           "validate_options"]


def resolve_model(name: str) -> ModelSpec:
    """A registered model by name (UsageError with did-you-mean otherwise), a dynamic spec for `hf:<id|path>`, or
    `<name>:<id|path>`: registered model `name` (its family, recipes, defaults) loading other weights, e.g. a local
    copy of a full-size checkpoint (`blt:/data/blt-1b-hf`) or another hub id (`qwen-lora:Qwen/Qwen2.5-0.5B`)."""
    from noisebench.models import hf

    if name.startswith(hf.PREFIX):
        return hf.spec_for(name)
    base, colon, source = name.partition(":")  # `<registered-name>:<hub-id-or-local-path>` swaps the weights
    if colon and base in MODELS and not MODELS.get(base).tiny:
        if not source.strip():
            raise UsageError(f"give a hub id or a local folder after '{base}:', e.g. --model {base}:/path/to/model")
        return dataclasses.replace(MODELS.get(base), name=name, source=source.strip())
    return MODELS.get(name)


def tiny_models() -> list[str]:
    """Names of the registered tiny (offline, random-weight) models."""
    return [name for name, spec in MODELS.items() if spec.tiny]


def validate_options(spec: ModelSpec, options: ModelOptions) -> None:
    """Check `options` against `spec`; every problem is reported in one UsageError."""
    problems = []
    if options.recipe not in spec.recipes:
        problems.append(f"recipe {options.recipe!r} is not available for {spec.name} (choose from: "
                        f"{', '.join(spec.recipes)})")
    if options.pooling is not None and options.pooling not in spec.poolings:
        choices = f"choose from: {', '.join(spec.poolings)}" if spec.poolings else "it has no pooling choices"
        problems.append(f"pooling {options.pooling!r} is not available for {spec.name} ({choices})")
    if options.num_labels < 2:
        problems.append(f"a classifier needs at least 2 labels, got {options.num_labels}")
    if options.max_length is not None and options.max_length < 1:
        problems.append(f"max length must be positive, got {options.max_length}")
    if options.recipe == "lora":
        if options.lora_targets not in LORA_TARGET_CHOICES:
            problems.append(f"LoRA targets {options.lora_targets!r}: choose from {', '.join(LORA_TARGET_CHOICES)}")
        if options.lora_rank < 1 or options.lora_alpha <= 0:
            problems.append(f"LoRA rank and alpha must be positive, got r={options.lora_rank} "
                            f"alpha={options.lora_alpha}")
        if not 0 <= options.lora_dropout < 1:
            problems.append(f"LoRA dropout must be in [0, 1), got {options.lora_dropout}")
    if problems:
        raise UsageError("; ".join(problems))


def build_classifier(spec: ModelSpec, options: ModelOptions, device: Any) -> Classifier:
    """Validate `options` for `spec`, build the classifier and move it to `device` (a torch.device or string).

    The returned classifier's `info` carries provenance plus `model`, `family`, `recipe`, `default_lr` (the spec's
    learning rate for the recipe, used by `train.fit` when TrainConfig.lr is None), `trainable_params` and
    `total_params`.
    """
    import torch

    validate_options(spec, options)
    clf = spec.build(spec, options, torch.device(device))
    trainable, total = count_parameters(clf.module)
    clf.info = {"model": spec.name, "family": spec.family, **clf.info, "recipe": options.recipe,
                "default_lr": spec.default_lr.get(options.recipe), "trainable_params": trainable,
                "total_params": total}
    return clf


_SAMPLE_TEXTS = tuple(f"sample text {i} for a benchmark tokenizer: the patient was seen today" for i in range(64))


def parameter_table(num_labels: int = 2) -> list[tuple[str, str, int, int]]:
    """(model, recipe, trainable, total) for every full-size registered model and recipe at its real shapes.

    Built with random structure on torch's meta device (`random_init`: the full-size config, no download, no
    memory), with the run's own builders, so the counts are those of a real run's classifier."""
    import warnings

    import torch

    out = []
    for name, spec in MODELS.items():
        if spec.tiny:
            continue
        for recipe in spec.recipes:
            options = ModelOptions(num_labels=num_labels, recipe=recipe, random_init=True, train_texts=_SAMPLE_TEXTS)
            with torch.device("meta"), warnings.catch_warnings():
                warnings.simplefilter("ignore")  # library notices about random init: expected here
                clf = build_classifier(spec, options, torch.device("meta"))
            trainable, total = count_parameters(clf.module)
            out.append((name, recipe, trainable, total))
    return out
