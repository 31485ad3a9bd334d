"""BLT (Byte Latent Transformer) as a text classifier: cached entropy patches, no local decoder, pooled patch states.

Registry names: `blt` (hub id `itazap/blt-1b-hf`, the converted BLT-1B that loads into `transformers.BltModel`) and
`blt-tiny` (a small random-weight config built offline, for tests); `--model blt:<hub-id|dir>` loads other weights
(a local copy of the checkpoint, offline). Meta's BLT code and weights are CC-BY-NC-4.0.

Tokenizer: bytes. A text becomes `[BOS=1] + [byte + 4 for byte in utf8[:max_length]]` (vocab 260); `max_length`
counts bytes (default 512, so sequences are at most 513 ids). Batches are right-padded.

Patching: the frozen entropy model (the patcher) runs on each example's REAL bytes; a patch starts at positions 0
and 1 and after every byte whose next-byte entropy exceeds `config.patching_threshold` (the rule of
`BltPatcher.patch_lengths_from_entropies`, without its empty trailing patch). All padding goes into one trailing
patch, `patch_lengths` are passed explicitly and patches are masked with `arange(P) < n_real_patches`, so an
example's representation does not depend on its batch. Boundaries are deterministic for a given patcher, so they
are cached per distinct byte string (sha256) in a process-wide `PatchCache` keyed by the patcher's fingerprint and
reused across epochs, seeds and runs in a process; `BltClassifier.save_patch_cache/load_patch_cache(folder)` carry
them across processes (the first computation of a text's boundaries is then the one every later run uses).

Classification path: hash n-gram embeddings → local encoder → global transformer, called directly (`patch_states`);
the local decoder is never run (and is dropped from the model). Then LayerNorm → pooler over real patches → Linear
head. Poolers: `attention` (default, the study's head): a learned query attends over the patch states through
`torch.nn.MultiheadAttention` with its in/out projections (16 heads at the 1B width: 16,785,408 parameters, with
the linear head the study's ~16.8M trainable for the probe, ~20.1M with LoRA r16 q,v), padding masked; `query`: the
light variant, one learned query vector and a softmax over scaled dot products (no projections); `mean`, `last`,
`max`. Recipes: `probe` (all of BLT frozen) and `lora` (peft LoRA
only in the global transformer's self-attention q,v or q,k,v,o; everything else frozen, hash embeddings included).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from noisebench.errors import UsageError
from noisebench.models.base import MODELS, ModelOptions, ModelSpec
from noisebench.models.common import BACKBONE_SEED, Truncation, Window, kept, unit_window
from noisebench.models.patching import PatchView

BOS = 1
BYTE_OFFSET = 4
VOCAB_SIZE = 260
DEFAULT_MAX_BYTES = 512
HUB_ID = "itazap/blt-1b-hf"
LICENCE = "CC-BY-NC-4.0 (Meta BLT code and weights; non-commercial)"
POOLINGS = ("attention", "query", "mean", "last", "max")
POOL_HEADS = 16  # the study's attention pooler: MultiheadAttention(2048, 16) = 16,785,408 parameters at 1B
LORA_TARGETS = {"qv": ("q_proj", "v_proj"), "qkvo": ("q_proj", "k_proj", "v_proj", "o_proj")}
TRUNCATION = Truncation("bytes", DEFAULT_MAX_BYTES, 8192, "UTF-8 bytes of the text; BOS is added on top")


def byte_ids(text: str, max_bytes: int = DEFAULT_MAX_BYTES, policy: str = "head") -> list[int]:
    """`[BOS] + [b + 4 for b in utf8(text)[:max_bytes]]` (truncation may cut a multi-byte character); `policy`
    tail / head+tail keeps the end / both ends instead of the head."""
    data = text.encode("utf-8")
    chosen = data[:max_bytes] if policy == "head" else bytes(data[i] for i in kept(len(data), max_bytes, policy))
    return [BOS] + [b + BYTE_OFFSET for b in chosen]


def patch_key(ids: Sequence[int]) -> str:
    """The patch cache's key for a row of `byte_ids`: the sha256 of the bytes the model sees (BOS dropped)."""
    return hashlib.sha256(bytes(i - BYTE_OFFSET for i in ids[1:])).hexdigest()


