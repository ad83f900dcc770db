"""DEPN edit: runtime gate and persistent (saved) edit give identical logits; the edit really removes the neuron."""

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from arx.methods.editing import EditError, edited, persistent_edit, save_edited

torch.set_num_threads(1)
UNITS = [(0, 3), (0, 70), (1, 5), (2, 127)]


def models():
    torch.manual_seed(0)
    yield GPT2LMHeadModel(GPT2Config(vocab_size=40, n_positions=32, n_embd=32, n_layer=3, n_head=4,
                                     bos_token_id=0, eos_token_id=0)).eval()
    yield LlamaForCausalLM(LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=128, num_hidden_layers=3,
                                       num_attention_heads=4, num_key_value_heads=2)).eval()


@pytest.mark.parametrize("model", list(models()), ids=["gpt2", "llama"])
def test_runtime_and_saved_edit_are_identical(model, tmp_path):
    ids = torch.randint(0, 40, (2, 9))
    with torch.no_grad():
        clean = model(ids).logits
        with edited(model, UNITS):
            hooked = model(ids).logits
        after = model(ids).logits  # hook removed
        saved = AutoModelForCausalLM.from_pretrained(save_edited(model, UNITS, tmp_path / "edited")).eval()
        persisted = saved(ids).logits
    assert not torch.allclose(clean, hooked)
    assert torch.equal(after, clean)
    assert torch.allclose(hooked, persisted, atol=1e-6, rtol=0)
    assert torch.allclose(persistent_edit(model, UNITS)(ids).logits, hooked, atol=1e-6)


def test_bad_units():
    model = next(models())
    with pytest.raises(EditError, match="unknown layer 7"):
        persistent_edit(model, [(7, 0)])
    with pytest.raises(EditError, match="neuron 500 of layer 0"):
        with edited(model, [(0, 500)]):
            pass
