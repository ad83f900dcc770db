"""Zoo: train a small model of the registry on a generated corpus and save it (model + tokenizer + checkpoints).

Why here: every method at small scale needs a model in which the papers' phenomena actually occur; the metrics
prove it per data kind: private (canary loss/exposure by repetition count), facts (MRR / HIT@k on training
renderings and on held-out-template probes), multilingual (per-language HIT@1; routing load and routing
divergence between languages vs within one language), tasks (exact match per task); every MoE model reports its
expert load per layer; all report params and train time. Thresholds live in the claims, not here.
"""

from __future__ import annotations

import json
import math
import sys
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import ConfigDict, Field

from arx.data import evaluate_facts, evaluate_task, fact_set, private_corpus, task_suite, train_tokenizer
from arx.data.batching import pad_right
from arx.data.contact import multilingual_world
from arx.data.facts import object_ranks, rank_metrics
from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.methods.routing import RoutingStats, collect_routing, js_divergence
from arx.models import TrainConfig, build_model, get_adapter, save_model, train


# ------------------------------------------------------------------------------------------------- config
class ZooTrainSpec(ExperimentConfig):
    """:class:`arx.models.training.TrainConfig` fields a zoo model sets (defaults: TrainConfig's); seed, out_dir
    and device come from the run."""

    steps: int = TrainConfig.steps
    batch_size: int = TrainConfig.batch_size
    seq_len: int = TrainConfig.seq_len
    lr: float = TrainConfig.lr
    weight_decay: float = TrainConfig.weight_decay
    warmup: int = TrainConfig.warmup
    checkpoint_every: int = TrainConfig.checkpoint_every
    grad_clip: float = TrainConfig.grad_clip


class ZooModelSpec(ExperimentConfig):
    """One zoo model: family, data kind and generator arguments, tokenizer size, training, config overrides."""

    family: str
    data: str  # private | facts | multilingual | tasks (checked against DATA by zoo_train)
    vocab_size: int = 500
    data_args: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    router_aux_loss_coef: float | None = None  # MoE only: the family's load-balancing loss per layer, training only
    n_reference: int = 20000  # private only: random candidates for the exposure rank
    train: ZooTrainSpec


class ZooConfig(ExperimentConfig):
    """model_id picks one entry of models (the recorded config keeps only that one)."""

    model_id: str
    size: Literal["xs", "s", "m"] = Field(description="arx.models.SIZES preset every model of this scale is built at")
    models: dict[str, ZooModelSpec]


class _AliasMetrics(ExperimentMetrics):
    """Metrics with keys that are not identifiers (``hit@1``): fields carry them as aliases, dumped as such."""

    model_config = ConfigDict(extra="forbid", serialize_by_alias=True, validate_by_alias=True, validate_by_name=True)


RankMetrics = dict[str, int | float]  # n, mrr, hit@k (arx.data.facts.rank_metrics) or n, exact_match/accuracy


class SecretGroup(ExperimentMetrics):
    loss: float  # mean over the group's secrets
    exposure: float
    per_item_loss: list[float]
    per_item_exposure: list[float]


class PrivateMetrics(ExperimentMetrics):
    by_repetition: dict[str, SecretGroup]
    heldout: SecretGroup
    exposure_ge16_minus_once: float
    loss_once_minus_ge16: float
    max_exposure: float


class FactsMetrics(ExperimentMetrics):
    train: RankMetrics
    probe: RankMetrics
    by_relation: dict[str, dict[str, str | int | float | None]]  # kind, n_objects, train_hit@1, probe_hit@1
    per_item_rank_train: list[int]  # 1-based rank of the object of every training rendering
    per_item_rank_probe: list[int]


class RoutingLoad(ExperimentMetrics):
    max_expert_load: float
    max_expert_load_by_layer: list[float]
    uniform_expert_load: float
    num_experts: int
    top_k: int
    tokens: int


class MultilingualRouting(RoutingLoad):
    jsd_between_languages_by_layer: list[float]
    jsd_within_language_by_layer: list[float]
    jsd_between_languages: float
    jsd_within_language: float
    jsd_between_minus_within: float


class LanguageMetrics(ExperimentMetrics):
    order: str
    resource: str
    n_train_facts: int
    train: RankMetrics
    heldout: RankMetrics | None = None  # only languages with held-out facts


class MultilingualMetrics(_AliasMetrics):
    languages: dict[str, LanguageMetrics]
    min_train_hit_at_1: float = Field(alias="min_train_hit@1")
    routing: MultilingualRouting | None = None  # MoE families only


