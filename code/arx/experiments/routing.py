"""Language Routing Isolation and RISE (Zheng et al.): routing analysis and subnetwork adaptation of an MoE model.

Protocol (one code path for every scale; settings in workflows/config/routing.yaml):
* base model and data: at small/medium scale the zoo's multilingual Qwen2-MoE (``qwen2_moe_multilingual``: routed +
  shared experts, trained by ``zoo_train`` on :mod:`arx.data.multilingual`: the same facts in several synthetic
  languages with their own vocabularies and word orders; high-resource languages see every fact, low-resource ones
  a fraction) and the corpus it was trained on (``corpus.jsonl``, read by :class:`CorpusWorld`); at paper scale the
  published checkpoint and per-language prompt/answer JSONL files (:class:`JsonlWorld`);
* splits: ``all`` = every fact in every language (routing statistics); RISE adapts on facts the target (low-resource)
  language never saw in training, ``adapt``, ``val`` and ``test`` being a seeded split of them, rendered in every
  language; every fine-tuning method (RISE, random subnetworks, the full model) takes the learning rate of its grid
  with the best target-language F1 on ``val``, so no baseline runs at a rate tuned for another method;
* task per language: answer the object of a test fact in that language; token F1 (points) of the greedy answer
  tokens (each predicted from the prompt and the gold prefix) against the gold answer;
* ``routing_isolation``: routing statistics on the parallel corpus of all facts, Jaccard/JSD per layer;
* ``routing_rise``: tripartite selection from routing statistics on the adaptation facts, then fine-tunes
  (same data and steps, each at its validation-chosen learning rate) RISE, random subnetworks of equal size and the
  full model on the target language's adaptation facts; F1 before/after on every language's test facts.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from arx.data.batching import pad_right
from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.experiments.lotaqaf import best_on_validation  # moves to arx.methods with lotaqaf's next re-run
from arx.methods.routing import (
    RoutingStats,
    collect_routing,
    isolation_curves,
    moe_layers,
    overlap_scores,
    random_selection,
    restrict_training,
    specificity_scores,
    tripartite_selection,
)
from arx.models import fit, load_model
from arx.plots import saved_figure

# --------------------------------------------------------------------------------------------------- config


class WorldSpec(ExperimentConfig):
    """Paper scale: the language codes of the JSONL files, high- and low-resource."""

    high: list[str]
    low: list[str]


class RoutingBaseConfig(ExperimentConfig):
    """Where the base model and its data come from (shared by both experiments).

    base_dir: the zoo model directory (small/medium) or the published checkpoint (paper); checkpoint_repo: the hub
    repository to download it from (paper; only named in the error when it is missing); data_dir + world: the
    per-language JSONL sets (paper); without data_dir the zoo's ``corpus.jsonl`` in base_dir is read."""

    base_dir: str
    checkpoint_repo: str | None = None
    data_dir: str | None = None
    world: WorldSpec | None = None
    batch_size_eval: int = 256


class IsolationConfig(RoutingBaseConfig):
    n_top: int


class RiseSpec(ExperimentConfig):
    experts_per_layer: int
    shallow_frac: float
    deep_frac: float
    random_draws: int


class FinetuneSpec(ExperimentConfig):
    steps: int
    batch_size: int
    lr_grid: list[float] = Field(min_length=1)  # each method keeps the rate with the best target F1 on `val`


class RiseConfig(RoutingBaseConfig):
    target: str
    adapt_fraction: float = Field(0.4, gt=0, lt=1)  # of the facts the target never saw: adaptation data ...
    val_fraction: float = Field(0.1, gt=0, lt=1)  # ... learning-rate choice; the rest is the test set
    rise: RiseSpec
    finetune: FinetuneSpec
    n_top: int | None = None  # not read by RISE: the paper section shares routing_isolation's settings


