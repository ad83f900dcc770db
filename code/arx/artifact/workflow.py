"""What ``workflows/Snakefile`` needs at parse time, kept out of the Snakefile so it can be tested.

Parse time is read-only: it loads the manifest and claim files and builds strings; nothing is written, so
``snakemake -n`` has no side effects. The run command deliberately carries no git commit (that would make
every rule out of date after each commit); ``arx.run`` records the commit in provenance instead.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import build_config
from .diagnostics import ArtifactError
from .load import claim_paths, find_root, load_claim, load_manifest
from .resources import ScaleResources, scale_resources
from .schema import Claim, Manifest


def _quote(s: str) -> str:
    """Shell-quote. Braces are left alone: Snakemake formats them (``{wildcards.model}``) before the shell sees
    them, so a path with a wildcard stays unquoted and readable; write ``{{`` for a literal brace."""
    return s if re.fullmatch(r"[\w@%+=:,./{}-]+", s) else shlex.quote(s)


_WILDCARD = re.compile(r"(?<!{){(\w+)}(?!})")


def config_paths(cfg: dict[str, Any]) -> list[str]:
    """The upstream evidence a resolved experiment config names: every string value under ``evidence/`` (a model
    dir, a base run's dir), and each ``zoo_models`` entry as ``<zoo_dir>/<model_id>``.

    Why the config: it is what the experiment reads its inputs from, so an input derived from it cannot drift
    from what the run opens (a hand-written input list in a .smk could).
    """
    def strings(value: Any) -> Iterator[str]:
        if isinstance(value, dict):
            for v in value.values():
                yield from strings(v)
        elif isinstance(value, list):
            for v in value:
                yield from strings(v)
        elif isinstance(value, str):
            yield value

    paths = [s.rstrip("/") for s in strings({k: v for k, v in cfg.items() if k != "zoo_models"})
             if s.startswith("evidence/")]
    zoo_dir, zoo_models = cfg.get("zoo_dir"), cfg.get("zoo_models")
    if isinstance(zoo_dir, str) and isinstance(zoo_models, dict):
        paths += [f"{zoo_dir.rstrip('/')}/{m}" for m in zoo_models.values() if isinstance(m, str)]
    return list(dict.fromkeys(paths))


def files_under(directory: str, output_patterns: list[str]) -> list[str]:
    """The files that rules declare as outputs inside ``directory`` (a concrete path).

    A pattern matches when its leading components match the directory's (wildcards bind one component each) and
    the rest is concrete once those bindings are filled in: ``evidence/zoo/small/seed_{seed}/{model_id}/model.safetensors``
    gives ``<directory>/model.safetensors`` for ``directory = evidence/zoo/small/seed_0/olmoe_facts``.
    """
    parts = directory.split("/")
    found: list[str] = []
    for pattern in output_patterns:
        pattern_parts = pattern.split("/")
        if len(pattern_parts) <= len(parts):
            continue
        bound: dict[str, str] = {}
        for given, templ in zip(parts, pattern_parts):
            regex, last = "", 0
            for w in re.finditer(r"{(\w+)(?:,([^{}]+))?}", templ):  # {seed} or {seed,\d+}
                regex += re.escape(templ[last:w.start()]) + f"(?P<{w[1]}>{w[2] or '[^/]+'})"
                last = w.end()
            m = re.fullmatch(regex + re.escape(templ[last:]), given)
            if m is None or any(bound.get(k, v) != v for k, v in m.groupdict().items()):
                break
            bound.update(m.groupdict())
        else:
            rest = re.sub(r"{(\w+),[^{}]*}", r"{\1}", "/".join(pattern_parts[len(parts):]))
            for name, value in bound.items():
                rest = rest.replace("{" + name + "}", value)
            if not _WILDCARD.search(rest):
                found.append(f"{directory}/{rest}")
    return list(dict.fromkeys(found))


def _seeds(value: object, default: list[int]) -> list[int]:
    """``--config seeds=[0,1]`` (YAML list) or ``seeds=3`` (one seed); the scale's list when absent."""
    if value is None:
        return list(default)
    items = value if isinstance(value, list) else [value]
    items = [int(s) if isinstance(s, str) and s.isdigit() else s for s in items]  # Snakemake passes ['0']
    if not items or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in items) \
            or len(set(items)) != len(items):
        raise ArtifactError("--config", "seeds", f"{value!r} is not a list of distinct non-negative integers",
                            "write e.g. --config seeds=[0] or seeds=[0,1,2]", code="ARX502")
    return list(items)


@dataclass
class Workflow:
    root: Path
    manifest: Manifest
    scale: str
    seeds: list[int]
    claims: list[Claim]
    rule_resources: ScaleResources = field(default_factory=ScaleResources)  # the scale config's `resources:`
    rule_outputs: list[str] = field(default_factory=list)  # every rule's output patterns, set after parsing

    @classmethod
    def load(cls, start: Path, config: dict) -> Workflow:
        root = find_root(start)
        manifest = load_manifest(root)
        scale = str(config.get("scale", manifest.default_scale))
        if scale not in manifest.scales:
            raise ArtifactError("--config", "scale", f"unknown scale {scale!r}",
                                f"use --config scale={'|'.join(manifest.scales)}", code="ARX205")
        seeds = _seeds(config.get("seeds"), manifest.scales[scale].seeds)
        claims = [c for c in (load_claim(p, root) for p in claim_paths(root)) if c.retired is None]  # not re-run
        return cls(root, manifest, scale, seeds, claims, scale_resources(root, scale))

    def threads(self, rule: str) -> int:
        """A rule's ``threads:`` at this scale (the scale config's ``resources``); ``arx.run`` sets torch's threads
        to what Snakemake grants (fewer when ``--cores`` is smaller)."""
        return self.rule_resources.of(rule).threads

    def resources(self, rule: str) -> dict[str, int]:
        """A rule's ``resources:`` at this scale: ``mem_mb``, ``runtime`` (minutes) and ``gpu`` when it needs one."""
        return self.rule_resources.of(rule).snakemake()

    def unknown_resource_rules(self, rule_names: set[str]) -> list[str]:
        """Names under ``resources.rules`` that no .smk defines (a typo would silently keep the default)."""
        scale_file = self.manifest.scales[self.scale].config
        return [f"{scale_file}: resources.rules.{r} names no rule of workflows/*.smk"
                for r in self.rule_resources.rules if r not in rule_names]

    def smk_files(self) -> list[str]:
        return [str(p) for p in sorted((self.root / "workflows").glob("*.smk"))]

    def evidence_dir(self, paper: str, experiment: str) -> str:
        """``evidence/<paper>/<experiment>/<scale>/seed_{seed}``: one run's directory; ``{seed}`` is the rule's
        wildcard, so every seed is its own job and its own evidence."""
        return f"evidence/{paper}/{experiment}/{self.scale}/seed_{{seed}}"

    @property
    def zoo_dir(self) -> str:
        """``evidence/zoo/<scale>/seed_{seed}``: the zoo models of one seed live under it, one dir per model id."""
        return f"evidence/zoo/{self.scale}/seed_{{seed}}"

    def metrics_path(self, experiment: str, paper: str, out: str | None = None) -> str:
        """``<evidence_dir>/metrics.json`` (or ``<out>/metrics.json``): the output a rule declares."""
        return f"{out or self.evidence_dir(paper, experiment)}/metrics.json"

    def run_command(self, experiment: str, paper: str, out: str | None = None, wildcards: tuple[str, ...] = (),
                    **sets) -> str:
        """Shell command for a rule: ``python -m arx.run <experiment>`` with this scale and paper config.

        ``out`` may hold wildcards as in the output pattern (``evidence/zoo/small/seed_{seed}/{model_id}``); they
        are rewritten for the shell (``{wildcards.model_id}``) and recorded in the run node, as are the names in
        ``wildcards``. The ``seed`` wildcard also becomes ``--set seed=<k>``. Keyword arguments become
        ``--set key=value`` (``__`` for a dot: ``model__layers=2``). ``--set num_threads={threads}`` hands the
        experiment the threads Snakemake granted the job (the rule's ``threads:``, fewer under a small ``--cores``).
        """
        out_dir = out or self.evidence_dir(paper, experiment)
        names = [*_WILDCARD.findall(out_dir), *wildcards]
        parts = [_quote(sys.executable), "-m", "arx.run", _quote(experiment),
                 "--paper-config", _quote(f"workflows/config/{paper}.yaml"),
                 "--scale", _quote(self.scale), "--out", _quote(_WILDCARD.sub(r"{wildcards.\1}", out_dir)),
                 "--rule", "{rule}", "--set", "num_threads={threads}"]
        for w in dict.fromkeys(names):
            parts += ["--wildcard", _quote(f"{w}={{wildcards.{w}}}")]
        if "seed" in names:
            parts += ["--set", "seed={wildcards.seed}"]
        for k, v in sets.items():
            parts += ["--set", _quote(f"{k.replace('__', '.')}={v}")]
        return " ".join(parts)

    def inputs(self, experiment: str, paper: str) -> Callable[[Any], list[str]]:
        """A rule's ``input:``: the files other rules output inside the upstream evidence that the experiment's
        resolved config names at the job's seed (:func:`config_paths`).

        Returned as a Snakemake input function: it runs when the DAG is built, after every .smk is parsed and the
        Snakefile has set :attr:`rule_outputs`; a path no rule produces (a published checkpoint) is not an input.
        """
        def files(wildcards: Any) -> list[str]:
            sets = [f"seed={wildcards.seed}"] if hasattr(wildcards, "seed") else []
            cfg = build_config(self.root, self.scale, experiment, f"workflows/config/{paper}.yaml", sets)
            return [f for d in config_paths(cfg) for f in files_under(d, self.rule_outputs)]
        return files

    def review_command(self, claim: str | None = None) -> str:
        """``arx review`` for this scale; a run of fewer seeds than the scale lists (``--config seeds=[0]``)
        does not fail on the seeds it left out (review still calls those verdicts inconclusive)."""
        parts = [_quote(sys.executable), "-m", "arx.cli", "review", "--scale", _quote(self.scale)]
        if claim:
            parts += ["--claim", _quote(claim)]
        if self.seeds != self.manifest.scales[self.scale].seeds:
            parts.append("--allow-missing")
        return " ".join(parts)

    def report_command(self) -> str:
        """``arx report`` for this scale (the static site under build/report/<scale>/)."""
        return " ".join([_quote(sys.executable), "-m", "arx.cli", "report", "--scale", _quote(self.scale)])

    def review_then_report(self) -> str:
        """Review, then build the report whatever the review said (a failed review is worth seeing), keeping the
        review's exit code."""
        return f"{self.review_command()}; rc=$?; {self.report_command()} || exit 1; exit $rc"

    def claim_inputs(self, claim: Claim) -> list[str]:
        """The claim's metrics file at every seed of this run."""
        check = claim.checks.get(self.scale)
        return [check.evidence_for(s) for s in self.seeds] if check else []

    def seed_targets(self, outputs: list[str]) -> list[str]:
        """The first output at every seed, for a rule whose only wildcard is ``{seed}`` (else ``[]``)."""
        first = re.sub(r"{(\w+),[^{}]*}", r"{\1}", outputs[0]) if outputs else ""  # Snakemake adds {seed,\d+}
        if set(_WILDCARD.findall(first)) != {"seed"}:
            return []
        return [first.replace("{seed}", str(s)) for s in self.seeds]

    def missing_rules(self, rule_names: set[str]) -> list[str]:
        """Claims whose check at this scale names a rule that no .smk defines."""
        return [f"logic/claims/{c.id}.yaml: checks.{self.scale}.rule {c.checks[self.scale].rule!r} is not defined "
                f"in any workflows/*.smk" for c in self.claims
                if self.scale in c.checks and c.checks[self.scale].rule not in rule_names]
