"""Pydantic models: the single source of truth for every file of the artifact.

JSON Schemas in ``logic/schemas/`` are generated from these (``arx schema --write``) so that tools without
Python get the same contract. Every model forbids unknown fields: a typo is an error, not a silently
ignored key.
"""

from __future__ import annotations

import math
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
Comparator = Literal[">=", "<=", ">", "<", "between", "abs_diff_le"]
NodeType = Literal["question", "experiment", "dead_end", "decision", "pivot", "run"]
RunStatus = Literal["running", "succeeded", "failed", "interrupted"]
Verdict = Literal["reproduced", "refuted", "inconclusive"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def evidence_path_problem(path: str, suffix: str | None = None) -> str | None:
    """Why ``path`` is not a repo-relative path inside ``evidence/`` (None when it is fine).

    Lexical check only; symlinks escaping the tree are caught on disk by ``arx.artifact.evidence``.
    """
    p = PurePosixPath(path)
    if "\\" in path or p.is_absolute():
        return "must be a relative POSIX path starting with evidence/ (no absolute path)"
    if ".." in p.parts:
        return "must not contain '..' (it would escape evidence/)"
    if len(p.parts) < 2 or p.parts[0] != "evidence":
        return "must start with evidence/ (e.g. evidence/<paper>/<experiment>/metrics.json)"
    if suffix and p.suffix != suffix:
        return f"must end in {suffix}"
    return None


# ---------------------------------------------------------------------------------------------- manifest
class ScaleSpec(Strict):
    config: str = Field(description="defaults file for this scale, e.g. workflows/config/small.yaml")
    description: str = ""
    seeds: list[int] = Field(default=[0], min_length=1,
                             description="the seeds every rule runs at this scale; each seed is one evidence "
                                         "directory (.../<scale>/seed_<k>/) and `--config seeds=[0]` overrides them")

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or any(s < 0 for s in v):
            raise ValueError(f"seeds must be distinct non-negative integers, got {v}")
        return v


class Manifest(Strict):
    """``ara.yaml``: what the artifact contains and how it is configured."""

    name: str
    version: str
    schema_version: int = Field(description=f"version of these schemas; currently {SCHEMA_VERSION}")
    description: str = ""
    papers: list[str] = Field(description="paper ids; each has logic/papers/<id>.yaml")
    scales: dict[str, ScaleSpec]
    default_scale: str = "small"
    dvc_remote: str = Field(description="name of the default DVC remote configured in .dvc/config")

    @field_validator("papers")
    @classmethod
    def _unique_papers(cls, v: list[str]) -> list[str]:
        dup = sorted({p for p in v if v.count(p) > 1})
        if dup:
            raise ValueError(f"duplicate paper ids {dup}")
        return v

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v != SCHEMA_VERSION:
            raise ValueError(f"schema_version {v} is not supported; this arx reads version {SCHEMA_VERSION}")
        return v

    @model_validator(mode="after")
    def _default_scale_known(self) -> Manifest:
        if self.default_scale not in self.scales:
            raise ValueError(f"default_scale {self.default_scale!r} is not one of the scales {sorted(self.scales)}")
        return self


# ---------------------------------------------------------------------------------------------- paper
class Paper(Strict):
    """``logic/papers/<id>.yaml``: the source a claim quotes."""

    id: str = Field(pattern=ID_PATTERN)
    title: str
    authors: list[str]
    venue: str | None = None
    year: int | None = None
    arxiv: str | None = Field(default=None, description="arXiv id, e.g. 2310.18168")
    url: str | None = None
    code_url: str | None = Field(default=None, description="upstream code, if the paper has one")
    abstract_sentences: list[str] = Field(description="verbatim abstract sentences the artifact checks")
    notes: str = ""


# ---------------------------------------------------------------------------------------------- claim
def _require(comparator: str | list[str], required: list[str], forbidden: list[str]) -> dict:
    cond = {"const": comparator} if isinstance(comparator, str) else {"enum": comparator}
    return {"if": {"properties": {"comparator": cond}, "required": ["comparator"]},
            "then": {"required": required, "not": {"anyOf": [{"required": [f]} for f in forbidden]}}}


_COMPARATOR_RULES: dict[str, Any] = {"allOf": [
    _require([">=", "<=", ">", "<"], ["threshold"], ["thresholds", "reference"]),
    _require("between", ["thresholds"], ["threshold", "reference"]),
    _require("abs_diff_le", ["reference", "threshold"], ["thresholds"]),
]}


class Condition(Strict):
    """One test on a metric: ``metrics[key] <comparator> threshold``."""

    # the comparator-specific rules below (validator) also go into the JSON Schema, for non-Python tools
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_COMPARATOR_RULES)

    key: str = Field(description="dotted path inside the `metrics` object of the evidence file", min_length=1)
    minus: str | None = Field(default=None, min_length=1,
                              description="optional second key: the tested value is metrics[key] - metrics[minus] "
                                          "(for 'A beats B' claims that compare two reported metrics)")
    comparator: Comparator
    threshold: float | None = Field(default=None, description="bound for >=, <=, >, <; tolerance for abs_diff_le")
    thresholds: list[float] | None = Field(default=None, min_length=2, max_length=2,
                                           description="[lo, hi] (inclusive) for between")
    reference: float | None = Field(default=None, description="target value for abs_diff_le")
    items: str | None = Field(default=None, min_length=1,
                              description="dotted key of the per-item values whose mean is `key` (e.g. per-question "
                                          "correctness); used for a pooled estimate and, with one seed, the interval")
    minus_items: str | None = Field(default=None, min_length=1,
                                    description="dotted key of the per-item values whose mean is `minus`")
    paired: bool = Field(default=True, description="items and minus_items are the same items in the same order "
                                                   "(resampled together); false for two independent samples")
    pooled: bool = Field(default=False, description="estimate the quantity on the items of all seeds pooled "
                                                    "instead of as the mean of the per-seed values; needs items")

    @field_validator("key", "minus", "items", "minus_items")
    @classmethod
    def _dotted(cls, v: str) -> str:
        if any(part == "" for part in v.split(".")):
            raise ValueError(f"key {v!r} has an empty segment; use a dotted path like 'exposure.mean'")
        return v

    @model_validator(mode="after")
    def _thresholds_match_comparator(self) -> Condition:
        c = self.comparator
        if c == "between":
            if self.thresholds is None or len(self.thresholds) != 2:
                raise ValueError("comparator 'between' needs thresholds: [lo, hi]")
            if self.threshold is not None or self.reference is not None:
                raise ValueError("comparator 'between' takes only thresholds: [lo, hi] (remove threshold/reference)")
            lo, hi = self.thresholds
            if not lo <= hi:
                raise ValueError(f"thresholds [lo, hi] must have lo <= hi, got {self.thresholds}")
        elif c == "abs_diff_le":
            if self.reference is None or self.threshold is None:
                raise ValueError("comparator 'abs_diff_le' needs reference and threshold (|value - reference| <= threshold)")
            if self.thresholds is not None:
                raise ValueError("comparator 'abs_diff_le' does not take thresholds; use reference + threshold")
            if self.threshold < 0:
                raise ValueError("abs_diff_le threshold is a tolerance and must be >= 0")
        else:
            if self.threshold is None:
                raise ValueError(f"comparator {c!r} needs a threshold")
            if self.thresholds is not None or self.reference is not None:
                raise ValueError(f"comparator {c!r} takes only threshold (remove thresholds/reference)")
        for v in [self.threshold, self.reference, *(self.thresholds or [])]:
            if v is not None and not math.isfinite(v):
                raise ValueError("thresholds and reference must be finite numbers")
        if self.pooled and self.items is None:
            raise ValueError("pooled needs items: the dotted key of the per-item values (or remove pooled)")
        if self.minus_items is not None and (self.minus is None or self.items is None):
            raise ValueError("minus_items needs minus and items (the per-item values of both keys)")
        if self.minus is not None and self.items is not None and self.minus_items is None:
            raise ValueError("items on a `key - minus` condition needs minus_items too (the minus key's items)")
        return self

    def bounds(self) -> tuple[float, float, bool]:
        """The values that satisfy the condition as ``(lo, hi, strict)``: ``[lo, hi]``, or ``(lo, hi)`` on its finite
        side when ``strict`` (``>`` / ``<``). One description that compare, interval verdict and margin share."""
        c, t = self.comparator, self.threshold
        if c == "between":
            lo, hi = self.thresholds or (math.nan, math.nan)
            return lo, hi, False
        assert t is not None, "validated: every other comparator has a threshold"
        if c == "abs_diff_le":
            assert self.reference is not None
            return self.reference - t, self.reference + t, False
        if c in (">=", ">"):
            return t, math.inf, c == ">"
        return -math.inf, t, c == "<"

    @property
    def subject(self) -> str:
        """What is tested, as text: the key, or ``key - minus``."""
        return f"{self.key} - {self.minus}" if self.minus else self.key

    def describe(self) -> str:
        if self.comparator == "between":
            lo, hi = self.thresholds or (None, None)
            return f"{self.subject} in [{lo}, {hi}]"
        if self.comparator == "abs_diff_le":
            return f"|{self.subject} - {self.reference}| <= {self.threshold}"
        return f"{self.subject} {self.comparator} {self.threshold}"


