"""DEPN (Wu et al., 2023): detect privacy neurons with integrated gradients and edit them (logic/papers/depn.yaml).

Small scale: GPT-2-style causal LMs trained here on a synthetic private corpus (``<name> phone <d digits>.`` records,
each repeated 1..R times among filler sentences; one character per token, so digits are single tokens). The corpus
and character tokenizer live here, deterministic from the config (moving to the zoo's ``gpt2_private`` would change
the protocol); models come from the registry and train through ``arx.models.fit``. Perplexity comes from
``arx.methods.scoring``; DEPN's per-digit exposure from ``arx.methods.editing.memorization``, cross-checked on a
few items by the exact Secret-Sharer exposure of ``arx.methods.privacy.exposure``.

* ``depn_base``: trains the config's models (three sizes at small scale; checkpoints every ``ckpt_every`` steps).
* ``depn_edit``: memorized items (DEPN exposure ≥ ``memorized_bits``, at least ``min_items`` of them) → per-item IG
  over all FFN neurons (softmax-probability objective as DEPN, mean over the secret's digits) → per-item selection
  (fraction of max, capped) → aggregator ranking (neurons by how many items select them, then by summed IG) →
  edits of the top ``b`` for every budget ``b`` of a sweep, the pre-registered ``budget`` reported at the top level;
  exposure, digit accuracy and held-out perplexity before/after; a layer-matched random control of the same size;
  per-item edits (each item's own neurons) for the aggregator comparison; persistent edit saved and checked equal.
* ``depn_dynamics``: mean exposure and privacy-neuron attribution mass over the checkpoints of every size and across
  sizes; rank correlations with training steps and with model size.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from statistics import fmean
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from arx.data import chars
from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.experiments._specs import GPT2Spec
from arx.methods import scoring
from arx.methods.attribution.ig import ig_sequence
from arx.methods.attribution.neurons import layer_distribution, random_units_like, select_threshold
from arx.methods.editing import edited, persistent_edit, save_edited
from arx.methods.editing.memorization import Secret, digit_accuracy, digit_ranks, exposure
from arx.methods.privacy.exposure import digit_secret_exposure
from arx.methods.ratios import safe_ratio
from arx.models import build_from_config, fit, get_adapter, load_model, save_model
from arx.plots import saved_figure

WORDS = chars.WORDS[:chars.DEPN_WORDS]


# ------------------------------------------------------------------------------------------------ typed contract
class CorpusSpec(ExperimentConfig):
    n_secrets: int
    digits: int
    repeats: list[int]
    n_filler: int
    n_heldout: int


class TrainSpec(ExperimentConfig):
    steps: int
    batch_size: int
    seq_len: int
    lr: float
    ckpt_every: int


class IGSpec(ExperimentConfig):
    steps: int
    rule: str
    objective: str  # "prob" (DEPN's and knowledge neurons' objective) or "logprob" (an option, named as such)


class SelectSpec(ExperimentConfig):
    fraction: float      # per item: neurons with IG >= fraction x the item's max
    max_per_item: int    # per item: at most this many (the highest)


class BaseConfig(ExperimentConfig):
    corpus: CorpusSpec
    models: dict[str, GPT2Spec]
    train: TrainSpec


class EditConfig(ExperimentConfig):
    corpus: CorpusSpec
    model_dir: str
    memorized_bits: float
    min_items: int           # fewer memorized items than this is an error (the claims' power rests on them)
    max_items: int
    ig: IGSpec
    select: SelectSpec
    budgets: list[int]       # numbers of edited neurons swept
    budget: int              # the pre-registered budget the claims read (one of budgets)
    random_draws: int
    secret_sharer_items: int = 0


class DynamicsConfig(ExperimentConfig):
    corpus: CorpusSpec
    base_dir: str
    models: list[str]        # smallest to largest
    final_step: int
    n_items: int
    top_k: int
    ig: IGSpec


class BaseModelMetrics(ExperimentMetrics):
    params: int
    checkpoints: list[int]
    mean_exposure: float
    mean_digit_accuracy: float
    n_memorized: int
    heldout_perplexity: float


class BaseMetrics(ExperimentMetrics):
    models: dict[str, BaseModelMetrics]  # one entry per model of the config's ``models``


class Exposure(ExperimentMetrics):
    before_mean: float
    after_mean: float
    max_bits: float
    relative_reduction: float


class ExactExposure(ExperimentMetrics):
    items: int
    before: list[float]
    after: list[float]


class BeforeAfter(ExperimentMetrics):
    before: float
    after: float


class PerplexityChange(BeforeAfter):
    relative_increase: float


class RandomControl(ExperimentMetrics):
    relative_reductions: list[float]
    mean_relative_reduction: float
    depn_over_random: float | None  # undefined when the control's mean reduction is <= 0


class Aggregator(ExperimentMetrics):
    per_item_mean_relative_reduction: float
    aggregated_over_per_item: float | None  # undefined when the per-item mean reduction is <= 0
    per_item_neurons_mean: float


class BudgetResult(ExperimentMetrics):
    n_neurons: int
    exposure: Exposure
    digit_accuracy: BeforeAfter
    perplexity: PerplexityChange
    random: RandomControl
    layer_distribution: list[int]
    exposure_after_per_item: list[float]   # per memorized item, in the order of ``items``


class EditMetrics(ExperimentMetrics):
    n_secrets: int
    n_memorized: int
    n_items: int
    budget: int
    n_neurons: int
    total_neurons: int
    exposure: Exposure              # at ``budget``
    secret_sharer_exact_exposure: ExactExposure
    digit_accuracy: BeforeAfter     # at ``budget``
    perplexity: PerplexityChange    # at ``budget``
    random: RandomControl           # at ``budget``, layer-matched
    aggregator: Aggregator          # at ``budget``
    layer_distribution: list[int]   # at ``budget``
    by_budget: dict[str, BudgetResult]
    exposure_before_per_item: list[float]
    persistent_vs_runtime_max_abs_logit_diff: float


class Trajectory(ExperimentMetrics):
    steps: list[int]
    mean_exposure: list[float]
    attribution_mass: list[float]


class FinalState(ExperimentMetrics):
    mean_exposure: float
    attribution_mass: float


class SizeState(ExperimentMetrics):
    params: int
    final: FinalState
    trajectory: Trajectory


class Growth(ExperimentMetrics):
    steps_exposure_spearman: float      # mean over sizes of Spearman(steps, mean exposure) over checkpoints
    steps_mass_spearman: float          # the same for the attribution mass
    size_exposure_spearman: float       # Spearman(params, final mean exposure) over the sizes
    size_mass_spearman: float           # the same for the attribution mass


class DynamicsMetrics(ExperimentMetrics):
    sizes: dict[str, SizeState]
    growth: Growth


def corpus(c: CorpusSpec, seed: int) -> tuple[list[Secret], list[str], list[str]]:
    """Secrets, training lines (records repeated + filler, shuffled) and held-out filler lines."""
    g = torch.Generator().manual_seed(seed)
    secrets, lines = [], []
    for i in range(c.n_secrets):
        name = chars.name(g)
        digits = "".join(str(int(d)) for d in torch.randint(0, 10, (c.digits,), generator=g))
        prefix = f"\n{name} phone "
        secrets.append(Secret(tuple(chars.encode(prefix + digits + ".")),
                              tuple(range(len(prefix), len(prefix) + len(digits)))))
        lines += [f"{name} phone {digits}."] * c.repeats[i % len(c.repeats)]

    lines += [chars.uniform_sentence(g, WORDS) for _ in range(c.n_filler)]
    heldout = [chars.uniform_sentence(g, WORDS) for _ in range(c.n_heldout)]
    order = torch.randperm(len(lines), generator=g).tolist()
    return secrets, [lines[i] for i in order], heldout


def build(spec: GPT2Spec, seed: int, device: str = "cpu") -> nn.Module:
    return build_from_config("gpt2", seed, vocab_size=len(chars.CHARS), n_positions=128, bos_token_id=0, eos_token_id=0,
                             **spec.model_dump()).to(device)


def train(model: nn.Module, lines: list[str], t: TrainSpec, seed: int, ckpt_dir: Path | None) -> list[int]:
    """Next-token loss on random windows of the concatenated training stream; ``save_pretrained`` checkpoints."""
    stream = torch.tensor(chars.encode("\n" + "\n".join(lines) + "\n"))
    dev = next(model.parameters()).device
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    saved: list[int] = []
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100))

    def windows() -> Iterator[torch.Tensor]:
        for _ in range(t.steps):
            start = torch.randint(0, len(stream) - t.seq_len - 1, (t.batch_size,), generator=g)
            yield torch.stack([stream[s:s + t.seq_len + 1] for s in start.tolist()]).to(dev)

    def checkpoint(step: int, _loss: float) -> None:
        if ckpt_dir is not None and step % t.ckpt_every == 0 and step < t.steps:
            save_model(model, ckpt_dir / f"step_{step}")
            saved.append(step)

    def loss(m: nn.Module, x: Any) -> torch.Tensor:
        return F.cross_entropy(m(x[:, :-1]).logits.flatten(0, 1), x[:, 1:].flatten())

    fit(model, windows(), loss, opt, scheduler=sched, on_step=checkpoint, total=t.steps)
    return saved


def load(path: Path, device: str = "cpu") -> nn.Module:
    """A depn_base model (the registry's loader), with the rule that builds it named when it is missing."""
    if not (Path(path) / "config.json").exists():
        raise FileNotFoundError(f"model {path} is missing: build it with `snakemake {path.parent}/metrics.json` "
                                "(rule depn_base)")
    return load_model(path, device)


def perplexity(model: nn.Module, lines: list[str]) -> float:
    """Held-out perplexity (token-weighted, shared scoring code) of the filler lines, each framed by newlines."""
    return scoring.perplexity(model, [chars.encode("\n" + s + "\n") for s in lines])


def secret_sharer_exposure(model: nn.Module, secret: Secret) -> float:
    """Exact Secret-Sharer exposure of one secret among all 10^d digit strings (cross-check of DEPN's metric)."""
    p0 = secret.positions[0]
    digits = [chars.DIGITS.index(secret.ids[p]) for p in secret.positions]
    return digit_secret_exposure(model, secret.ids[:p0], digits, chars.DIGITS)


def memorization(model: nn.Module, secrets: list[Secret]) -> tuple[torch.Tensor, torch.Tensor]:
    ranks = digit_ranks(model, secrets, chars.DIGITS)
    return exposure(ranks), digit_accuracy(ranks)


def item_scores(model: nn.Module, secrets: list[Secret], ig: IGSpec) -> list[torch.Tensor]:
    return [ig_sequence(model, torch.tensor(s.ids), list(s.positions), steps=ig.steps, rule=ig.rule,
                        objective=ig.objective) for s in secrets]


def _capped(units: list[tuple[int, int]], scores: torch.Tensor, cap: int) -> list[tuple[int, int]]:
    return sorted(units, key=lambda u: -float(scores[u]))[:cap]


def aggregator_ranking(per_item: list[list[tuple[int, int]]], total: torch.Tensor) -> list[tuple[int, int]]:
    """Every neuron some item selected, by how many items selected it, then by summed IG (DEPN's aggregator keeps
    neurons shared by many items; a budget takes the first ``b``)."""
    counts = Counter(u for units in per_item for u in set(units))
    return sorted(counts, key=lambda u: (-counts[u], -float(total[u]), u))


@experiment("depn_base", config=BaseConfig, metrics=BaseMetrics)
def base(cfg: BaseConfig, ctx: RunContext) -> BaseMetrics:
    torch.set_num_threads(ctx.threads)
    secrets, lines, heldout = corpus(cfg.corpus, ctx.seed)
    metrics: dict[str, BaseModelMetrics] = {}
    for name, spec in cfg.models.items():
        ctx.progress(f"depn_base: training {name}")
        model = build(spec, ctx.seed, ctx.device)
        steps = train(model, lines, cfg.train, ctx.seed, ctx.out / name / "checkpoints")
        save_model(model, ctx.out / name)
        exp, acc = memorization(model, secrets)
        metrics[name] = BaseModelMetrics(params=sum(p.numel() for p in model.parameters()), checkpoints=steps,
                                         mean_exposure=float(exp.mean()), mean_digit_accuracy=float(acc.mean()),
                                         n_memorized=int((exp >= 10.0).sum()),
                                         heldout_perplexity=perplexity(model, heldout))
    return BaseMetrics(models=metrics)


def _reduction(before: torch.Tensor, after: torch.Tensor) -> float:
    return float(1 - after.mean() / before.mean())


@experiment("depn_edit", config=EditConfig, metrics=EditMetrics)
def edit(cfg: EditConfig, ctx: RunContext) -> EditMetrics:
    torch.set_num_threads(ctx.threads)
    if cfg.budget not in cfg.budgets:
        raise ValueError(f"budget {cfg.budget} is not one of budgets {cfg.budgets}: add it to the sweep")
    secrets, _, heldout = corpus(cfg.corpus, ctx.seed)
    model = load(Path(cfg.model_dir), ctx.device)
    exp0, acc0 = memorization(model, secrets)
    memorized = [i for i in range(len(secrets)) if float(exp0[i]) >= cfg.memorized_bits]
    if len(memorized) < cfg.min_items:
        raise RuntimeError(f"{len(memorized)} memorized items (exposure >= {cfg.memorized_bits} bits), fewer than "
                           f"min_items = {cfg.min_items}: train longer or add secrets")
    mem = memorized[:cfg.max_items]
    items = [secrets[i] for i in mem]
    e_before = exp0[mem]
    ctx.progress(f"depn_edit: IG over all FFN neurons for {len(items)} memorized items")
    scores = item_scores(model, items, cfg.ig)
    per_item = [_capped(select_threshold(s, cfg.select.fraction), s, cfg.select.max_per_item) for s in scores]
    ranking = aggregator_ranking(per_item, torch.stack(scores).sum(0))
    adapter = get_adapter(model)
    ppl0 = perplexity(model, heldout)
    g = torch.Generator().manual_seed(ctx.seed + 1)
    by_budget: dict[str, BudgetResult] = {}
    for b in cfg.budgets:
        units = ranking[:b]
        with edited(model, units):
            e_after, acc_after = (t[mem] for t in memorization(model, secrets))
            ppl = perplexity(model, heldout)
        rand = []
        for _ in range(cfg.random_draws):
            with edited(model, random_units_like(units, adapter.ffn_dim, g, exclude=units)):
                rand.append(_reduction(e_before, memorization(model, items)[0]))
        red, red_rand = _reduction(e_before, e_after), sum(rand) / len(rand)
        by_budget[str(b)] = BudgetResult(
            n_neurons=len(units),
            exposure=Exposure(before_mean=float(e_before.mean()), after_mean=float(e_after.mean()),
                              max_bits=len(items[0].positions) * math.log2(10), relative_reduction=red),
            digit_accuracy=BeforeAfter(before=float(acc0[mem].mean()), after=float(acc_after.mean())),
            perplexity=PerplexityChange(before=ppl0, after=ppl, relative_increase=ppl / ppl0 - 1),
            random=RandomControl(relative_reductions=rand, mean_relative_reduction=red_rand,
                                 depn_over_random=safe_ratio(red, red_rand)),
            layer_distribution=layer_distribution(units, adapter.num_layers),
            exposure_after_per_item=[float(x) for x in e_after])
    agg = ranking[:cfg.budget]
    n_ss = cfg.secret_sharer_items
    ss0 = [secret_sharer_exposure(model, s) for s in items[:n_ss]]
    with edited(model, agg):
        ss1 = [secret_sharer_exposure(model, s) for s in items[:n_ss]]
    per_item_red = []
    for i, units in enumerate(per_item):
        with edited(model, units):
            per_item_red.append(_reduction(e_before[i:i + 1], memorization(model, [items[i]])[0]))
    saved = persistent_edit(model, agg)
    ids = torch.tensor([list(items[0].ids)], device=next(model.parameters()).device)
    with torch.no_grad(), edited(model, agg):
        same = float((saved(ids).logits - model(ids).logits).abs().max())
    save_edited(model, agg, ctx.out / "edited_model")
    at = by_budget[str(cfg.budget)]
    mean_item = sum(per_item_red) / len(per_item_red)
    _plot_layers(ctx.out / "layer_distribution.png", at.layer_distribution,
                 layer_distribution([u for p in per_item for u in p], adapter.num_layers))
    (ctx.out / "neurons.json").write_text(json.dumps({"ranking": ranking, "per_item": per_item, "items": mem}))
    return EditMetrics(
        n_secrets=len(secrets), n_memorized=len(memorized), n_items=len(mem), budget=cfg.budget, n_neurons=len(agg),
        total_neurons=adapter.num_layers * adapter.ffn_dim, exposure=at.exposure,
        secret_sharer_exact_exposure=ExactExposure(items=n_ss, before=ss0, after=ss1),
        digit_accuracy=at.digit_accuracy, perplexity=at.perplexity, random=at.random,
        aggregator=Aggregator(per_item_mean_relative_reduction=mean_item,
                              aggregated_over_per_item=safe_ratio(at.exposure.relative_reduction, mean_item),
                              per_item_neurons_mean=sum(map(len, per_item)) / len(per_item)),
        layer_distribution=at.layer_distribution, by_budget=by_budget,
        exposure_before_per_item=[float(x) for x in e_before], persistent_vs_runtime_max_abs_logit_diff=same)


def _plot_layers(path: Path, agg: list[int], items: list[int]) -> None:
    with saved_figure(path, (4, 3), dpi=80) as (_, ax):
        x = torch.arange(len(agg))
        ax.bar(x - 0.2, agg, 0.4, label="aggregated")
        ax.bar(x + 0.2, [v / max(1, sum(items)) * sum(agg) for v in items], 0.4, label="per-item (rescaled)")
        ax.set_xlabel("layer")
        ax.set_ylabel("privacy neurons")
        ax.legend()


def _spearman(x: Sequence[float], y: Sequence[float]) -> float:
    rx, ry = (torch.tensor(v, dtype=torch.float64).argsort().argsort().double() for v in (x, y))
    return float(torch.corrcoef(torch.stack([rx, ry]))[0, 1])


@experiment("depn_dynamics", config=DynamicsConfig, metrics=DynamicsMetrics)
def dynamics(cfg: DynamicsConfig, ctx: RunContext) -> DynamicsMetrics:
    """Mean exposure and privacy-neuron attribution mass (mean over items of the top-k IG scores) over the
    checkpoints of every size and across sizes; Spearman correlations with steps and with size."""
    torch.set_num_threads(ctx.threads)
    secrets, _, _ = corpus(cfg.corpus, ctx.seed)
    items = secrets[:cfg.n_items]

    def measure(path: Path) -> tuple[FinalState, int]:
        model = load(path, ctx.device)
        scores = item_scores(model, items, cfg.ig)
        mass = sum(float(s.flatten().topk(cfg.top_k).values.sum()) for s in scores) / len(scores)
        return (FinalState(mean_exposure=float(memorization(model, secrets)[0].mean()), attribution_mass=mass),
                sum(p.numel() for p in model.parameters()))

    sizes: dict[str, SizeState] = {}
    for name in cfg.models:
        ctx.progress(f"depn_dynamics: {name}")
        root = Path(cfg.base_dir) / name
        ckpts = sorted((root / "checkpoints").glob("step_*"), key=lambda p: int(p.name[5:]))
        final, params = measure(root)
        series = [measure(p)[0] for p in ckpts] + [final]
        sizes[name] = SizeState(params=params, final=final, trajectory=Trajectory(
            steps=[int(p.name[5:]) for p in ckpts] + [cfg.final_step],
            mean_exposure=[s.mean_exposure for s in series], attribution_mass=[s.attribution_mass for s in series]))
    states = list(sizes.values())
    growth = Growth(
        steps_exposure_spearman=fmean(_spearman(s.trajectory.steps, s.trajectory.mean_exposure) for s in states),
        steps_mass_spearman=fmean(_spearman(s.trajectory.steps, s.trajectory.attribution_mass) for s in states),
        size_exposure_spearman=_spearman([s.params for s in states], [s.final.mean_exposure for s in states]),
        size_mass_spearman=_spearman([s.params for s in states], [s.final.attribution_mass for s in states]))
    return DynamicsMetrics(sizes=sizes, growth=growth)
