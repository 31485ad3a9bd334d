"""Pieces the model families share: truncation policy, text encoders, head initialisation, recipes (full / probe /
LoRA), masked pooling, parameter counts, and the `Adapter` that meets the `Classifier` protocol.

A family builder composes these: an encoder (subword tokenizer, or bytes / code points), a torch module whose
forward takes the encoder's batch and returns logits (or an output with `.logits`), the head modules' names, and
the LoRA target names. Nothing here imports torch or transformers at module level.

Seeds: a classifier's randomness at build time is (1) tiny/random-init backbone weights, drawn from the fixed
`BACKBONE_SEED` (a stand-in for a checkpoint: the same for every run seed), and (2) the newly initialised head and
LoRA A matrices, drawn from `torch.Generator().manual_seed(options.seed)`. Builds run inside `seeded(...)`, which
forks torch's CPU RNG, so the caller's global RNG state is never consumed or changed.
"""

from __future__ import annotations

import contextlib
import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from noisebench.config import TRUNCATIONS  # what a too-long text keeps: head, tail or both ends
from noisebench.errors import RunError, UsageError
from noisebench.models.base import ModelOptions

BACKBONE_SEED = 20240  # tiny / random-init backbone weights: fixed, like a checkpoint (never the run seed)
HEAD_NAMES = ("pooler", "pre_classifier", "classifier", "score")  # module names that form the head


@dataclass(frozen=True)
class Truncation:
    """How a family truncates: head truncation (the beginning is kept) at `default` units unless
    `ModelOptions.max_length` asks for another value in [1, limit]."""

    unit: str  # "tokens" | "bytes" | "characters"
    default: int
    limit: int
    counting: str  # what the count includes, e.g. "including [CLS] and [SEP]"

    def resolve(self, requested: int | None, model: str) -> int:
        if requested is None:
            return self.default
        if not 1 <= requested <= self.limit:
            raise UsageError(f"max length {requested} is out of range for {model}: 1..{self.limit} {self.unit}")
        return requested

    def describe(self, used: int | None = None) -> str:
        head = f"{used} {self.unit}" if used is not None else f"default {self.default} {self.unit}"
        return f"head truncation at {head} (max {self.limit}; {self.counting})"


SUBWORD_TRUNCATION = Truncation("tokens", 128, 512, "including the special tokens")
Window = tuple[tuple[int, int], ...]  # the character spans of a text that a model sees


def kept(n: int, budget: int, policy: str = "head") -> list[int]:
    """Indices of the `n` units a text keeps under `budget`: all when they fit; else the first `budget` (head),
    the last (tail), or the first ⌈budget/2⌉ and the last ⌊budget/2⌋ (head+tail)."""
    if n <= budget:
        return list(range(n))
    if policy == "head":
        return list(range(budget))
    if policy == "tail":
        return list(range(n - budget, n))
    if policy == "head+tail":
        first = (budget + 1) // 2
        return list(range(first)) + list(range(n - (budget - first), n))
    raise UsageError(f"unknown truncation {policy!r}; choose from: {', '.join(TRUNCATIONS)}")


def _spans(index_spans: Sequence[tuple[int, int]], indices: Sequence[int], text_len: int) -> Window:
    """Character spans covered by the kept units (unit i covers index_spans[i]); runs of consecutive units merge,
    and a text that keeps every unit is seen whole (its leading and trailing spaces included)."""
    if len(indices) == len(index_spans):
        return ((0, text_len),) if text_len else ()
    out: list[list[int]] = []
    for i in indices:
        start, end = index_spans[i]
        if out and out[-1][2] == i - 1:
            out[-1][1], out[-1][2] = end, i
        else:
            out.append([start if out or i else 0, end, i])
    return tuple((s, e) for s, e, _ in out)


def unit_window(text: str, unit: str, budget: int, policy: str) -> Window:
    """What a byte- or character-level model sees of `text` (a cut multi-byte character counts as seen)."""
    if (len(text) if unit == "characters" else len(text.encode("utf-8"))) <= budget:  # fits: the common case
        return ((0, len(text)),) if text else ()
    if unit == "characters":
        return _spans([(i, i + 1) for i in range(len(text))], kept(len(text), budget, policy), len(text))
    byte_to_char = [i for i, ch in enumerate(text) for _ in range(len(ch.encode("utf-8")))]
    return _spans([(c, c + 1) for c in byte_to_char], kept(len(byte_to_char), budget, policy), len(text))


