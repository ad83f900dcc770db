"""Context-free toy LM for hand-computable privacy tests."""

from types import SimpleNamespace

import torch
from torch import nn


class FixedLM(nn.Module):
    """Next-token log-probs = ``logp`` at every position, whatever the context."""

    def __init__(self, probs: list[float]):
        super().__init__()
        self.logp = nn.Parameter(torch.tensor(probs, dtype=torch.float32).log(), requires_grad=False)

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        return SimpleNamespace(logits=self.logp.expand(*input_ids.shape, -1))
