"""DEPN (Wu et al., 2023): detect privacy neurons with integrated gradients and edit them (logic/papers/depn.yaml).

Small scale: GPT-2-style causal LMs trained here on a synthetic private corpus (``<name> phone <d digits>.`` records,
each repeated 1..R times among filler sentences; one character per token, so digits are single tokens). The corpus
and character tokenizer live here, deterministic from the config (moving to the zoo's ``gpt2_private`` would change
the protocol); models come from the registry and train through ``arx.models.fit``. Perplexity comes from
``arx.methods.scoring``; DEPN's per-digit exposure from ``arx.methods.editing.memorization``, cross-checked on a
few items by the exact Secret-Sharer exposure of ``arx.methods.privacy.exposure``.

* ``depn_base``: trains ``gpt2_private`` and ``gpt2_private_large`` (checkpoints every ``ckpt_every`` steps).
* ``depn_edit``: memorized items (DEPN exposure ≥ ``memorized_bits``) → per-item IG over all FFN neurons (mean over
  the secret's digits) → per-item selection (fraction of max, capped) → aggregator (neurons recurring in ≥ a fraction
  of items) → runtime edit; exposure, digit accuracy and held-out perplexity before/after; random-neuron control;
  per-item edits (each item's own neurons) for the aggregator comparison; persistent edit saved and checked equal.
* ``depn_dynamics``: mean exposure and privacy-neuron attribution mass over checkpoints and across the two sizes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from arx.data import chars
from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.experiments._specs import GPT2Spec
from arx.methods import scoring
from arx.methods.attribution.ig import ig_sequence
from arx.methods.attribution.neurons import aggregate, layer_distribution, random_units, select_threshold
from arx.methods.editing import edited, persistent_edit, save_edited
from arx.methods.editing.memorization import Secret, digit_accuracy, digit_ranks, exposure
from arx.methods.privacy.exposure import digit_secret_exposure
from arx.methods.ratios import safe_ratio
from arx.models import build_from_config, fit, get_adapter, load_model
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
    objective: str


class SelectSpec(ExperimentConfig):
    fraction: float
    max_per_item: int
    min_item_fraction: float
    max_neurons: int


class BaseConfig(ExperimentConfig):
    corpus: CorpusSpec
    models: dict[str, GPT2Spec]
    train: TrainSpec


class EditConfig(ExperimentConfig):
    corpus: CorpusSpec
    model_dir: str
    memorized_bits: float
    max_items: int
    ig: IGSpec
    select: SelectSpec
    random_draws: int
    secret_sharer_items: int = 0


class DynamicsConfig(ExperimentConfig):
    corpus: CorpusSpec
    base_dir: str
    models: list[str]
    steps_model: str
    final_step: int
    n_items: int
    top_k: int
    ig: IGSpec


class BaseModelMetrics(ExperimentMetrics):
    params: int
    checkpoints: list[int]
    mean_exposure: float
    mean_digit_accuracy: float
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
    depn_over_random: float | None


class Aggregator(ExperimentMetrics):
    per_item_mean_relative_reduction: float
    aggregated_over_per_item: float | None
    per_item_neurons_mean: float


class EditMetrics(ExperimentMetrics):
    n_secrets: int
    n_memorized: int
    n_items: int
    n_neurons: int
    total_neurons: int
    exposure: Exposure
    secret_sharer_exact_exposure: ExactExposure
    digit_accuracy: BeforeAfter
    perplexity: PerplexityChange
    random: RandomControl
    aggregator: Aggregator
    layer_distribution: list[int]
    persistent_vs_runtime_max_abs_logit_diff: float


class Trajectory(ExperimentMetrics):
    steps: list[int]
    mean_exposure: list[float]
    attribution_mass: list[float]


class FinalState(ExperimentMetrics):
    mean_exposure: float
    attribution_mass: float


class SizeState(ExperimentMetrics):
    final: FinalState


class Growth(ExperimentMetrics):
    steps_exposure_spearman: float
    steps_mass_spearman: float
    size_exposure_ratio: float | None
    size_mass_ratio: float | None


class DynamicsMetrics(ExperimentMetrics):
    trajectory: Trajectory
    sizes: dict[str, SizeState]
    growth: Growth


def _runtime(cfg: ExperimentConfig, ctx: RunContext) -> dict[str, Any]:
    """The validated config as the mapping the experiment body reads, with the run's seed and device."""
    return {**cfg.model_dump(), "seed": ctx.seed, "device": ctx.device, "num_threads": ctx.threads}


