"""Causal-LM training: seeded, deterministic on CPU, AdamW + warmup/cosine, checkpoints, resume, loss curve.

Why one loop: zoo models and method fine-tunes (reference models, masked-loss fine-tunes, custom optimisers) share
seed control, checkpointing and resume instead of each writing its own.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm


@dataclass
class TrainConfig:
    """Hyper-parameters; ``out_dir`` enables ``checkpoints/step_<n>/`` every ``checkpoint_every`` steps + resume."""

    steps: int = 200
    batch_size: int = 16
    seq_len: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.01
    warmup: int = 20
    seed: int = 0
    checkpoint_every: int = 0
    out_dir: str | None = None
    grad_clip: float = 1.0
    device: str = "cpu"


@dataclass
class TrainResult:
    losses: list = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    resumed_from: int = 0

    @property
    def final_loss(self) -> float:
        tail = self.losses[-10:]
        return float(sum(tail) / max(1, len(tail)))


def encode(tokenizer, texts: Sequence[str], seq_len: int, loss_masks: Sequence[Sequence[int]] | None = None):
    """Pad/truncate each text to ``seq_len`` tokens; labels are -100 on padding and where ``loss_masks`` is 0."""
    ids = torch.full((len(texts), seq_len), tokenizer.pad_token_id or 0, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    for i, t in enumerate(texts):
        tok = tokenizer(t, add_special_tokens=False)["input_ids"][:seq_len]
        ids[i, :len(tok)] = torch.tensor(tok)
        m = torch.tensor(loss_masks[i][:len(tok)] if loss_masks is not None else [1] * len(tok), dtype=torch.bool)
        labels[i, :len(tok)] = torch.where(m, torch.tensor(tok), torch.tensor(-100))
    return ids, labels


def _last_checkpoint(out: Path, cfg: TrainConfig) -> tuple[int, Path] | None:
    """The last complete checkpoint written with the same config (a changed config starts afresh)."""
    same = json.loads(json.dumps(asdict(cfg)))
    steps = sorted((int(p.name.split("_")[1]), p) for p in (out / "checkpoints").glob("step_*")
                   if (p / "train_state.pt").exists() and (p / "train_config.json").exists()
                   and json.loads((p / "train_config.json").read_text()) == same)
    return steps[-1] if steps else None


def fit(model: torch.nn.Module, batches: Iterable, loss_fn: Callable[[torch.nn.Module, object], torch.Tensor],
        optimizer: torch.optim.Optimizer, *, scheduler=None, grad_clip: float = 0.0,
        clip_params: Sequence[torch.nn.Parameter] | None = None, on_step: Callable[[int, float], None] | None = None,
        start: int = 0, total: int | None = None, desc: str = "train") -> list[float]:
    """The one optimisation loop of the project; returns the loss per step.

    For each batch (any iterable; a generator that samples is the usual case): ``loss_fn(model, batch)``, zero grads,
    backward, optional gradient clipping, ``optimizer.step()``, ``scheduler.step()``, then ``on_step(step, loss)``
    with the 1-based global step (checkpoints, callbacks). ``start`` is the number of steps already done (resume)
    and ``total`` the planned number, for the progress bar. The model is left in eval mode."""
    model.train()
    losses = []
    step = start
    for batch in tqdm(batches, desc=desc, leave=False, initial=start, total=total, mininterval=2.0):
        loss = loss_fn(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(clip_params if clip_params is not None else model.parameters(), grad_clip)
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        step += 1
        losses.append(float(loss.detach()))
        if on_step is not None:
            on_step(step, losses[-1])
    model.eval()
    return losses


def train(model: torch.nn.Module, tokenizer, texts: Sequence[str], config: TrainConfig | dict,
          params: Iterable[torch.nn.Parameter] | None = None, loss_masks: Sequence[Sequence[int]] | None = None,
          optimizer_fn: Callable | None = None, callback: Callable | None = None) -> TrainResult:
    """Train ``model`` on ``texts`` (one sequence each, sampled with a seeded generator).

    params: only these are trained (default all); loss_masks: per-text 0/1 token masks (only 1s count);
    optimizer_fn(params, cfg) -> optimizer replaces AdamW; callback(step, loss, model) is called every step.
    """
    cfg = TrainConfig(**config) if isinstance(config, dict) else config
    if not texts:
        raise ValueError("train: no texts given")
    torch.manual_seed(cfg.seed)
    model.to(cfg.device).train()
    ids, labels = encode(tokenizer, texts, cfg.seq_len, loss_masks)
    params = [p for p in (params if params is not None else model.parameters()) if p.requires_grad]
    opt = optimizer_fn(params, cfg) if optimizer_fn else torch.optim.AdamW(params, lr=cfg.lr,
                                                                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, cfg.warmup)) * 0.5 * (
        1 + math.cos(math.pi * min(1.0, s / max(1, cfg.steps)))))
    gen = torch.Generator().manual_seed(cfg.seed)
    res = TrainResult()
    out = Path(cfg.out_dir) if cfg.out_dir else None
    start = 0
    if out is not None and (last := _last_checkpoint(out, cfg)) is not None:
        start, path = last
        state = torch.load(path / "train_state.pt", weights_only=True)
        # from_pretrained, not the raw safetensors: transformers converts MoE expert weights on save/load (the raw
        # file has per-expert keys, the module fused ones), and a non-strict raw load silently skipped them.
        saved = type(model).from_pretrained(path)
        model.load_state_dict(saved.state_dict(), strict=True)
        del saved
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        gen.set_state(state["gen"])
        res.losses = json.loads((path / "losses.json").read_text())
        res.resumed_from = start
    elif out is not None:  # a fresh start replaces checkpoints of another config (or an unfinished save)
        for stale in (out / "checkpoints").glob("step_*"):
            shutil.rmtree(stale)

    def sample():
        for _ in range(start, cfg.steps):
            b = torch.randint(0, len(texts), (cfg.batch_size,), generator=gen)
            yield ids[b].to(cfg.device), labels[b].to(cfg.device)

    def lm_loss(m, batch):
        x, y = batch
        return m(input_ids=x, attention_mask=(y != -100) | (x != (tokenizer.pad_token_id or 0)), labels=y).loss

    def after(step: int, loss: float) -> None:
        res.losses.append(loss)
        if callback:
            callback(step - 1, loss, model)
        if out is not None and cfg.checkpoint_every and step % cfg.checkpoint_every == 0:
            ck = out / "checkpoints" / f"step_{step}"
            model.save_pretrained(ck, safe_serialization=True)
            torch.save({"opt": opt.state_dict(), "sched": sched.state_dict(), "gen": gen.get_state()},
                       ck / "train_state.pt")
            (ck / "losses.json").write_text(json.dumps(res.losses))
            (ck / "train_config.json").write_text(json.dumps(asdict(cfg)))

    t0 = time.perf_counter()
    fit(model, sample(), lm_loss, opt, scheduler=sched, grad_clip=cfg.grad_clip, clip_params=params, on_step=after,
        start=start, total=cfg.steps)
    res.seconds = time.perf_counter() - t0
    res.steps = cfg.steps
    return res