def token_window(tokenizer: Any, texts: Sequence[str], budget: int, policy: str) -> list[Window]:
    """What a subword model sees of each text: the character offsets of the tokens it keeps (fast tokenizers);
    a slow tokenizer without offsets gets the kept share of the text's characters, in proportion."""
    texts = list(texts)
    if getattr(tokenizer, "is_fast", False):
        out = tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        return [_spans([tuple(o) for o in offs], kept(len(offs), budget, policy), len(t))
                for t, offs in zip(texts, out, strict=True)]
    ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [((0, len(t)),) if len(row) <= budget else ((0, round(len(t) * budget / len(row))),)
            for t, row in zip(texts, ids, strict=True)]


def count_parameters(module: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts of a torch module; shared (tied) tensors are counted once."""
    trainable = total = 0
    for param in module.parameters():  # .parameters() yields each distinct tensor once
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return trainable, total


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run a block with torch's CPU RNG seeded to `seed`, restoring the caller's RNG state afterwards."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def head_prefixes(module: Any, new_keys: Sequence[str] = ()) -> list[str]:
    """Names of the head modules: every module called pooler / pre_classifier / classifier / score, plus the
    parents of parameters that were newly initialised (`new_keys`), outermost first, without nested repeats."""
    found = [name for name, _ in module.named_modules() if name and name.rsplit(".", 1)[-1] in HEAD_NAMES]
    found += [key.rsplit(".", 1)[0] for key in new_keys if "." in key]
    out: list[str] = []
    for name in sorted(set(found), key=lambda n: (n.count("."), n)):
        if not any(name == p or name.startswith(p + ".") for p in out):
            out.append(name)
    return out


def in_prefixes(name: str, prefixes: Sequence[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def init_modules_(module: Any, prefixes: Sequence[str], generator: Any, std: float = 0.02) -> None:
    """Re-initialise the Linear / LayerNorm / Embedding layers under `prefixes` from `generator`:
    weights ~ N(0, std), biases 0, norms 1 (the BERT recipe), independent of torch's global RNG."""
    import torch
    from torch import nn

    with torch.no_grad():
        for prefix in prefixes:
            for sub in module.get_submodule(prefix).modules():
                if isinstance(sub, (nn.Linear, nn.Embedding)):
                    sub.weight.normal_(0.0, std, generator=generator)
                    bias = getattr(sub, "bias", None)  # nn.Embedding has none
                    if bias is not None:
                        bias.zero_()
                elif isinstance(sub, nn.LayerNorm):
                    if sub.weight is not None:
                        sub.weight.fill_(1.0)
                    if sub.bias is not None:
                        sub.bias.zero_()


def apply_recipe(module: Any, options: ModelOptions, *, head: Sequence[str],
                 lora_targets: Mapping[str, Sequence[str]] | None, generator: Any) -> None:
    """Set `requires_grad` for the recipe: full = everything; probe = the `head` modules only; lora = peft LoRA
    adapters in the modules named by `lora_targets[options.lora_targets]` (matched as name suffixes) + the head.
    LoRA A matrices are drawn from `generator` (B starts at zero, so the adapted model equals the base at step 0)."""
    import torch

    if options.recipe == "lora":
        if not lora_targets or options.lora_targets not in lora_targets:
            choices = ", ".join(lora_targets or {}) or "none known"
            raise UsageError(f"LoRA targets {options.lora_targets!r} are not defined for this model ({choices})")
        from peft import LoraConfig, inject_adapter_in_model

        config = LoraConfig(r=options.lora_rank, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
                            target_modules=list(lora_targets[options.lora_targets]), exclude_modules=list(head))
        inject_adapter_in_model(config, module)
        lora_a = [p for n, p in module.named_parameters() if ".lora_A." in n]
        if not lora_a:
            raise UsageError(f"LoRA targets {list(lora_targets[options.lora_targets])} matched no layer of this model")
        with torch.no_grad():
            for param in lora_a:  # peft's own init: kaiming-uniform with a = sqrt(5), here from our generator
                torch.nn.init.kaiming_uniform_(param, a=math.sqrt(5), generator=generator)
    for name, param in module.named_parameters():
        if options.recipe == "full":
            param.requires_grad_(True)
        else:
            param.requires_grad_(in_prefixes(name, head) or (options.recipe == "lora" and "lora_" in name))
    if not any(p.requires_grad for p in module.parameters()):
        raise UsageError(f"recipe {options.recipe!r} left nothing to train (head modules: {list(head)})")


def masked_mean(states: Any, mask: Any) -> Any:
    """Mean of `states` [B, S, D] over the positions where `mask` [B, S] is 1 → [B, D] (float32)."""
    weights = mask.to(states.dtype).unsqueeze(-1)  # [B, S, 1]
    return ((states * weights).sum(1) / weights.sum(1).clamp(min=1.0)).float()


def right_pad(rows: Sequence[Sequence[int]], pad_id: int, width: int | None = None) -> tuple[Any, Any]:
    """(input_ids, attention_mask), long tensors [B, width]: each row's ids then `pad_id`; width = the longest row
    unless given (at least that). Filled in one numpy pass (a tensor write per row cost more than a tiny model's
    forward)."""
    import numpy as np
    import torch

    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    width = width if width is not None else int(lengths.max(initial=0))
    mask = np.arange(width) < lengths[:, None]
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    input_ids[mask] = np.fromiter(itertools.chain.from_iterable(rows), dtype=np.int64, count=int(lengths.sum()))
    return torch.from_numpy(input_ids), torch.from_numpy(mask.astype(np.int64))


class TokenizerEncoder:
    """Subword encoding with a `transformers` tokenizer: special tokens added, truncation at `max_length` tokens
    (specials included), right padding to the longest row of the batch. A too-long text keeps its head (the
    tokenizer's right truncation), its tail (left truncation), or both (head+tail: the characters of its first
    ⌈budget/2⌉ and last ⌊budget/2⌋ tokens, joined by a space, then tokenized)."""

    def __init__(self, tokenizer: Any, max_length: int, policy: str = "head") -> None:
        tokenizer.padding_side = "right"
        tokenizer.truncation_side = "left" if policy == "tail" else "right"
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.policy = policy
        self.budget = max(1, max_length - tokenizer.num_special_tokens_to_add(pair=False))
        self._cache: dict[str, tuple[int, ...]] = {}  # text -> ids (see _ids)

    def _inputs(self, texts: Sequence[str]) -> list[str]:
        if self.policy != "head+tail":
            return list(texts)
        return [" ".join(t[s:e] for s, e in w) for t, w in zip(texts, self.windows(texts), strict=True)]

    CACHE_SIZE = 200_000  # texts whose ids are kept: training re-encodes every epoch, evaluation several times

    def _ids(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """Each text's ids (specials added, truncated), tokenizing only texts not seen recently."""
        cache = self._cache
        missing = list(dict.fromkeys(t for t in texts if t not in cache))
        if missing:
            if len(cache) + len(missing) > self.CACHE_SIZE:
                cache.clear()
            rows = self.tokenizer(self._inputs(missing), truncation=True, max_length=self.max_length)["input_ids"]
            cache.update(zip(missing, map(tuple, rows), strict=True))
        return [cache[t] for t in texts]

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(row) for row in self._ids(texts)]

    def encode(self, texts: Sequence[str]) -> dict[str, Any]:
        """Right-padded ids and mask (and all-zero token types where the model takes them) — what the tokenizer's
        own padding gives a batch of single sequences."""
        import torch

        input_ids, mask = right_pad(self._ids(texts), self.tokenizer.pad_token_id)
        out = {"input_ids": input_ids, "attention_mask": mask}
        if "token_type_ids" in self.tokenizer.model_input_names:
            out["token_type_ids"] = torch.zeros_like(input_ids)
        return out

    def input_keys(self, texts: Sequence[str]) -> list[Any]:
        """The ids `encode` gives each text (one sequence: token types and the mask follow from them)."""
        return self._ids(texts)

    def windows(self, texts: Sequence[str]) -> list[Window]:
        return token_window(self.tokenizer, texts, self.budget, self.policy)


class UnitEncoder:
    """Bytes (UTF-8) or Unicode code points as ids: `prefix + [unit + offset for the first max_units] + suffix`,
    right-padded with `pad_id`. Texts are never parsed for special-token strings (a literal "</s>" is bytes).

    min_padding(n) → m: each row is padded to at least m ids (n = its real length) before the batch is padded to its
    longest row; models that pool padded positions into real ones (CANINE's strided downsampling) use it so a row
    sees the same padding alone as in any batch."""

    def __init__(self, unit: str, max_units: int, *, offset: int, prefix: Sequence[int] = (),
                 suffix: Sequence[int] = (), pad_id: int = 0, min_padding: Callable[[int], int] | None = None,
                 policy: str = "head") -> None:
        if unit not in ("bytes", "characters"):
            raise ValueError(f"unit must be bytes or characters, not {unit!r}")
        self.unit, self.max_units, self.offset, self.policy = unit, max_units, offset, policy
        self.prefix, self.suffix, self.pad_id = list(prefix), list(suffix), pad_id
        self.min_padding = min_padding

    def _units(self, text: str) -> bytes | str:
        """The units kept (bytes, or code points as a str): what the ids are a one-to-one function of."""
        units = text.encode("utf-8") if self.unit == "bytes" else text
        if self.policy == "head":
            return units[: self.max_units]
        chosen = kept(len(units), self.max_units, self.policy)
        return bytes(units[i] for i in chosen) if isinstance(units, bytes) else "".join(units[i] for i in chosen)

    def ids(self, text: str) -> list[int]:
        units = self._units(text)
        codes = units if isinstance(units, bytes) else map(ord, units)
        return self.prefix + [u + self.offset for u in codes] + self.suffix

    def windows(self, texts: Sequence[str]) -> list[Window]:
        return [unit_window(t, self.unit, self.max_units, self.policy) for t in texts]

    def input_keys(self, texts: Sequence[str]) -> list[Any]:
        # the kept units identify the ids (prefix, offset and suffix are the same for every text)
        return [self._units(t) for t in texts]

    def lengths(self, texts: Sequence[str]) -> list[int]:
        extra = len(self.prefix) + len(self.suffix)
        if self.unit == "bytes":
            return [min(len(t.encode("utf-8")), self.max_units) + extra for t in texts]
        return [min(len(t), self.max_units) + extra for t in texts]

    def encode(self, texts: Sequence[str]) -> dict[str, Any]:
        rows = [self.ids(t) for t in texts]
        width = max(len(r) if self.min_padding is None else max(len(r), self.min_padding(len(r))) for r in rows)
        input_ids, mask = right_pad(rows, self.pad_id, width)
        return {"input_ids": input_ids, "attention_mask": mask}


def load_trained_parameters(module: Any, state: Mapping[str, Any], what: str) -> None:
    """Copy `state` into `module`'s trainable parameters; RunError unless it holds exactly those tensors."""
    import torch

    params = dict(module.named_parameters())
    wanted = {n for n, p in params.items() if p.requires_grad}
    if set(state) != wanted:
        diff = sorted(set(state) ^ wanted)[:3]
        raise RunError(f"checkpoint does not fit this {what}: tensors differ, e.g. {diff}")
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value)


