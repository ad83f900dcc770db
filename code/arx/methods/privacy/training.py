"""Causal-LM training on a list of token sequences, optionally with DP-SGD (opacus), for the privacy experiments.

Why here: the privacy experiments need several special trainings (target vs reference model, canary fine-tunes,
DP-SGD, poisoned pre-training) in which *one training example = one sequence*, as DP-SGD's per-example clipping
requires. Both paths run the project's one optimisation loop (:func:`arx.models.fit`); DP-SGD feeds it opacus's
private optimizer and Poisson-sampled loader. Batches are right-padded, padding is masked out of the loss, and
position ids are passed per example (opacus needs per-sample gradients for the position embedding).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import BaseModel
from torch import nn

from arx.data.batching import pad_right
from arx.models import fit


class DPConfig(BaseModel):
    """DP-SGD target: (epsilon, delta) over the whole run; per-example clipping norm; expected batch size."""

    epsilon: float
    delta: float = 1e-5
    max_grad_norm: float = 1.0


def _loss(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    pos = torch.arange(ids.shape[1], device=ids.device).expand(ids.shape[0], -1)
    logits = model(input_ids=ids, attention_mask=mask.long(), position_ids=pos).logits
    nll = F.cross_entropy(logits[:, :-1].flatten(0, 1), ids[:, 1:].flatten(), reduction="none")
    m = mask[:, 1:].flatten().float()
    return (nll * m).sum() / m.sum().clamp(min=1)


def _batch_loss(model: nn.Module, batch: Any) -> torch.Tensor:
    """Loss of one (ids, mask) batch on the model's device."""
    dev = next(model.parameters()).device
    return _loss(model, batch[0].to(dev), batch[1].to(dev))


def train_lm(model: nn.Module, seqs: Sequence[Sequence[int]], epochs: float, batch_size: int, lr: float,
             seed: int = 0, dp: DPConfig | None = None, pad: int = 0) -> dict[str, float]:
    """Train in place for ``epochs`` passes (sampling without replacement; Poisson sampling under DP).

    Returns the last loss and, under DP, the noise multiplier and the accountant's ε (RDP, opacus).
    """
    if not seqs:
        raise ValueError("no training sequences given")
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model.train()
    info: dict[str, float] = {}
    if dp is None:
        opt: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
        steps = max(1, round(epochs * len(seqs) / batch_size))
        order = torch.cat([torch.randperm(len(seqs), generator=g) for _ in range(int(epochs) + 1)])
        batches = (pad_right([seqs[i] for i in order[s * batch_size:(s + 1) * batch_size].tolist()], pad)
                   for s in range(steps))
        losses = fit(model, batches, _batch_loss, opt, total=steps)
        info["final_loss"] = losses[-1]
    else:
        from opacus import PrivacyEngine
        from torch.utils.data import DataLoader, TensorDataset

        ids, mask = pad_right(seqs, pad)
        loader = DataLoader(TensorDataset(ids, mask), batch_size=batch_size, generator=g)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # opacus warns that its fast (non-cryptographic) RNG is in use
            engine = PrivacyEngine(secure_mode=False)
            priv, dp_opt, loader = engine.make_private_with_epsilon(
                module=model, optimizer=opt, data_loader=loader, target_epsilon=dp.epsilon, target_delta=dp.delta,
                epochs=max(1, round(epochs)), max_grad_norm=dp.max_grad_norm)
            batches = (b for _ in range(max(1, round(epochs))) for b in loader if len(b[0]))  # Poisson: may be empty
            losses = fit(priv, batches, _batch_loss, dp_opt)
        priv.remove_hooks()
        info.update(final_loss=losses[-1], noise_multiplier=float(dp_opt.noise_multiplier),
                    epsilon_spent=float(engine.get_epsilon(dp.delta)))
    model.eval()
    return info
