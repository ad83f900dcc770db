"""Privacy attacks and audits (logic/papers/{secret_sharer,privacy_auditing,neural_phishing}.yaml).

Small scale: GPT-2-style causal LMs trained here on a synthetic character-level corpus (one character per token, so
digits are single tokens). The corpus is built here, deterministic from the config and the seed, one training
example = one line; models come from the registry and train through ``arx.models.fit``.

* ``privacy_exposure``: canaries ``<name> pin <d digits>.`` inserted 1, 4, 16, 64 times (+ held-out ones); exact
  Secret-Sharer exposure over all 10^d strings (d = 6 at small scale, so exposure has room up to 19.9 bits);
  interpolation/extrapolation estimates beside it.
* ``privacy_mia``: ≥ 1,000 members / non-members (Zipf-word sentences), reference model on disjoint data; loss,
  zlib, min-k%, reference-calibrated scores; AUC, TPR@1%/0.1% FPR, log-log ROC.
* ``privacy_canaries``: base model pre-trained on sentences; fine-tune with random and designed canaries (a random
  prefix + one new vocabulary token per canary), members inserted, ≥ 5,000 held out per kind so that TPR at 1% FPR
  rests on ≥ 50 false positives; loss MIA per kind; split-threshold ε bound.
* ``privacy_dp_audit``: the one-run audit (Steinke, Nasr, Jagielski 2023) of DP-SGD fine-tunes at several
  theoretical ε: the same designed canaries, each included with probability ½, k₊ / k₋ guesses fixed in the config.
* ``privacy_phishing``: pre-training with a dose of poison sentences (0, 10, 50, 100 …), fine-tuning on secrets
  repeated 1, 2, 4, 8 … times; extraction rate per arm, per-secret hits.

Per-item values: canary and member scores go to ``item_scores.npz`` (named in the metrics), per-secret extraction
hits and per-canary exposures sit in the metrics JSON.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from pydantic import ConfigDict, Field
from scipy.stats import beta
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

ITEM_SCORES = "item_scores.npz"


# ------------------------------------------------------------------------------------------------ typed contract
class TrainSpec(ExperimentConfig):
    epochs: float
    batch_size: int
    lr: float


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
    kinds: list[Literal["random", "designed"]]
    n_members: int            # per kind, inserted once into the fine-tuning data
    n_nonmembers: int         # per kind, held out
    length: int               # tokens per canary, both kinds
    secret_tokens: int = 1    # designed canaries: new vocabulary tokens at the end of each canary, unique to it
    n_pretrain: int
    n_finetune: int
    delta: float
    model: GPT2Spec
    pretrain: TrainSpec
    finetune: TrainSpec


class DPAuditConfig(ExperimentConfig):
    n_canaries: int           # m designed canaries, each included with probability 1/2
    length: int
    secret_tokens: int = 1
    n_pretrain: int
    n_finetune: int
    epsilons: list[float]     # theoretical ε of each DP-SGD fine-tune (same canaries, same inclusion)
    reference_epsilon: float  # the ε whose audit is reported as empirical_epsilon
    delta: float
    max_grad_norm: float
    k_plus: int               # one-run audit: guess "in" for the k_plus highest scores ...
    k_minus: int              # ... and "out" for the k_minus lowest (pre-registered, never swept)
    confidence: float = 0.95
    model: GPT2Spec
    pretrain: TrainSpec
    finetune: TrainSpec


class PhishingConfig(ExperimentConfig):
    digits: int
    n_secrets: int
    secret_repeats: int       # repetitions of each secret in fine-tuning in the poison sweep
    n_poison: int             # poison sentences in pre-training in the repetition sweep (and the headline arm)
    poison_counts: list[int]  # poison sweep at secret_repeats (nested: the first k of one list of poisons)
    repeat_counts: list[int]  # repetition sweep at n_poison
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
    ratio_max_to_min_repeats: float | None  # mean exposure at the most / fewest insertions (undefined if <= 0)
    max_exposure_bits: float


class ROC(ExperimentMetrics):
    """AUC and TPR at 1% FPR of one membership score (JSON keys keep the dotted ``tpr_at_0.01``)."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)
    auc: float
    tpr_at_0_01: float = Field(alias="tpr_at_0.01")


class AttackROC(ROC):
    tpr_at_0_001: float = Field(alias="tpr_at_0.001")