def corpus(c: dict[str, Any], seed: int) -> tuple[list[Secret], list[str], list[str]]:
    """Secrets, training lines (records repeated + filler, shuffled) and held-out filler lines."""
    g = torch.Generator().manual_seed(seed)
    secrets, lines = [], []
    reps = [int(r) for r in c["repeats"]]
    for i in range(int(c["n_secrets"])):
        name = chars.name(g)
        digits = "".join(str(int(d)) for d in torch.randint(0, 10, (int(c["digits"]),), generator=g))
        prefix = f"\n{name} phone "
        secrets.append(Secret(tuple(chars.encode(prefix + digits + ".")),
                              tuple(range(len(prefix), len(prefix) + len(digits)))))
        lines += [f"{name} phone {digits}."] * reps[i % len(reps)]

    lines += [chars.uniform_sentence(g, WORDS) for _ in range(int(c["n_filler"]))]
    heldout = [chars.uniform_sentence(g, WORDS) for _ in range(int(c["n_heldout"]))]
    order = torch.randperm(len(lines), generator=g).tolist()
    return secrets, [lines[i] for i in order], heldout


def build(spec: dict[str, Any], seed: int, device: str = "cpu") -> nn.Module:
    return build_from_config("gpt2", seed, vocab_size=len(chars.CHARS), n_positions=128, bos_token_id=0, eos_token_id=0,
                             **spec).to(device)


def train(model: nn.Module, lines: list[str], t: dict[str, Any], seed: int, ckpt_dir: Path | None) -> list[int]:
    """Next-token loss on random windows of the concatenated training stream; ``save_pretrained`` checkpoints."""
    stream = torch.tensor(chars.encode("\n" + "\n".join(lines) + "\n"))
    dev = next(model.parameters()).device
    seq, bs = int(t["seq_len"]), int(t["batch_size"])
    opt = torch.optim.AdamW(model.parameters(), lr=float(t["lr"]), weight_decay=0.0)
    g = torch.Generator().manual_seed(seed)
    steps, saved = int(t["steps"]), []
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 100))

    def windows():
        for _ in range(steps):
            start = torch.randint(0, len(stream) - seq - 1, (bs,), generator=g)
            yield torch.stack([stream[s:s + seq + 1] for s in start.tolist()]).to(dev)

    def checkpoint(step: int, _loss: float) -> None:
        if ckpt_dir is not None and step % int(t["ckpt_every"]) == 0 and step < steps:
            model.save_pretrained(ckpt_dir / f"step_{step}")
            saved.append(step)

    fit(model, windows(), lambda m, x: F.cross_entropy(m(x[:, :-1]).logits.flatten(0, 1), x[:, 1:].flatten()), opt,
        scheduler=sched, on_step=checkpoint, total=steps)
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


def item_scores(model: nn.Module, secrets: list[Secret], ig: dict[str, Any]) -> list[torch.Tensor]:
    return [ig_sequence(model, torch.tensor(s.ids), list(s.positions), steps=int(ig["steps"]), rule=ig["rule"],
                        objective=ig["objective"]) for s in secrets]


def _capped(units: list[tuple[int, int]], scores: torch.Tensor, cap: int) -> list[tuple[int, int]]:
    return sorted(units, key=lambda u: -float(scores[u]))[:cap]