class IntervalRule(Strict):
    """Reproduced when the whole two-sided confidence interval of the quantity satisfies the comparator, refuted
    when the whole interval violates it, inconclusive when it straddles the threshold. The interval is a seeded
    percentile bootstrap over seeds (items with one seed), widened for few seeds: see arx.artifact.stats."""

    kind: Literal["interval"]
    level: float = Field(default=0.95, gt=0.5, lt=1.0, description="confidence level, in (0.5, 1)")
    resamples: int = Field(default=2000, ge=200, le=100000, description="bootstrap resamples")
    bootstrap_seed: int = Field(default=0, ge=0, description="seed of the resampling (review is deterministic)")

    def describe(self) -> str:
        return f"{self.level:.0%} interval"


class AllSeedsRule(Strict):
    """Reproduced when every seed satisfies the condition; refuted when any seed violates it. For exact
    properties (a lossless merge): one failure is a counterexample."""

    kind: Literal["all_seeds"]

    def describe(self) -> str:
        return "every seed"


class SeedsPassingRule(Strict):
    """Reproduced when at least `min` of the n seeds satisfy the condition, refuted when at least `min` of them
    violate it, inconclusive otherwise; `min` must be more than half of the scale's seeds and at most all."""

    kind: Literal["seeds_passing"]
    min: int = Field(ge=1, description="seeds that must agree (more than half of the scale's seeds)")

    def describe(self) -> str:
        return f">= {self.min} seeds"


