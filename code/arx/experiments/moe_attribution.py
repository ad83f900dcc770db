"""Knowledge attribution in MoE vs dense models (Li et al., ACL 2025; Wang et al., Gated-LPI).

Protocol (one code path for every scale; settings in workflows/config/moe_attribution.yaml):
* models: ``qwen2_moe`` (routed + shared experts, deeper), ``olmoe`` (more, finer experts, no shared, shallower) and
  ``llama`` (dense), loaded with ``from_pretrained``: at small/medium scale the zoo's fact models
  (``evidence/zoo/<scale>/<model_id>``, trained by ``zoo_train`` on :mod:`arx.data.facts` with intermediate
  checkpoints), at paper scale the published checkpoints under ``checkpoints_root``;
* facts: ``{"prompt", "object", "relation"}`` JSONL lines (the zoo writes its corpus, ``corpus.jsonl``, next to each
  fact model; lines with ``"split": "probe"`` were never trained and are skipped; paper scale names a local file);
  the target is the object's first token in context, with the model's tokenizer;
* ``moe_attribution_cross``: attribution (``method``: IG over the unit gates, gradient × gate or ablation) of every
  fact to experts, shared experts, heads and dense neurons; layer profiles, per-layer efficiency (MoE vs dense, from
  the signed FFN attribution, which does not depend on unit granularity), head–expert correlation with a
  permutation test, head masking (MoE vs dense, the same number of heads masked in models with equally many);
* ``moe_attribution_blocking``: per relation type, block the top-k attributed experts vs k random experts; task
  sensitivity (geographic vs object-attribute relations);
* ``moe_attribution_lpi``: Gated-LPI over consecutive checkpoints of the MoE and the dense model; concentration of
  positive updates in the top 1 % of neurons (averaged over pairs and pooled), stability (Spearman ρ between
  consecutive steps) and early consolidation, the completeness residual of every pair.

Held-out selection: heads to mask and experts to block are chosen on one random half of the facts (the
``selection`` split) and their effect is measured on the other (``held_out``, which the claims read); the effect on
the selection split is reported beside it as ``in_sample``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field
from torch import nn

from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.methods.attribution import blocking, gated_lpi, heads, moe
from arx.methods.attribution.fact_files import jsonl_facts, relation_kinds
from arx.methods.attribution.prompts import FactBatch, ranking_metrics
from arx.methods.ratios import safe_ratio
from arx.models import get_adapter, load_model
from arx.plots import saved_figure

FAMILIES = ("qwen2_moe", "olmoe", "llama")

# ------------------------------------------------------------------------------------------------------ data


def split_facts(batch: FactBatch, fraction: float, seed: int) -> tuple[FactBatch, FactBatch, torch.Tensor]:
    """(selection, held_out, selection row indices): a random ``fraction`` of the facts for choosing units, the rest
    for measuring what blocking them does."""
    order = torch.randperm(len(batch), generator=torch.Generator().manual_seed(10_000 + seed))
    n = int(round(fraction * len(batch)))
    if not 0 < n < len(batch):
        raise ValueError(f"selection_fraction={fraction} leaves an empty split of {len(batch)} facts; use 0 < f < 1")
    sel, held = order[:n].sort().values, order[n:].sort().values
    return batch.take(sel), batch.take(held), sel


# ----------------------------------------------------------------------------------------------------- config

MoEFamily = Literal["qwen2_moe", "olmoe"]


class ModelSource(ExperimentConfig):
    """Where the models and their facts come from: the zoo (small/medium) or published checkpoints (paper)."""

    zoo_dir: str | None = None
    zoo_models: dict[str, str] = {}
    checkpoints: dict[str, str] | None = None  # paper scale: family -> Hugging Face repo, under checkpoints_root
    checkpoints_root: str = "."
    facts_jsonl: str | None = None  # paper scale: the facts file (else the zoo model's corpus.jsonl)
    n_facts: int | None = None


class CrossConfig(ModelSource):
    method: Literal["grad", "ig", "ablation"] = "grad"
    ig_steps: int = 16
    coordination_model: MoEFamily
    permutations: int
    masking_moe: MoEFamily
    mask_heads: int
    selection_fraction: float = Field(0.5, gt=0, lt=1)  # share of facts that select units


class BlockingConfig(ModelSource):
    method: Literal["grad", "ig", "ablation"] = "grad"
    ig_steps: int = 16
    mode: Literal["reroute", "zero"] = "reroute"
    k: int
    random_draws: int
    curve_k: list[int]
    selection_fraction: float = Field(0.5, gt=0, lt=1)  # share of facts that select units


class LpiConfig(ModelSource):
    lpi_moe: MoEFamily
    top_fraction: float
    steps: int  # even quadrature segments to start from
    rtol: float = Field(0.05, gt=0)  # refine until |completeness residual| <= rtol x |neuron sum| ...
    max_steps: int  # ... or this many gradient evaluations per checkpoint pair


# ---------------------------------------------------------------------------------------------------- metrics

Ranking = dict[str, float | int]  # {"mrr", "hit@10", "n"}


class FamilyCross(ExperimentMetrics):
    ranking: Ranking
    head_mass_per_layer: list[float]
    shared_share_of_ffn_mass: float | None = None  # only for models with shared experts


class Coordination(ExperimentMetrics):
    model: str
    r: float
    p: float
    null_mean: float
    null_std: float
    permutations: int
    facts: int
    layers: int


class HeadMaskingResult(ExperimentMetrics):
    k: int
    heads: int
    before: Ranking
    after: Ranking
    drop: dict[str, float]  # on the held-out facts
    in_sample: dict[str, float]  # the drop on the facts the heads were selected on
    masked: list[list[int]]


class HeadMasking(ExperimentMetrics):
    qwen2_moe: HeadMaskingResult | None = None
    olmoe: HeadMaskingResult | None = None
    llama: HeadMaskingResult
    dense_minus_moe_hit10_drop: float


class LayerEfficiency(ExperimentMetrics):
    per_layer: list[float]
    mean: float
    mass_per_layer: list[float]
    per_fact: list[float]
    activated_ffn_params_per_layer: int
    profile: dict[str, float]


class Efficiency(ExperimentMetrics):
    qwen2_moe: LayerEfficiency
    olmoe: LayerEfficiency
    llama: LayerEfficiency
    moe_over_dense: dict[str, float | None]  # None: the dense model's mean efficiency is not positive
    ratio_min: float | None


class CrossMetrics(ExperimentMetrics):
    method: str
    qwen2_moe: FamilyCross
    olmoe: FamilyCross
    llama: FamilyCross
    coordination: Coordination
    efficiency: Efficiency
    head_masking: HeadMasking


class RelationBlocking(ExperimentMetrics):
    before: Ranking
    top: Ranking
    drop_top: dict[str, float]
    drop_random: dict[str, float]
    blocked: list[list[int]]


class BlockingResult(ExperimentMetrics):
    mode: str
    relations: dict[str, RelationBlocking]  # per relation type (the items ``mean`` averages)
    mean: dict[str, float]


class BlockingSummary(ExperimentMetrics):
    k: int
    mrr_drop_top: dict[str, float]
    mrr_drop_random: dict[str, float]
    olmoe_minus_qwen2_moe_mrr_drop: float
    top_over_random: dict[str, float | None]  # None: the random control's drop is not positive
    top_over_random_min: float | None  # None if any model's ratio is undefined


class TaskSensitivity(ExperimentMetrics):
    """Relative MRR drop from blocking each relation's top-k experts, geographic vs object-attribute relations."""

    geographic: dict[str, float]
    attribute: dict[str, float]
    geographic_minus_attribute: dict[str, float]
    geographic_minus_attribute_min: float


