"""Causal LMs (Qwen2.5 by default) as sequence classifiers, fine-tuned with LoRA or as a linear probe.

Registry names: `qwen-lora` (`Qwen/Qwen2.5-1.5B`, Apache-2.0) and `qwen-tiny` (a 2-layer Qwen2 config with random
weights and a byte-level BPE tokenizer trained offline on `options.train_texts`, for tests).

Model: `AutoModelForSequenceClassification` (Qwen2ForSequenceClassification for Qwen): the score head reads the
rightmost non-pad token, so left and right padding both work once `config.pad_token_id` is set (without it batches
> 1 fail). The pad id is the tokenizer's pad token (`<|endoftext|>` = 151643 for Qwen, also its EOS), else its EOS.
`build` takes any causal-LM source the hub loader accepts (hub id or local directory): `--model qwen-lora:<id|dir>`
(`noisebench.models.resolve_model`) runs this family on other weights, e.g. a local copy of Qwen2.5-1.5B offline.
`random_init` (benchmarks only) with neither Hub nor cache builds Qwen2.5-1.5B's shapes from `QWEN25_15B_SHAPES`
with a BPE tokenizer trained on the train texts.

Recipes: `lora` (default; peft task SEQ_CLS, LoRA on q,v or q,k,v,o of every layer; the score head trains too) and
`probe` (everything frozen except the score head). The score head is float32 (it reads the backbone's states cast
to float32); the backbone is bfloat16 on CUDA and float32 elsewhere; LoRA adapters are float32.

Tokens: no BOS/EOS added; head truncation to `max_length` tokens (default 512), right padding. An empty text is encoded
as one pad token that is attended to, so it still gets a defined representation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from noisebench.errors import UsageError
from noisebench.models.base import MODELS, ModelOptions, ModelSpec
from noisebench.models.common import BACKBONE_SEED, Truncation, Window, kept, right_pad, token_window

HUB_ID = "Qwen/Qwen2.5-1.5B"
LICENCE = "Apache-2.0 (Qwen2.5-1.5B)"
TRUNCATION = Truncation("tokens", 512, 32768, "no BOS/EOS is added")
LORA_TARGETS = {"qv": ["q_proj", "v_proj"], "qkvo": ["q_proj", "k_proj", "v_proj", "o_proj"]}
TINY_VOCAB = 1000
PAD_TEXT = "<|endoftext|>"
# Qwen2.5-1.5B's shapes (its config.json), for `--random-init` benchmarks where the Hub and the cache are out of reach
QWEN25_15B_SHAPES: dict[str, Any] = dict(vocab_size=151936, hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                         num_attention_heads=12, num_key_value_heads=2, max_position_embeddings=32768,
                         rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True)
BENCH_VOCAB = 8000  # offline random-init benchmark: BPE trained on the train texts (~4 bytes/token on English)


def _float_head_class():
    import torch
    from torch import nn

    class Float32Head(nn.Module):
        """Linear score head kept in float32: casts the hidden states [B, S, D] up, returns float32 logits."""

        def __init__(self, hidden: int, num_labels: int) -> None:
            super().__init__()
            self.linear = nn.Linear(hidden, num_labels, bias=False)

        def forward(self, hidden_states: Any) -> Any:
            with torch.autocast(hidden_states.device.type, enabled=False):  # float32 even inside autocast
                return self.linear(hidden_states.float())

    return Float32Head


def tiny_tokenizer(train_texts: Sequence[str], vocab_size: int = TINY_VOCAB) -> Any:
    """Byte-level BPE trained on `train_texts` (sorted, so the order they arrive in does not matter), offline."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD_TEXT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(sorted(train_texts), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD_TEXT, eos_token=PAD_TEXT)


def tiny_model(tokenizer: Any, num_labels: int) -> Any:
    """A 2-layer Qwen2ForSequenceClassification (d 64, GQA 4/2 heads) with weights from BACKBONE_SEED."""
    import torch
    from transformers import Qwen2Config, Qwen2ForSequenceClassification

    head: dict[str, Any] = {"num_labels": num_labels}  # a PretrainedConfig keyword, not in Qwen2Config's signature
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         pad_token_id=tokenizer.pad_token_id, use_cache=False, **head)
    config._attn_implementation = "sdpa"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(BACKBONE_SEED)
        return Qwen2ForSequenceClassification(config)