class CanaryAudit(ROC):
    tpr_interval: list[float]       # Clopper–Pearson 95% of TPR at the 1%-FPR threshold (over members)
    false_positives: int            # non-members at or above that threshold: what the TPR rests on
    epsilon_lower_bound: float      # split-threshold two-sided bound (audit.audit_epsilon)


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
    item_scores: str


class CanaryMetrics(ExperimentMetrics):
    train: TrainInfo
    n_members_per_kind: int
    n_nonmembers_per_kind: int
    random: CanaryAudit | None = None
    designed: CanaryAudit | None = None
    designed_over_random_tpr: float | None = None
    item_scores: str


class EpsilonAudit(ExperimentMetrics):
    theoretical_epsilon: float
    train: TrainInfo
    auc: float
    guesses: int
    correct: int
    empirical_epsilon: float


class DPAuditMetrics(ExperimentMetrics):
    n_canaries: int
    n_included: int
    by_epsilon: dict[str, EpsilonAudit]
    theoretical_epsilon: float
    empirical_epsilon: float
    item_scores: str


class PhishingArm(ExperimentMetrics):
    n_poison: int
    secret_repeats: int
    greedy: float
    beam: float
    greedy_hits: list[int]  # per secret: 1 if greedy decoding returned it exactly
    heldout_perplexity: float


class PhishingMetrics(ExperimentMetrics):
    n_secrets: int
    by_poison: dict[str, PhishingArm]    # at secret_repeats
    by_repeats: dict[str, PhishingArm]   # at n_poison
    no_poison: PhishingArm               # 0 poisons, secret_repeats
    poison: PhishingArm                  # n_poison, secret_repeats
    success_rate: float                  # poison.greedy
    poison_over_no_poison: float | None


# ------------------------------------------------------------------------------------------------ shared pieces
def build(spec: GPT2Spec, seed: int, device: str, vocab: int = len(CHARS)) -> nn.Module:
    """A fresh GPT-2 of ``spec`` on ``device``."""
    return build_from_config("gpt2", seed, vocab_size=vocab, n_positions=64, bos_token_id=0, eos_token_id=0,
                             pad_token_id=0, **spec.model_dump()).to(device).eval()


def _train(model: nn.Module, seqs: list[list[int]], spec: TrainSpec, seed: int,
           dp: DPConfig | None = None) -> TrainInfo:
    return TrainInfo.model_validate(train_lm(model, seqs, spec.epochs, spec.batch_size, spec.lr, seed=seed, dp=dp))