class Refinement(ExperimentMetrics):
    """Basic-refinement: relative MRR drop (held-out facts) per relation kind from zeroing the shared expert in every
    layer vs blocking each relation's top-k routed experts, in the model with a shared expert. The geographic share
    of a drop is geographic / (geographic + attribute): how specific to geography the ablated units are, whatever
    the size of the ablation (None when the two drops do not sum to a positive number)."""

    model: str
    shared_drop: dict[str, float]  # relation kind -> mean relative MRR drop
    routed_drop: dict[str, float]
    shared_drop_per_relation: dict[str, float]
    shared_drop_min: float  # the smaller of the two kinds' drops: does the shared expert serve both?
    shared_geographic_share: float | None
    routed_geographic_share: float | None
    routed_minus_shared_geographic_share: float | None


class BlockingMetrics(ExperimentMetrics):
    qwen2_moe: BlockingResult
    olmoe: BlockingResult
    selection_facts: dict[str, int]  # per model (each tokenizes its own facts)
    held_out_facts: dict[str, int]
    summary: BlockingSummary  # held-out facts
    in_sample: BlockingSummary  # the facts the experts were selected on
    task_sensitivity: TaskSensitivity | None = None  # None without relation kinds in the facts file
    refinement: Refinement | None = None  # None without relation kinds or without a shared-expert model
    summary_reroute: BlockingSummary | None = None  # the other blocking mode, for comparison only
    summary_zero: BlockingSummary | None = None
    curves: dict[str, list[int] | list[float]]  # "k" and "<family> top|random" relative MRR drops