class IsolationSummary(ExperimentMetrics):
    """:func:`arx.methods.routing.isolation_curves`: per-layer curves and the claims' summary numbers."""

    layers: list[int]
    n_top: int
    curves: dict[str, list[float]]  # per layer: jaccard/jsd of high–low, high–high and all language pairs
    fraction_layers_isolated: float
    mean_jaccard_high_low: float
    mean_jaccard_high_high: float
    mean_jsd_high_low: float
    mean_jsd_high_high: float
    peak_layer: int
    interior_peak_margin: float | None  # None: fewer than 3 MoE layers (no interior layer)
    convergence_jsd: dict[str, float | None]  # middle-third minus ends of 1 - JSD (all pairs), permutation p
    convergence_jaccard: dict[str, float | None]  # the same of the top-n Jaccard overlap


class IsolationMetrics(ExperimentMetrics):
    isolation: IsolationSummary
    distribution: list[list[list[float]]]  # [layer][language][expert] selection shares
    languages: list[str]


class FinetuneRun(ExperimentMetrics):
    f1: dict[str, float]
    per_item_f1: dict[str, list[float]]  # per language: each test fact's F1 (points); f1 is their mean
    trainable_parameters: int
    final_loss: float
    lr: float  # chosen on the target's validation facts
    val_f1_by_lr: dict[str, float]  # target-language validation F1 (points) at each rate of the grid


class RandomRuns(ExperimentMetrics):
    f1: dict[str, float]  # mean over the draws
    trainable_parameters: int
    draws: int
    lr: list[float]  # each draw's validation-chosen rate


class RiseRuns(ExperimentMetrics):
    rise: FinetuneRun
    full: FinetuneRun
    random: RandomRuns


class RiseGains(ExperimentMetrics):
    target_gain_f1: float
    others_change_f1: float
    full_others_change_f1: float
    full_target_gain_f1: float
    random_target_gain_f1: float
    gain_over_random_f1: float


class RiseMetrics(ExperimentMetrics):
    target: str
    f1_before: dict[str, float]
    per_item_f1_before: dict[str, list[float]]  # per language: each test fact's F1 (points) before fine-tuning
    runs: RiseRuns
    selection: dict[str, list[int]]
    specificity_target: list[list[float]]
    overlap: list[list[float]]
    rise: RiseGains


# --------------------------------------------------------------------------------------------------- data


@dataclass
class TaskData:
    """Right-padded prompt+answer sequences; ``answer`` marks the answer tokens (the loss and F1 positions)."""

    ids: torch.Tensor
    mask: torch.Tensor
    answer: torch.Tensor

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, idx: torch.Tensor) -> TaskData:
        return TaskData(self.ids[idx], self.mask[idx], self.answer[idx])

    def to(self, device) -> TaskData:
        return TaskData(self.ids.to(device), self.mask.to(device), self.answer.to(device))

    @staticmethod
    def cat(parts: list[TaskData], pad: int) -> TaskData:
        width = max(p.ids.shape[1] for p in parts)

        def padded(x: torch.Tensor, value) -> torch.Tensor:
            return F.pad(x, (0, width - x.shape[1]), value=value)

        return TaskData(torch.cat([padded(p.ids, pad) for p in parts]), torch.cat([padded(p.mask, 0) for p in parts]),
                        torch.cat([padded(p.answer, False) for p in parts]))


def prompt_answer_data(tokenizer, pad: int, rows: list[tuple[str, str]]) -> TaskData:
    """Right-padded ``prompt + answer`` token sequences with the answer tokens marked."""
    seqs = [(tokenizer(p)["input_ids"], tokenizer(a, add_special_tokens=False)["input_ids"]) for p, a in rows]
    ids, mask = pad_right([p + a for p, a in seqs], pad)
    answer = torch.zeros_like(ids, dtype=torch.bool)
    for i, (p, a) in enumerate(seqs):
        answer[i, len(p):len(p) + len(a)] = True
    return TaskData(ids, mask, answer)


def _pad_id(tokenizer) -> int:
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