@experiment("depn_base", config=BaseConfig, metrics=BaseMetrics)
def base(typed: BaseConfig, ctx: RunContext) -> dict[str, Any]:
    cfg, out = _runtime(typed, ctx), ctx.out
    torch.set_num_threads(int(cfg.get("num_threads", 1)))
    seed = int(cfg.get("seed", 0))
    secrets, lines, heldout = corpus(cfg["corpus"], seed)
    metrics: dict[str, Any] = {}
    for name, spec in cfg["models"].items():
        model = build(spec, seed, cfg.get("device", "cpu"))
        steps = train(model, lines, cfg["train"], seed, out / name / "checkpoints")
        model.save_pretrained(out / name)
        exp, acc = memorization(model, secrets)
        metrics[name] = {"params": sum(p.numel() for p in model.parameters()), "checkpoints": steps,
                         "mean_exposure": float(exp.mean()), "mean_digit_accuracy": float(acc.mean()),
                         "heldout_perplexity": perplexity(model, heldout)}
    return {"models": metrics}


def _reduction(before: torch.Tensor, after: torch.Tensor) -> float:
    return float(1 - after.mean() / before.mean())


@experiment("depn_edit", config=EditConfig, metrics=EditMetrics)
def edit(typed: EditConfig, ctx: RunContext) -> dict[str, Any]:
    cfg, out = _runtime(typed, ctx), ctx.out
    torch.set_num_threads(int(cfg.get("num_threads", 1)))
    seed = int(cfg.get("seed", 0))
    secrets, _, heldout = corpus(cfg["corpus"], seed)
    model = load(Path(cfg["model_dir"]), cfg.get("device", "cpu"))
    sel = cfg["select"]
    exp0, acc0 = memorization(model, secrets)
    mem = [i for i in range(len(secrets)) if float(exp0[i]) >= float(cfg["memorized_bits"])][:int(cfg["max_items"])]
    if not mem:
        raise RuntimeError(f"no memorized item (exposure >= {cfg['memorized_bits']} bits): train longer")
    items = [secrets[i] for i in mem]
    e_before = exp0[mem]
    scores = item_scores(model, items, cfg["ig"])
    per_item = [_capped(select_threshold(s, float(sel["fraction"])), s, int(sel["max_per_item"])) for s in scores]
    total = torch.stack(scores).sum(0)
    agg = _capped(aggregate(per_item, float(sel["min_item_fraction"])), total, int(sel["max_neurons"]))
    if not agg:
        raise RuntimeError("the aggregator kept no neuron: lower select.min_item_fraction")
    ppl0 = perplexity(model, heldout)
    n_ss = int(cfg.get("secret_sharer_items", 0))
    ss0 = [secret_sharer_exposure(model, s) for s in items[:n_ss]]
    with edited(model, agg):
        e_agg, acc_agg = (t[mem] for t in memorization(model, secrets))
        ppl_agg = perplexity(model, heldout)
        ss1 = [secret_sharer_exposure(model, s) for s in items[:n_ss]]
    adapter = get_adapter(model)
    g = torch.Generator().manual_seed(seed + 1)
    rand = []
    for _ in range(int(cfg["random_draws"])):
        with edited(model, random_units(adapter.num_layers, adapter.ffn_dim, len(agg), g, exclude=agg)):
            rand.append(_reduction(e_before, memorization(model, items)[0]))
    per_item_red = []
    for i, units in enumerate(per_item):
        with edited(model, units):
            per_item_red.append(_reduction(e_before[i:i + 1], memorization(model, [items[i]])[0]))
    saved = persistent_edit(model, agg)
    ids = torch.tensor([list(items[0].ids)], device=next(model.parameters()).device)
    with torch.no_grad(), edited(model, agg):
        same = float((saved(ids).logits - model(ids).logits).abs().max())
    save_edited(model, agg, out / "edited_model")
    red, red_rand = _reduction(e_before, e_agg), sum(rand) / len(rand)
    mean_item = sum(per_item_red) / len(per_item_red)
    dist = layer_distribution(agg, adapter.num_layers)
    _plot_layers(out / "layer_distribution.png", dist, layer_distribution([u for p in per_item for u in p], adapter.num_layers))
    (out / "neurons.json").write_text(json.dumps({"aggregated": agg, "per_item": per_item, "items": mem}))
    return {
        "n_secrets": len(secrets), "n_memorized": int((exp0 >= float(cfg["memorized_bits"])).sum()),
        "n_items": len(mem), "n_neurons": len(agg), "total_neurons": adapter.num_layers * adapter.ffn_dim,
        "exposure": {"before_mean": float(e_before.mean()), "after_mean": float(e_agg.mean()),
                     "max_bits": len(items[0].positions) * math.log2(10), "relative_reduction": red},
        "secret_sharer_exact_exposure": {"items": n_ss, "before": ss0, "after": ss1},
        "digit_accuracy": {"before": float(acc0[mem].mean()), "after": float(acc_agg.mean())},
        "perplexity": {"before": ppl0, "after": ppl_agg, "relative_increase": ppl_agg / ppl0 - 1},
        "random": {"relative_reductions": rand, "mean_relative_reduction": red_rand,
                   "depn_over_random": safe_ratio(red, red_rand)},
        "aggregator": {"per_item_mean_relative_reduction": mean_item,
                       "aggregated_over_per_item": red / mean_item if mean_item > 1e-9 else 0.0,
                       "per_item_neurons_mean": sum(map(len, per_item)) / len(per_item)},
        "layer_distribution": dist,
        "persistent_vs_runtime_max_abs_logit_diff": same,
    }


