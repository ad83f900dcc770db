"""Zoo registry and adapter on tiny models: round trip, paper-dir error, capture shapes, bad inputs."""

import pytest
import torch

from arx.models import FAMILIES, build_model, get_adapter, load_model, load_paper_model, save_model

torch.set_num_threads(1)
V = 50


def _ids(seed=0, b=2, t=7):
    return torch.randint(1, V, (b, t), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_save_from_pretrained_identical_logits(family, tmp_path):
    m = build_model(family, "xs", V, seed=1)
    x = _ids()
    with torch.no_grad():
        ref = m(input_ids=x).logits
    save_model(m, tmp_path / family)
    assert list((tmp_path / family).glob("*.safetensors")) and not list((tmp_path / family).glob("*.bin"))
    with torch.no_grad():
        got = load_model(tmp_path / family)(input_ids=x).logits
    assert torch.equal(ref, got)


def test_same_seed_same_weights_different_seed_differs():
    a, b, c = (build_model("llama", "xs", V, seed=s) for s in (0, 0, 1))
    wa, wb, wc = (m.model.embed_tokens.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)


def test_paper_model_missing_dir_names_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"huggingface-cli download allenai/OLMoE-1B-7B-0924 .*OLMoE-1B-7B"):
        load_paper_model("OLMoE-1B-7B", tmp_path)
    with pytest.raises(ValueError, match="unknown paper checkpoint"):
        load_paper_model("GPT-5", tmp_path)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown model family"):
        build_model("bert", "xs", V)
    with pytest.raises(ValueError, match="unknown size"):
        build_model("llama", "huge", V)
    with pytest.raises(ValueError, match="config.json missing"):
        load_model("/nonexistent/zoo/model")
    dense = get_adapter(build_model("gpt2", "xs", V))
    with pytest.raises(ValueError, match="needs an MoE model"):
        with dense.capture(router=True):
            pass


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_dense_capture_shapes(family):
    m = build_model(family, "xs", V)
    ad = get_adapter(m)
    assert not ad.is_moe and ad.num_layers == 2 and ad.num_heads == 4 and ad.ffn_dim == 64
    with torch.no_grad(), ad.capture(ffn=True, heads=True) as rec:
        m(input_ids=_ids())
    assert set(rec["ffn"]) == {0, 1} and rec["ffn"][0].shape == (2, 7, 64)
    assert rec["heads"][1].shape == (2, 7, 4, ad.head_dim)


@pytest.mark.parametrize("family,experts,k,shared", [("qwen2_moe", 8, 2, True), ("olmoe", 16, 4, False),
                                                     ("mixtral", 8, 2, False)])
def test_moe_sizes_and_router_capture(family, experts, k, shared):
    m = build_model(family, "xs", V)
    ad = get_adapter(m)
    assert ad.is_moe and (ad.num_experts, ad.top_k, ad.has_shared_expert) == (experts, k, shared)
    with torch.no_grad(), ad.capture(router=True, heads=True) as rec:
        m(input_ids=_ids())
    assert len(rec["router_logits"]) == ad.num_layers
    assert rec["router_logits"][0].shape == (14, experts) and rec["topk"][0].shape == (14, k)
    assert rec["heads"][0].shape[2] == 4