class QwenClassifier:
    """Meets `noisebench.models.base.Classifier`. Batches: input_ids [B, S], attention_mask [B, S]."""

    def __init__(self, module: Any, tokenizer: Any, info: dict, max_tokens: int, policy: str = "head") -> None:
        self.module = module
        self.tokenizer = tokenizer
        self.info = info
        self.max_tokens = max_tokens
        self.policy = policy

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        if self.policy == "head":
            out = self.tokenizer(list(texts), add_special_tokens=False, truncation=True, max_length=self.max_tokens)
            rows = out["input_ids"]
        else:
            rows = [[row[i] for i in kept(len(row), self.max_tokens, self.policy)]
                    for row in self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]]
        return [ids or [self.tokenizer.pad_token_id] for ids in rows]

    def windows(self, texts: Sequence[str]) -> list[Window]:
        return token_window(self.tokenizer, texts, self.max_tokens, self.policy)

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return [len(ids) for ids in self._ids(texts)]

    def input_keys(self, texts: Sequence[str]) -> list[Any]:
        return [tuple(ids) for ids in self._ids(texts)]

    def encode(self, texts: Sequence[str]) -> dict[str, Any]:
        input_ids, attention = right_pad(self._ids(texts), self.tokenizer.pad_token_id)
        return {"input_ids": input_ids, "attention_mask": attention}

    def forward(self, batch: dict[str, Any]) -> Any:
        """Logits [B, C] float32."""
        out = self.module(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False)
        return out.logits

    def trainable_state(self) -> dict[str, Any]:
        return {n: p.detach().cpu().clone() for n, p in self.module.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, Any]) -> None:
        from noisebench.models.common import load_trained_parameters

        load_trained_parameters(self.module, state, "Qwen classifier")


def offline_random_init(spec: ModelSpec, options: ModelOptions) -> bool:
    """Benchmark-only random init of the default Qwen2.5-1.5B when its config/tokenizer cannot be fetched: the
    built-in shapes (QWEN25_15B_SHAPES) and a BPE tokenizer trained on the train texts."""
    if spec.tiny or not options.random_init or spec.source != HUB_ID:
        return False
    from noisebench.models import hub

    return not hub.available_offline(HUB_ID) and not hub.hub_reachable()


def _load(spec: ModelSpec, options: ModelOptions, dtype: Any) -> tuple[Any, Any]:
    """(tokenizer, model) for a tiny config or a hub/local source; the model's pad_token_id is set."""
    if spec.tiny:
        tokenizer = tiny_tokenizer(options.train_texts)
        return tokenizer, tiny_model(tokenizer, options.num_labels)
    if offline_random_init(spec, options):
        import torch
        from transformers import Qwen2Config, Qwen2ForSequenceClassification

        if not options.train_texts:
            raise UsageError("offline --random-init of qwen-lora trains its benchmark tokenizer on the train texts; "
                             "none were given")
        tokenizer = tiny_tokenizer(options.train_texts, BENCH_VOCAB)
        head: dict[str, Any] = {"num_labels": options.num_labels}
        config = Qwen2Config(**QWEN25_15B_SHAPES, **head, pad_token_id=tokenizer.pad_token_id, use_cache=False)
        config._attn_implementation = "sdpa"
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(BACKBONE_SEED)
            return tokenizer, Qwen2ForSequenceClassification(config).to(dtype)
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    from noisebench.models import hub

    tokenizer = hub.from_pretrained(AutoTokenizer, spec.source)
    if tokenizer.pad_token_id is None:
        if tokenizer.eos_token_id is None:
            raise UsageError(f"{spec.source}: its tokenizer has neither a pad nor an EOS token to pad with")
        tokenizer.pad_token = tokenizer.eos_token
    if options.random_init:  # benchmark-only: full-size config, random weights
        import torch

        config = hub.from_pretrained(AutoConfig, spec.source)
        config.num_labels, config.pad_token_id = options.num_labels, tokenizer.pad_token_id
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(BACKBONE_SEED)
            model = AutoModelForSequenceClassification.from_config(config, dtype=dtype)
        return tokenizer, model
    model = hub.from_pretrained(AutoModelForSequenceClassification, spec.source, num_labels=options.num_labels,
                                pad_token_id=tokenizer.pad_token_id, dtype=dtype, attn_implementation="sdpa")
    return tokenizer, model