class LpiFamily(ExperimentMetrics):
    steps: list[str]
    pairs: list[dict[str, float]]
    residual_share_per_pair: list[float]  # |quadrature error| / |neuron sum|
    residual_share_max: float
    residual_share_abs_per_pair: list[float]  # |quadrature error| / Σ|neuron LPI| (well-conditioned)
    switch_share_per_pair: list[float]  # |routing-switch change| / |neuron sum| (0 for dense models)
    pairs_within_rtol: int  # pairs whose residual share met the config's rtol within max_steps
    evaluations_per_pair: list[int]
    top_share_per_pair: list[float]
    top_share_mean: float
    top_share_pooled: float
    neurons: int
    stability_spearman: list[float]


class Backbone(ExperimentMetrics):
    top_fraction: float
    moe_top_share: float  # mean over checkpoint pairs
    dense_top_share: float
    moe_top_share_pooled: float  # positive LPI summed over pairs first
    dense_top_share_pooled: float


class Consolidation(ExperimentMetrics):
    """Stability (Spearman ρ of neuron LPI between consecutive pairs) in the first half of training and overall."""

    moe_early: float
    dense_early: float
    early_moe_minus_dense: float
    moe_mean: float
    dense_mean: float
    mean_moe_minus_dense: float


class LpiMetrics(ExperimentMetrics):
    qwen2_moe: LpiFamily | None = None
    olmoe: LpiFamily | None = None
    llama: LpiFamily
    backbone: Backbone
    consolidation: Consolidation
    concentration_curves: dict[str, dict[str, float]]


# ----------------------------------------------------------------------------------------------------- models


def _model_dir(cfg: ModelSource, family: str) -> Path:
    if cfg.checkpoints is not None:  # paper scale: published checkpoints in a local directory
        repo = cfg.checkpoints[family]
        path = Path(cfg.checkpoints_root) / repo.split("/")[-1]
        if not (path / "config.json").exists():
            raise FileNotFoundError(f"checkpoint {path} is missing: download the Hugging Face model {repo} into it "
                                    f"(`huggingface-cli download {repo} --local-dir {path}`); Gated-LPI also needs "
                                    f"intermediate checkpoints under {path}/checkpoints/step_<n>/")
        return path
    if family not in cfg.zoo_models or cfg.zoo_dir is None:
        raise ValueError(f"no zoo model for {family!r}: set zoo_dir (e.g. evidence/zoo/small) and zoo_models.{family} "
                         "to a model_id of workflows/config/zoo.yaml (or checkpoints.{family} at paper scale)")
    path = Path(cfg.zoo_dir) / cfg.zoo_models[family]
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"zoo model {path} is missing: build it with `snakemake {path}/metrics.json` "
                                "(rule zoo_model) first")
    return path


