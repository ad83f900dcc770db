"""IG over FFN neurons: captum agreement, exactness of the speed-ups, completeness, a planted neuron, bad inputs."""

import pytest
import torch
from captum.attr import LayerIntegratedGradients
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from arx.methods.attribution.ig import ig_sequence, integrated_gradients
from arx.methods.attribution.neurons import (
    SelectionError,
    aggregate,
    random_units_like,
    select_threshold,
    select_topk,
)
from arx.methods.attribution.prompts import AttributionError
from arx.models import AdapterError, get_adapter

torch.set_num_threads(1)
V = 40


def gpt2(layers=3, seed=0):
    torch.manual_seed(seed)
    return GPT2LMHeadModel(GPT2Config(vocab_size=V, n_positions=32, n_embd=32, n_layer=layers, n_head=4,
                                      bos_token_id=0, eos_token_id=0)).eval()


class Probe(nn.Module):
    """Identity at a_l[:, t, :] so captum's layer hook replaces exactly the KN/DEPN quantity; ``scale`` = 0 gives
    the zero baseline through captum's own baseline pass."""

    def forward(self, x, scale):
        return x * scale[:, None]


def captum_layer(model, ids, target, layer, steps, objective):
    probe = Probe()
    site = get_adapter(model).ffn_out(layer)
    state = {}

    def hook(_m, args):
        x = args[0]
        return (torch.cat([x[:, :-1], probe(x[:, -1], state["s"])[:, None]], 1),)

    h = site.register_forward_pre_hook(hook)

    def fwd(s, inp):
        state["s"] = s
        lp = torch.log_softmax(model(inp).logits[:, -1], -1)[:, target]
        return lp if objective == "logprob" else lp.exp()

    try:
        lig = LayerIntegratedGradients(fwd, probe)
        attr = lig.attribute(torch.ones(1), baselines=torch.zeros(1), additional_forward_args=(ids[None],),
                             n_steps=steps, method="riemann_left", internal_batch_size=steps)
    finally:
        h.remove()
    return attr[0].detach()


@pytest.mark.parametrize("objective", ["prob", "logprob"])
def test_agrees_with_captum_layer_ig(objective):
    model = gpt2()
    g = torch.Generator().manual_seed(1)
    for _ in range(3):
        ids = torch.randint(0, V, (9,), generator=g)
        target = int(torch.randint(0, V, (1,), generator=g))
        ours = integrated_gradients(model, ids, target, steps=20, rule="left", objective=objective)
        ref = torch.stack([captum_layer(model, ids, target, l, 20, objective) for l in range(3)])
        assert ref.abs().sum() > 0 and ours.shape == ref.shape
        r = torch.corrcoef(torch.stack([ours.flatten(), ref.flatten()]))[0, 1]
        assert r >= 0.99
        assert torch.allclose(ours, ref, atol=1e-6, rtol=1e-4)


def test_cache_and_chunking_are_exact_llama():
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                                         num_attention_heads=4, num_key_value_heads=2)).eval()
    ids = torch.randint(0, V, (7,))
    a = integrated_gradients(model, ids, 5, steps=8)
    b = integrated_gradients(model, ids, 5, steps=8, use_cache=False, max_rows=8)
    assert a.shape == (3, 48) and torch.allclose(a, b, atol=1e-6)


def test_completeness_large_m():
    model = gpt2()
    ids = torch.randint(0, V, (8,))
    scores = integrated_gradients(model, ids, 3, steps=64, rule="middle")
    with torch.no_grad():
        f1 = torch.log_softmax(model(ids[None]).logits[0, -1], -1)[3]
        for l in range(3):
            h = get_adapter(model).ffn_out(l).register_forward_pre_hook(
                lambda _m, a: (torch.cat([a[0][:, :-1], torch.zeros_like(a[0][:, -1:])], 1),))
            f0 = torch.log_softmax(model(ids[None]).logits[0, -1], -1)[3]
            h.remove()
            assert abs(float(scores[l].sum()) - float(f1 - f0)) <= 1e-3 * max(1.0, abs(float(f1 - f0)))


def test_planted_neuron_is_detected():
    model = gpt2()
    layer, neuron, target = 1, 17, 11
    with torch.no_grad():
        mlp = model.transformer.h[layer].mlp
        mlp.c_fc.bias[neuron] = 4.0  # always on (GELU(4) ≈ 4)
        w = model.lm_head.weight[target]
        w.mul_(3.0 / w.norm())  # a readable unembedding for the target (tied; the target is not in the input)
        mlp.c_proj.weight[neuron] = 5.0 * w / w.norm()  # writes the target's unembedding
        assert torch.softmax(model(torch.tensor([[1, 2, 3]])).logits[0, -1], -1)[target] > 0.5
    scores = ig_sequence(model, torch.tensor([1, 2, 3, target, target]), [3, 4], steps=20, objective="prob")
    assert select_topk(scores, 1) == [(layer, neuron)]
    assert (layer, neuron) in select_threshold(scores, 0.1)


def test_bad_inputs_name_the_problem():
    model = gpt2()
    ids = torch.tensor([1, 2, 3])
    with pytest.raises(AttributionError, match="unknown layer"):
        integrated_gradients(model, ids, 1, layers=[5])
    with pytest.raises(AttributionError, match="empty prefix"):
        integrated_gradients(model, torch.tensor([], dtype=torch.long), 1)
    with pytest.raises(AdapterError, match="no 'expert' units .* needs an MoE model"):
        integrated_gradients(model, ids, 1, unit="expert")
    with pytest.raises(AdapterError, match="unknown unit type"):
        integrated_gradients(model, ids, 1, unit="synapse")
    with pytest.raises(AttributionError, match="unknown path"):
        integrated_gradients(model, ids, 1, path="diagonal")
    with pytest.raises(AttributionError, match="Riemann rule"):
        integrated_gradients(model, ids, 1, rule="simpson")
    with pytest.raises(AttributionError, match="vocabulary"):
        integrated_gradients(model, ids, V + 3)
    with pytest.raises(SelectionError, match="k=1000"):
        select_topk(torch.rand(3, 128), 1000)
    with pytest.raises(SelectionError, match="empty item list"):
        aggregate([])


def test_aggregator_keeps_recurring_units():
    items = [[(0, 1), (1, 2)], [(0, 1), (2, 3)], [(0, 1), (1, 2)], [(2, 9)]]
    assert aggregate(items, 0.5) == [(0, 1), (1, 2)]
    assert aggregate(items, 0.75) == [(0, 1)]


def test_random_control_is_layer_matched_and_avoids_the_selection():
    selected = [(0, 1), (0, 2), (0, 3), (2, 0)]
    g = torch.Generator().manual_seed(0)
    draws = [random_units_like(selected, 8, g, exclude=selected) for _ in range(50)]
    for d in draws:
        assert sorted(l for l, _ in d) == [0, 0, 0, 2] and len(set(d)) == 4 and not set(d) & set(selected)
    assert len({tuple(sorted(d)) for d in draws}) > 10  # random, not a fixed pick
    with pytest.raises(SelectionError, match="layer 0"):
        random_units_like([(0, i) for i in range(6)], 8, g, exclude=[(0, 6), (0, 7), (0, 0)])