class ZooMetrics(ExperimentMetrics):
    model_id: str
    family: str
    data: Literal["private", "facts", "multilingual", "tasks"]
    params: int
    train_seconds: float
    num_threads: int
    steps: int
    final_loss: float
    resumed_from: int  # > 0: train_seconds covers only the steps after the resume
    train_texts: int
    vocab_size: int
    private: PrivateMetrics | None = None
    facts: FactsMetrics | None = None
    multilingual: MultilingualMetrics | None = None
    tasks: dict[str, dict[str, RankMetrics]] | None = None  # task -> train/test -> n, metric
    routing: RoutingLoad | None = None  # MoE families only


@torch.no_grad()
def _secret_loss(model, tok, prefix: str, secrets: list[str]) -> torch.Tensor:
    """Mean NLL of the secret's tokens given the prefix, one value per secret (batched)."""
    enc = [tok(f"{prefix} {s}", add_special_tokens=False)["input_ids"] for s in secrets]
    n_pre = len(tok(prefix, add_special_tokens=False)["input_ids"])
    out = []
    for ids in torch.tensor(enc).split(2048):
        logp = torch.log_softmax(model(input_ids=ids).logits[:, :-1].float(), -1)
        out.append(-logp.gather(-1, ids[:, 1:, None])[..., 0][:, n_pre - 1:].mean(1))
    return torch.cat(out)


def _private_metrics(model, tok, pc, n_reference: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed + 1)
    refs = ["".join(map(str, torch.randint(0, 10, (len(pc.heldout[0]),), generator=g).tolist()))
            for _ in range(n_reference)]
    ref = _secret_loss(model, tok, pc.canary_prefix, refs)
    def exposure(losses):  # Secret Sharer exposure estimated by rank among random candidates
        return [math.log2(n_reference + 1) - math.log2(1 + int((ref < l).sum())) for l in losses.tolist()]
    by_rep = {}
    for r in pc.repetitions:
        ss = [s for s, k in pc.canaries.items() if k == r]
        loss = _secret_loss(model, tok, pc.canary_prefix, ss)
        exp = exposure(loss)
        by_rep[str(r)] = {"loss": float(loss.mean()), "exposure": float(sum(exp) / len(ss)),
                          "per_item_loss": loss.tolist(), "per_item_exposure": exp}
    held = _secret_loss(model, tok, pc.canary_prefix, pc.heldout)
    held_exp = exposure(held)
    hi = [v["exposure"] for r, v in by_rep.items() if int(r) >= 16]
    return {"by_repetition": by_rep, "heldout": {"loss": float(held.mean()),
                                                 "exposure": float(sum(held_exp) / len(pc.heldout)),
                                                 "per_item_loss": held.tolist(), "per_item_exposure": held_exp},
            "exposure_ge16_minus_once": sum(hi) / len(hi) - by_rep["1"]["exposure"],
            "loss_once_minus_ge16": by_rep["1"]["loss"] - sum(by_rep[str(r)]["loss"] for r in (16, 32, 64)) / 3,
            "max_exposure": math.log2(n_reference + 1)}


# ------------------------------------------------------------------------------------------------- routing
def routing_stats(model, tok, groups: dict[str, list[str]], batch_size: int = 128) -> RoutingStats:
    """Top-k routing counts of every real token of each named group of texts (one batched pass)."""
    names = list(groups)
    ids, mask = pad_right([tok(t, add_special_tokens=False)["input_ids"] for n in names for t in groups[n]])
    group = torch.tensor([i for i, n in enumerate(names) for _ in groups[n]])
    return collect_routing(model, ids, mask, group, names, batch_size)


def load_metrics(stats: RoutingStats, groups: list[str] | None = None) -> dict:
    """Expert load per layer (share of tokens routed to the busiest expert) of the given groups' tokens."""
    load = stats.expert_load(groups)
    rows = [stats.lang(g) for g in groups] if groups is not None else slice(None)
    return {"max_expert_load": float(load.max()), "max_expert_load_by_layer": load.max(-1).values.tolist(),
            "uniform_expert_load": stats.top_k / load.shape[-1], "num_experts": int(load.shape[-1]),
            "top_k": stats.top_k, "tokens": int(stats.tokens[rows].sum())}


