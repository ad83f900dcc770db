"""Deterministic synthetic corpora and the tokenizer trained on them."""

from arx.data.private import PrivateCorpus, private_corpus
from arx.data.tokenizer import train_tokenizer

__all__ = ["PrivateCorpus", "private_corpus", "train_tokenizer"]