def build(spec: ModelSpec, options: ModelOptions, device: Any) -> QwenClassifier:
    """The family builder: tokenizer + sequence-classification model with a float32 score head, LoRA or probe."""
    if options.recipe not in ("lora", "probe"):
        raise UsageError(f"{spec.name} supports recipes lora and probe, not {options.recipe!r}")
    if options.pooling not in (None, "last"):
        raise UsageError(f"{spec.name} pools the last token only (got pooling {options.pooling!r})")
    max_tokens = TRUNCATION.resolve(options.max_length, spec.name)
    if options.lora_targets not in LORA_TARGETS:
        raise UsageError(f"unknown LoRA targets {options.lora_targets!r}; choose from: {', '.join(LORA_TARGETS)}")
    if not spec.tiny and not offline_random_init(spec, options):
        from noisebench.models.blt import require_weights

        require_weights(spec)
    import torch

    device = torch.device(device)
    from noisebench.training.train import autocast_dtype, resolve_precision

    dtype = autocast_dtype(resolve_precision(options.precision, device)) or torch.float32
    tokenizer, model = _load(spec, options, dtype)
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.use_cache = False
    hidden = model.config.get_text_config().hidden_size
    head = _float_head_class()(hidden, options.num_labels)
    with torch.no_grad():
        head.linear.weight.normal_(0.0, 0.02, generator=torch.Generator().manual_seed(options.seed))
    model.score = head
    for param in model.parameters():
        param.requires_grad_(False)
    if options.recipe == "lora":
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(task_type="SEQ_CLS", r=options.lora_rank, lora_alpha=options.lora_alpha,
                          lora_dropout=options.lora_dropout, target_modules=LORA_TARGETS[options.lora_targets])
        generator = torch.Generator().manual_seed(options.seed)
        module = get_peft_model(model, lora)
        with torch.no_grad():  # peft draws lora_A from the global RNG: redraw it from the seed
            import math

            for name, param in module.named_parameters():
                if ".lora_A." in name:
                    torch.nn.init.kaiming_uniform_(param, a=math.sqrt(5), generator=generator)
    else:
        head.linear.weight.requires_grad_(True)
        module = model
    module.to(device)
    info = {"source": spec.source if not options.random_init else "random init (benchmark only)",
            "tokenizer": "byte-level BPE (trained on train texts)" if spec.tiny or offline_random_init(spec, options)
            else "byte-level BPE",
            "truncation": TRUNCATION.describe(max_tokens), "pooling": "last non-pad token",
            "pad_token_id": tokenizer.pad_token_id}
    return QwenClassifier(module, tokenizer, info, max_tokens, policy=options.truncation)


DESCRIPTION = ("causal LM as a sequence classifier (last non-pad token, float32 score head), LoRA on q,v or q,k,v,o "
               "with peft SEQ_CLS; pad = <|endoftext|>; 512 tokens by default")
MODELS.register("qwen-lora", ModelSpec(
    name="qwen-lora", family="qwen", source=HUB_ID, tokenizer="bpe", params="1.54B", recipes=("lora", "probe"),
    default_recipe="lora", build=build, default_lr={"lora": 2e-4, "probe": 1e-3}, licence=LICENCE,
    description="Qwen2.5-1.5B " + DESCRIPTION))
MODELS.register("qwen-tiny", ModelSpec(
    name="qwen-tiny", family="qwen", source="tiny config (random init)", tokenizer="bpe", params="~0.15M",
    recipes=("lora", "probe"), default_recipe="lora", build=build, default_lr={"lora": 3e-3, "probe": 3e-3},
    tiny=True, licence="Apache-2.0 (noisebench's tiny config)",
    description="2-layer Qwen2 (d64, GQA 4/2), random weights, byte-level BPE trained on the training texts; "
                + DESCRIPTION))
