"""DEPN at the pretrained scale: privacy neurons of a fine-tuned SmolLM2-135M, detected by IG and edited.

Why fine-tuning: DEPN edits a model that memorised private data during its own training; the pretrained model never
saw ours, so a copy is fine-tuned in full on synthetic private records ``"<Name>'s phone number is <d digits>."``
(each inserted 1..R times) among Zipf-word sentences, and the members of the private set are known exactly.

``pretrained_depn`` follows ``depn_edit`` step by step, on the pretrained model's own tokenizer:
memorised items (DEPN's per-digit exposure ≥ ``memorized_bits``) → per-item IG over all 30 × 1,536 FFN neurons
(the softmax probability of each digit, DEPN's objective, averaged over the secret's digits; each layer's rows start
from its cached hidden state, ``arx.methods.attribution.ig_layer_cache``) → per-item selection (fraction of max,
capped) → the aggregator ranking of ``depn_edit`` → edits of the top ``b`` for every budget of a sweep, the
pre-registered ``budget`` at the top level. Exposure and digit accuracy before/after; perplexity of **held-out real
text** (every rendering of the real-fact sentences of ``arx.data.real_facts``, which the fine-tuning never saw)
and of held-out sentences of the fine-tuning distribution; a layer-matched random edit of the same size. The
Secret-Sharer cross-check of ``depn_edit`` is left out: 10^6 candidates per 6-digit secret at 135 M parameters.
"""

from __future__ import annotations

import math
import time

import torch
from pydantic import Field

from arx.data.chars import name, zipf_sentences
from arx.data.real_facts import real_facts, renderings
from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.experiments.depn import (
    BeforeAfter,
    BudgetResult,
    Exposure,
    PerplexityChange,
    RandomControl,
    SelectSpec,
    _capped,
    aggregator_ranking,
)
from arx.experiments.pretrained_privacy import FineTune
from arx.methods import scoring
from arx.methods.attribution.ig_layer_cache import attribute_ig_from_layers
from arx.methods.attribution.neurons import layer_distribution, random_units_like, select_threshold
from arx.methods.attribution.prompts import FactBatch
from arx.methods.editing import edited, persistent_edit
from arx.methods.editing.memorization import Secret, digit_accuracy, digit_ranks, exposure
from arx.methods.privacy.training import train_lm
from arx.methods.ratios import safe_ratio
from arx.models import get_adapter, load_model


class PrivateCorpus(ExperimentConfig):
    n_secrets: int = Field(gt=0)
    digits: int = Field(ge=2, le=10)
    repeats: list[int] = Field(min_length=1)  # insertions, cycled over the secrets
    n_filler: int = Field(gt=0)  # Zipf-word sentences trained on with the records
    n_heldout: int = Field(gt=0)  # Zipf-word sentences of the same distribution, never trained on


class PretrainedDepnConfig(ExperimentConfig):
    model_dir: str  # the pretrained_model output (model and tokenizer)
    corpus: PrivateCorpus
    train: FineTune
    memorized_bits: float = Field(gt=0)
    min_items: int = Field(gt=0)  # fewer memorised items is an error: the claims' power rests on them
    max_items: int = Field(gt=0)
    ig_steps: int = Field(gt=0)
    select: SelectSpec
    budgets: list[int] = Field(min_length=1)
    budget: int  # the pre-registered budget the claims read (one of budgets)
    random_draws: int = Field(gt=0)


class PretrainedDepnMetrics(ExperimentMetrics):
    train: dict[str, float]
    n_secrets: int
    n_memorized: int
    n_items: int
    budget: int
    n_neurons: int
    total_neurons: int
    exposure: Exposure  # at ``budget``
    digit_accuracy: BeforeAfter  # at ``budget``
    perplexity: PerplexityChange  # held-out real text, at ``budget``
    finetune_text_perplexity: PerplexityChange  # held-out sentences of the fine-tuning distribution, at ``budget``
    random: RandomControl  # layer-matched, at ``budget``
    layer_distribution: list[int]  # at ``budget``
    by_budget: dict[str, BudgetResult]
    exposure_before_per_item: list[float]
    persistent_vs_runtime_max_abs_logit_diff: float


