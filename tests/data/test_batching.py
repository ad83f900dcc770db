"""Right padding: shapes, pad value, mask; a causal LM scores padded rows like unpadded ones."""

import pytest
import torch

from arx.data.batching import pad_right
from arx.models import build_model


def test_pad_right_by_hand():
    ids, mask = pad_right([[5, 6, 7], [8]], pad=2)
    assert ids.tolist() == [[5, 6, 7], [8, 2, 2]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]
    with pytest.raises(ValueError, match="no sequences"):
        pad_right([])


def test_padded_rows_keep_their_logits():
    torch.set_num_threads(1)
    model = build_model("llama", "xs", 30, seed=0)
    seqs = [[1, 2, 3, 4, 5], [6, 7]]
    ids, mask = pad_right(seqs)
    with torch.no_grad():
        batched = model(input_ids=ids, attention_mask=mask).logits
        alone = model(input_ids=torch.tensor([seqs[1]])).logits
    torch.testing.assert_close(batched[1, :2], alone[0], rtol=1e-5, atol=1e-5)
