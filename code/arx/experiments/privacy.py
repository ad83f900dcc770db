"""Privacy attacks and audits (logic/papers/{secret_sharer,privacy_auditing,neural_phishing}.yaml).

Small scale: GPT-2-style causal LMs trained here on a synthetic character-level corpus (one character per token, so
digits are single tokens). The corpus is built here, deterministic from the config, one training example = one line;
models come from the registry and train through ``arx.models.fit`` (moving to the zoo's ``gpt2_private`` and
``arx.data.private`` would change the protocol, so it waits for its own before-the-run claim history).

* ``privacy_exposure``: canaries ``<name> pin <d digits>.`` inserted 1, 4, 16, 64 times (+ held-out ones); exact
  Secret-Sharer exposure over all 10^d strings; interpolation/extrapolation estimates beside it.
* ``privacy_mia``: ≥ 1,000 members / non-members (Zipf-word sentences), reference model on disjoint data; loss,
  zlib, min-k%, reference-calibrated scores; AUC, TPR@1%/0.1% FPR, log-log ROC.
* ``privacy_canaries``: base model pre-trained on sentences; fine-tune with random and new-token (designed)
  canaries, half of each inserted; MIA audit per kind; optional DP-SGD fine-tune (``dp``) and empirical ε bound.
* ``privacy_phishing``: pre-training with / without poison sentences, fine-tune on secrets, extraction rate.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import ConfigDict, Field
from torch import nn

from arx.data.chars import CHARS, DIGITS, LETTERS, WORDS, encode, line, name, zipf_sentences
from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.experiments._specs import GPT2Spec
from arx.methods.privacy import audit, canaries, mia, phishing, roc
from arx.methods.privacy.exposure import (
    digit_space_logprobs,
    exact_exposure,
    extrapolation_exposure,
    interpolation_exposure,
    log_perplexity_bits,
)
from arx.methods.privacy.training import DPConfig, train_lm
from arx.methods.ratios import safe_ratio
from arx.methods.scoring import perplexity, token_logprobs
from arx.models import build_from_config


# ------------------------------------------------------------------------------------------------ typed contract
class TrainSpec(ExperimentConfig):
    epochs: float
    batch_size: int
    lr: float


class DPSpec(ExperimentConfig):
    epsilon: float
    delta: float = 1e-5
    max_grad_norm: float = 1.0


class ExposureConfig(ExperimentConfig):
    digits: int
    repeats: list[int]
    per_group: int
    n_filler: int
    n_references: int
    model: GPT2Spec
    train: TrainSpec


class MIAConfig(ExperimentConfig):
    n_members: int
    min_k: float
    model: GPT2Spec
    train: TrainSpec


class CanaryConfig(ExperimentConfig):
    kinds: list[str]
    n_canaries: int
    length: int
    n_new_tokens: int
    n_pretrain: int
    n_finetune: int
    delta: float
    model: GPT2Spec
    pretrain: TrainSpec
    finetune: TrainSpec
    dp: DPSpec | None = None


class PhishingConfig(ExperimentConfig):
    digits: int
    n_secrets: int
    secret_repeats: int
    n_poison: int
    poison_repeats: int
    n_pretrain: int
    n_finetune: int
    beams: int
    model: GPT2Spec
    pretrain: TrainSpec
    finetune: TrainSpec


class TrainInfo(ExperimentMetrics):
    final_loss: float
    noise_multiplier: float | None = None
    epsilon_spent: float | None = None


class RepeatGroup(ExperimentMetrics):
    mean_exposure: float
    exposures: list[float]
    mean_interpolation: float
    mean_extrapolation: float


class ExposureMetrics(ExperimentMetrics):
    train: TrainInfo
    by_repeats: dict[str, RepeatGroup]
    mean_exposure: dict[str, float]
    monotone_non_decreasing: int
    ratio_max_to_min_repeats: float
    max_exposure_bits: float


class ROC(ExperimentMetrics):
    """AUC and TPR at 1% FPR of one membership score (JSON keys keep the dotted ``tpr_at_0.01``)."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)
    auc: float
    tpr_at_0_01: float = Field(alias="tpr_at_0.01")