@contextmanager
def per_layer_balancing(model):
    """Within the block, the family's own load-balancing aux loss (Switch style) is applied to each layer and
    averaged, instead of to all layers' routing pooled: pooled, one layer's overload can hide behind another's
    underload (seen at small scale: one Mixtral layer at 66% of tokens with the pooled loss)."""
    mod = sys.modules[type(model).__module__]
    orig = getattr(mod, "load_balancing_loss_func", None)
    if orig is None:
        raise ValueError(f"per_layer_balancing: {type(model).__name__} has no load_balancing_loss_func")

    def per_layer(gate_logits, num_experts=None, top_k=2, attention_mask=None):
        if not isinstance(gate_logits, tuple) or not gate_logits:
            return orig(gate_logits, num_experts, top_k, attention_mask)
        return sum(orig((g,), num_experts, top_k, attention_mask) for g in gate_logits) / len(gate_logits)
    mod.load_balancing_loss_func = per_layer
    try:
        yield
    finally:
        mod.load_balancing_loss_func = orig


# ------------------------------------------------------------------------------------------------- per data kind
def _facts_metrics(model, tok, fs) -> dict:
    train_ranks, probe_ranks = object_ranks(model, tok, fs.train_items()), object_ranks(model, tok, fs.probe_items())
    # rank_metrics(object_ranks(...)) is evaluate_facts; the ranks are the per-item values
    out = {"train": rank_metrics(train_ranks), "probe": rank_metrics(probe_ranks), "by_relation": {},
           "per_item_rank_train": [int(r) for r in train_ranks], "per_item_rank_probe": [int(r) for r in probe_ranks]}
    for rel in fs.templates:
        tr = [it for it in fs.train_items() if fs.facts[it[2]].relation == rel]
        pr = [it for it in fs.probe_items() if fs.facts[it[2]].relation == rel]
        out["by_relation"][rel] = {"kind": fs.facts[tr[0][2]].kind, "n_objects": len(set(fs.objects[rel])),
                                   "train_hit@1": evaluate_facts(model, tok, tr)["hit@1"],
                                   "probe_hit@1": evaluate_facts(model, tok, pr)["hit@1"] if pr else None}
    return out


def _multilingual_metrics(model, tok, mc) -> dict:
    langs = {}
    for L in mc.languages:
        d = {"order": L.order, "resource": L.resource, "n_train_facts": len(mc.train_facts[L.name]),
             "train": evaluate_facts(model, tok, mc.items(L.name, "train"))}
        if mc.heldout_facts[L.name]:
            d["heldout"] = evaluate_facts(model, tok, mc.items(L.name, "heldout"))
        langs[L.name] = d
    out = {"languages": langs, "min_train_hit@1": min(d["train"]["hit@1"] for d in langs.values())}
    if not get_adapter(model).is_moe:
        return out
    names = [L.name for L in mc.languages]
    texts = {n: [f"{p} {o}" for p, o, _ in mc.items(n, "all")] for n in names}  # same facts, other surface forms
    halves = {f"{n}/{h}": texts[n][k::2] for n in names for k, h in enumerate(("even", "odd"))}
    stats = routing_stats(model, tok, {**texts, **halves})
    js = js_divergence(stats.distribution())  # [layer, group, group], bits
    pairs = [(stats.lang(a), stats.lang(b)) for i, a in enumerate(names) for b in names[i + 1:]]
    between = (sum(js[:, i, j] for i, j in pairs) / max(1, len(pairs))).tolist()
    within = (sum(js[:, stats.lang(f"{n}/even"), stats.lang(f"{n}/odd")] for n in names) / len(names)).tolist()
    out["routing"] = dict(load_metrics(stats, names), jsd_between_languages_by_layer=between,
                          jsd_within_language_by_layer=within,
                          jsd_between_languages=sum(between) / len(between),
                          jsd_within_language=sum(within) / len(within),
                          jsd_between_minus_within=(sum(between) - sum(within)) / len(between))
    return out


def _tasks_metrics(model, tok, suite) -> dict:
    return {name: {"train": evaluate_task(model, tok, t, "train"), "test": evaluate_task(model, tok, t, "test")}
            for name, t in suite.tasks.items()}


DATA = {"private": lambda seed, args: private_corpus(seed, **args),
        "facts": lambda seed, args: fact_set(seed, **args),
        "multilingual": lambda seed, args: multilingual_world(seed, **args),  # languages in contact, if asked
        "tasks": lambda seed, args: task_suite(seed, **args)}


def _texts(kind: str, data) -> tuple[list[str], list[str]]:
    """(training texts, tokenizer texts): the tokenizer also sees probe/test sentences (vocabulary only)."""
    if kind == "private":
        return data.texts, data.texts
    if kind == "multilingual":
        return data.texts, data.all_texts()
    return data.train_texts(), data.all_texts()  # facts, tasks