def lora_target_regex(targets: str) -> str:
    """peft regex putting LoRA only in the global transformer's self-attention (never patcher/encoder/decoder)."""
    if targets not in LORA_TARGETS:
        raise UsageError(f"unknown LoRA targets {targets!r}; choose from: {', '.join(LORA_TARGETS)}")
    return r".*global_transformer\.layers\.\d+\.self_attn\.(" + "|".join(LORA_TARGETS[targets]) + ")"


def patch_lengths_from_entropies(entropies: np.ndarray, threshold: float, max_patch_length: int | None) -> np.ndarray:
    """Patch lengths [n] (all > 0, summing to L) for one example from its real-byte entropies [L].

    Positions 0 and 1 always start patches; position p >= 2 starts one when entropies[p - 1] > threshold. Patches
    longer than `max_patch_length` are split as `transformers`' `process_patch_lengths` does.
    """
    n = len(entropies)
    starts = [0] + ([1] if n > 1 else [])
    if n > 2:
        starts += (np.flatnonzero(np.asarray(entropies[1 : n - 1], dtype=np.float64) > threshold) + 2).tolist()
    lengths = np.diff(np.asarray(starts + [n], dtype=np.int64))
    if max_patch_length is not None:
        split = []
        for length in lengths.tolist():
            split += [max_patch_length] * (length // max_patch_length) + ([length % max_patch_length] if length % max_patch_length else [])
        lengths = np.asarray(split, dtype=np.int64)
    return lengths


class PatchCache:
    """sha256(byte string) → patch lengths (and the sum of the next-byte entropies over the ids, for the patch
    stability measures), for one patcher (its `fingerprint`). Thread-unsafe, process-wide."""

    def __init__(self, fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self._entries: dict[str, np.ndarray] = {}
        self._entropy: dict[str, float] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> np.ndarray | None:
        return self._entries.get(key)

    def entropy(self, key: str) -> float | None:
        return self._entropy.get(key)

    def put(self, key: str, lengths: np.ndarray, entropy: float | None = None) -> None:
        """Store a text's boundaries; boundaries already stored are kept (the first computation is the one every
        later use sees), so a recomputation only adds a missing entropy."""
        self._entries.setdefault(key, lengths)
        if entropy is not None:
            self._entropy.setdefault(key, entropy)

    def save(self, path: str | Path) -> Path:
        """Write all entries atomically as JSON (`{"fingerprint", "entries": {sha256: [lengths]}, "entropy":
        {sha256: sum}}`)."""
        from noisebench.store import atomic_write_text

        data = {"fingerprint": self.fingerprint, "entries": {k: v.tolist() for k, v in self._entries.items()},
                "entropy": self._entropy}
        atomic_write_text(Path(path), json.dumps(data, separators=(",", ":")))
        return Path(path)

    def load(self, path: str | Path) -> int:
        """Merge entries from a file written by `save` for the same patcher; returns how many were added
        (0 when the file is absent or belongs to another patcher)."""
        path = Path(path)
        if not path.is_file():
            return 0
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("fingerprint") != self.fingerprint:
            return 0
        added = 0
        for key, lengths in data["entries"].items():
            if key not in self._entries:
                self._entries[key] = np.asarray(lengths, dtype=np.int64)
                added += 1
        for key, total in (data.get("entropy") or {}).items():  # absent in files written before 0.2
            self._entropy.setdefault(key, float(total))
        return added


_PATCH_CACHES: dict[str, PatchCache] = {}


def patch_cache_for(fingerprint: str) -> PatchCache:
    """The process-wide cache for a patcher fingerprint (shared by every classifier built on that patcher)."""
    return _PATCH_CACHES.setdefault(fingerprint, PatchCache(fingerprint))


def patcher_fingerprint(blt: Any) -> str:
    """Identifies a patcher's boundaries: threshold, max patch length, dtype and a sample of every weight."""
    digest = hashlib.sha256()
    cfg = blt.config
    digest.update(repr((cfg.patching_threshold, cfg.max_patch_length)).encode())
    for name, param in blt.patcher.named_parameters():
        sample = param.detach().flatten()[:64].float().cpu().numpy()
        digest.update(f"{name}:{tuple(param.shape)}:{param.dtype}:".encode() + sample.tobytes())
    return digest.hexdigest()[:32]


def patch_states(blt: Any, input_ids: Any, patch_lengths: Any) -> Any:
    """Global-transformer output [B, P, D_global] for byte ids [B, S] with explicit patch lengths [B, P].

    Exactly `BltModel.forward` up to (and including) the global transformer, with `use_cache=False` and no local
    decoder; the local encoder's mask follows the installed transformers version (sliding window when its
    `modeling_blt` imports one).
    """
    import torch
    from transformers.masking_utils import create_causal_mask
    from transformers.models.blt import modeling_blt

    cfg = blt.config
    batch, seq = input_ids.shape
    num_patches = patch_lengths.shape[1]
    embeds = modeling_blt.compute_hash_embeddings(
        input_ids, blt.local_encoder, blt.encoder_hash_tok_embedding, cfg.encoder_hash_byte_group_nb_functions,
        cfg.encoder_hash_byte_group_size, cfg.encoder_hash_byte_group_vocab,
    )
    patch_ids = blt._patch_ids_from_lengths(patch_lengths, seq)  # [B, S]
    position_ids = torch.arange(seq, device=input_ids.device).unsqueeze(0)
    sliding = getattr(modeling_blt, "create_sliding_window_causal_mask", None)
    # The cache argument is passed by position: transformers renamed it (past_key_values → cache) within our pin.
    if sliding is not None and cfg.local_attention_window_len is not None:
        local_mask = sliding(cfg.encoder_config, embeds, None, None, position_ids=position_ids)
    else:
        local_mask = create_causal_mask(cfg, embeds, None, None, position_ids=position_ids)
    cross_mask = modeling_blt._prepare_patch_cross_attention_mask(
        patch_ids=patch_ids, num_patches=num_patches, sequence_length=seq, patches_as_queries=True,
        cross_attn_k=cfg.cross_attn_k, dtype=embeds.dtype,
    )
    _, cross_states = blt.local_encoder(
        input_ids=input_ids, inputs_embeds=embeds, attention_mask=local_mask, position_ids=position_ids,
        encoder_attention_mask=cross_mask, num_patches=num_patches, patch_ids=patch_ids,
    )
    cross_states = cross_states.view(batch, num_patches, -1)  # [B, P, D_global]
    global_mask = create_causal_mask(cfg, cross_states, None, None, position_ids=None)
    return blt.global_transformer(
        inputs_embeds=cross_states, attention_mask=global_mask,
        position_ids=torch.arange(num_patches, device=input_ids.device).unsqueeze(0),
    )


def pool_heads(width: int) -> int:
    """Heads of the attention pooler: POOL_HEADS, or the largest power of two below it that divides `width`."""
    heads = POOL_HEADS
    while width % heads:
        heads //= 2
    return heads


def pool(states: Any, mask: Any, pooling: str, query: Any = None, attention: Any = None) -> Any:
    """Pool patch states [B, P, D] over real patches (mask [B, P] bool, real patches first) → [B, D]."""
    import torch

    if pooling == "attention":  # learned query [D] → MultiheadAttention over the patches, padding masked
        q = query.expand(states.shape[0], 1, -1)  # [B, 1, D]
        out, _ = attention(q, states, states, key_padding_mask=~mask, need_weights=False)
        return out[:, 0]
    if pooling == "mean":
        weights = mask.to(states.dtype).unsqueeze(-1)
        return (states * weights).sum(1) / weights.sum(1)
    if pooling == "max":
        return states.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(1).values
    if pooling == "last":
        last = mask.sum(1) - 1
        return states[torch.arange(states.shape[0], device=states.device), last]
    scores = (states @ query) / math.sqrt(states.shape[-1])  # query: learned vector, masked softmax [B, P]
    weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=1)
    return (weights.unsqueeze(-1) * states).sum(1)


def _module_class():
    import torch
    from torch import nn

    class BltClassifierModule(nn.Module):
        """BltModel (decoder dropped) + LayerNorm + pooler + Linear head. Head side is float32."""

        def __init__(self, blt: Any, num_labels: int, pooling: str, generator: torch.Generator) -> None:
            super().__init__()
            self.blt = blt
            self.pooling = pooling
            width = blt.config.global_config.hidden_size
            self.norm = nn.LayerNorm(width)  # the global transformer's output has no final norm
            # zero query = uniform weights at the start (mean pooling), learned from there
            self.pool_query = nn.Parameter(torch.zeros(width)) if pooling in ("attention", "query") else None
            self.pool_attention = None
            if pooling == "attention":
                seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device="cpu"))
                with torch.random.fork_rng(devices=[]):  # MultiheadAttention initialises from the global RNG
                    torch.manual_seed(seed)
                    self.pool_attention = nn.MultiheadAttention(width, pool_heads(width), batch_first=True)
            self.head = nn.Linear(width, num_labels)
            with torch.no_grad():
                self.head.weight.normal_(0.0, 0.02, generator=generator)
                self.head.bias.zero_()

        def forward(self, input_ids: Any, patch_lengths: Any, patch_mask: Any) -> Any:
            """input_ids [B, S], patch_lengths [B, P], patch_mask [B, P] bool → logits [B, C] float32."""
            # the backbone only needs a graph when something in it trains (LoRA); probes run it under no_grad
            backbone_grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.blt.parameters())
            with torch.set_grad_enabled(backbone_grad):
                states = patch_states(self.blt, input_ids, patch_lengths)
            with torch.autocast(states.device.type, enabled=False):  # the head computes in float32, as documented
                pooled = pool(self.norm(states.float()), patch_mask, self.pooling, self.pool_query,
                              self.pool_attention)
                return self.head(pooled)

        def train(self, mode: bool = True):
            super().train(mode)
            if self.blt.patcher is not None:
                self.blt.patcher.eval()  # frozen: never in train mode
            return self

        def gradient_checkpointing_enable(self) -> None:
            """Checkpoint the global transformer's layers (the only part that keeps a graph under LoRA)."""
            self.blt.global_transformer.gradient_checkpointing_enable(
                gradient_checkpointing_kwargs={"use_reentrant": False})

    return BltClassifierModule