def digit_secret(tokenizer, prefix: str, digits: str) -> tuple[Secret, list[int]]:
    """The record ``prefix + digits + "."`` as a :class:`Secret` and the ten digit token ids after ``prefix``.

    Why checked: DEPN's exposure ranks each true digit among the ten digit tokens, so the record must tokenise as
    the prefix's tokens, one token per digit, then the rest; a tokenizer that merges digits is refused."""
    head = tokenizer(prefix)["input_ids"]
    ids = tokenizer(prefix + digits + ".")["input_ids"]
    digit_ids = [tokenizer(prefix + str(k))["input_ids"][len(head):] for k in range(10)]
    if any(len(t) != 1 for t in digit_ids) or ids[:len(head) + len(digits)] != head + [
            digit_ids[int(c)][0] for c in digits]:
        raise ValueError(f"the tokenizer does not write {prefix!r} + digits as the prefix's tokens plus one token "
                         "per digit; DEPN's exposure needs that")
    return Secret(tuple(ids), tuple(range(len(head), len(head) + len(digits)))), [t[0] for t in digit_ids]


def digit_prompts(secrets: list[Secret], pad: int) -> FactBatch:
    """One prompt per digit of every secret (the ids before it), right-padded; target = the digit."""
    rows = [(s.ids[:p], s.ids[p]) for s in secrets for p in s.positions]
    width = max(len(r) for r, _ in rows)
    ids = torch.tensor([list(r) + [pad] * (width - len(r)) for r, _ in rows])
    mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r, _ in rows])
    pos = torch.tensor([len(r) - 1 for r, _ in rows])
    return FactBatch(ids, mask, pos, torch.tensor([t for _, t in rows]), torch.zeros(len(rows), dtype=torch.long))


def _reduction(before: torch.Tensor, after: torch.Tensor) -> float:
    return float(1 - after.mean() / before.mean())