def corpus_lines(kind: str, data) -> list[dict]:
    """The generated corpus as JSONL records (``corpus.jsonl`` next to the model; deterministic from the seed).

    facts: ``{prompt, object, relation, kind, split}`` per rendering (split ``train`` or ``probe``, never trained);
    multilingual: ``{language, resource, fact, prompt, object, split}`` (``fact`` aligns languages); tasks:
    ``{task, prompt, answer, split}`` plus the background ``{text, split}`` the knowledge questions ask about;
    private: ``{text, split}`` per training text (canaries and PII records included, as trained)."""
    if kind == "facts":
        return [{"prompt": p, "object": o, "relation": data.facts[i].relation, "kind": data.facts[i].kind,
                 "split": split} for split, items in (("train", data.train_items()), ("probe", data.probe_items()))
                for p, o, i in items]
    if kind == "multilingual":
        return [{"language": L.name, "resource": L.resource, "fact": i, "prompt": p, "object": o, "split": split}
                for L in data.languages for split in ("train", "heldout") for p, o, i in data.items(L.name, split)]
    if kind == "tasks":
        return [{"task": name, "prompt": p, "answer": a, "split": split} for name, t in data.tasks.items()
                for split in ("train", "test") for p, a in t.split(split)] + [
            {"text": t, "split": "train"} for t in data.background]
    return [{"text": t, "split": "train"} for t in data.texts]


@experiment("zoo_train", config=ZooConfig, metrics=ZooMetrics)
def zoo_train(cfg: ZooConfig, ctx: RunContext) -> dict:
    """cfg: models.<model_id> -> :class:`ZooModelSpec`; model_id picks one. The tokenizer is trained on every
    rendering of the data (probe/test sentences included: vocabulary only; the model never trains on them). Writes
    the model, tokenizer, checkpoints and the corpus (``corpus.jsonl``, :func:`corpus_lines`) under ``ctx.out``."""
    torch.set_num_threads(ctx.threads)
    mid = cfg.model_id
    if mid not in cfg.models:
        raise ValueError(f"zoo_train: model_id {mid!r} not in config models {sorted(cfg.models)}; "
                         "add it to workflows/config/zoo.yaml")
    mc, seed, out = cfg.models[mid], ctx.seed, Path(ctx.out)
    kind = mc.data
    if kind not in DATA:
        raise ValueError(f"zoo_train: models.{mid}.data is {kind!r}; use one of {sorted(DATA)}")
    data = DATA[kind](seed, dict(mc.data_args))
    texts, tok_texts = _texts(kind, data)
    tok = train_tokenizer(tok_texts, mc.vocab_size)
    model = build_model(mc.family, cfg.size, len(tok), seed=seed, **mc.overrides)
    aux = mc.router_aux_loss_coef
    if aux is not None:  # the families' own load-balancing loss, during training only
        if not get_adapter(model).is_moe:
            raise ValueError(f"zoo_train: models.{mid}.router_aux_loss_coef is for MoE families; remove it")
        model.config.router_aux_loss_coef, model.router_aux_loss_coef = float(aux), float(aux)
        model.config.output_router_logits = True
    with per_layer_balancing(model) if aux is not None else nullcontext():
        res = train(model, tok, texts, dict(mc.train.model_dump(), seed=seed, out_dir=str(out), device=ctx.device))
    model = model.cpu()
    if aux is not None:
        model.config.output_router_logits = False
    save_model(model, out, tok)
    (out / "corpus.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in corpus_lines(kind, data)))
    metrics = {"model_id": mid, "family": mc.family, "data": kind,
               "params": sum(p.numel() for p in model.parameters()), "train_seconds": res.seconds,
               "num_threads": torch.get_num_threads(), "steps": res.steps, "final_loss": res.final_loss,
               "resumed_from": res.resumed_from,  # > 0: train_seconds covers only the steps after the resume
               "train_texts": len(texts), "vocab_size": len(tok)}
    if kind == "private":
        metrics["private"] = _private_metrics(model, tok, data, mc.n_reference, seed)
    elif kind == "facts":
        metrics["facts"] = _facts_metrics(model, tok, data)
    elif kind == "multilingual":
        metrics["multilingual"] = _multilingual_metrics(model, tok, data)
    else:
        metrics["tasks"] = _tasks_metrics(model, tok, data)
    ad = get_adapter(model)
    if ad.is_moe:
        rt = metrics.get("multilingual", {}).get("routing")
        metrics["routing"] = ({k: rt[k] for k in ("max_expert_load", "max_expert_load_by_layer",
                                                   "uniform_expert_load", "num_experts", "top_k", "tokens")}
                              if rt else load_metrics(routing_stats(model, tok, {"train": texts})))
    return metrics
