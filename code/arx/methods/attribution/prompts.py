"""Prompts whose next token is the target (facts, private items): batching, log-probabilities, ranking metrics.

Why one place: integrated gradients, ablation, expert blocking, head masking and Gated-LPI all score the same
quantity, log P(target | prompt) at the prompt's last token, on right-padded batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from arx.models.adapters import gated


class AttributionError(ValueError):
    """Bad input to an attribution method (dense model to an MoE analysis, k too large, bad shapes)."""


@dataclass
class FactBatch:
    """Right-padded prompts; ``pos`` is each prompt's last token, ``target`` the next token to score, ``relation``
    a group label (relation type of a fact; 0 when there is none)."""

    ids: torch.Tensor
    mask: torch.Tensor
    pos: torch.Tensor
    target: torch.Tensor
    relation: torch.Tensor

    def __post_init__(self) -> None:
        n = self.ids.shape[0]
        if self.mask.shape != self.ids.shape or any(t.shape != (n,) for t in (self.pos, self.target, self.relation)):
            raise AttributionError(f"FactBatch shapes disagree: ids {tuple(self.ids.shape)}, mask "
                                   f"{tuple(self.mask.shape)}, pos/target/relation need shape ({n},)")

    @classmethod
    def single(cls, prefix: torch.Tensor, target: int) -> FactBatch:
        """One prompt (1-D token ids) whose next token is ``target``."""
        prefix = torch.as_tensor(prefix).reshape(1, -1)
        if prefix.numel() == 0:
            raise AttributionError("empty prefix: attribution needs at least one input token before the target")
        z = torch.zeros(1, dtype=torch.long)
        return cls(prefix, torch.ones_like(prefix), z + prefix.shape[1] - 1, z + int(target), z)

    def __len__(self) -> int:
        return self.ids.shape[0]

    def take(self, idx: torch.Tensor) -> FactBatch:
        return FactBatch(self.ids[idx], self.mask[idx], self.pos[idx], self.target[idx], self.relation[idx])

    def repeat(self, r: int) -> FactBatch:
        """Each fact ``r`` times in a row (row i*r + j is fact i)."""
        return FactBatch(*(t.repeat_interleave(r, dim=0) for t in (self.ids, self.mask, self.pos, self.target,
                                                                    self.relation)))

    def to(self, device) -> FactBatch:
        return FactBatch(*(t.to(device) for t in (self.ids, self.mask, self.pos, self.target, self.relation)))


def answer_logits(model: nn.Module, batch: FactBatch) -> torch.Tensor:
    """``[N, vocab]`` logits at each prompt's last token."""
    logits = model(input_ids=batch.ids, attention_mask=batch.mask).logits
    return logits[torch.arange(len(batch), device=logits.device), batch.pos]


def target_logprob(model: nn.Module, batch: FactBatch) -> torch.Tensor:
    """``[N]`` log P(target | prompt)."""
    return torch.log_softmax(answer_logits(model, batch).float(), -1).gather(1, batch.target[:, None])[:, 0]


@torch.no_grad()
def ranking_metrics(model: nn.Module, batch: FactBatch, gates=None, blocked=None, batch_size: int = 256,
                    k: int = 10) -> dict[str, float]:
    """MRR and HIT@k of the target among the whole vocabulary (optionally under gates/blocking)."""
    ranks = []
    device = next(model.parameters()).device
    with gated(model, gates, blocked):
        for s in range(0, len(batch), batch_size):
            b = batch.take(torch.arange(s, min(s + batch_size, len(batch)))).to(device)
            logits = answer_logits(model, b)
            gold = logits.gather(1, b.target[:, None])
            ranks.append(1 + (logits > gold).sum(-1))
    r = torch.cat(ranks).double().cpu()
    return {"mrr": float((1 / r).mean()), f"hit@{k}": float((r <= k).double().mean()), "n": int(len(r))}