def load(cfg: ModelSource, family: str, device: str = "cpu", dtype: str = "float32") -> nn.Module:
    return load_model(_model_dir(cfg, family), device=device, dtype=dtype)


def facts_for(cfg: ModelSource, family: str) -> FactBatch:
    """The facts of ``facts_jsonl`` (paper scale) or of the zoo model's ``corpus.jsonl``, in its tokenizer."""
    from transformers import AutoTokenizer

    model_dir = _model_dir(cfg, family)
    path = Path(cfg.facts_jsonl) if cfg.facts_jsonl is not None else model_dir / "corpus.jsonl"
    return jsonl_facts(path, AutoTokenizer.from_pretrained(model_dir))


def _subset(batch: FactBatch, n: int | None, seed: int) -> FactBatch:
    if n is None or n >= len(batch):
        return batch
    return batch.take(torch.randperm(len(batch), generator=torch.Generator().manual_seed(seed))[:n])


# ------------------------------------------------------------------------------------------------------ plots


def _plot(path: Path, series: dict[str, list[float]], xlabel: str, ylabel: str, title: str, x=None,
          logx: bool = False) -> None:
    with saved_figure(path, (5, 3.4)) as (_, ax):
        for name, ys in series.items():
            xs = x if x is not None else [(i + 0.5) / len(ys) for i in range(len(ys))]
            ax.plot(xs, ys, marker="o", label=name)
        if logx:
            ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=8)


# ------------------------------------------------------------------------------------------------ experiments


def _ratio_min(ratios: dict[str, float | None]) -> float | None:
    """The smallest ratio, or None if any is undefined (a degenerate control makes the minimum unknown)."""
    values = [v for v in ratios.values() if v is not None]
    return min(values) if len(values) == len(ratios) else None


@experiment("moe_attribution_cross", config=CrossConfig, metrics=CrossMetrics)
def cross(cfg: CrossConfig, ctx: RunContext) -> CrossMetrics:
    """Cross-level attribution, layer profiles, per-layer efficiency, head–expert correlation, head masking."""
    torch.set_num_threads(ctx.threads)
    seed = ctx.seed
    method = cfg.method
    res: dict[str, Any] = {"method": method}
    eff: dict[str, dict[str, Any]] = {}
    profiles: dict[str, list[float]] = {}
    head_masking: dict[str, dict[str, Any]] = {}
    k = cfg.mask_heads
    for family in FAMILIES:  # one model in memory at a time (paper-scale checkpoints are large)
        model = load(cfg, family, ctx.device, ctx.dtype)
        facts = _subset(facts_for(cfg, family), cfg.n_facts, seed)
        a = moe.cross_level(model, facts, method=method, steps=cfg.ig_steps)
        ffn_units = {u: moe.layer_mass(v) for u, v in a.items() if u != "head"}
        ffn_mass = torch.stack(list(ffn_units.values())).sum(0)  # [L]
        eff[family] = moe.per_layer_efficiency(model, [v for u, v in a.items() if u != "head"])
        profiles[f"{family} FFN units"] = (ffn_mass / ffn_mass.sum()).tolist()
        res[family] = {"ranking": ranking_metrics(model, facts),
                       "head_mass_per_layer": moe.layer_mass(a["head"]).tolist(),
                       **({"shared_share_of_ffn_mass": float(ffn_units["shared"].sum() / ffn_mass.sum())}
                          if "shared" in ffn_units else {})}
        if family == cfg.coordination_model:
            c = heads.head_expert_correlation(a["head"], a["expert"], cfg.permutations, seed)
            res["coordination"] = {"model": family, **c}
        if family in (cfg.masking_moe, "llama"):
            selection, held_out, sel = split_facts(facts, cfg.selection_fraction, seed)
            chosen = a["head"][sel]
            result = heads.head_masking(model, held_out, chosen, k)
            head_masking[family] = {**result, "heads": int(chosen.shape[1] * chosen.shape[2]),
                                    "in_sample": heads.head_masking(model, selection, chosen, k)["drop"]}
        del model
    dense = eff["llama"]["mean"]
    ratios = {f: safe_ratio(eff[f]["mean"], dense) for f in ("qwen2_moe", "olmoe")}
    res["efficiency"] = {**{f: eff[f] for f in FAMILIES}, "moe_over_dense": ratios, "ratio_min": _ratio_min(ratios)}
    res["head_masking"] = {**head_masking, "dense_minus_moe_hit10_drop": head_masking["llama"]["drop"]["hit@10"]
                           - head_masking[cfg.masking_moe]["drop"]["hit@10"]}
    _plot(ctx.out / "layer_profiles.png", profiles, "relative depth", "share of FFN attribution mass",
          f"per-layer attribution profile (Σ|{method}| per layer)")
    return CrossMetrics.model_validate(res)


