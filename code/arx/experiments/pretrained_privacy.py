"""Privacy at the pretrained scale: a fine-tuned copy of SmolLM2-135M memorises synthetic canaries and members.

Why fine-tuning: the private data must be exactly known, so it is synthetic and inserted here, into a model that
already knows language. The whole model is fine-tuned, as Secret Sharer trains on the data that holds the canaries.

* ``pretrained_privacy``: fine-tune the pretrained model on Zipf-word sentences (the members) plus canaries
  ``"<Name>'s PIN is <d digits>."`` inserted ``r`` times for each ``r`` in ``repeats`` (and a group never inserted).
  Then it measures two things:
  - **exposure** of each canary: the exact rank of its PIN among all 10^d PINs after its prefix, by
    log-perplexity. Exposure = log2(10^d) − log2(rank), at most d·log2(10) bits;
  - **membership inference**, members against held-out sentences of the same distribution: loss, zlib, min-k%
    and the reference attack. The reference is the pretrained model before fine-tuning, the natural reference of
    a fine-tuned copy. Each attack reports AUC and TPR at 1% and 0.1% FPR, with Clopper-Pearson 95% intervals
    over the members.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
from pydantic import Field
from scipy.stats import binomtest

from arx.data.chars import name, zipf_sentences
from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.methods.privacy import mia, roc
from arx.methods.privacy.exposure import digit_space_logprobs, exact_exposure, log_perplexity_bits
from arx.methods.privacy.training import train_lm
from arx.methods.ratios import safe_ratio
from arx.methods.scoring import token_logprobs
from arx.models import load_model


class FineTune(ExperimentConfig):
    epochs: float = Field(gt=0)
    batch_size: int = Field(gt=0)
    lr: float = Field(gt=0)


class PretrainedPrivacyConfig(ExperimentConfig):
    model_dir: str  # the pretrained_model output (model and tokenizer)
    digits: int = Field(ge=1, le=6)  # PIN length: 10^digits candidates are scored exactly
    repeats: list[int] = Field(min_length=2)  # insertions per canary group, increasing; a 0 group is added
    per_group: int = Field(gt=0)
    n_members: int = Field(ge=1000)  # TPR at 1% FPR needs >= 1000 members and non-members
    min_k: float = Field(0.1, gt=0, le=1)
    train: FineTune


class CanaryGroup(ExperimentMetrics):
    exposures: list[float]  # bits, one per canary
    mean_exposure: float


class Attack(ExperimentMetrics):
    auc: float
    tpr_at_1pct_fpr: float
    tpr_at_1pct_fpr_interval: list[float]  # Clopper-Pearson 95% over the members
    tpr_at_0_1pct_fpr: float
    tpr_at_0_1pct_fpr_interval: list[float]


class PretrainedPrivacyMetrics(ExperimentMetrics):
    train: dict[str, float]
    by_repeats: dict[str, CanaryGroup]
    mean_exposure: dict[str, float]  # repeats -> mean exposure (bits)
    ratio_max_to_min_repeats: float | None  # mean at the largest repeats over the smallest's (None if that is <= 0)
    max_exposure_bits: float
    n_members: int
    attacks: dict[str, Attack]  # loss, zlib, min_k, reference


def _attack(members: np.ndarray, nonmembers: np.ndarray) -> Attack:
    out: dict[str, Any] = {"auc": roc.auc(members, nonmembers)}
    for fpr, key in ((0.01, "tpr_at_1pct_fpr"), (0.001, "tpr_at_0_1pct_fpr")):
        tpr = roc.tpr_at_fpr(members, nonmembers, fpr)
        k = round(tpr * len(members))
        out[key] = tpr
        ci = binomtest(k, len(members)).proportion_ci(0.95, method="exact")  # Clopper-Pearson
        out[f"{key}_interval"] = [float(ci.low), float(ci.high)]
    return Attack.model_validate(out)


@experiment("pretrained_privacy", config=PretrainedPrivacyConfig, metrics=PretrainedPrivacyMetrics)
def pretrained_privacy(cfg: PretrainedPrivacyConfig, ctx: RunContext) -> PretrainedPrivacyMetrics:
    """Fine-tune the pretrained model on members + canaries; exposure by insertions and membership inference."""
    from transformers import AutoTokenizer

    if sorted(cfg.repeats) != cfg.repeats or cfg.repeats[0] < 1:
        raise ValueError(f"repeats {cfg.repeats} must be increasing and >= 1 (the 0 group is added)")
    torch.set_num_threads(ctx.threads)
    seed, d = ctx.seed, cfg.digits
    tok = AutoTokenizer.from_pretrained(cfg.model_dir)
    g = torch.Generator().manual_seed(seed)
    sentences = list(dict.fromkeys(zipf_sentences(3 * cfg.n_members, g)))[:2 * cfg.n_members]
    if len(sentences) < 2 * cfg.n_members:
        raise ValueError("not enough distinct sentences for members and non-members: lower n_members")
    members, nonmembers = sentences[:cfg.n_members], sentences[cfg.n_members:]

    def encode(s: str) -> list[int]:
        return tok(s)["input_ids"]

    def digit_tokens(prefix: str, pin: list[int]) -> tuple[list[int], list[int]]:
        """(prefix ids, the ten digit ids after it): exposure enumerates PINs one token per digit, so the prefix
        followed by the PIN must tokenise as the prefix's ids plus one token per digit."""
        head = encode(prefix)
        ids = [encode(prefix + str(k))[len(head):] for k in range(10)]
        whole = encode(prefix + "".join(map(str, pin)))
        if any(len(i) != 1 for i in ids) or whole != head + [ids[k][0] for k in pin]:
            raise ValueError(f"{cfg.model_dir}: the tokenizer does not write {prefix!r} + a PIN as the prefix's "
                             "tokens plus one token per digit; exposure needs that")
        return head, [i[0] for i in ids]

    groups: dict[int, list[tuple[list[int], list[int], int]]] = {}  # (prefix ids, digit ids, PIN index)
    texts = list(members)
    for r in [0, *cfg.repeats]:
        for _ in range(cfg.per_group):
            nm = name(g).capitalize()
            pin = torch.randint(0, 10, (d,), generator=g).tolist()
            prefix, digit_ids = digit_tokens(f"{nm}'s PIN is ", pin)  # checked before any training
            groups.setdefault(r, []).append((prefix, digit_ids, int("".join(map(str, pin)))))
            texts += [f"{nm}'s PIN is {''.join(map(str, pin))}."] * r

    reference = load_model(cfg.model_dir, dtype="float32").to(ctx.device).eval()
    ref_member_lps = token_logprobs(reference, [encode(s) for s in members])
    ref_nonmember_lps = token_logprobs(reference, [encode(s) for s in nonmembers])
    del reference
    model = load_model(cfg.model_dir, dtype="float32").to(ctx.device)
    ctx.progress(f"fine-tuning on {len(texts)} lines ({len(members)} members, "
                 f"{sum(r * cfg.per_group for r in cfg.repeats)} canary insertions), {cfg.train.epochs} epochs")
    t0 = time.perf_counter()
    info = train_lm(model, [encode(s) for s in texts], cfg.train.epochs, cfg.train.batch_size, cfg.train.lr, seed=seed,
                    pad=tok.pad_token_id if tok.pad_token_id is not None else 0)
    info["seconds"] = round(time.perf_counter() - t0, 1)
    model.eval()

    by_repeats: dict[str, CanaryGroup] = {}
    for r, items in groups.items():
        exposures = []
        for prefix, digit_ids, index in items:
            px = log_perplexity_bits(digit_space_logprobs(model, prefix, digit_ids, d))
            exposures.append(float(exact_exposure(px[index], px)[0]))
        by_repeats[str(r)] = CanaryGroup(exposures=exposures, mean_exposure=float(np.mean(exposures)))
        ctx.progress(f"exposure: {len(items)} canaries inserted {r}x: mean {by_repeats[str(r)].mean_exposure:.2f} "
                     f"of {d * math.log2(10):.1f} bits")

    member_lps = token_logprobs(model, [encode(s) for s in members])
    nonmember_lps = token_logprobs(model, [encode(s) for s in nonmembers])
    scores = {"loss": (mia.loss_score(member_lps), mia.loss_score(nonmember_lps)),
              "zlib": (mia.zlib_score(member_lps, members), mia.zlib_score(nonmember_lps, nonmembers)),
              "min_k": (mia.min_k_score(member_lps, cfg.min_k), mia.min_k_score(nonmember_lps, cfg.min_k)),
              "reference": (mia.reference_score(member_lps, ref_member_lps),
                            mia.reference_score(nonmember_lps, ref_nonmember_lps))}
    attacks = {a: _attack(m, n) for a, (m, n) in scores.items()}
    arrays: dict[str, Any] = {f"{a}_{side}": v for a, pair in scores.items()
                              for side, v in zip(("members", "nonmembers"), pair)}
    np.savez_compressed(ctx.out / "mia_scores.npz", **arrays)
    roc.plot_roc(scores, ctx.out / "roc.png", f"membership inference, fine-tuned copy ({ctx.scale})")
    means = {k: v.mean_exposure for k, v in by_repeats.items()}
    return PretrainedPrivacyMetrics(
        train={k: float(v) for k, v in info.items()}, by_repeats=by_repeats, mean_exposure=means,
        ratio_max_to_min_repeats=safe_ratio(means[str(cfg.repeats[-1])], means[str(cfg.repeats[0])]),
        max_exposure_bits=d * math.log2(10),
        n_members=len(members), attacks=attacks)
