"""Offline tokenizers for the tiny (random-weight) model variants, trained on the run's clean training texts.

Both builders are deterministic functions of the texts (same texts → same vocabulary and ids in any process) and
return a `transformers.PreTrainedTokenizerFast` with right padding and head truncation, the interface the real
checkpoints' tokenizers have.

- `wordpiece_tokenizer` (bert-tiny, minilm-tiny): BERT normalisation (lower-case, accents stripped) and
  pre-tokenisation; vocabulary = 5 specials + every character seen (and printable ASCII) + the same with the `##`
  continuation prefix + the most frequent words (count descending, then alphabetical) up to `vocab_size`. Words
  outside the vocabulary fall back to characters. Built here rather than with `tokenizers`' WordPiece trainer,
  which breaks count ties in hash order and so changes between processes.
- `byte_bpe_tokenizer` (roberta-tiny): byte-level BPE (GPT-2/RoBERTa style) trained with `tokenizers`' BPE
  trainer, whose result is the same in every process (checked by tests/test_models_tiny.py).
"""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BPE_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
DEFAULT_VOCAB = 1500


def _words(texts: Iterable[str]) -> Counter:
    from tokenizers import normalizers, pre_tokenizers

    normalizer = normalizers.BertNormalizer(lowercase=True)
    pre = pre_tokenizers.BertPreTokenizer()
    counts: Counter = Counter()
    for text in texts:
        counts.update(word for word, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    return counts


def wordpiece_vocab(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB) -> dict[str, int]:
    """token → id: specials, characters, `##` characters, then frequent words (see module docstring)."""
    counts = _words(texts)
    chars = sorted(set(string.printable.strip()) | {c for word in counts for c in word})
    tokens = list(WORDPIECE_SPECIALS) + chars + ["##" + c for c in chars]
    seen = set(tokens)
    room = max(0, vocab_size - len(tokens))
    ranked = sorted((w for w in counts if len(w) > 1 and w not in seen), key=lambda w: (-counts[w], w))
    tokens += ranked[:room]
    return {token: i for i, token in enumerate(tokens)}


def wordpiece_tokenizer(texts: Sequence[str], vocab_size: int = DEFAULT_VOCAB) -> Any:
    """A BERT-style WordPiece tokenizer (`[CLS] text [SEP]`, pad id 0) built from `texts`."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = wordpiece_vocab(texts, vocab_size)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])])
    tok.decoder = decoders.WordPiece()
    return _wrap(tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]",
                 mask_token="[MASK]")


def byte_bpe_tokenizer(texts: Sequence[str], vocab_size: int = DEFAULT_VOCAB) -> Any:
    """A RoBERTa-style byte-level BPE tokenizer (`<s> text </s>`, pad id 1) trained on `texts`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(BPE_SPECIALS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(list(texts), trainer)
    sep, cls = tok.token_to_id("</s>"), tok.token_to_id("<s>")
    assert sep is not None and cls is not None  # both are special tokens of the trainer
    tok.post_processor = processors.RobertaProcessing(("</s>", sep), ("<s>", cls), add_prefix_space=False,
                                                      trim_offsets=False)
    tok.decoder = decoders.ByteLevel()
    return _wrap(tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>", cls_token="<s>",
                 sep_token="</s>", mask_token="<mask>")


def _wrap(tok: Any, **special: str) -> Any:
    from transformers import PreTrainedTokenizerFast

    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=1_000_000, **special)
    fast.padding_side = "right"
    fast.truncation_side = "right"
    return fast