class BltClassifier:
    """Meets `noisebench.models.base.Classifier`. Batches: input_ids [B, S], attention_mask [B, S],
    patch_lengths [B, P], patch_mask [B, P] (CPU tensors from `encode`)."""

    def __init__(self, module: Any, info: dict, max_bytes: int, patcher_batch_tokens: int = 16384,
                 policy: str = "head") -> None:
        self.module = module
        self.info = info
        self.max_bytes = max_bytes
        self.policy = policy
        self.patcher_batch_tokens = patcher_batch_tokens
        self._patch_cache: PatchCache | None = None

    @property
    def patch_cache(self) -> PatchCache:
        """The boundaries cache of this patcher (its fingerprint reads the weights: computed on first use, so a
        model on the meta device, built only to count parameters, never needs it)."""
        if self._patch_cache is None:
            self._patch_cache = patch_cache_for(patcher_fingerprint(self.module.blt))
        return self._patch_cache

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """Ids per text (BOS + bytes). Also computes the patch boundaries of texts not seen before, in large
        length-sorted patcher batches: `fit` and `predict` call this on every text first, so their steps never
        run the patcher (not even in the first epoch)."""
        self.patch_lengths(texts)
        return [1 + min(len(t.encode("utf-8")), self.max_bytes) for t in texts]

    def patch_lengths(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's real patch lengths (cached; the patcher runs only on texts not seen before)."""
        ids = [byte_ids(t, self.max_bytes, self.policy) for t in texts]
        keys = [patch_key(row) for row in ids]
        missing = {k: row for k, row in zip(keys, ids, strict=True) if self.patch_cache.get(k) is None}
        if missing:
            self._run_patcher(missing)
        out = []
        for k in keys:
            bounds = self.patch_cache.get(k)
            if bounds is None:  # _run_patcher fills every missing key: a broken cache, not a user error
                raise RuntimeError(f"BLT patcher left no boundaries for text {k[:12]}")
            out.append(bounds)
        return out

    def patch_views(self, texts: Sequence[str]) -> list[PatchView]:
        """What the model makes of each text (bytes seen, patch lengths, entropy sum) for the patch stability
        measures (`noisebench.models.patching`); cached like the boundaries."""
        ids = [byte_ids(t, self.max_bytes, self.policy) for t in texts]
        lengths = self.patch_lengths(texts)
        keys = [patch_key(row) for row in ids]
        missing = {k: row for k, row in zip(keys, ids, strict=True) if self.patch_cache.entropy(k) is None}
        if missing:  # boundaries loaded from a cache file written without entropies
            self._run_patcher(missing)
        return [PatchView(bytes(i - BYTE_OFFSET for i in row[1:]), bounds, float(self.patch_cache.entropy(k) or 0.0))
                for row, bounds, k in zip(ids, lengths, keys, strict=True)]

    def patch_cache_file(self, directory: str | Path) -> Path:
        """Where this patcher's boundaries live in a cache folder: `<directory>/blt-patches-<fingerprint>.json`."""
        return Path(directory) / f"blt-patches-{self.patch_cache.fingerprint}.json"

    def load_patch_cache(self, directory: str | Path) -> int:
        """Merge boundaries saved by an earlier process for the same patcher (0 when none); returns how many."""
        return self.patch_cache.load(self.patch_cache_file(directory))

    def save_patch_cache(self, directory: str | Path) -> Path:
        """Persist every boundary computed so far (atomic write), so later processes skip the patcher — and reuse
        exactly the same boundaries, even where a bf16 entropy sits within rounding of the threshold."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        return self.patch_cache.save(self.patch_cache_file(directory))

    def _run_patcher(self, rows: dict[str, list[int]]) -> None:
        """Entropies of `rows` in length-sorted, right-padded chunks of ~patcher_batch_tokens ids."""
        import torch

        blt = self.module.blt
        device = next(blt.patcher.parameters()).device
        order = sorted(rows, key=lambda k: len(rows[k]))
        chunks: list[list[str]] = []
        current: list[str] = []
        for key in order:
            if current and (len(current) + 1) * len(rows[key]) > self.patcher_batch_tokens:
                chunks.append(current)
                current = []
            current.append(key)
        chunks.append(current)
        blt.patcher.eval()
        for chunk in chunks:
            width = len(rows[chunk[-1]])
            x = torch.zeros(len(chunk), width, dtype=torch.long)
            for r, key in enumerate(chunk):
                x[r, : len(rows[key])] = torch.tensor(rows[key])
            # autocast off: boundaries must not depend on whether training or prediction saw the text first
            with torch.no_grad(), torch.autocast(device.type, enabled=False):
                entropies, _, _ = blt.patcher(x.to(device))  # [b, S]; causal, so padding does not reach real bytes
            entropies = entropies.float().cpu().numpy()
            for r, key in enumerate(chunk):
                real = entropies[r, : len(rows[key])]
                self.patch_cache.put(key, patch_lengths_from_entropies(
                    real, blt.config.patching_threshold, blt.config.max_patch_length),
                    float(np.sum(real, dtype=np.float64)))

    def windows(self, texts: Sequence[str]) -> list[Window]:
        return [unit_window(t, "bytes", self.max_bytes, self.policy) for t in texts]

    def input_keys(self, texts: Sequence[str]) -> list[Any]:
        """The byte ids (the patch boundaries are a function of them)."""
        return [tuple(byte_ids(t, self.max_bytes, self.policy)) for t in texts]

    def encode(self, texts: Sequence[str]) -> dict[str, Any]:
        import torch

        ids = [byte_ids(t, self.max_bytes, self.policy) for t in texts]
        patches = self.patch_lengths(texts)
        seq = max(len(row) for row in ids)
        rows = [p.tolist() + ([seq - len(i)] if seq > len(i) else []) for i, p in zip(ids, patches, strict=True)]
        width = max(len(r) for r in rows)
        input_ids = torch.zeros(len(ids), seq, dtype=torch.long)
        attention = torch.zeros(len(ids), seq, dtype=torch.long)
        lengths = torch.zeros(len(ids), width, dtype=torch.long)
        for r, (row, plen) in enumerate(zip(ids, rows, strict=True)):
            input_ids[r, : len(row)] = torch.tensor(row)
            attention[r, : len(row)] = 1
            lengths[r, : len(plen)] = torch.tensor(plen)
        n_real = torch.tensor([len(p) for p in patches])
        mask = torch.arange(width).unsqueeze(0) < n_real.unsqueeze(1)  # the padding patch is never real
        return {"input_ids": input_ids, "attention_mask": attention, "patch_lengths": lengths, "patch_mask": mask}

    def forward(self, batch: dict[str, Any]) -> Any:
        return self.module(batch["input_ids"], batch["patch_lengths"], batch["patch_mask"])

    def trainable_state(self) -> dict[str, Any]:
        return {n: p.detach().cpu().clone() for n, p in self.module.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, Any]) -> None:
        from noisebench.models.common import load_trained_parameters

        load_trained_parameters(self.module, state, "BLT classifier")


TINY_THRESHOLD = 5.13  # the random tiny patcher's entropies lie in ~4.9-5.2 nats: ~1 byte in 4 starts a patch


def tiny_config(**overrides: Any) -> Any:
    """A 2-layer BLT config (d_global 128) for tests; `overrides` go to BltConfig. Its patching threshold is set so
    patching is not trivial: with BLT's default (1.34) every byte of the random patcher would be its own patch,
    while TINY_THRESHOLD gives patches of about 4 bytes, as BLT-1B has on English text."""
    from transformers import BltConfig

    kwargs: dict[str, Any] = dict(
        patcher_config=dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128),
        encoder_config=dict(hidden_size=64, num_attention_heads=4, hidden_size_global=128),
        decoder_config=dict(hidden_size=64, num_attention_heads=4, num_hidden_layers=2, hidden_size_global=128,
                            intermediate_size=128),
        global_config=dict(hidden_size=128, num_attention_heads=4, num_hidden_layers=2, intermediate_size=256),
        encoder_hash_byte_group_vocab=1000,
        patching_threshold=TINY_THRESHOLD,
    )
    kwargs.update(overrides)
    return BltConfig(**kwargs)


def random_model(config: Any, device: Any, dtype: Any) -> Any:
    """A BltModel with random weights drawn from the fixed BACKBONE_SEED (global RNG state left untouched)."""
    import torch
    from transformers import BltModel

    config._attn_implementation = "sdpa"
    config.use_cache = False
    devices = [device] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(BACKBONE_SEED)
        with torch.device(device):
            model = BltModel(config)
    return model.to(dtype)


def _load_backbone(spec: ModelSpec, options: ModelOptions, device: Any, dtype: Any) -> Any:
    from transformers import BltConfig, BltModel

    if spec.tiny:
        return random_model(tiny_config(), device, dtype)
    if options.random_init:
        return random_model(BltConfig(), device, dtype)
    from noisebench.models import hub

    model = hub.from_pretrained(BltModel, spec.source, dtype=dtype, attn_implementation="sdpa")
    model.config.use_cache = False
    return model.to(device)


def classifier_from_model(blt: Any, options: ModelOptions, *, source: str, drop_decoder: bool = True) -> BltClassifier:
    """Wrap a loaded BltModel: freeze it, add LoRA (recipe `lora`) and the pooling head. `drop_decoder=False` keeps
    the local decoder (benchmarks and tests compare against the stock forward); the classifier never runs it."""
    import torch

    if options.recipe not in ("probe", "lora"):
        raise UsageError(f"BLT supports recipes probe and lora, not {options.recipe!r}")
    pooling = options.pooling or "attention"
    if pooling not in POOLINGS:
        raise UsageError(f"unknown BLT pooling {pooling!r}; choose from: {', '.join(POOLINGS)}")
    max_bytes = TRUNCATION.resolve(options.max_length, "BLT")
    if drop_decoder:
        blt.local_decoder = None
    for param in blt.parameters():
        param.requires_grad_(False)
    generator = torch.Generator().manual_seed(options.seed)
    if options.recipe == "lora":
        _add_lora(blt, options, generator)
    module = _module_class()(blt, options.num_labels, pooling, generator)
    module.to(next(blt.global_transformer.parameters()).device)
    info = {
        "source": source, "tokenizer": "byte (BOS=1, byte+4, vocab 260)", "truncation": TRUNCATION.describe(max_bytes),
        "patching": "entropy (frozen patcher, cached boundaries)", "pooling": pooling, "licence": LICENCE,
        "lora_target_regex": lora_target_regex(options.lora_targets) if options.recipe == "lora" else None,
    }
    return BltClassifier(module, info, max_bytes, policy=options.truncation)


def _add_lora(blt: Any, options: ModelOptions, generator: Any) -> None:
    """LoRA (float32 adapters) in the global transformer's self-attention; A drawn from `generator`, B zero."""
    import torch
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=options.lora_rank, lora_alpha=options.lora_alpha, lora_dropout=options.lora_dropout,
                        target_modules=lora_target_regex(options.lora_targets))
    inject_adapter_in_model(config, blt)
    pattern = re.compile(r"global_transformer\.layers\.\d+\.self_attn\.[qkvo]_proj\.lora_[AB]\.")
    for name, param in blt.named_parameters():
        is_lora = "lora_" in name
        if is_lora and not pattern.search(name):
            raise RuntimeError(f"LoRA landed outside the global transformer: {name}")
        param.requires_grad_(is_lora)
        if is_lora:
            param.data = param.data.float()
    with torch.no_grad():
        for name, param in blt.named_parameters():
            if ".lora_A." in name:
                torch.nn.init.kaiming_uniform_(param, a=math.sqrt(5), generator=generator)