def _blocking_summary(means: dict[str, dict], k: int) -> dict[str, Any]:
    top = {f: m["drop_top_mrr"] for f, m in means.items()}
    rnd = {f: m["drop_random_mrr"] for f, m in means.items()}
    ratio = {f: safe_ratio(top[f], rnd[f]) for f in top}
    return {"k": k, "mrr_drop_top": top, "mrr_drop_random": rnd,
            "olmoe_minus_qwen2_moe_mrr_drop": top["olmoe"] - top["qwen2_moe"],
            "top_over_random": ratio, "top_over_random_min": _ratio_min(ratio)}


def _task_sensitivity(res: dict[str, Any], kinds: dict[str, dict[int, str] | None]) -> dict[str, Any] | None:
    """Mean relative MRR drop of the geographic vs the object-attribute relations, per model."""
    if any(k is None or {"geographic", "attribute"} - set(k.values()) for k in kinds.values()):
        return None
    by_kind: dict[str, dict[str, float]] = {"geographic": {}, "attribute": {}}
    for family, fam_kinds in kinds.items():
        assert fam_kinds is not None
        for kind in by_kind:
            drops = [r["drop_top"]["mrr"] for rel, r in res[family]["relations"].items() if fam_kinds[int(rel)] == kind]
            by_kind[kind][family] = sum(drops) / len(drops)
    diff = {f: by_kind["geographic"][f] - by_kind["attribute"][f] for f in kinds}
    return {**by_kind, "geographic_minus_attribute": diff, "geographic_minus_attribute_min": min(diff.values())}


def _by_kind(per_relation: dict[str, float], kinds: dict[int, str]) -> dict[str, float]:
    out = {}
    for kind in ("geographic", "attribute"):
        xs = [v for rel, v in per_relation.items() if kinds[int(rel)] == kind]
        out[kind] = sum(xs) / len(xs)
    return out


def _refinement(family: str, shared: dict[str, dict], routed: dict[str, dict], kinds: dict[int, str] | None
                ) -> dict[str, Any] | None:
    """Shared-expert vs routed-expert ablation per relation kind (:class:`Refinement`)."""
    if kinds is None or {"geographic", "attribute"} - set(kinds.values()):
        return None
    per_rel = {rel: float(r["drop"]["mrr"]) for rel, r in shared.items()}
    shared_kind = _by_kind(per_rel, kinds)
    routed_kind = _by_kind({rel: float(r["drop_top"]["mrr"]) for rel, r in routed.items()}, kinds)

    def geo_share(d: dict[str, float]) -> float | None:
        return safe_ratio(d["geographic"], d["geographic"] + d["attribute"])

    s_share, r_share = geo_share(shared_kind), geo_share(routed_kind)
    return {"model": family, "shared_drop": shared_kind, "routed_drop": routed_kind,
            "shared_drop_per_relation": per_rel, "shared_drop_min": min(shared_kind.values()),
            "shared_geographic_share": s_share, "routed_geographic_share": r_share,
            "routed_minus_shared_geographic_share": None if s_share is None or r_share is None else r_share - s_share}