class CorpusWorld:
    """Small/medium scale: the zoo's multilingual corpus (``corpus.jsonl`` lines ``{language, resource, fact,
    prompt, object, split}``). ``all``: every fact in every language; ``adapt`` / ``test``: a seeded split
    (``adapt_fraction``) of the facts the ``target`` language never saw in training, rendered in every language."""

    def __init__(self, corpus: Path, tokenizer, target: str | None = None, adapt_fraction: float = 0.4,
                 seed: int = 0, val_fraction: float = 0.1) -> None:
        if not Path(corpus).exists():
            raise FileNotFoundError(f"{corpus} is missing: build the zoo model with `snakemake "
                                    f"{Path(corpus).parent}/metrics.json` (rule zoo_model)")
        lines = [json.loads(x) for x in Path(corpus).read_text().splitlines() if x.strip()]
        need = {"language", "resource", "fact", "prompt", "object", "split"}
        bad = [i + 1 for i, d in enumerate(lines) if not need <= set(d)]
        if not lines or bad:
            raise ValueError(f"{corpus}: not a multilingual zoo corpus ({'empty' if not lines else f'lines {bad[:5]}'} "
                             f"lack some of {sorted(need)}); rebuild it with rule zoo_model")
        self.languages = list(dict.fromkeys(d["language"] for d in lines))
        res = {d["language"]: d["resource"] for d in lines}
        self.high = [l for l in self.languages if res[l] == "high"]
        self.low = [l for l in self.languages if res[l] == "low"]
        self.rows = {(d["language"], d["fact"]): (d["prompt"], d["object"]) for d in lines}
        self.facts = sorted({d["fact"] for d in lines})
        self.tok, self.PAD = tokenizer, _pad_id(tokenizer)
        self.split = {"all": self.facts}
        if target is not None:
            if target not in self.low:
                raise ValueError(f"target {target!r} must be one of the low-resource languages {self.low}")
            unseen = sorted(d["fact"] for d in lines if d["language"] == target and d["split"] == "heldout")
            order = torch.randperm(len(unseen), generator=torch.Generator().manual_seed(seed)).tolist()
            k, v = round(adapt_fraction * len(unseen)), round(val_fraction * len(unseen))
            if k < 1 or v < 1 or k + v >= len(unseen):
                raise ValueError(f"adapt_fraction={adapt_fraction} and val_fraction={val_fraction} leave an empty "
                                 f"split of the {len(unseen)} facts {target} never saw; lower them")
            self.split["adapt"] = sorted(unseen[i] for i in order[:k])
            self.split["val"] = sorted(unseen[i] for i in order[k:k + v])
            self.split["test"] = sorted(unseen[i] for i in order[k + v:])

    def task(self, language: str, split: str) -> TaskData:
        if split not in self.split:
            raise ValueError(f"unknown split {split!r}; have {sorted(self.split)} (adapt/test need a target)")
        return prompt_answer_data(self.tok, self.PAD, [self.rows[(language, f)] for f in self.split[split]])


class JsonlWorld:
    """Paper scale: per-language prompt/answer pairs from ``<data_dir>/<language>.<split>.jsonl`` (splits ``all``
    for routing statistics, ``adapt``, ``val`` and ``test`` for RISE), tokenized with the checkpoint's tokenizer."""

    def __init__(self, data_dir: str, high: list[str], low: list[str], tokenizer) -> None:
        self.high, self.low, self.languages = list(high), list(low), [*high, *low]
        self.dir, self.tok = Path(data_dir), tokenizer
        self.PAD = _pad_id(tokenizer)

    def task(self, language: str, split: str) -> TaskData:
        path = self.dir / f"{language}.{split}.jsonl"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: put one JSON object per line with 'prompt' and 'answer' "
                                    f"(e.g. a multilingual QA set such as MLQA/XQuAD rendered per language) there")
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return prompt_answer_data(self.tok, self.PAD, [(r["prompt"], r["answer"]) for r in rows])


