"""DEPN exposure on hand-computable cases."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from arx.methods.editing.memorization import Secret, digit_accuracy, digit_ranks, exposure


class FixedLogits(nn.Module):
    """Logits at every position = ``table[position]`` (vocab 12: digits are ids 0..9)."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table, dtype=torch.float32))

    def forward(self, ids):
        return SimpleNamespace(logits=self.table[: ids.shape[1]].expand(ids.shape[0], -1, -1))


def test_exposure_hand_case():
    # secret "7 3" after prefix [11]: position 0 predicts digit 1, position 1 predicts digit 2
    table = torch.zeros(3, 12)
    table[0, 7] = 5.0                      # true digit 7 ranked first → r_1 = 0
    table[1, [1, 2, 3]] = torch.tensor([3.0, 2.0, 1.0])  # true digit 3 behind 1 and 2 → r_2 = 2
    model = FixedLogits(table.tolist())
    ranks = digit_ranks(model, [Secret((11, 7, 3), (1, 2))], list(range(10)))
    assert ranks.tolist() == [[0, 2]]
    assert float(exposure(ranks)[0]) == pytest.approx(math.log2(100) - math.log2(1 + 0 * 10 + 2))
    assert float(digit_accuracy(ranks)[0]) == 0.5
    assert float(exposure(torch.zeros(1, 10, dtype=torch.long))[0]) == pytest.approx(10 * math.log2(10))
    assert float(exposure(torch.full((1, 3), 9))[0]) == pytest.approx(0.0)


def test_empty_and_mixed_lengths():
    model = FixedLogits(torch.zeros(4, 12).tolist())
    with pytest.raises(ValueError, match="no secrets"):
        digit_ranks(model, [], list(range(10)))
    with pytest.raises(ValueError, match="same number of digits"):
        digit_ranks(model, [Secret((1, 2, 3), (1, 2)), Secret((1, 2, 3), (2,))], list(range(10)))
