"""LoTA-QAF experiments (Chen et al. 2025): lossless merge, recovery of quantization loss, comparison with
16-bit LoRA merged by re-quantization, and a task-specific fine-tune.

Protocol at small scale (one code path for every scale; sizes come from config):
* base model: a dense Llama (``lotaqaf_base``) trained on fact statements ``<first> <last> <r> <o>``;
* MMLU-like knowledge test: multiple-choice questions on the facts of held-out subjects, scored as in lm-eval's
  option-likelihood ("cloze") format: the option with the highest log-probability after the prompt is chosen;
* quantize every decoder linear with group-wise RTN at 4 and 3 bits; the bit width that loses more accuracy *on the
  validation subjects* is used; the same comparison also runs at 2 bits (the paper's low-bit setting);
* recovery fine-tune (the paper's Alpaca role) on statements of the training subjects' facts: LoTA-QAF (ternary
  adaptation + t-SignSGD), 16-bit LoRA on the quantized model (evaluated unmerged and merged by re-quantization) and
  16-bit LoRA on the full-precision model; ω (LoTA) and the learning rate (LoRA) are chosen inside the experiment
  from the config's grid by accuracy on the validation subjects (recorded under ``selection``), steps are fixed;
* task-specific fine-tune (the paper's GSM8K/SQL role): a new instruction format ``<task> <first> <last> <alias>`` whose
  answer is the object of an existing relation; exact match over the whole vocabulary on held-out subjects.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment
from arx.methods.quantization import (
    QuantLinear,
    TernaryLinear,
    TSignSGD,
    add_lora,
    add_ternary_adapters,
    dequantize_to_linear,
    merge_lora,
    merge_lora_requantized,
    merge_ternary_model,
    quantize_model,
    ternary_parameters,
)
from arx.models import build_from_config, fit, load_model, save_model

# --------------------------------------------------------------------------------------------------- config


class WorldConfig(ExperimentConfig):
    """Size of the synthetic fact world (identical across the three rules: YAML anchors)."""

    n_subjects: int
    n_relations: int
    n_objects: int
    n_aliases: int


class ModelConfig(ExperimentConfig):
    """The dense Llama base model."""

    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int


class BaseTrainConfig(ExperimentConfig):
    """Training of the base model on all fact statements (AdamW, no weight decay, full-sequence LM loss)."""

    steps: int
    batch_size: int
    lr: float


class LotaConfig(ExperimentConfig):
    """LoTA-QAF: ternary adapters of rank ``rank``, trained by t-SignSGD; the threshold ω is the value of
    ``omega_grid`` with the best validation accuracy."""

    rank: int
    omega_grid: list[float]
    steps: int
    sigma0: float
    sigma1: float
    sigma2: float


class LoraConfig(ExperimentConfig):
    """16-bit LoRA (peft) trained with AdamW; the learning rate is the value of ``lr_grid`` with the best validation
    accuracy of the LoRA on the quantized model (the full-precision LoRA uses the same rate)."""

    rank: int
    alpha: float
    lr_grid: list[float]
    steps: int


class BaseConfig(ExperimentConfig):
    """``lotaqaf_base``: world, model and training of the dense base model."""

    world: WorldConfig
    model: ModelConfig
    train: BaseTrainConfig


class FinetuneConfig(ExperimentConfig):
    """What both fine-tune experiments read: the world, the saved base model, quantization and the methods."""

    world: WorldConfig
    base_dir: str
    group_size: int
    batch_size: int
    lota: LotaConfig
    lora: LoraConfig


class MmluConfig(FinetuneConfig):
    """``lotaqaf_mmlu``: the bit width is the one of ``candidate_bits`` whose RTN loses more validation accuracy;
    ``low_bits`` (the paper's 2-bit setting) is compared as well."""

    candidate_bits: list[int]
    low_bits: int


class TaskConfig(FinetuneConfig):
    """``lotaqaf_task``: a fixed bit width."""

    bits: int


# --------------------------------------------------------------------------------------------------- metrics


class BaseMetrics(ExperimentMetrics):
    train_seconds: float
    loss_last: float
    n_params: int
    mc_acc_train_subjects: float
    mc_acc_test_subjects: float


class LotaTrainMetrics(ExperimentMetrics):
    loss_first: float
    loss_last: float
    delta_w_nonzero_frac: float


class LoraTrainMetrics(ExperimentMetrics):
    loss_first: float
    loss_last: float


class Selection(ExperimentMetrics):
    """Hyper-parameters chosen on the validation subjects (never the test subjects): validation accuracy per grid
    value and the value chosen (ties: the first in the grid)."""

    lota_omega: float
    lota_val_acc_by_omega: dict[str, float]
    lora_lr: float
    lora_val_acc_by_lr: dict[str, float]


class MethodAccuracy(ExperimentMetrics):
    """Accuracy of every method on the test subjects, merge effects and training summaries; ``per_item`` holds the
    0/1 correctness of each test item behind each accuracy (same keys, the accuracy is their mean)."""

    bits: int
    selection: Selection
    fp_base: float
    rtn: float
    lota_train: LotaTrainMetrics
    lota_unmerged: float
    lota_merged: float
    lota_merge_max_abs_logit_diff: float
    lota_seconds: float
    qlora_train: LoraTrainMetrics
    qlora_unmerged: float
    qlora_requant_merged: float
    qlora_merge_max_abs_logit_diff: float
    qlora_seconds: float
    lora_fp_train: LoraTrainMetrics
    lora_fp_merged: float
    per_item: dict[str, list[float]]


class MmluAccuracy(MethodAccuracy):
    train_subjects: dict[str, float]


class LosslessMergeMetrics(ExperimentMetrics):
    lota_max_abs_logit_diff: float
    qlora_requant_max_abs_logit_diff: float
    qlora_requant_acc_change: float
    lota_acc_change: float


class RecoveryMetrics(ExperimentMetrics):
    fp_acc: float
    rtn_acc: float
    gap: float
    lota_acc: float
    fraction_recovered: float


class VsLoraMergedMetrics(ExperimentMetrics):
    lota_minus_lora16: float         # LoTA-QAF merged − 16-bit LoRA (unmerged adapter on the quantized model)
    lota_minus_qlora_requant: float  # LoTA-QAF merged − that LoRA merged by re-quantization


class LowBitMetrics(ExperimentMetrics):
    """The same comparison at ``low_bits``."""

    accuracy: MethodAccuracy
    recovery: RecoveryMetrics
    vs_lora_merged: VsLoraMergedMetrics


class MmluMetrics(ExperimentMetrics):
    rtn_acc_by_bits: dict[str, float]       # test subjects (reported)
    rtn_val_acc_by_bits: dict[str, float]   # validation subjects (what chose the width)
    chosen_bits: int
    accuracy: MmluAccuracy
    lossless_merge: LosslessMergeMetrics
    recovery: RecoveryMetrics
    vs_lora_merged: VsLoraMergedMetrics
    low_bit: LowBitMetrics


class TaskSpecificMetrics(ExperimentMetrics):
    lota_acc: float
    lora16_acc: float
    lota_minus_lora16: float
    best_other_quantized_acc: float
    lota_minus_best_other: float


class TaskMetrics(ExperimentMetrics):
    accuracy: MethodAccuracy
    task_specific: TaskSpecificMetrics


# --------------------------------------------------------------------------------------------------- data


@dataclass
class FactWorld:
    """Token-id world. A subject is a two-token name (first, last) so that facts must be stored in the decoder
    layers (as for real multi-token entities), not in a subject's own embedding."""

    n_subjects: int
    n_relations: int
    n_objects: int
    n_aliases: int
    seed: int

    BOS, EOS, TASK = 0, 1, 2

    def __post_init__(self) -> None:
        g = torch.Generator().manual_seed(self.seed)
        self.n_name = math.ceil(math.sqrt(self.n_subjects))
        self.first0 = 3
        self.last0 = self.first0 + self.n_name
        self.rel0 = self.last0 + self.n_name
        self.alias0 = self.rel0 + self.n_relations
        self.obj0 = self.alias0 + self.n_aliases
        self.vocab_size = self.obj0 + self.n_objects
        self.names = torch.randperm(self.n_name**2, generator=g)[: self.n_subjects]
        self.objects = torch.randint(0, self.n_objects, (self.n_subjects, self.n_relations), generator=g)
        perm = torch.randperm(self.n_subjects, generator=g)
        n_train, n_val = self.n_subjects // 2, self.n_subjects // 4
        # fine-tuning subjects / validation (hyper-parameter choice) / test (the claims), disjoint
        self.train_subjects = perm[:n_train]
        self.val_subjects = perm[n_train:n_train + n_val]
        self.test_subjects = perm[n_train + n_val:]
        self.alias_of = torch.arange(self.n_aliases) % self.n_relations  # alias a answers like relation alias_of[a]
        self.distractors = torch.stack([self._distractors(g, int(o)) for o in self.objects.reshape(-1)]).reshape(
            self.n_subjects, self.n_relations, 3)

    def _distractors(self, g: torch.Generator, correct: int) -> torch.Tensor:
        choices = torch.randperm(self.n_objects - 1, generator=g)[:3]
        return choices + (choices >= correct).long()

    def _name(self, s: torch.Tensor) -> list[torch.Tensor]:
        n = self.names[s]
        return [self.first0 + n // self.n_name, self.last0 + n % self.n_name]

    def statements(self, subjects: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Fact statements ``BOS first last r o EOS`` for all relations of ``subjects``; answer position 4."""
        s = subjects.repeat_interleave(self.n_relations)
        r = torch.arange(self.n_relations).repeat(len(subjects))
        o = self.objects[s, r]
        ids = torch.stack([torch.full_like(s, self.BOS), *self._name(s), self.rel0 + r, self.obj0 + o,
                           torch.full_like(s, self.EOS)], dim=1)
        return ids, torch.full_like(s, 4)

    def task_examples(self, subjects: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Task-specific format ``BOS TASK first last alias o`` (ids, answer position 5, answer token)."""
        s = subjects.repeat_interleave(self.n_aliases)
        a = torch.arange(self.n_aliases).repeat(len(subjects))
        o = self.obj0 + self.objects[s, self.alias_of[a]]
        ids = torch.stack([torch.full_like(s, self.BOS), torch.full_like(s, self.TASK), *self._name(s),
                           self.alias0 + a, o], dim=1)
        return ids, torch.full_like(s, 5), o

    def mc_questions(self, subjects: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """MC prompts ``BOS first last r`` and the 4 option tokens (correct first; scoring is order-free)."""
        s = subjects.repeat_interleave(self.n_relations)
        r = torch.arange(self.n_relations).repeat(len(subjects))
        prompts = torch.stack([torch.full_like(s, self.BOS), *self._name(s), self.rel0 + r], dim=1)
        options = torch.cat([self.objects[s, r][:, None], self.distractors[s, r]], dim=1) + self.obj0
        return prompts, options


def batches(ids: torch.Tensor, answer_pos: torch.Tensor, batch_size: int, steps: int,
            seed: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(0, len(ids), (batch_size,), generator=g)
        yield ids[idx], answer_pos[idx]


# --------------------------------------------------------------------------------------------------- model


def build_base(world: FactWorld, m: ModelConfig, seed: int) -> nn.Module:
    return build_from_config("llama", seed, vocab_size=world.vocab_size, hidden_size=m.hidden_size,
                             intermediate_size=m.intermediate_size, num_hidden_layers=m.num_layers,
                             num_attention_heads=m.num_heads, num_key_value_heads=m.num_heads,
                             max_position_embeddings=16, tie_word_embeddings=False, bos_token_id=world.BOS,
                             eos_token_id=world.EOS, pad_token_id=world.EOS)


def device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def answer_loss(model: nn.Module, ids: torch.Tensor, pos: torch.Tensor, full_lm: bool = False) -> torch.Tensor:
    ids, pos = ids.to(device_of(model)), pos.to(device_of(model))
    logits = model(input_ids=ids).logits
    if full_lm:
        return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    rows = torch.arange(len(ids), device=ids.device)
    return F.cross_entropy(logits[rows, pos - 1], ids[rows, pos])


def answer_loss_fn(full_lm: bool = False) -> Callable[[nn.Module, Any], torch.Tensor]:
    """The ``loss_fn`` of :func:`arx.models.fit` for batches ``(ids, answer_pos)``."""
    return lambda m, batch: answer_loss(m, batch[0], batch[1], full_lm)


@torch.no_grad()
def mc_correct(model: nn.Module, world: FactWorld, subjects: torch.Tensor) -> torch.Tensor:
    """0/1 per MC question (float, on the model's device): the correct option has the highest log-probability."""
    prompts, options = (t.to(device_of(model)) for t in world.mc_questions(subjects))
    logp = model(input_ids=prompts).logits[:, -1].log_softmax(-1)
    return (logp.gather(1, options).argmax(1) == 0).float()


def mc_accuracy(model: nn.Module, world: FactWorld, subjects: torch.Tensor) -> float:
    return float(mc_correct(model, world, subjects).mean())


@torch.no_grad()
def task_correct(model: nn.Module, world: FactWorld, subjects: torch.Tensor) -> torch.Tensor:
    """0/1 per task example (float): exact match of the argmax over the whole vocabulary."""
    ids, _, answer = (t.to(device_of(model)) for t in world.task_examples(subjects))
    logits = model(input_ids=ids[:, :-1]).logits[:, -1]
    return (logits.argmax(-1) == answer).float()


def task_accuracy(model: nn.Module, world: FactWorld, subjects: torch.Tensor) -> float:
    return float(task_correct(model, world, subjects).mean())


@torch.no_grad()
def logits_of(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids.to(device_of(model))).logits


def world_from(w: WorldConfig, seed: int) -> FactWorld:
    return FactWorld(w.n_subjects, w.n_relations, w.n_objects, w.n_aliases, seed=seed)


def load_base(base_dir: str | Path, ctx: RunContext) -> nn.Module:
    """The saved base model in float32 on ``ctx.device``. Always float32, whatever ``ctx.dtype`` (bfloat16 at
    medium): the lossless-merge claim is an fp32 bit-equality and the base was trained and saved in fp32."""
    path = Path(base_dir)
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"base model not found at {path}; build it with `snakemake "
                                f"{path.parent}/metrics.json` (rule lotaqaf_base)")
    return load_model(path, device=ctx.device, dtype="float32").float()


# --------------------------------------------------------------------------------------------------- methods


def finetune_lota(qmodel: nn.Module, data: Callable[[int], Iterator], lcfg: LotaConfig, omega: float,
                  seed: int) -> tuple[nn.Module, LotaTrainMetrics]:
    """Ternary adaptation with threshold ``omega`` on a quantized model, trained with t-SignSGD."""
    model = copy.deepcopy(qmodel)
    add_ternary_adapters(model, rank=lcfg.rank, omega=omega, seed=seed)
    opt = TSignSGD(ternary_parameters(model), total_steps=lcfg.steps, sigma0=lcfg.sigma0,
                   sigma1=lcfg.sigma1, sigma2=lcfg.sigma2)
    losses = fit(model, data(lcfg.steps), answer_loss_fn(), opt)
    nonzero = [int((m.offsets()[0] != 0).sum()) for m in model.modules() if isinstance(m, TernaryLinear)]
    n_weights = sum(cast(QuantLinear, m.base).q.numel() for m in model.modules() if isinstance(m, TernaryLinear))
    return model, LotaTrainMetrics(loss_first=losses[0], loss_last=losses[-1],
                                   delta_w_nonzero_frac=sum(nonzero) / n_weights)


def finetune_lora(base: nn.Module, data: Callable[[int], Iterator], lcfg: LoraConfig,
                  lr: float) -> tuple[nn.Module, LoraTrainMetrics]:
    """16-bit LoRA (peft) with AdamW at ``lr``; ``base`` may be a quantized model (QLoRA-style) or the fp model."""
    model = copy.deepcopy(base)
    if any(isinstance(m, QuantLinear) for m in model.modules()):
        dequantize_to_linear(model)
    peft_model = add_lora(model, rank=lcfg.rank, alpha=lcfg.alpha)
    opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=lr)
    losses = fit(peft_model, data(lcfg.steps), answer_loss_fn(), opt)
    return peft_model, LoraTrainMetrics(loss_first=losses[0], loss_last=losses[-1])


T = TypeVar("T")


def best_on_validation(grid: list[float], train: Callable[[float], T],
                       val_accuracy: Callable[[T], float]) -> tuple[float, T, dict[str, float]]:
    """Train once per grid value, keep the one with the highest validation accuracy (ties: the first)."""
    if not grid:
        raise ValueError("an empty hyper-parameter grid: give at least one value")
    scores: dict[str, float] = {}
    best: tuple[float, T] | None = None
    for value in grid:
        trained = train(value)
        scores[f"{value:g}"] = acc = val_accuracy(trained)
        if best is None or acc > scores[f"{best[0]:g}"]:
            best = (value, trained)
    assert best is not None
    return best[0], best[1], scores


def quantized(model: nn.Module, bits: int, group_size: int) -> nn.Module:
    q = copy.deepcopy(model)
    quantize_model(q, bits, group_size)
    return q.eval()


def compare_methods(base: nn.Module, cfg: FinetuneConfig, seed: int, bits: int,
                    data: Callable[[int], Iterator], correct: Callable[[nn.Module, torch.Tensor], torch.Tensor],
                    world: FactWorld, probe_ids: torch.Tensor) -> MethodAccuracy:
    """Every method fine-tuned on the same batches; hyper-parameters chosen on the validation subjects; accuracies
    (means of the 0/1 per-item ``correct``, which go to ``per_item``) on the test subjects; merge effects on
    ``probe_ids``."""
    per_item: dict[str, list[float]] = {}
    test, val = world.test_subjects, world.val_subjects

    def evaluate(name: str, model: nn.Module) -> float:
        c = correct(model, test)
        per_item[name] = c.tolist()
        return float(c.mean())

    def val_acc(model_and_info: tuple[nn.Module, Any]) -> float:
        return float(correct(model_and_info[0], val).mean())

    g = cfg.group_size
    qmodel = quantized(base, bits, g)
    fp_base, rtn = evaluate("fp_base", base), evaluate("rtn", qmodel)
    t0 = time.perf_counter()
    omega, (lota, lota_train), by_omega = best_on_validation(
        cfg.lota.omega_grid, lambda w: finetune_lota(qmodel, data, cfg.lota, w, seed), val_acc)
    lota_unmerged = evaluate("lota_unmerged", lota)
    before = logits_of(lota, probe_ids)
    merge_ternary_model(lota)
    lota_merged = evaluate("lota_merged", lota)
    lota_diff = float((logits_of(lota, probe_ids) - before).abs().max())
    lota_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    lr, (qlora, qlora_train), by_lr = best_on_validation(
        cfg.lora.lr_grid, lambda r: finetune_lora(qmodel, data, cfg.lora, r), val_acc)
    qlora_unmerged = evaluate("qlora_unmerged", qlora)
    before = logits_of(qlora, probe_ids)
    requant = merge_lora_requantized(qlora, bits, g)
    qlora_requant = evaluate("qlora_requant_merged", requant)
    qlora_diff = float((logits_of(requant, probe_ids) - before).abs().max())
    qlora_seconds = time.perf_counter() - t0
    fp_lora, fp_train = finetune_lora(base, data, cfg.lora, lr)
    lora_fp_merged = evaluate("lora_fp_merged", merge_lora(fp_lora))
    return MethodAccuracy(
        bits=bits, selection=Selection(lota_omega=omega, lota_val_acc_by_omega=by_omega, lora_lr=lr,
                                       lora_val_acc_by_lr=by_lr),
        fp_base=fp_base, rtn=rtn, lota_train=lota_train, lota_unmerged=lota_unmerged, lota_merged=lota_merged,
        lota_merge_max_abs_logit_diff=lota_diff, lota_seconds=lota_seconds, qlora_train=qlora_train,
        qlora_unmerged=qlora_unmerged, qlora_requant_merged=qlora_requant, qlora_merge_max_abs_logit_diff=qlora_diff,
        qlora_seconds=qlora_seconds, lora_fp_train=fp_train, lora_fp_merged=lora_fp_merged, per_item=per_item)


def recovery_of(res: MethodAccuracy) -> RecoveryMetrics:
    """Share of the RTN accuracy gap to the full-precision model that LoTA-QAF (merged) recovers; a gap <= 0 counts
    as 0 recovered (the claim's wording: nothing to recover)."""
    gap = res.fp_base - res.rtn
    return RecoveryMetrics(fp_acc=res.fp_base, rtn_acc=res.rtn, gap=gap, lota_acc=res.lota_merged,
                           fraction_recovered=(res.lota_merged - res.rtn) / gap if gap > 0 else 0.0)


def vs_lora_of(res: MethodAccuracy) -> VsLoraMergedMetrics:
    return VsLoraMergedMetrics(lota_minus_lora16=res.lota_merged - res.qlora_unmerged,
                               lota_minus_qlora_requant=res.lota_merged - res.qlora_requant_merged)


# --------------------------------------------------------------------------------------------------- experiments


@experiment("lotaqaf_base", config=BaseConfig, metrics=BaseMetrics)
def base_model(cfg: BaseConfig, ctx: RunContext) -> BaseMetrics:
    """Train the dense base model on all fact statements (save_pretrained under ``ctx.out/model``); trained in
    float32 whatever ``ctx.dtype``."""
    world = world_from(cfg.world, ctx.seed)
    model = build_base(world, cfg.model, ctx.seed).to(ctx.device)
    ids, pos = world.statements(torch.arange(world.n_subjects))
    t = cfg.train
    opt = torch.optim.AdamW(model.parameters(), lr=t.lr, weight_decay=0.0)
    t0 = time.perf_counter()
    losses = fit(model, batches(ids, pos, t.batch_size, t.steps, ctx.seed), answer_loss_fn(full_lm=True), opt)
    save_model(model, ctx.out / "model")
    return BaseMetrics(train_seconds=time.perf_counter() - t0, loss_last=losses[-1],
                       n_params=sum(p.numel() for p in model.parameters()),
                       mc_acc_train_subjects=mc_accuracy(model, world, world.train_subjects),
                       mc_acc_test_subjects=mc_accuracy(model, world, world.test_subjects))


@experiment("lotaqaf_mmlu", config=MmluConfig, metrics=MmluMetrics)
def mmlu_recovery(cfg: MmluConfig, ctx: RunContext) -> MmluMetrics:
    """Claims lossless_merge, recovers_quantization and vs_lora_merged on the MMLU-like test."""
    world = world_from(cfg.world, ctx.seed)
    base = load_base(cfg.base_dir, ctx)
    test, val = world.test_subjects, world.val_subjects
    rtn_models = {b: quantized(base, b, cfg.group_size) for b in cfg.candidate_bits}
    fp_val = mc_accuracy(base, world, val)
    rtn_val = {b: mc_accuracy(m, world, val) for b, m in rtn_models.items()}
    bits = max(rtn_val, key=lambda b: (fp_val - rtn_val[b], -b))  # degrades more on validation (ties: fewer bits)
    ids, pos = world.statements(world.train_subjects)
    data = lambda steps: batches(ids, pos, cfg.batch_size, steps, ctx.seed + 1)  # noqa: E731
    probe, _ = world.mc_questions(test)

    def correct(m: nn.Module, subjects: torch.Tensor) -> torch.Tensor:
        return mc_correct(m, world, subjects)

    ctx.progress(f"lotaqaf_mmlu: methods at {bits} bits (chosen on validation)")
    res = compare_methods(base, cfg, ctx.seed, bits, data, correct, world, probe)
    ctx.progress(f"lotaqaf_mmlu: methods at {cfg.low_bits} bits (low-bit setting)")
    low = compare_methods(base, cfg, ctx.seed, cfg.low_bits, data, correct, world, probe)
    return MmluMetrics(
        rtn_acc_by_bits={str(b): mc_accuracy(m, world, test) for b, m in rtn_models.items()},
        rtn_val_acc_by_bits={str(b): a for b, a in rtn_val.items()}, chosen_bits=bits,
        accuracy=MmluAccuracy(**res.model_dump(), train_subjects={"fp_base": mc_accuracy(base, world,
                                                                                          world.train_subjects)}),
        lossless_merge=LosslessMergeMetrics(lota_max_abs_logit_diff=res.lota_merge_max_abs_logit_diff,
                                            qlora_requant_max_abs_logit_diff=res.qlora_merge_max_abs_logit_diff,
                                            qlora_requant_acc_change=res.qlora_requant_merged - res.qlora_unmerged,
                                            lota_acc_change=res.lota_merged - res.lota_unmerged),
        recovery=recovery_of(res), vs_lora_merged=vs_lora_of(res),
        low_bit=LowBitMetrics(accuracy=low, recovery=recovery_of(low), vs_lora_merged=vs_lora_of(low)))


@experiment("lotaqaf_task", config=TaskConfig, metrics=TaskMetrics)
def task_specific(cfg: TaskConfig, ctx: RunContext) -> TaskMetrics:
    """Claim task_specific: a new instruction format learnt by fine-tuning, exact match on held-out subjects."""
    world = world_from(cfg.world, ctx.seed)
    base = load_base(cfg.base_dir, ctx)
    ids, pos, _ = world.task_examples(world.train_subjects)
    data = lambda steps: batches(ids, pos, cfg.batch_size, steps, ctx.seed + 2)  # noqa: E731
    probe, _, _ = world.task_examples(world.test_subjects)

    def correct(m: nn.Module, subjects: torch.Tensor) -> torch.Tensor:
        return task_correct(m, world, subjects)

    res = compare_methods(base, cfg, ctx.seed, cfg.bits, data, correct, world, probe[:, :-1])
    lora16 = res.qlora_unmerged
    other = max(res.rtn, res.qlora_requant_merged)
    return TaskMetrics(accuracy=res, task_specific=TaskSpecificMetrics(
        lota_acc=res.lota_merged, lora16_acc=lora16, lota_minus_lora16=res.lota_merged - lora16,
        best_other_quantized_acc=other, lota_minus_best_other=res.lota_merged - other))