def parallel(world, split: str) -> tuple[TaskData, torch.Tensor]:
    """Every language's examples of one split, with per-sequence language ids."""
    parts = [world.task(l, split) for l in world.languages]
    lang = torch.cat([torch.full((len(p),), i) for i, p in enumerate(parts)])
    return TaskData.cat(parts, world.PAD), lang


def world_from(cfg: RoutingBaseConfig, tokenizer, seed: int = 0):
    if cfg.data_dir is not None:
        if cfg.world is None:
            raise ValueError("data_dir is set but world is not: add `world: {high: [...], low: [...]}`")
        return JsonlWorld(cfg.data_dir, cfg.world.high, cfg.world.low, tokenizer)
    if isinstance(cfg, RiseConfig):
        return CorpusWorld(Path(cfg.base_dir) / "corpus.jsonl", tokenizer, cfg.target, cfg.adapt_fraction, seed,
                           cfg.val_fraction)
    return CorpusWorld(Path(cfg.base_dir) / "corpus.jsonl", tokenizer, seed=seed)


# --------------------------------------------------------------------------------------------------- model


def load_base(cfg: RoutingBaseConfig, ctx: RunContext):
    """The base model (in the run's dtype, on its device) and its world."""
    from transformers import AutoTokenizer

    path = Path(cfg.base_dir)
    if not (path / "config.json").exists():
        how = (f"download {cfg.checkpoint_repo} (Hugging Face hub) into {path}" if cfg.checkpoint_repo is not None
               else f"build the zoo model with `snakemake {path}/metrics.json` (rule zoo_model)")
        raise FileNotFoundError(f"base model {path} is missing: {how}")
    model = load_model(path, device=ctx.device, dtype=ctx.dtype)
    return model, world_from(cfg, AutoTokenizer.from_pretrained(path), ctx.seed)


def answer_loss(model: nn.Module, batch: TaskData) -> torch.Tensor:
    """Cross-entropy of the answer tokens only."""
    logits = model(input_ids=batch.ids, attention_mask=batch.mask).logits
    target = batch.answer[:, 1:]
    return F.cross_entropy(logits[:, :-1][target].float(), batch.ids[:, 1:][target])


def train(model: nn.Module, data: TaskData, steps: int, batch_size: int, lr: float, seed: int) -> list[float]:
    """AdamW without weight decay (so slice-masked experts stay exactly frozen); returns the loss curve."""
    g = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    sample = (data.take(torch.randint(0, len(data), (min(batch_size, len(data)),), generator=g)).to(device)
              for _ in range(steps))
    return fit(model, sample, answer_loss, opt, total=steps)


def token_f1(pred: list[int], gold: list[int]) -> float:
    """SQuAD-style token F1 between predicted and gold answer tokens."""
    common = sum(min(pred.count(t), gold.count(t)) for t in set(gold))
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


@torch.no_grad()
def task_f1_items(model: nn.Module, world, split: str = "test", batch_size: int = 256,
                  languages: list[str] | None = None) -> dict[str, list[float]]:
    """Answer F1 (0..1) of every example per language (default: every language of the world): greedy (argmax over
    the vocabulary) answer tokens, each predicted from the prompt and the gold answer prefix, against the gold
    answer."""
    device = next(model.parameters()).device
    result = {}
    for lang in world.languages if languages is None else languages:
        data, scores = world.task(lang, split), []
        for s in range(0, len(data), batch_size):
            b = data.take(torch.arange(s, min(s + batch_size, len(data)))).to(device)
            pred = model(input_ids=b.ids, attention_mask=b.mask).logits[:, :-1].argmax(-1)
            target = b.answer[:, 1:]
            scores += [token_f1(p[t].tolist(), g[t].tolist()) for p, g, t in zip(pred, b.ids[:, 1:], target)]
        result[lang] = scores
    return result


