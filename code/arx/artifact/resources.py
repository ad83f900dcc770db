"""What each rule's job needs from the machine or the cluster: threads, memory, wall time and GPUs, per scale.

Why in the scale config (``workflows/config/<scale>.yaml`` → ``resources:``) and not in the Snakefile: the same
rule needs one CPU thread and a few hundred MB at ``small`` scale and a GPU for hours at ``paper`` scale. Snakemake
turns the declaration into a local core/memory budget, or into ``sbatch`` options through the SLURM executor
plugin (``--cpus-per-task``, ``--mem``, ``--time``, ``--gpus``).

    resources:
      default: {threads: 1, mem_mb: 2000, runtime: 20}   # every rule, unless overridden below
      rules:
        depn_base: {runtime: 40}                        # keys not given keep the default's value

``runtime`` is in minutes (Snakemake's unit). ``gpu`` is the number of GPUs; it is only passed to Snakemake when
it is > 0, so a CPU scale never asks a cluster for a GPU partition.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .diagnostics import ArtifactError
from .load import read_scale_config


class RuleResources(BaseModel):
    """One job's needs. The defaults are the smallest job of the small scale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    threads: int = Field(default=1, ge=1, description="CPU threads (torch threads of the experiment)")
    mem_mb: int = Field(default=2000, ge=1, description="memory in MB")
    runtime: int = Field(default=30, ge=1, description="wall-clock limit in minutes")
    gpu: int = Field(default=0, ge=0, description="GPUs (0: none)")

    def snakemake(self) -> dict[str, int]:
        """The ``resources:`` keyword arguments of a rule (threads go to ``threads:``)."""
        out = {"mem_mb": self.mem_mb, "runtime": self.runtime}
        return {**out, "gpu": self.gpu} if self.gpu else out


class ScaleResources(BaseModel):
    """``resources:`` of a scale config: a default for every rule and per-rule overrides of some of its keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default: RuleResources = RuleResources()
    rules: dict[str, dict[str, int]] = {}

    def of(self, rule: str) -> RuleResources:
        return self.default.model_copy(update=self.rules.get(rule, {}))


def scale_resources(root: Path, scale: str) -> ScaleResources:
    """The scale's ``resources:`` (the defaults when the section is absent); a bad entry is one error naming it."""
    scale_file, doc = read_scale_config(root, scale)
    section: Any = doc.data.get("resources", {}) if isinstance(doc.data, dict) else {}

    def fail(e: ValidationError, prefix: tuple[str, ...]) -> ArtifactError:
        err = e.errors()[0]
        where = ".".join(str(p) for p in ("resources", *prefix, *err["loc"]))
        return ArtifactError(scale_file, where, err["msg"],
                             "give threads, mem_mb, runtime (minutes) and gpu as integers >= 1 (gpu >= 0), e.g. "
                             "`resources: {default: {threads: 1, mem_mb: 2000, runtime: 30}}`",
                             line=doc.line_of(("resources",)), code="ARX504")

    try:
        parsed = ScaleResources.model_validate(section or {})
    except ValidationError as e:
        raise fail(e, ()) from None
    for rule, override in parsed.rules.items():
        try:
            RuleResources.model_validate({**parsed.default.model_dump(), **override})
        except ValidationError as e:
            raise fail(e, ("rules", rule)) from None
    return parsed
