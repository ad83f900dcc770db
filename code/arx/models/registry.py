"""Model families built from transformers config classes, in size presets; safetensors save/load.

Why: every method runs on the same few architectures; scale is configuration only (the small and medium scales
build fresh models at a size preset, xs / s / m; ``paper`` loads published checkpoints from a local directory).
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MixtralConfig,
    MixtralForCausalLM,
    OlmoeConfig,
    OlmoeForCausalLM,
    Qwen2MoeConfig,
    Qwen2MoeForCausalLM,
)

FAMILIES = {"llama": (LlamaConfig, LlamaForCausalLM), "gpt2": (GPT2Config, GPT2LMHeadModel),
            "qwen2_moe": (Qwen2MoeConfig, Qwen2MoeForCausalLM), "olmoe": (OlmoeConfig, OlmoeForCausalLM),
            "mixtral": (MixtralConfig, MixtralForCausalLM)}

SIZES = {"xs": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64),
         "s": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=256),
         "m": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=2048)}
_MOE = {"qwen2_moe": dict(num_experts=8, num_experts_per_tok=2, moe_intermediate_size=None,
                          shared_expert_intermediate_size=None, decoder_sparse_step=1, norm_topk_prob=False),
        "olmoe": dict(num_experts=16, num_experts_per_tok=4, norm_topk_prob=False),
        "mixtral": dict(num_local_experts=8, num_experts_per_tok=2)}

PAPER_CHECKPOINTS = {"Qwen1.5-MoE-A2.7B": "Qwen/Qwen1.5-MoE-A2.7B", "OLMoE-1B-7B": "allenai/OLMoE-1B-7B-0924",
                     "Mixtral-8x7B": "mistralai/Mixtral-8x7B-v0.1", "Qwen1.5-7B": "Qwen/Qwen1.5-7B",
                     "Llama-2-7B": "meta-llama/Llama-2-7b-hf", "Mistral-7B": "mistralai/Mistral-7B-v0.1",
                     "Qwen2.5-0.5B": "Qwen/Qwen2.5-0.5B", "Llama-3.1-8B": "meta-llama/Llama-3.1-8B"}


def model_config(family: str, size: str, vocab_size: int, **overrides):
    """The transformers config of ``family`` at size preset ``size`` (xs / s / m, see :data:`SIZES`); overrides
    win. Named sizes, not scales: the artifact scale (small, medium, paper) chooses a size in its config."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; use one of {sorted(FAMILIES)}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r} for build_model; use {'/'.join(SIZES)} "
                         "(paper scale: load_paper_model(name, checkpoints_root))")
    d = dict(SIZES[size])
    kw: dict = dict(vocab_size=vocab_size, tie_word_embeddings=True)
    if family == "gpt2":
        kw.update(n_embd=d["hidden_size"], n_layer=d["num_hidden_layers"], n_head=d["num_attention_heads"],
                  n_inner=d["intermediate_size"], n_positions=256, resid_pdrop=0.0, embd_pdrop=0.0,
                  attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    else:
        kw.update(d, num_key_value_heads=d["num_attention_heads"], max_position_embeddings=256,
                  pad_token_id=0, bos_token_id=0, eos_token_id=0)
        if family in _MOE:
            moe = dict(_MOE[family])
            ffn = max(8, d["intermediate_size"] // 4 if family == "olmoe" else d["intermediate_size"] // 2)
            if family == "qwen2_moe":
                moe.update(moe_intermediate_size=ffn, shared_expert_intermediate_size=ffn)
                if size != "xs":
                    kw["num_hidden_layers"] = d["num_hidden_layers"] + 2  # deeper than OLMoE
            else:
                kw["intermediate_size"] = ffn
            if family == "olmoe":
                kw["num_hidden_layers"] = max(2, d["num_hidden_layers"] // 2)  # shallower, fine-grained
            kw.update(moe, output_router_logits=False)
    kw.update(overrides)
    return FAMILIES[family][0](**kw)


def build_model(family: str, size: str, vocab_size: int, seed: int = 0, **overrides) -> torch.nn.Module:
    """A freshly initialised causal LM of ``family`` at size preset ``size`` in eval mode; same seed → identical
    weights."""
    cfg = model_config(family, size, vocab_size, **overrides)
    torch.manual_seed(seed)
    return FAMILIES[family][1](cfg).eval()


def build_from_config(family: str, seed: int = 0, **config) -> torch.nn.Module:
    """A freshly initialised ``family`` model from explicit transformers config fields, for experiments that size
    their own models (in the constructor's train mode; same seed → identical weights)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown model family {family!r}; use one of {sorted(FAMILIES)}")
    config_cls, model_cls = FAMILIES[family]
    torch.manual_seed(seed)
    return model_cls(config_cls(**config))


def save_model(model: torch.nn.Module, directory: str | Path, tokenizer=None) -> Path:
    """``save_pretrained`` with safetensors (never pickle), plus the tokenizer if given."""
    directory = Path(directory)
    model.save_pretrained(directory, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(directory)
    return directory


def load_model(directory: str | Path, device: str | None = None, dtype: str | None = None) -> torch.nn.Module:
    """Load a model saved by :func:`save_model` (or any HF checkpoint dir) in eval mode: the one loader every
    experiment uses (``from_pretrained`` also fuses MoE experts stored one per expert on disk)."""
    directory = Path(directory).expanduser()
    if not (directory / "config.json").exists():
        raise ValueError(f"no model at {directory} (config.json missing): build it first, e.g. with "
                         "`snakemake evidence/zoo/small/seed_0/<model_id>/metrics.json`")
    kwargs = {"dtype": getattr(torch, dtype)} if dtype else {}
    model = AutoModelForCausalLM.from_pretrained(directory, **kwargs).eval()
    return model.to(device) if device else model


def load_paper_model(name: str, checkpoints_root: str | Path, device: str | None = None) -> torch.nn.Module:
    """A published checkpoint from ``<checkpoints_root>/<name>``; a missing dir says what to download where."""
    if name not in PAPER_CHECKPOINTS:
        raise ValueError(f"unknown paper checkpoint {name!r}; use one of {sorted(PAPER_CHECKPOINTS)}")
    path = Path(checkpoints_root).expanduser() / name
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"checkpoint {name} not found at {path}: download it with "
                                f"`huggingface-cli download {PAPER_CHECKPOINTS[name]} --local-dir {path}`")
    return load_model(path, device)