def _mean_points(items: dict[str, list[float]]) -> dict[str, float]:
    return {lang: 100 * sum(scores) / len(scores) for lang, scores in items.items()}


def _points(items: dict[str, list[float]]) -> dict[str, list[float]]:
    return {lang: [100 * x for x in scores] for lang, scores in items.items()}


def task_f1(model: nn.Module, world, split: str = "test", batch_size: int = 256) -> dict[str, float]:
    """Mean answer F1 (points) per language (:func:`task_f1_items`)."""
    return _mean_points(task_f1_items(model, world, split, batch_size))


def routing_stats(model: nn.Module, world, split: str, batch_size: int) -> RoutingStats:
    data, lang = parallel(world, split)
    return collect_routing(model, data.ids, data.mask, lang, world.languages, batch_size=batch_size)


# --------------------------------------------------------------------------------------------------- plots


def plot_overlap_curves(iso: dict, path: Path) -> None:
    c, layers = iso["curves"], iso["layers"]
    with saved_figure(path, (9, 3.2), ncols=2) as (_, (a, b)):
        for key, label in [("jaccard_high_high", "high–high"), ("jaccard_high_low", "high–low"),
                           ("jaccard_all_pairs", "all pairs")]:
            a.plot(layers, c[key], marker="o", label=label)
        for key, label in [("jsd_high_high", "high–high"), ("jsd_high_low", "high–low")]:
            b.plot(layers, c[key], marker="o", label=label)
        a.set(xlabel="layer", ylabel=f"Jaccard of top-{iso['n_top']} experts", title="expert-set overlap")
        b.set(xlabel="layer", ylabel="Jensen–Shannon divergence (bits)", title="routing divergence")
        a.legend(), b.legend()


def plot_heatmaps(stats: RoutingStats, path: Path, selection: dict[int, list[int]] | None = None) -> None:
    """Expert × language selection shares, one panel per layer (selected experts boxed)."""
    from matplotlib.patches import Rectangle

    p = stats.distribution().numpy()
    n = len(stats.layers)
    with saved_figure(path, (2.2 * n + 1, 2.6), ncols=n, squeeze=False, tight=False) as (fig, axes):
        for i, ax in enumerate(axes[0]):
            im = ax.imshow(p[i], aspect="auto", cmap="viridis", vmin=0, vmax=p.max())
            ax.set_title(f"layer {stats.layers[i]}", fontsize=8)
            ax.set_xlabel("expert", fontsize=7)
            ax.set_yticks(range(len(stats.languages)), stats.languages if i == 0 else [""] * len(stats.languages),
                          fontsize=7)
            for e in (selection or {}).get(stats.layers[i], []):
                ax.add_patch(Rectangle((e - 0.5, -0.5), 1, len(stats.languages), fill=False, color="red", lw=1))
        fig.colorbar(im, ax=axes[0].tolist(), label="selection share", shrink=0.8)


# --------------------------------------------------------------------------------------------------- experiments


@experiment("routing_isolation", config=IsolationConfig, metrics=IsolationMetrics)
def isolation(cfg: IsolationConfig, ctx: RunContext) -> dict[str, Any]:
    """Language Routing Isolation and the layer-wise convergence–divergence pattern (claims 1 and 2)."""
    model, world = load_base(cfg, ctx)
    stats = routing_stats(model, world, "all", cfg.batch_size_eval)
    iso = isolation_curves(stats, world.high, world.low, cfg.n_top)
    if math.isnan(iso["interior_peak_margin"]):  # undefined without an interior layer
        iso["interior_peak_margin"] = None
    plot_overlap_curves(iso, Path(ctx.out) / "overlap_curves.png")
    plot_heatmaps(stats, Path(ctx.out) / "expert_language_heatmap.png")
    return {"isolation": iso, "distribution": [[[round(x, 5) for x in row] for row in layer]
                                               for layer in stats.distribution().tolist()],
            "languages": world.languages}


