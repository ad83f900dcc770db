"""Zoo: train a small model of the registry on a generated corpus and save it (model + tokenizer + checkpoints).

Why here: every method at small scale needs a model in which the papers' phenomena (memorisation) actually occur;
metrics prove it (canary loss/exposure by repetition count, train time).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from arx.data import private_corpus, train_tokenizer
from arx.experiments import experiment
from arx.models import build_model, save_model, train


@torch.no_grad()
def _secret_loss(model, tok, prefix: str, secrets: list[str]) -> torch.Tensor:
    """Mean NLL of the secret's tokens given the prefix, one value per secret (batched)."""
    enc = [tok(f"{prefix} {s}", add_special_tokens=False)["input_ids"] for s in secrets]
    n_pre = len(tok(prefix, add_special_tokens=False)["input_ids"])
    out = []
    for ids in torch.tensor(enc).split(2048):
        logp = torch.log_softmax(model(input_ids=ids).logits[:, :-1].float(), -1)
        out.append(-logp.gather(-1, ids[:, 1:, None])[..., 0][:, n_pre - 1:].mean(1))
    return torch.cat(out)


def _private_metrics(model, tok, pc, n_reference: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed + 1)
    refs = ["".join(map(str, torch.randint(0, 10, (len(pc.heldout[0]),), generator=g).tolist()))
            for _ in range(n_reference)]
    ref = _secret_loss(model, tok, pc.canary_prefix, refs)
    def exposure(losses):  # Secret Sharer exposure estimated by rank among random candidates
        return [math.log2(n_reference + 1) - math.log2(1 + int((ref < l).sum())) for l in losses.tolist()]
    by_rep = {}
    for r in pc.repetitions:
        ss = [s for s, k in pc.canaries.items() if k == r]
        loss = _secret_loss(model, tok, pc.canary_prefix, ss)
        by_rep[str(r)] = {"loss": float(loss.mean()), "exposure": float(sum(exposure(loss)) / len(ss))}
    held = _secret_loss(model, tok, pc.canary_prefix, pc.heldout)
    hi = [v["exposure"] for r, v in by_rep.items() if int(r) >= 16]
    return {"by_repetition": by_rep, "heldout": {"loss": float(held.mean()),
                                                 "exposure": float(sum(exposure(held)) / len(pc.heldout))},
            "exposure_ge16_minus_once": sum(hi) / len(hi) - by_rep["1"]["exposure"],
            "loss_once_minus_ge16": by_rep["1"]["loss"] - sum(by_rep[str(r)]["loss"] for r in (16, 32, 64)) / 3,
            "max_exposure": math.log2(n_reference + 1)}


@experiment("zoo_train")
def zoo_train(cfg: dict, out: Path) -> dict:
    """cfg: model_id -> {family, data, vocab_size, train: TrainConfig fields, data_args, overrides}."""
    torch.set_num_threads(int(cfg.get("num_threads", 1)))
    mid = cfg.get("model_id")
    if mid not in cfg.get("models", {}):
        raise ValueError(f"zoo_train: model_id {mid!r} not in config models {sorted(cfg.get('models', {}))}; "
                         "add it to workflows/config/zoo.yaml")
    mc, seed, out = cfg["models"][mid], int(cfg.get("seed", 0)), Path(out)
    if mc["data"] != "private":
        raise ValueError(f"zoo_train: data {mc['data']!r} not available yet; use 'private'")
    pc = private_corpus(seed, **mc.get("data_args", {}))
    tok = train_tokenizer(pc.texts, mc.get("vocab_size", 500))
    model = build_model(mc["family"], cfg.get("scale", "small"), len(tok), seed=seed, **mc.get("overrides", {}))
    res = train(model, tok, pc.texts, dict(mc["train"], seed=seed, out_dir=str(out), device=cfg.get("device", "cpu")))
    save_model(model.cpu(), out, tok)
    return {"model_id": mid, "family": mc["family"], "params": sum(p.numel() for p in model.parameters()),
            "train_seconds": res.seconds, "steps": res.steps, "final_loss": res.final_loss,
            "private": _private_metrics(model, tok, pc, int(mc.get("n_reference", 20000)), seed)}
