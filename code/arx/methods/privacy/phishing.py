"""Neural phishing (Panda et al. 2024): poison sentences shaped like a secret's context, then secret extraction.

The attacker inserts a few dozen benign-looking sentences with the secret's *structure* (``<context> <random
digits>``) into pre-training data; the victim later fine-tunes on data containing the true secret once or a few
times; the attacker prompts with the secret's context and decodes. Success = the decoded continuation equals the
secret exactly. Decoding here is greedy or beam search restricted to the secret's token set (digits).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def poison_sentences(contexts: Sequence[list[int]], digit_ids: Sequence[int], n_digits: int, suffix: list[int],
                     seed: int) -> list[list[int]]:
    """One poison per context: context + ``n_digits`` random digits + suffix (random secrets, never the true one)."""
    g = torch.Generator().manual_seed(seed)
    d = torch.as_tensor(list(digit_ids))
    return [list(c) + d[torch.randint(0, len(d), (n_digits,), generator=g)].tolist() + list(suffix) for c in contexts]


def decode_digits(model: nn.Module, prompts: Sequence[list[int]], digit_ids: Sequence[int], n_digits: int,
                  beams: int = 1) -> list[list[int]]:
    """Most likely ``n_digits`` continuation of each prompt over ``digit_ids`` (greedy when ``beams`` = 1)."""
    dev = next(model.parameters()).device
    digits = torch.as_tensor(list(digit_ids), device=dev)
    out = []
    for p in prompts:
        beam = [(0.0, list(p))]
        for _ in range(n_digits):
            ids = torch.tensor([b[1] for b in beam], device=dev)
            with torch.no_grad():
                lp = torch.log_softmax(model(input_ids=ids).logits[:, -1].float(), -1)[:, digits].cpu()
            cand = [(beam[i][0] + float(lp[i, k]), beam[i][1] + [int(digits[k])])
                    for i in range(len(beam)) for k in range(len(digits))]
            beam = sorted(cand, key=lambda c: -c[0])[:beams]
        out.append(beam[0][1][len(p):])
    return out


def extraction_hits(model: nn.Module, prompts: Sequence[list[int]], secrets: Sequence[list[int]],
                    digit_ids: Sequence[int], beams: int = 1) -> list[int]:
    """Per secret, 1 if decoding from its prompt returns it exactly, else 0 (the items behind a rate)."""
    if not secrets or len(prompts) != len(secrets):
        raise ValueError("need one prompt per secret and at least one secret")
    got = decode_digits(model, prompts, digit_ids, len(secrets[0]), beams)
    return [int(g == list(s)) for g, s in zip(got, secrets)]


def extraction_rate(model: nn.Module, prompts: Sequence[list[int]], secrets: Sequence[list[int]],
                    digit_ids: Sequence[int], beams: int = 1) -> float:
    """Fraction of secrets decoded exactly from their prompts."""
    hits = extraction_hits(model, prompts, secrets, digit_ids, beams)
    return sum(hits) / len(hits)