def _finetune(base: nn.Module, world, cfg: RiseConfig, selection, seed: int) -> dict[str, Any]:
    """Fine-tune ``selection`` (None: every parameter) at each rate of the grid; keep the best on validation."""
    ft = cfg.finetune

    def at(lr: float) -> tuple[nn.Module, int, list[float]]:
        model = copy.deepcopy(base)
        handle = restrict_training(model, selection)
        losses = train(model, world.task(cfg.target, "adapt"), ft.steps, ft.batch_size, lr, seed)
        handle.remove()
        return model, handle.num_trainable, losses

    def val_f1(run: tuple[nn.Module, int, list[float]]) -> float:
        return 100 * sum(task_f1_items(run[0], world, "val", languages=[cfg.target])[cfg.target]) \
            / len(world.task(cfg.target, "val"))

    lr, (model, trainable, losses), scores = best_on_validation(ft.lr_grid, at, val_f1)
    items = task_f1_items(model, world, "test")
    return {"f1": _mean_points(items), "per_item_f1": _points(items), "trainable_parameters": trainable,
            "final_loss": sum(losses[-10:]) / len(losses[-10:]), "lr": lr, "val_f1_by_lr": scores}


def _gains(before: dict[str, float], after: dict[str, float], target: str) -> dict[str, float]:
    others = [l for l in before if l != target]
    return {"target_gain": after[target] - before[target],
            "others_change": sum(after[l] - before[l] for l in others) / len(others)}


@experiment("routing_rise", config=RiseConfig, metrics=RiseMetrics)
def rise(cfg: RiseConfig, ctx: RunContext) -> dict[str, Any]:
    """RISE vs random subnetworks of equal size vs full fine-tuning on a low-resource target (claims 3–5)."""
    base, world = load_base(cfg, ctx)
    target = cfg.target
    if target not in world.low:
        raise ValueError(f"target {target!r} must be one of the low-resource languages {world.low}")
    stats = routing_stats(base, world, "adapt", cfg.batch_size_eval)
    r = cfg.rise
    selection = tripartite_selection(stats, target, r.experts_per_layer, r.shallow_frac, r.deep_frac)
    before_items = task_f1_items(base, world, "test")
    before = _mean_points(before_items)
    runs = {"rise": _finetune(base, world, cfg, selection, ctx.seed),
            "full": _finetune(base, world, cfg, None, ctx.seed)}
    n_exp = moe_layers(base)[0].num_experts
    randoms = [_finetune(base, world, cfg, random_selection(selection, n_exp, seed=1000 * (ctx.seed + 1) + i), ctx.seed)
               for i in range(r.random_draws)]
    runs["random"] = {"f1": {l: sum(x["f1"][l] for x in randoms) / len(randoms) for l in world.languages},
                      "trainable_parameters": randoms[0]["trainable_parameters"], "draws": len(randoms),
                      "lr": [x["lr"] for x in randoms]}
    g = {k: _gains(before, v["f1"], target) for k, v in runs.items()}
    plot_heatmaps(stats, Path(ctx.out) / "rise_selection_heatmap.png", selection)
    p = stats.distribution()
    return {
        "target": target,
        "f1_before": before,
        "per_item_f1_before": _points(before_items),
        "runs": runs,
        "selection": {str(k): v for k, v in selection.items()},
        "specificity_target": [[round(x, 5) for x in row]
                               for row in specificity_scores(p)[:, stats.lang(target)].tolist()],
        "overlap": [[round(x, 5) for x in row] for row in overlap_scores(p).tolist()],
        "rise": {
            "target_gain_f1": g["rise"]["target_gain"],
            "others_change_f1": g["rise"]["others_change"],
            "full_others_change_f1": g["full"]["others_change"],
            "full_target_gain_f1": g["full"]["target_gain"],
            "random_target_gain_f1": g["random"]["target_gain"],
            "gain_over_random_f1": g["rise"]["target_gain"] - g["random"]["target_gain"],
        },
    }