def save_items(out: Path, arrays: dict[str, np.ndarray]) -> None:
    """Per-item values of a run, one array per name, in ``out/item_scores.npz`` (DVC-tracked)."""
    np.savez_compressed(out / ITEM_SCORES, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as bool


def _tpr(m: np.ndarray, n: np.ndarray, fprs: list[float]) -> dict[str, float]:
    return {f"tpr_at_{f:g}": roc.tpr_at_fpr(m, n, f) for f in fprs}


def _pretrained_base(spec_model: GPT2Spec, pretrain: TrainSpec, n_pretrain: int, vocab: int, seed: int,
                     device: str, g: torch.Generator) -> nn.Module:
    base = build(spec_model, seed, device, vocab=vocab)
    _train(base, [line(s) for s in zipf_sentences(n_pretrain, g)], pretrain, seed)
    return base


# ------------------------------------------------------------------------------------------------ exposure
@experiment("privacy_exposure", config=ExposureConfig, metrics=ExposureMetrics)
def exposure_vs_repetition(cfg: ExposureConfig, ctx: RunContext) -> ExposureMetrics:
    seed, d = ctx.seed, cfg.digits
    g = torch.Generator().manual_seed(seed)
    groups: dict[int, list[tuple[str, list[int]]]] = {}
    train: list[list[int]] = []
    for r in [0, *cfg.repeats]:
        for _ in range(cfg.per_group):
            nm = name(g)
            secret = torch.randint(0, 10, (d,), generator=g).tolist()
            groups.setdefault(r, []).append((nm, secret))
            train += [line(f"{nm} pin {''.join(map(str, secret))}.")] * r
    train += [line(s) for s in zipf_sentences(cfg.n_filler, g)]
    model = build(cfg.model, seed, ctx.device)
    info = _train(model, train, cfg.train, seed)
    by_repeats: dict[str, RepeatGroup] = {}
    for r, items in groups.items():
        ctx.progress(f"exposure: {len(items)} canaries inserted {r}x over 10^{d} candidates")
        exact, interp, extra = [], [], []
        for nm, secret in items:
            px = log_perplexity_bits(digit_space_logprobs(model, encode(f"\n{nm} pin "), DIGITS, d))
            idx = int("".join(map(str, secret)))
            exact.append(float(exact_exposure(px[idx], px)[0]))
            refs = np.delete(px, idx)[torch.randperm(10 ** d - 1, generator=g)[:cfg.n_references].numpy()]
            interp.append(float(interpolation_exposure(px[idx], refs)[0]))
            extra.append(float(extrapolation_exposure(px[idx], refs)[0]))
        by_repeats[str(r)] = RepeatGroup(mean_exposure=float(np.mean(exact)), exposures=exact,
                                         mean_interpolation=float(np.mean(interp)),
                                         mean_extrapolation=float(np.mean(extra)))
    inserted = [by_repeats[str(r)].mean_exposure for r in cfg.repeats]
    return ExposureMetrics(train=info, by_repeats=by_repeats,
                           mean_exposure={k: v.mean_exposure for k, v in by_repeats.items()},
                           ratio_max_to_min_repeats=safe_ratio(inserted[-1], inserted[0]),
                           max_exposure_bits=d * math.log2(10))


# ------------------------------------------------------------------------------------------------ MIA
def _scores(model: nn.Module, seqs: list[list[int]], texts: list[str], ref: nn.Module,
            k: float) -> dict[str, np.ndarray]:
    lps = token_logprobs(model, seqs)
    return {"loss": mia.loss_score(lps), "zlib": mia.zlib_score(lps, texts), "min_k": mia.min_k_score(lps, k),
            "reference": mia.reference_score(lps, token_logprobs(ref, seqs))}


@experiment("privacy_mia", config=MIAConfig, metrics=MIAMetrics)
def membership_inference(cfg: MIAConfig, ctx: RunContext) -> MIAMetrics:
    seed, n = ctx.seed, cfg.n_members
    if n < 1000:
        raise ValueError(f"n_members = {n}: TPR at 1% FPR needs >= 1000 members and non-members")
    g = torch.Generator().manual_seed(seed)
    texts = list(dict.fromkeys(zipf_sentences(4 * n, g)))[:3 * n]
    if len(texts) < 3 * n:
        raise ValueError("not enough distinct sentences: raise the vocabulary or lower n_members")
    members, nonmembers, refdata = texts[:n], texts[n:2 * n], texts[2 * n:]
    target = build(cfg.model, seed, ctx.device)
    t_info = _train(target, [line(s) for s in members], cfg.train, seed)
    ref = build(cfg.model, seed + 1, ctx.device)
    r_info = _train(ref, [line(s) for s in refdata], cfg.train, seed + 1)
    sm = _scores(target, [line(s) for s in members], members, ref, cfg.min_k)
    sn = _scores(target, [line(s) for s in nonmembers], nonmembers, ref, cfg.min_k)
    attacks = {a: AttackROC.model_validate({"auc": roc.auc(sm[a], sn[a]), **_tpr(sm[a], sn[a], [0.01, 0.001])})
               for a in sm}
    save_items(ctx.out, {**{f"{a}_members": sm[a] for a in sm}, **{f"{a}_nonmembers": sn[a] for a in sn}})
    roc.plot_roc({a: (sm[a], sn[a]) for a in sm}, ctx.out / "roc.png", f"membership inference ({ctx.scale})")
    return MIAMetrics(train=MIATrain(target=t_info, reference=r_info), n_members=n, n_nonmembers=n, **attacks,
                      reference_minus_loss_auc=attacks["reference"].auc - attacks["loss"].auc,
                      item_scores=ITEM_SCORES)


# ------------------------------------------------------------------------------------------------ canaries
def _canary_audit(sm: np.ndarray, sn: np.ndarray, delta: float, seed: int) -> CanaryAudit:
    """AUC, TPR at 1% FPR with its Clopper–Pearson interval and the false positives it rests on, split ε bound."""
    tpr = roc.tpr_at_fpr(sm, sn, 0.01)
    hits = int(round(tpr * sm.size))
    lo = 0.0 if hits == 0 else float(beta.ppf(0.025, hits, sm.size - hits + 1))
    hi = 1.0 if hits == sm.size else float(beta.ppf(0.975, hits + 1, sm.size - hits))
    threshold = np.sort(sm)[::-1][hits - 1] if hits else np.inf
    return CanaryAudit.model_validate({
        "auc": roc.auc(sm, sn), "tpr_at_0.01": tpr, "tpr_interval": [lo, hi],
        "false_positives": int((sn >= threshold).sum()),
        "epsilon_lower_bound": audit.audit_epsilon(sm, sn, delta=delta, seed=seed)})


@experiment("privacy_canaries", config=CanaryConfig, metrics=CanaryMetrics)
def designed_vs_random(cfg: CanaryConfig, ctx: RunContext) -> CanaryMetrics:
    seed, n = ctx.seed, cfg.n_members + cfg.n_nonmembers
    g = torch.Generator().manual_seed(seed)
    vocab = len(CHARS) + canaries.new_token_count(n, cfg.secret_tokens)
    base = _pretrained_base(cfg.model, cfg.pretrain, cfg.n_pretrain, vocab, seed, ctx.device, g)
    made = {"random": canaries.random_canaries(n, cfg.length, LETTERS, seed + 1),
            "designed": canaries.designed_canaries(n, cfg.length, LETTERS, len(CHARS), cfg.secret_tokens, seed + 2)}
    kinds = {k: made[k] for k in cfg.kinds}
    split = {k: canaries.split_members(n, cfg.n_members, seed + 3) for k in kinds}
    data = [[0] + kinds[k].sequences[i] + [0] for k in kinds for i in split[k][0]]
    data += [line(s) for s in zipf_sentences(cfg.n_finetune, g)]
    info = _train(base, data, cfg.finetune, seed)
    audits: dict[str, CanaryAudit] = {}
    arrays: dict[str, np.ndarray] = {}
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for k, c in kinds.items():
        s = canaries.secret_scores(base, c)
        members, held = split[k]
        sm, sn = s[members], s[held]
        arrays[f"{k}_members"], arrays[f"{k}_nonmembers"] = sm, sn
        curves[k] = (sm, sn)
        audits[k] = _canary_audit(sm, sn, cfg.delta, seed)
    save_items(ctx.out, arrays)
    roc.plot_roc(curves, ctx.out / "roc.png", f"canary audit ({ctx.scale})")
    ratio = (safe_ratio(audits["designed"].tpr_at_0_01, audits["random"].tpr_at_0_01)
             if {"designed", "random"} <= set(audits) else None)
    return CanaryMetrics(train=info, n_members_per_kind=cfg.n_members, n_nonmembers_per_kind=cfg.n_nonmembers,
                         designed_over_random_tpr=ratio, item_scores=ITEM_SCORES, **audits)


# ------------------------------------------------------------------------------------------------ DP audit
@experiment("privacy_dp_audit", config=DPAuditConfig, metrics=DPAuditMetrics)
def dp_audit(cfg: DPAuditConfig, ctx: RunContext) -> DPAuditMetrics:
    """One pre-trained base; per theoretical ε a DP-SGD fine-tune of a copy on the included canaries + sentences,
    then the one-run audit of all m canaries."""
    if cfg.reference_epsilon not in cfg.epsilons:
        raise ValueError(f"reference_epsilon {cfg.reference_epsilon} is not one of epsilons {cfg.epsilons}")
    seed, m = ctx.seed, cfg.n_canaries
    g = torch.Generator().manual_seed(seed)
    vocab = len(CHARS) + canaries.new_token_count(m, cfg.secret_tokens)
    base = _pretrained_base(cfg.model, cfg.pretrain, cfg.n_pretrain, vocab, seed, ctx.device, g)
    designed = canaries.designed_canaries(m, cfg.length, LETTERS, len(CHARS), cfg.secret_tokens, seed + 2)
    included = np.array(canaries.bernoulli_inclusion(m, seed + 3))
    sentences = [line(s) for s in zipf_sentences(cfg.n_finetune, g)]
    data = [[0] + c + [0] for c, inc in zip(designed.sequences, included) if inc] + sentences
    by_epsilon: dict[str, EpsilonAudit] = {}
    arrays: dict[str, np.ndarray] = {"included": included}
    for eps in cfg.epsilons:
        ctx.progress(f"dp audit: DP-SGD fine-tune at epsilon = {eps:g}")
        model = copy.deepcopy(base)
        info = _train(model, data, cfg.finetune, seed,
                      dp=DPConfig(epsilon=eps, delta=cfg.delta, max_grad_norm=cfg.max_grad_norm))
        scores = canaries.secret_scores(model, designed)
        arrays[f"scores_eps_{eps:g}"] = scores
        res = audit.one_run_epsilon(scores, included, cfg.k_plus, cfg.k_minus, cfg.delta, cfg.confidence)
        by_epsilon[f"{eps:g}"] = EpsilonAudit(theoretical_epsilon=eps, train=info,
                                              auc=roc.auc(scores[included], scores[~included]),
                                              guesses=res.guesses, correct=res.correct, empirical_epsilon=res.epsilon)
    save_items(ctx.out, arrays)
    return DPAuditMetrics(n_canaries=m, n_included=int(included.sum()), by_epsilon=by_epsilon,
                          theoretical_epsilon=cfg.reference_epsilon,
                          empirical_epsilon=by_epsilon[f"{cfg.reference_epsilon:g}"].empirical_epsilon,
                          item_scores=ITEM_SCORES)


# ------------------------------------------------------------------------------------------------ phishing
@experiment("privacy_phishing", config=PhishingConfig, metrics=PhishingMetrics)
def neural_phishing(cfg: PhishingConfig, ctx: RunContext) -> PhishingMetrics:
    """Every arm sees the same pre-training sentences, secrets and fine-tuning sentences; arms differ only in the
    number of poison sentences (the first k of one list) and in how often each secret is repeated."""
    seed, d = ctx.seed, cfg.digits
    g = torch.Generator().manual_seed(seed)
    pre = [line(s) for s in zipf_sentences(cfg.n_pretrain, g)]
    people = [(name(g), WORDS[int(torch.randint(0, len(WORDS), (1,), generator=g))]) for _ in range(cfg.n_secrets)]
    secrets = [torch.randint(0, 10, (d,), generator=g).tolist() for _ in people]
    prompts = [encode(f"\n{nm} of {w} pin ") for nm, w in people]
    records = [c + [DIGITS[k] for k in s] + encode(".\n") for c, s in zip(prompts, secrets)]
    fine_sentences = [line(s) for s in zipf_sentences(cfg.n_finetune, g)]
    heldout = [line(s) for s in zipf_sentences(200, g)]
    # the attacker's vague prior: the same template with its own names and places and random digits
    n_max = max([*cfg.poison_counts, cfg.n_poison])
    poison_prompts = [encode(f"\n{name(g)} of {WORDS[int(torch.randint(0, len(WORDS), (1,), generator=g))]} pin ")
                      for _ in range(n_max)]
    poisons = phishing.poison_sentences(poison_prompts, DIGITS, d, encode(".\n"), seed + 7)
    targets = [[DIGITS[k] for k in s] for s in secrets]
    pretrained: dict[int, dict[str, torch.Tensor]] = {}

    def arm(n_poison: int, repeats: int) -> PhishingArm:
        if n_poison not in pretrained:
            ctx.progress(f"phishing: pre-training with {n_poison} poison sentences")
            model = build(cfg.model, seed, ctx.device)
            _train(model, pre + poisons[:n_poison] * cfg.poison_repeats, cfg.pretrain, seed)
            pretrained[n_poison] = copy.deepcopy(model.state_dict())
        model = build(cfg.model, seed, ctx.device)
        model.load_state_dict(pretrained[n_poison])
        ctx.progress(f"phishing: fine-tuning with each secret {repeats}x ({n_poison} poisons)")
        _train(model, records * repeats + fine_sentences, cfg.finetune, seed + 1)
        hits = phishing.extraction_hits(model, prompts, targets, DIGITS, beams=1)
        return PhishingArm(n_poison=n_poison, secret_repeats=repeats, greedy=float(np.mean(hits)),
                           beam=phishing.extraction_rate(model, prompts, targets, DIGITS, cfg.beams),
                           greedy_hits=hits, heldout_perplexity=perplexity(model, heldout))

    arms: dict[tuple[int, int], PhishingArm] = {}
    for key in [(0, cfg.secret_repeats), (cfg.n_poison, cfg.secret_repeats),
                *((k, cfg.secret_repeats) for k in cfg.poison_counts), *((cfg.n_poison, r) for r in cfg.repeat_counts)]:
        if key not in arms:
            arms[key] = arm(*key)
    no_poison, poison = arms[(0, cfg.secret_repeats)], arms[(cfg.n_poison, cfg.secret_repeats)]
    return PhishingMetrics(n_secrets=cfg.n_secrets,
                           by_poison={str(k): arms[(k, cfg.secret_repeats)] for k in cfg.poison_counts},
                           by_repeats={str(r): arms[(cfg.n_poison, r)] for r in cfg.repeat_counts},
                           no_poison=no_poison, poison=poison, success_rate=poison.greedy,
                           poison_over_no_poison=safe_ratio(poison.greedy, no_poison.greedy))