DecisionRule = Annotated[IntervalRule | AllSeedsRule | SeedsPassingRule, Field(discriminator="kind")]


class Check(Condition):
    """How one scale's evidence decides the claim: the main condition and every one in ``also`` must hold.

    A claim with several parts (e.g. "monotone *and* the 64x mean >= 2x the 1x mean") states each part's threshold
    here, in the claim, instead of folding them into one flag computed by the experiment.
    """

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_COMPARATOR_RULES)

    rule: str = Field(description="Snakemake rule that produces the evidence")
    evidence: str = Field(description="metrics file pattern, repo-relative, under evidence/, ending in .json, with "
                                      "{seed} where the seed goes: evidence/<paper>/<experiment>/<scale>/seed_{seed}/"
                                      "metrics.json; the workflow and review fill in every seed of the scale",
                          json_schema_extra={"pattern": r"^evidence/(?!(.*/)?\.\.(/|$))[^\\{}]*seed_\{seed\}[^\\{}]*\.json$"})
    also: list[Condition] = Field(default_factory=list,
                                  description="further conditions on the same evidence file; all must hold")
    decision: DecisionRule = Field(description="how the seeds decide each condition, fixed before the run: "
                                               "interval | all_seeds | seeds_passing")

    @field_validator("evidence")
    @classmethod
    def _inside_evidence(cls, v: str) -> str:
        problem = evidence_path_problem(v, suffix=".json")
        if problem:
            raise ValueError(f"evidence {v!r} {problem}")
        if "seed_{seed}" not in v or v.replace("{seed}", "").count("{") or v.replace("{seed}", "").count("}"):
            raise ValueError(f"evidence {v!r} must name its seed directory as seed_{{seed}} once and no other "
                             "placeholder (e.g. evidence/<paper>/<experiment>/small/seed_{seed}/metrics.json)")
        return v

    def evidence_for(self, seed: int) -> str:
        """The metrics file of one seed."""
        return self.evidence.replace("{seed}", str(seed))

    def conditions(self) -> list[Condition]:
        return [self, *self.also]

    def describe_all(self) -> str:
        return " and ".join(c.describe() for c in self.conditions())