@experiment("moe_attribution_blocking", config=BlockingConfig, metrics=BlockingMetrics)
def block(cfg: BlockingConfig, ctx: RunContext) -> BlockingMetrics:
    """Block top-k attributed vs k random experts per relation type, model with vs without shared experts.

    Experts are ranked on the selection split and the drop is measured on the held-out split (``summary``, which
    the claims read) and on the selection split (``in_sample``). ``summary`` uses the configured ``mode`` (default:
    reroute); ``summary_<other mode>`` reports the other reading of blocking, held out, for comparison only."""
    torch.set_num_threads(ctx.threads)
    seed, k, draws = ctx.seed, cfg.k, cfg.random_draws
    mode = cfg.mode
    other = next(m for m in blocking.MODES if m != mode)
    res: dict[str, Any] = {}
    curves, alt, in_sample, kinds, shared = {}, {}, {}, {}, {}
    res["selection_facts"], res["held_out_facts"] = {}, {}
    for family in ("qwen2_moe", "olmoe"):
        model = load(cfg, family, ctx.device, ctx.dtype)
        facts = _subset(facts_for(cfg, family), cfg.n_facts, seed)
        selection, held_out, _ = split_facts(facts, cfg.selection_fraction, seed)
        ea = moe.attribute(model, selection, "expert", method=cfg.method, steps=cfg.ig_steps)

        def blocked(kk: int, how: str = mode, on: FactBatch = held_out) -> dict[str, Any]:
            return blocking.blocking_by_relation(model, selection, ea, kk, draws, seed, mode=how, evaluate=on)

        res[family] = blocked(k)
        in_sample[family] = blocked(k, on=selection)["mean"]
        alt[family] = blocked(k, other)["mean"]
        runs = [blocked(kk)["mean"] for kk in cfg.curve_k]
        curves[f"{family} top"] = [r["drop_top_mrr"] for r in runs]
        curves[f"{family} random"] = [r["drop_random_mrr"] for r in runs]
        model_dir = _model_dir(cfg, family)
        kinds[family] = relation_kinds(Path(cfg.facts_jsonl) if cfg.facts_jsonl else model_dir / "corpus.jsonl")
        res["selection_facts"][family], res["held_out_facts"][family] = len(selection), len(held_out)
        if get_adapter(model).has_shared_expert:
            shared[family] = blocking.shared_ablation_by_relation(model, held_out)
    res["summary"] = _blocking_summary({f: res[f]["mean"] for f in ("qwen2_moe", "olmoe")}, k)
    res["in_sample"] = _blocking_summary(in_sample, k)
    res[f"summary_{other}"] = _blocking_summary(alt, k)
    res["task_sensitivity"] = _task_sensitivity(res, kinds)
    refined = [_refinement(f, shared[f], res[f]["relations"], kinds[f]) for f in shared]
    res["refinement"] = refined[0] if refined else None
    res["curves"] = {"k": list(cfg.curve_k), **curves}
    _plot(ctx.out / "blocking_curves.png", curves, "experts blocked (k)", "relative MRR drop (held-out facts)",
          f"blocking top-attributed vs random experts ({mode})", x=list(cfg.curve_k))
    return BlockingMetrics.model_validate(res)


def _checkpoints(cfg: ModelSource, family: str) -> list[Path]:
    root = _model_dir(cfg, family) / "checkpoints"
    steps = sorted(root.glob("step_*"), key=lambda p: int(p.name.split("_")[1]))
    if len(steps) < 3:
        raise FileNotFoundError(f"{root} has {len(steps)} checkpoints (step_<n>/ save_pretrained dirs); Gated-LPI "
                                "needs at least 3 consecutive ones (train the zoo model with checkpoint_every, or "
                                "download them)")
    return steps


def _load_state(step_dir: Path) -> dict[str, torch.Tensor]:
    """One checkpoint's parameters in the model's own layout. Loaded with ``from_pretrained`` (via ``load_model``)
    because checkpoints store MoE experts per expert (the published format) while the modules hold them fused."""
    if not (step_dir / "config.json").exists():
        raise FileNotFoundError(f"{step_dir} is not a save_pretrained checkpoint (config.json missing)")
    return {k: v.detach() for k, v in load_model(step_dir, dtype="float32").state_dict().items()}