class CanaryAudit(ROC):
    epsilon_lower_bound: float


class AttackROC(ROC):
    tpr_at_0_001: float = Field(alias="tpr_at_0.001")


class MIATrain(ExperimentMetrics):
    target: TrainInfo
    reference: TrainInfo


class MIAMetrics(ExperimentMetrics):
    train: MIATrain
    n_members: int
    n_nonmembers: int
    loss: AttackROC
    zlib: AttackROC
    min_k: AttackROC
    reference: AttackROC
    reference_minus_loss_auc: float


class CanaryMetrics(ExperimentMetrics):
    train: TrainInfo
    n_members_per_kind: int
    n_nonmembers_per_kind: int
    random: CanaryAudit | None = None
    designed: CanaryAudit | None = None
    designed_over_random_tpr: float | None = None
    theoretical_epsilon: float | None = None
    empirical_epsilon: float | None = None


class PhishingArm(ExperimentMetrics):
    greedy: float
    beam: float
    heldout_perplexity: float


class PhishingMetrics(ExperimentMetrics):
    no_poison: PhishingArm
    poison: PhishingArm
    success_rate: float
    poison_over_no_poison: float | None


def _runtime(cfg: ExperimentConfig, ctx: RunContext) -> dict[str, Any]:
    """The validated config as the mapping the experiment body reads, with the run's seed and device."""
    return {**cfg.model_dump(), "seed": ctx.seed, "device": ctx.device}


def build(cfg: dict[str, Any], seed: int, vocab: int = len(CHARS)) -> nn.Module:
    """The config's GPT-2 (``model``) on the config's ``device``."""
    return build_from_config("gpt2", seed, vocab_size=vocab, n_positions=64, bos_token_id=0, eos_token_id=0,
                             pad_token_id=0, **cfg["model"]).to(cfg.get("device", "cpu")).eval()


def _tpr(m: np.ndarray, n: np.ndarray, fprs: list[float]) -> dict[str, float]:
    return {f"tpr_at_{f:g}": roc.tpr_at_fpr(m, n, f) for f in fprs}


@experiment("privacy_exposure", config=ExposureConfig, metrics=ExposureMetrics)
def exposure_vs_repetition(typed: ExposureConfig, ctx: RunContext) -> dict[str, Any]:
    cfg = _runtime(typed, ctx)
    seed, d = int(cfg["seed"]), int(cfg["digits"])
    g = torch.Generator().manual_seed(seed)
    reps = [int(r) for r in cfg["repeats"]]
    groups: dict[int, list[tuple[str, list[int]]]] = {}
    train: list[list[int]] = []
    for r in [0] + reps:
        for _ in range(int(cfg["per_group"])):
            nm = name(g)
            secret = torch.randint(0, 10, (d,), generator=g).tolist()
            groups.setdefault(r, []).append((nm, secret))
            train += [line(f"{nm} pin {''.join(map(str, secret))}.")] * r
    train += [line(s) for s in zipf_sentences(int(cfg["n_filler"]), g)]
    model = build(cfg, seed)
    info = train_lm(model, train, **cfg["train"], seed=seed)
    res: dict[str, Any] = {"train": info, "by_repeats": {}}
    means = []
    for r, items in groups.items():
        exact, interp, extra = [], [], []
        for nm, secret in items:
            px = log_perplexity_bits(digit_space_logprobs(model, encode(f"\n{nm} pin "), DIGITS, d))
            idx = int("".join(map(str, secret)))
            exact.append(float(exact_exposure(px[idx], px)[0]))
            refs = np.delete(px, idx)[torch.randperm(10 ** d - 1, generator=g)[:int(cfg["n_references"])].numpy()]
            interp.append(float(interpolation_exposure(px[idx], refs)[0]))
            extra.append(float(extrapolation_exposure(px[idx], refs)[0]))
        res["by_repeats"][str(r)] = {"mean_exposure": float(np.mean(exact)), "exposures": exact,
                                     "mean_interpolation": float(np.mean(interp)),
                                     "mean_extrapolation": float(np.mean(extra))}
        if r:
            means.append(float(np.mean(exact)))
    res["mean_exposure"] = {str(r): res["by_repeats"][str(r)]["mean_exposure"] for r in groups}
    res["monotone_non_decreasing"] = int(all(b >= a for a, b in zip(means, means[1:])))
    res["ratio_max_to_min_repeats"] = means[-1] / max(means[0], 1e-12)
    res["max_exposure_bits"] = d * math.log2(10)
    return res


