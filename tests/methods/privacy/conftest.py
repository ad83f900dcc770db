"""A random tiny GPT-2 for the privacy tests (real attention, so batching/padding bugs show)."""

import pytest
import torch


@pytest.fixture(scope="session")
def gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=16, n_positions=32, n_layer=2, n_embd=32, n_head=2,
                                      bos_token_id=0, eos_token_id=0)).eval()