class Adapter:
    """Meets `noisebench.models.base.Classifier` by composition: an encoder (`lengths`, `encode`) and a torch
    module called as `module(**batch)` that returns logits [B, C] or an output with `.logits`."""

    def __init__(self, module: Any, encoder: Any, info: dict, recipe: str, label_order: Sequence[int] | None = None) -> None:
        self.module = module
        self.encoder = encoder
        self.info = info
        self.recipe = recipe
        # recipe "none": the checkpoint's own head, its output columns picked in the dataset's label order
        self.label_order = list(label_order) if label_order is not None else None

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return self.encoder.lengths(texts)

    def encode(self, texts: Sequence[str]) -> dict[str, Any]:
        return self.encoder.encode(texts)

    def windows(self, texts: Sequence[str]) -> list[Window]:
        return self.encoder.windows(texts)

    def input_keys(self, texts: Sequence[str]) -> list[Any]:
        return self.encoder.input_keys(texts)

    def forward(self, batch: dict[str, Any]) -> Any:
        out = self.module(**batch)
        logits = out.logits if hasattr(out, "logits") else out
        return logits if self.label_order is None else logits[:, self.label_order]

    def trainable_state(self) -> dict[str, Any]:
        """CPU copies: the whole state dict for `full`; otherwise only the parameters that train."""
        if self.recipe == "full":
            return {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}
        return {n: p.detach().cpu().clone() for n, p in self.module.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, Any]) -> None:

        if self.recipe == "full":
            try:
                self.module.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise RunError(f"checkpoint does not fit this model: {str(exc).splitlines()[0]}") from exc
            return
        load_trained_parameters(self.module, state, f"{self.recipe} model")