def _scores(model: nn.Module, seqs: list[list[int]], texts: list[str], ref: nn.Module | None,
            k: float) -> dict[str, np.ndarray]:
    lps = token_logprobs(model, seqs)
    s = {"loss": mia.loss_score(lps), "zlib": mia.zlib_score(lps, texts), "min_k": mia.min_k_score(lps, k)}
    if ref is not None:
        s["reference"] = mia.reference_score(lps, token_logprobs(ref, seqs))
    return s


@experiment("privacy_mia", config=MIAConfig, metrics=MIAMetrics)
def membership_inference(typed: MIAConfig, ctx: RunContext) -> dict[str, Any]:
    cfg, out = _runtime(typed, ctx), ctx.out
    seed, n = int(cfg["seed"]), int(cfg["n_members"])
    if n < 1000:
        raise ValueError(f"n_members = {n}: TPR at 1% FPR needs >= 1000 members and non-members")
    g = torch.Generator().manual_seed(seed)
    texts = list(dict.fromkeys(zipf_sentences(4 * n, g)))[:3 * n]
    if len(texts) < 3 * n:
        raise ValueError("not enough distinct sentences: raise the vocabulary or lower n_members")
    members, nonmembers, refdata = texts[:n], texts[n:2 * n], texts[2 * n:]
    target = build(cfg, seed)
    t_info = train_lm(target, [line(s) for s in members], **cfg["train"], seed=seed)
    ref = build(cfg, seed + 1)
    r_info = train_lm(ref, [line(s) for s in refdata], **cfg["train"], seed=seed + 1)
    sm = _scores(target, [line(s) for s in members], members, ref, float(cfg["min_k"]))
    sn = _scores(target, [line(s) for s in nonmembers], nonmembers, ref, float(cfg["min_k"]))
    res: dict[str, Any] = {"train": {"target": t_info, "reference": r_info}, "n_members": n, "n_nonmembers": n}
    for a in sm:
        res[a] = {"auc": roc.auc(sm[a], sn[a]), **_tpr(sm[a], sn[a], [0.01, 0.001])}
    res["reference_minus_loss_auc"] = res["reference"]["auc"] - res["loss"]["auc"]
    roc.plot_roc({a: (sm[a], sn[a]) for a in sm}, out / "roc.png", "membership inference (small)")
    return res