def require_weights(spec: ModelSpec) -> None:
    """Fail in one line, before torch loads, when `spec.source` is a hub id that is neither local nor cached while
    the Hub is unreachable; the message names the local-folder route `--model <name>:/path/to/folder`."""
    from noisebench.models import hub

    source = spec.source
    if (hub.local_dir(source) is None and not hub.looks_like_path(source) and not hub.hub_reachable()
            and not hub.in_cache(source)):
        raise hub.offline_error(source)
    hub.resolve_source(source)  # a missing local folder fails here too


def build(spec: ModelSpec, options: ModelOptions, device: Any) -> BltClassifier:
    """The family builder: backbone (tiny / random-init / hub) → frozen BLT + LoRA/probe head on `device`.
    The backbone is cast to the run's precision (bf16 / fp16 on GPUs, see noisebench.training.train.resolve_precision;
    float32 on the CPU); pooler, norm, head and LoRA are float32 and compute in float32 under autocast."""
    if not spec.tiny and not options.random_init:
        require_weights(spec)
    import torch

    device = torch.device(device)
    from noisebench.training.train import autocast_dtype, resolve_precision

    dtype = autocast_dtype(resolve_precision(options.precision, device)) or torch.float32
    blt = _load_backbone(spec, options, device, dtype)
    source = spec.source if not options.random_init or spec.tiny else "random init (benchmark only)"
    return classifier_from_model(blt.to(device), options, source=source)


DESCRIPTION = ("Byte Latent Transformer: entropy patches (cached), local encoder + global transformer, no local "
               "decoder; LayerNorm + attention/mean/last/max pooling over patches + linear head; LoRA only in the "
               "global self-attention; bytes truncated at 512 by default")
MODELS.register("blt", ModelSpec(
    name="blt", family="blt", source=HUB_ID, tokenizer="byte", params="4.6B (1.3B global; 3.1B hash-embedding rows)",
    recipes=("lora", "probe"), default_recipe="lora", build=build, default_lr={"probe": 1e-3, "lora": 2e-4},
    poolings=POOLINGS, licence=LICENCE, description=DESCRIPTION, generic_loader=False))
MODELS.register("blt-tiny", ModelSpec(
    name="blt-tiny", family="blt", source="tiny config (random init)", tokenizer="byte", params="0.9M",
    recipes=("lora", "probe"), default_recipe="lora", build=build, default_lr={"probe": 3e-3, "lora": 3e-3},
    poolings=POOLINGS, tiny=True, licence=LICENCE, version=2,  # v2: patching threshold TINY_THRESHOLD
    description="2-layer BLT (global d128, patcher d64), random weights; " + DESCRIPTION))
