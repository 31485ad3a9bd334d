"""The small protocol every model family meets, and the registry entry that describes a model.

Composition, not inheritance: a family module exposes a builder function
`build(spec: ModelSpec, options: ModelOptions, device) -> Classifier`; the returned object holds a tokenizer/encoder
and a torch module and meets the `Classifier` protocol below. The training loop (`noisebench.training.train`) and the run
engine only ever talk to this protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from noisebench.registry import Registry

RECIPES = ("full", "probe", "lora")
AS_IS = "none"  # evaluate an already fine-tuned classifier with its own head: no training (`hf:` models)


@dataclass(frozen=True)
class ModelOptions:
    """What a builder needs beyond its registry entry. Validated once at the CLI boundary.

    recipe:       "full" (all weights train), "probe" (backbone frozen, pooler/head train), "lora" (peft adapters +
                  head train).
    pooling:      None = the family's default; families that support choices list them in ModelSpec.poolings.
    max_length:   truncation limit in the family's units (tokens or bytes); None = the family's default.
    train_texts:  the clean training texts; tiny variants train their WordPiece/BPE tokenizer on them.
    random_init:  benchmark-only: full-size config with random weights, nothing downloaded. Never for results.
    """

    num_labels: int
    recipe: str = "full"
    pooling: str | None = None
    max_length: int | None = None
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_targets: str = "qv"  # "qv" | "qkvo"
    lora_dropout: float = 0.05
    train_texts: Sequence[str] = ()
    seed: int = 42
    random_init: bool = False
    precision: str = "auto"  # noisebench.training.train.resolve_precision: the dtype frozen backbones are cast to (not identity)
    label_names: tuple[str, ...] = ()  # the dataset's labels, in class-index order (recipe "none" maps onto them)
    label_map: tuple[tuple[str, str], ...] = ()  # recipe "none": (dataset label, checkpoint label) overrides
    revision: str | None = None  # recipe "none": what identifies the weights (hub commit or folder content hash)
    truncation: str = "head"  # what a too-long text keeps: head | tail | head+tail (noisebench.models.common)

    def identity(self) -> dict:
        """The options that change the trained model (for hashing cells); LoRA fields only for the lora recipe."""
        out: dict[str, Any] = {"pooling": self.pooling, "max_length": self.max_length}
        if self.truncation != "head":  # head is the default: cells stored before the option keep their identity
            out["truncation"] = self.truncation
        if self.recipe == "none":
            out.update(revision=self.revision, label_map=dict(self.label_map))
        if self.recipe == "lora":
            out.update(lora_rank=self.lora_rank, lora_alpha=self.lora_alpha, lora_targets=self.lora_targets,
                       lora_dropout=self.lora_dropout)
        return out


@runtime_checkable
class Classifier(Protocol):
    """A text classifier the training loop can drive.

    module:   the torch.nn.Module holding every parameter (backbone, pooler, head); `.to(device)` moves it all.
    info:     provenance for the results store: {"source": hub id or path, "tokenizer": kind, "truncation": policy,...}
    """

    module: Any
    info: dict

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Sequence length of each text after tokenisation and truncation (for length-bucketed batching)."""

    def encode(self, texts: Sequence[str]) -> dict[str, Any]:
        """A padded batch of CPU tensors (input_ids [B, S], attention_mask [B, S], family extras)."""

    def forward(self, batch: dict[str, Any]) -> Any:
        """Logits [B, num_labels] for a batch from `encode` (already moved to the module's device).
        An example's logits must not depend on the other examples in its batch (padding-invariant)."""

    def windows(self, texts: Sequence[str]) -> list[tuple[tuple[int, int], ...]]:
        """The character spans of each text inside the model's input window (after truncation)."""

    def input_keys(self, texts: Sequence[str]) -> list[Any]:
        """A hashable key per text, equal for two texts exactly when the model gets the same input (ids after
        tokenisation and truncation): `noisebench.training.train.predict_distinct` runs each key once."""

    def trainable_state(self) -> dict[str, Any]:
        """The tensors a checkpoint must keep: all weights for `full`; only pooler/head (and LoRA) otherwise."""

    def load_trainable_state(self, state: dict[str, Any]) -> None:
        """Inverse of `trainable_state` on a freshly built classifier."""


@dataclass(frozen=True)
class ModelSpec:
    """A registry entry. `build` is the family's builder; everything else is metadata shown by `noisebench models`."""

    name: str  # registry name: "bert", "bert-tiny", "byt5", "blt", "hf:<id>", ...
    family: str  # module name under noisebench.models
    source: str  # default hub id, or "tiny config (random init)" for tiny variants
    tokenizer: str  # "wordpiece" | "bpe" | "byte" | "char-codepoint" | ...
    params: str  # human-readable parameter count, e.g. "110M"
    recipes: tuple[str, ...]
    default_recipe: str
    build: Callable[..., Classifier]
    default_lr: dict[str, float] = field(default_factory=lambda: {"full": 2e-5, "probe": 1e-3, "lora": 2e-4})
    poolings: tuple[str, ...] = ()
    tiny: bool = False  # random-weight small config built offline
    generic_loader: bool = True  # whether `hf:<its checkpoint>` (AutoModelForSequenceClassification) can build it
    licence: str = ""
    description: str = ""
    version: int = 1  # tiny variants: the built-in config's version (bump when the config changes its results)

    def weights(self) -> str:
        """What identifies this model's weights in a record's versions block: the tiny config's version, or the
        hub commit / local-folder content hash of its source (`hub.revision`)."""
        if self.tiny:
            return f"tiny-config:v{self.version}"
        from noisebench.models import hub

        return hub.revision(self.source)

    def offline(self) -> bool:
        """Whether this model can be built with no network (tiny configs, packaged or local weights)."""
        if self.tiny:
            return True
        from noisebench.models import hub

        return hub.available_offline(self.source)


# The registry of model names. It lives here, beside ModelSpec, so that each family module registers into a module
# that never imports the families back (noisebench.models imports them all, then re-exports MODELS).
MODELS: Registry[ModelSpec] = Registry("model")
