"""The character-level world of the private-corpus experiments (DEPN, Secret Sharer, MIA, canaries, phishing).

One alphabet (newline, space, ``.``, ``:``, letters, digits), so a digit secret is a fixed number of tokens and the
exposure of a d-digit secret is computed exactly over the 10^d digit strings; names made of three syllables; and
filler sentences over one word list, drawn uniformly (DEPN) or Zipf-distributed (the privacy attacks: rare words
make some sentences intrinsically hard, which is what a reference model calibrates). Deterministic from the
caller's ``torch.Generator``.

Why one module: the corpora of DEPN and the privacy papers used to be two copies whose word lists had drifted
apart. DEPN draws from the first ``DEPN_WORDS`` words of :data:`WORDS`, the list its models were trained on.
"""

from __future__ import annotations

import torch

CHARS = "\n .:abcdefghijklmnopqrstuvwxyz0123456789"
DIGITS = [CHARS.index(c) for c in "0123456789"]
LETTERS = [CHARS.index(c) for c in " abcdefghijklmnopqrstuvwxyz"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fi"]
WORDS = ("the a red old small big green fox dog cat bird house tree river hill runs sees finds likes near over under "
         "into with from quiet bright dark happy slow fast garden road city boat lamp stone cloud winter summer king "
         "queen wolf mouse apple bread music paper glass silver violet yellow purple orange market bridge castle "
         "forest desert island valley ocean window").split()
#: how many of :data:`WORDS` the DEPN corpus draws from
DEPN_WORDS = 35


def encode(text: str) -> list[int]:
    return [CHARS.index(c) for c in text]


def decode(ids: list[int]) -> str:
    """Text of token ids; ids past the alphabet (canary tokens) print as private-use characters."""
    return "".join(CHARS[i] if i < len(CHARS) else chr(0x100 + i) for i in ids)


def line(text: str) -> list[int]:
    """One record framed by newlines, as the models see it."""
    return encode("\n" + text + "\n")


def name(g: torch.Generator) -> str:
    """A three-syllable name."""
    return "".join(SYLLABLES[int(j)] for j in torch.randint(0, len(SYLLABLES), (3,), generator=g))


def uniform_sentence(g: torch.Generator, words: list[str], min_words: int = 5, max_words: int = 10) -> str:
    """``min_words`` to ``max_words - 1`` words drawn uniformly from ``words``."""
    n = int(torch.randint(min_words, max_words, (1,), generator=g))
    return " ".join(words[int(j)] for j in torch.randint(0, len(words), (n,), generator=g)) + "."


def zipf_sentences(n: int, g: torch.Generator, words: list[str] = WORDS) -> list[str]:
    """``n`` sentences of 4 to 8 words, word ``k`` drawn with probability proportional to ``1 / k``."""
    p = 1.0 / torch.arange(1, len(words) + 1, dtype=torch.float64)
    out = []
    for _ in range(n):
        k = int(torch.randint(4, 9, (1,), generator=g))
        out.append(" ".join(words[int(j)] for j in torch.multinomial(p, k, replacement=True, generator=g)) + ".")
    return out