def _canary_run(cfg: dict[str, Any], out: Path, dp: DPConfig | None) -> dict[str, Any]:
    seed, n, L, k_new = int(cfg["seed"]), int(cfg["n_canaries"]), int(cfg["length"]), int(cfg["n_new_tokens"])
    g = torch.Generator().manual_seed(seed)
    base = build(cfg, seed, vocab=len(CHARS) + k_new)
    train_lm(base, [line(s) for s in zipf_sentences(int(cfg["n_pretrain"]), g)], **cfg["pretrain"], seed=seed)
    kinds = {"random": canaries.random_canaries(n, L, LETTERS, seed + 1),
             "designed": canaries.new_token_canaries(n, L, len(CHARS), k_new, seed + 2)}
    kinds = {k: [[0] + c + [0] for c in v] for k, v in kinds.items() if k in cfg["kinds"]}
    split = {k: canaries.split_members(v, seed + 3) for k, v in kinds.items()}
    data = [c for m, _ in split.values() for c in m] + [line(s) for s in zipf_sentences(int(cfg["n_finetune"]), g)]
    info = train_lm(base, data, **cfg["finetune"], seed=seed, dp=dp)
    res: dict[str, Any] = {"train": info, "n_members_per_kind": n // 2, "n_nonmembers_per_kind": n - n // 2}
    curves = {}
    for k, (m, h) in split.items():
        sm, sn = mia.loss_score(token_logprobs(base, m)), mia.loss_score(token_logprobs(base, h))
        curves[k] = (sm, sn)
        res[k] = {"auc": roc.auc(sm, sn), **_tpr(sm, sn, [0.01]),
                  "epsilon_lower_bound": audit.audit_epsilon(sm, sn, delta=float(cfg["delta"]))}
    roc.plot_roc(curves, out / "roc.png", "canary audit" + (f" (DP-SGD ε={dp.epsilon:g})" if dp else ""))
    return res


@experiment("privacy_canaries", config=CanaryConfig, metrics=CanaryMetrics)
def designed_vs_random(typed: CanaryConfig, ctx: RunContext) -> dict[str, Any]:
    cfg, out = _runtime(typed, ctx), ctx.out
    res = _canary_run(cfg, out, None)
    r, d = res["random"]["tpr_at_0.01"], res["designed"]["tpr_at_0.01"]
    # capped so that "random canaries never detected" stays a finite, JSON-safe number
    res["designed_over_random_tpr"] = safe_ratio(d, r)
    return res


@experiment("privacy_dp_audit", config=CanaryConfig, metrics=CanaryMetrics)
def dp_audit(typed: CanaryConfig, ctx: RunContext) -> dict[str, Any]:
    cfg, out = _runtime(typed, ctx), ctx.out
    dp = DPConfig(**cfg["dp"])
    res = _canary_run(cfg, out, dp)
    res["theoretical_epsilon"] = dp.epsilon
    res["empirical_epsilon"] = res["designed"]["epsilon_lower_bound"]
    return res


@experiment("privacy_phishing", config=PhishingConfig, metrics=PhishingMetrics)
def neural_phishing(typed: PhishingConfig, ctx: RunContext) -> dict[str, Any]:
    cfg = _runtime(typed, ctx)
    seed, d = int(cfg["seed"]), int(cfg["digits"])
    res: dict[str, Any] = {}
    for arm in ("no_poison", "poison"):
        g = torch.Generator().manual_seed(seed)  # same pre-training sentences, secrets and fine-tune data per arm
        pre = [line(s) for s in zipf_sentences(int(cfg["n_pretrain"]), g)]
        people = [(name(g), WORDS[int(torch.randint(0, len(WORDS), (1,), generator=g))])
                  for _ in range(int(cfg["n_secrets"]))]
        secrets = [torch.randint(0, 10, (d,), generator=g).tolist() for _ in people]
        ctx = [encode(f"\n{nm} of {w} pin ") for nm, w in people]
        fine = [c + [DIGITS[k] for k in s] + encode(".\n") for c, s in zip(ctx, secrets)] * int(cfg["secret_repeats"])
        fine += [line(s) for s in zipf_sentences(int(cfg["n_finetune"]), g)]
        if arm == "poison":  # vague prior: same template, attacker's own names and places, random digits
            pc = [encode(f"\n{name(g)} of {WORDS[int(torch.randint(0, len(WORDS), (1,), generator=g))]} pin ")
                  for _ in range(int(cfg["n_poison"]))]
            pre += phishing.poison_sentences(pc, DIGITS, d, encode(".\n"), seed + 7) * int(cfg["poison_repeats"])
        model = build(cfg, seed)
        train_lm(model, pre, **cfg["pretrain"], seed=seed)
        train_lm(model, fine, **cfg["finetune"], seed=seed + 1)
        res[arm] = {b: phishing.extraction_rate(model, ctx, [[DIGITS[k] for k in s] for s in secrets], DIGITS, beams)
                    for b, beams in (("greedy", 1), ("beam", int(cfg["beams"])))}
        res[arm]["heldout_perplexity"] = perplexity(model, [line(s) for s in zipf_sentences(200, g)])
    p, q = res["poison"]["greedy"], res["no_poison"]["greedy"]
    res["success_rate"] = p
    res["poison_over_no_poison"] = safe_ratio(p, q)
    return res