def _plot_layers(path: Path, agg: list[int], items: list[int]) -> None:
    with saved_figure(path, (4, 3), dpi=80) as (_, ax):
        x = torch.arange(len(agg))
        ax.bar(x - 0.2, agg, 0.4, label="aggregated")
        ax.bar(x + 0.2, [v / max(1, sum(items)) * sum(agg) for v in items], 0.4, label="per-item (rescaled)")
        ax.set_xlabel("layer")
        ax.set_ylabel("privacy neurons")
        ax.legend()


def _spearman(x: list[float], y: list[float]) -> float:
    rx, ry = (torch.tensor(v).argsort().argsort().double() for v in (x, y))
    return float(torch.corrcoef(torch.stack([rx, ry]))[0, 1])


@experiment("depn_dynamics", config=DynamicsConfig, metrics=DynamicsMetrics)
def dynamics(typed: DynamicsConfig, ctx: RunContext) -> dict[str, Any]:
    cfg = _runtime(typed, ctx)
    """Mean exposure and privacy-neuron attribution mass (mean over items of the top-k IG scores, prob objective
    as in the paper's attribution) over training checkpoints and across model sizes."""
    torch.set_num_threads(int(cfg.get("num_threads", 1)))
    secrets, _, _ = corpus(cfg["corpus"], int(cfg.get("seed", 0)))
    items = secrets[:int(cfg["n_items"])]
    k = int(cfg["top_k"])

    def measure(path: Path) -> dict[str, float]:
        model = load(path, cfg.get("device", "cpu"))
        scores = item_scores(model, items, cfg["ig"])
        mass = sum(float(s.flatten().topk(k).values.sum()) for s in scores) / len(scores)
        return {"mean_exposure": float(memorization(model, secrets)[0].mean()), "attribution_mass": mass}

    sizes = {}
    for name in cfg["models"]:
        root = Path(cfg["base_dir"]) / name
        ckpts = sorted((p for p in (root / "checkpoints").glob("step_*")), key=lambda p: int(p.name[5:]))
        sizes[name] = {"final": measure(root)}
        if name == cfg["steps_model"]:
            steps = [int(p.name[5:]) for p in ckpts] + [int(cfg["final_step"])]
            series = [measure(p) for p in ckpts] + [sizes[name]["final"]]
            traj = {"steps": steps, "mean_exposure": [s["mean_exposure"] for s in series],
                    "attribution_mass": [s["attribution_mass"] for s in series]}
    small, large = (sizes[n]["final"] for n in cfg["models"])
    grow = {"steps_exposure_spearman": _spearman(traj["steps"], traj["mean_exposure"]),
            "steps_mass_spearman": _spearman(traj["steps"], traj["attribution_mass"]),
            "size_exposure_ratio": safe_ratio(large["mean_exposure"], small["mean_exposure"]),
            "size_mass_ratio": safe_ratio(large["attribution_mass"], small["attribution_mass"])}
    return {"trajectory": traj, "sizes": sizes, "growth": grow}
