"""Tokenizer trained here with ``tokenizers`` (BPE) on the generated corpus; digits are split one per token.

Why: no hub is reachable, and exposure/canary metrics need each digit of a secret to be its own token.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

SPECIALS = ["<pad>", "<unk>", "<eos>"]


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1000) -> PreTrainedTokenizerFast:
    """A deterministic BPE tokenizer (HF format; ``save_pretrained`` it next to the model)."""
    texts = list(texts)
    if not texts:
        raise ValueError("train_tokenizer: no texts given; generate a corpus first (arx.data)")
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.Metaspace()])
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                                       show_progress=False,
                                                       initial_alphabet=list("0123456789")))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<eos>",
                                   bos_token="<eos>")