@experiment("pretrained_depn", config=PretrainedDepnConfig, metrics=PretrainedDepnMetrics)
def pretrained_depn(cfg: PretrainedDepnConfig, ctx: RunContext) -> PretrainedDepnMetrics:
    """Fine-tune the pretrained model on private records; detect privacy neurons by IG; edit; measure."""
    from transformers import AutoTokenizer

    if cfg.budget not in cfg.budgets:
        raise ValueError(f"budget {cfg.budget} is not one of budgets {cfg.budgets}: add it to the sweep")
    torch.set_num_threads(ctx.threads)
    c = cfg.corpus
    tok = AutoTokenizer.from_pretrained(cfg.model_dir)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    g = torch.Generator().manual_seed(ctx.seed)
    records = [(name(g).capitalize(), "".join(str(int(d)) for d in torch.randint(0, 10, (c.digits,), generator=g)))
               for _ in range(c.n_secrets)]
    checked = [digit_secret(tok, f"{nm}'s phone number is ", digits) for nm, digits in records]  # before training
    secrets, digit_ids = [s for s, _ in checked], checked[0][1]
    lines = [f"{nm}'s phone number is {digits}." for i, (nm, digits) in enumerate(records)
             for _ in range(c.repeats[i % len(c.repeats)])]
    sentences = list(dict.fromkeys(zipf_sentences(2 * (c.n_filler + c.n_heldout), g)))
    if len(sentences) < c.n_filler + c.n_heldout:
        raise ValueError("not enough distinct Zipf sentences for filler and held-out: lower n_filler or n_heldout")
    filler, heldout = sentences[:c.n_filler], sentences[c.n_filler:c.n_filler + c.n_heldout]
    real_text = [f"{p} {a}." for p, a, _ in renderings(real_facts())]

    def encode(texts: list[str]) -> list[list[int]]:
        return [tok(t)["input_ids"] for t in texts]

    model = load_model(cfg.model_dir, dtype="float32").to(ctx.device)
    ctx.progress(f"fine-tuning on {len(lines)} record insertions ({c.n_secrets} secrets) + {len(filler)} sentences, "
                 f"{cfg.train.epochs} epochs")
    t0 = time.perf_counter()
    info = train_lm(model, encode(lines + filler), cfg.train.epochs, cfg.train.batch_size, cfg.train.lr,
                    seed=ctx.seed, pad=pad)
    info["seconds"] = round(time.perf_counter() - t0, 1)
    model.eval()

    def memorization(subset: list[Secret]) -> tuple[torch.Tensor, torch.Tensor]:
        ranks = digit_ranks(model, subset, digit_ids)
        return exposure(ranks), digit_accuracy(ranks)

    exp0, acc0 = memorization(secrets)
    memorized = [i for i in range(len(secrets)) if float(exp0[i]) >= cfg.memorized_bits]
    if len(memorized) < cfg.min_items:
        raise RuntimeError(f"{len(memorized)} memorized items (exposure >= {cfg.memorized_bits} bits), fewer than "
                           f"min_items = {cfg.min_items}: fine-tune longer or add secrets")
    mem = memorized[:cfg.max_items]
    items = [secrets[i] for i in mem]
    e_before = exp0[mem]
    ctx.progress(f"{len(memorized)} of {len(secrets)} secrets memorized; IG over all FFN neurons for {len(items)} "
                 f"({len(items) * c.digits} digit prompts, {cfg.ig_steps} steps, layer-cached)")
    rows = attribute_ig_from_layers(model, digit_prompts(items, pad).to(ctx.device), steps=cfg.ig_steps,
                                    objective="prob")
    scores = list(rows.reshape(len(items), c.digits, *rows.shape[1:]).mean(1))  # per item: mean over its digits
    per_item = [_capped(select_threshold(s, cfg.select.fraction), s, cfg.select.max_per_item) for s in scores]
    ranking = aggregator_ranking(per_item, torch.stack(scores).sum(0))
    adapter = get_adapter(model)
    real_ids, heldout_ids = encode(real_text), encode(heldout)
    ppl0, ppl0_ft = scoring.perplexity(model, real_ids), scoring.perplexity(model, heldout_ids)
    gen = torch.Generator().manual_seed(ctx.seed + 1)
    by_budget: dict[str, BudgetResult] = {}
    finetune_ppl: dict[str, PerplexityChange] = {}
    for b in cfg.budgets:
        units = ranking[:b]
        with edited(model, units):
            e_after, acc_after = memorization(items)
            ppl, ppl_ft = scoring.perplexity(model, real_ids), scoring.perplexity(model, heldout_ids)
        rand = []
        for _ in range(cfg.random_draws):
            with edited(model, random_units_like(units, adapter.ffn_dim, gen, exclude=units)):
                rand.append(_reduction(e_before, memorization(items)[0]))
        red, red_rand = _reduction(e_before, e_after), sum(rand) / len(rand)
        by_budget[str(b)] = BudgetResult(
            n_neurons=len(units),
            exposure=Exposure(before_mean=float(e_before.mean()), after_mean=float(e_after.mean()),
                              max_bits=c.digits * math.log2(10), relative_reduction=red),
            digit_accuracy=BeforeAfter(before=float(acc0[mem].mean()), after=float(acc_after.mean())),
            perplexity=PerplexityChange(before=ppl0, after=ppl, relative_increase=ppl / ppl0 - 1),
            random=RandomControl(relative_reductions=rand, mean_relative_reduction=red_rand,
                                 depn_over_random=safe_ratio(red, red_rand)),
            layer_distribution=layer_distribution(units, adapter.num_layers),
            exposure_after_per_item=[float(x) for x in e_after])
        finetune_ppl[str(b)] = PerplexityChange(before=ppl0_ft, after=ppl_ft, relative_increase=ppl_ft / ppl0_ft - 1)
        ctx.progress(f"budget {b}: exposure -{red:.3f} (random -{red_rand:.3f}), real-text perplexity "
                     f"{ppl0:.2f} -> {ppl:.2f}")
    agg = ranking[:cfg.budget]
    saved = persistent_edit(model, agg)
    ids = torch.tensor([list(items[0].ids)], device=next(model.parameters()).device)
    with torch.no_grad(), edited(model, agg):
        same = float((saved(ids).logits - model(ids).logits).abs().max())
    at = by_budget[str(cfg.budget)]
    return PretrainedDepnMetrics(
        train={k: float(v) for k, v in info.items()}, n_secrets=len(secrets), n_memorized=len(memorized),
        n_items=len(mem), budget=cfg.budget, n_neurons=len(agg), total_neurons=adapter.num_layers * adapter.ffn_dim,
        exposure=at.exposure, digit_accuracy=at.digit_accuracy, perplexity=at.perplexity,
        finetune_text_perplexity=finetune_ppl[str(cfg.budget)], random=at.random,
        layer_distribution=at.layer_distribution, by_budget=by_budget,
        exposure_before_per_item=[float(x) for x in e_before], persistent_vs_runtime_max_abs_logit_diff=same)