def _consolidation(moe_rho: list[float], dense_rho: list[float]) -> dict[str, float]:
    """Early (first half of the consecutive-pair stabilities, rounded up) and overall mean stability."""
    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs)

    early = (len(moe_rho) + 1) // 2
    out = {"moe_early": mean(moe_rho[:early]), "dense_early": mean(dense_rho[:early]),
           "moe_mean": mean(moe_rho), "dense_mean": mean(dense_rho)}
    return {**out, "early_moe_minus_dense": out["moe_early"] - out["dense_early"],
            "mean_moe_minus_dense": out["moe_mean"] - out["dense_mean"]}


@experiment("moe_attribution_lpi", config=LpiConfig, metrics=LpiMetrics)
def lpi(cfg: LpiConfig, ctx: RunContext) -> LpiMetrics:
    """Gated-LPI over consecutive checkpoints: low-entropy backbone (top-1 % share) and stability, MoE vs dense."""
    torch.set_num_threads(ctx.threads)
    seed = ctx.seed
    frac = cfg.top_fraction
    res: dict[str, Any] = {}
    curves = {}
    for family in (cfg.lpi_moe, "llama"):
        model = load(cfg, family, ctx.device, ctx.dtype).float()
        facts = _subset(facts_for(cfg, family), cfg.n_facts, seed)
        paths = _checkpoints(cfg, family)
        results, prev = [], _load_state(paths[0])
        for path in paths[1:]:  # two checkpoints in memory at a time
            cur = _load_state(path)
            results.append(gated_lpi.gated_lpi(model, prev, cur, facts, cfg.steps, cfg.rtol, cfg.max_steps))
            ctx.progress(f"gated-lpi {family} {path.name}: {results[-1].evaluations} points, residual "
                         f"{results[-1].residual_share:.3f} and routing switches {results[-1].switch_share:.3f} "
                         "of the neuron sum")
            prev = cur
        shares = [gated_lpi.concentration(r.neurons, frac) for r in results]
        pooled = torch.stack([r.neurons.clamp_min(0) for r in results]).sum(0)
        residual = [r.residual_share for r in results]
        res[family] = {"steps": [s.name for s in _checkpoints(cfg, family)], "pairs": [r.summary() for r in results],
                       "residual_share_per_pair": residual, "residual_share_max": max(residual),
                       "residual_share_abs_per_pair": [r.residual_share_abs for r in results],
                       "switch_share_per_pair": [r.switch_share for r in results],
                       "pairs_within_rtol": sum(x <= cfg.rtol for x in residual),
                       "evaluations_per_pair": [r.evaluations for r in results],
                       "top_share_per_pair": shares, "top_share_mean": sum(shares) / len(shares),
                       "top_share_pooled": gated_lpi.concentration(pooled, frac), "neurons": len(results[0].neurons),
                       "stability_spearman": gated_lpi.stability(results)}
        curves[family] = gated_lpi.concentration_curve(pooled)
    moe_r, dense_r = res[cfg.lpi_moe], res["llama"]
    res["backbone"] = {"top_fraction": frac, "moe_top_share": moe_r["top_share_mean"],
                       "dense_top_share": dense_r["top_share_mean"], "moe_top_share_pooled": moe_r["top_share_pooled"],
                       "dense_top_share_pooled": dense_r["top_share_pooled"]}
    res["consolidation"] = _consolidation(moe_r["stability_spearman"], dense_r["stability_spearman"])
    res["concentration_curves"] = curves
    _plot(ctx.out / "concentration_curves.png", {f: list(c.values()) for f, c in curves.items()},
          "top fraction of neurons", "share of positive Gated-LPI", "concentration of positive updates",
          x=[float(k) for k in next(iter(curves.values()))], logx=True)
    return LpiMetrics.model_validate(res)