class PaperReport(Strict):
    quote: str = Field(description="verbatim sentence from the paper (abstract)")
    figure: str = Field(description="the number or result the paper reports")
    source: str = Field(default="abstract", description="where in the paper: abstract, Table 2, Fig. 3, ...")


class Conditions(Strict):
    models: list[str]
    data: str
    seeds: list[int]
    notes: str = ""


class HistoryEntry(Strict):
    date: str = Field(description="ISO date of the change")
    change: str
    reason: str
    by: str | None = None


class Retirement(Strict):
    """Why a claim is no longer judged (it stays in the artifact, with its history and last evidence)."""

    date: str = Field(description="ISO date it was retired")
    reason: str = Field(min_length=1, description="why, e.g. no sentence of the paper states it")
    node: str | None = Field(default=None, description="exploration node that records the decision")


class Claim(Strict):
    """``logic/claims/<id>.yaml``: one falsifiable statement and how evidence decides it."""

    id: str = Field(pattern=ID_PATTERN, description="snake_case, equal to the file name, usable as a rule suffix")
    paper: str
    statement: str
    paper_reports: PaperReport
    conditions: Conditions
    falsification: str
    depends_on: list[str] = Field(default_factory=list)
    checks: dict[str, Check] = Field(description="one check per scale (small, medium, paper)")
    history: list[HistoryEntry] = Field(default_factory=list)
    retired: Retirement | None = Field(default=None, description="set when the claim is withdrawn: review no longer "
                                       "computes its verdict and lists it under `retired`; nothing is deleted")

    @field_validator("checks")
    @classmethod
    def _some_check(cls, v: dict[str, Check]) -> dict[str, Check]:
        if not v:
            raise ValueError("needs at least one check (e.g. under checks.small)")
        return v


# ---------------------------------------------------------------------------------------------- evidence
class Provenance(Strict):
    """Where a metrics file came from; written by ``arx.run``."""

    experiment: str
    scale: str
    run_id: str | None = Field(default=None, description="exploration node of the run that wrote this file")
    paper_config: str | None = None
    sets: list[str] = Field(default_factory=list, description="--set overrides of the run")
    git_commit: str | None
    git_dirty: bool | None
    config: dict[str, Any] = Field(description="the resolved config: runtime keys and the experiment's validated "
                                   "Config with every default")
    config_source: dict[str, Any] | None = Field(
        default=None, description="the merged YAML config before validation (scale defaults, paper section, --set); "
                                  "review compares it with today's to call evidence stale (config)")
    code: dict[str, str] = Field(default_factory=dict, description="sha256 of each arx source file the computation "
                                 "imported; a changed file makes the evidence stale (code)")
    seed: int | None
    packages: dict[str, str | None]
    device: str
    python: str
    platform: str
    started: str
    finished: str
    wall_s: float
    outputs: dict[str, str] = Field(default_factory=dict, description="sha256 of the other files in the output dir")


class MetricsFile(Strict):
    metrics: dict[str, Any]
    provenance: Provenance


# ---------------------------------------------------------------------------------------------- exploration
class RunInfo(Strict):
    """What ``arx.run`` records about one rule execution."""

    experiment: str
    rule: str | None = None
    wildcards: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict, description="--set overrides")
    scale: str
    paper_config: str | None = None
    out: str
    git_commit: str | None = None
    git_dirty: bool | None = None
    pid: int
    host: str
    slurm_job_id: str | None = Field(default=None, description="$SLURM_JOB_ID when the run is a SLURM job")
    slurm_node: str | None = Field(default=None, description="$SLURMD_NODENAME: the cluster node it ran on")
    started: str
    finished: str | None = None
    wall_s: float | None = None
    max_rss_mb: float | None = Field(default=None, description="peak resident memory of the run's process (size mem_mb)")
    status: RunStatus
    log_tail: list[str] = Field(default_factory=list)
    error: str | None = None
    evidence: dict[str, str] = Field(default_factory=dict, description="repo-relative path -> sha256 at run time")


class ExplorationNode(Strict):
    """``exploration/nodes/<id>.yaml``: one node of the research graph (ARA node types plus ``run``)."""

    id: str
    type: NodeType
    title: str
    body: str = ""
    parents: list[str] = Field(default_factory=list)
    claims: list[str] = Field(default_factory=list, description="claim ids this node is about")
    created: str
    author: str | None = None
    run: RunInfo | None = None
    # ARA's structured fields (ara-cli 0.1.15 dialect), each allowed only on its node type (NOTE_FIELDS)
    hypothesis: str | None = Field(default=None, description="dead_end: what was expected to work")
    failure_mode: str | None = Field(default=None, description="dead_end: how it failed")
    lesson: str | None = Field(default=None, description="dead_end: what to do differently")
    choice: str | None = Field(default=None, description="decision: what was chosen")
    alternatives: list[str] | None = Field(default=None, description="decision: what else was considered")
    rationale: str | None = Field(default=None, description="decision: why this choice")
    prior_direction: str | None = Field(default=None, description="pivot: the direction left")
    new_direction: str | None = Field(default=None, description="pivot: the direction taken")
    reason: str | None = Field(default=None, description="pivot: why")

    @model_validator(mode="after")
    def _run_iff_run_type(self) -> ExplorationNode:
        if (self.type == "run") != (self.run is not None):
            raise ValueError("a node has a `run` section exactly when type is 'run'")
        for type_, names in NOTE_FIELDS.items():
            wrong = [n for n in names if getattr(self, n) is not None and self.type != type_]
            if wrong:
                raise ValueError(f"{', '.join(wrong)} belong(s) to {type_} nodes, not to a {self.type} node")
        return self


#: the structured fields of each ARA note type
NOTE_FIELDS: dict[str, tuple[str, ...]] = {
    "dead_end": ("hypothesis", "failure_mode", "lesson"),
    "decision": ("choice", "alternatives", "rationale"),
    "pivot": ("prior_direction", "new_direction", "reason"),
}


# ---------------------------------------------------------------------------------------------- review output
class ConditionResult(Strict):
    """One condition of a check, decided over the seeds."""

    subject: str = Field(description="what is tested: key, or key - minus")
    needs: str = Field(description="the condition, e.g. 'acc - base >= 0.05'")
    verdict: Verdict
    estimate: float | None = Field(default=None, description="mean over seeds (or pooled over items)")
    interval: list[float] | None = Field(default=None, description="[lo, hi] of the two-sided interval")
    level: float | None = None
    n_seeds: int = 0
    n_items: int | None = Field(default=None, description="items over all seeds, when per-item values exist")
    per_seed: dict[str, float | None] = Field(default_factory=dict, description="seed -> value")
    seeds_satisfying: int = 0
    margin: float | None = Field(default=None, description="distance of the estimate from the threshold in "
                                 "interval half-widths; positive on the satisfying side")


class CheckResult(Strict):
    claim: str
    scale: str
    verdict: Verdict
    reason: str
    evidence: str | None = None
    value: float | None = Field(default=None, description="estimate of the first condition")
    check: str | None = None
    decision: str | None = Field(default=None, description="the decision rule, e.g. '95% interval'")
    seeds: list[int] = Field(default_factory=list, description="the scale's seeds the rule needs")
    seeds_present: list[int] = Field(default_factory=list)
    evidence_state: str | None = Field(default=None, description="fresh / stale (code) / ... over the seeds' files, "
                                       "e.g. '4 fresh, 1 missing'")
    conditions: list[ConditionResult] = Field(default_factory=list)
    registration: Literal["pre-registered", "post-hoc", "not committed", "unknown"] | None = Field(
        default=None, description="computed from git history: was the check's protocol committed before every seed's "
        "evidence was produced (see arx.artifact.preregistration)")


class ReviewReport(Strict):
    scale: str
    generated: str
    warnings: list[str] = Field(default_factory=list, description="static warnings of the artifact (e.g. a post-hoc "
                                "check); `--strict` fails on them")
    tampered: list[str] = Field(default_factory=list)
    stale: list[str] = Field(default_factory=list, description="evidence whose code or config changed since its run")
    dirty: list[str] = Field(default_factory=list, description="evidence produced from a working tree with "
                             "uncommitted changes (review --ci fails on it)")
    retired: list[str] = Field(default_factory=list, description="claims withdrawn (claim.retired): not judged")
    results: list[CheckResult] = Field(default_factory=list)


SCHEMA_MODELS: dict[str, type[BaseModel]] = {
    "manifest": Manifest,
    "paper": Paper,
    "claim": Claim,
    "metrics": MetricsFile,
    "node": ExplorationNode,
    "review": ReviewReport,
}
