"""``arx reproduce <claim>``: say what will run and for how long, then run it.

Why: ``snakemake reproduce_claim_<id>`` only re-reviews when the evidence is up to date, and silently retrains
zoo models whose DVC-tracked weights are absent. An agent needs the plan before paying for it. The plan is
Snakemake's own dry run with the forcing this command adds: the claim's rule at every seed (its experiment
runs again, upstream models are reused when present), or with ``--from-scratch`` everything upstream too. The
expected time per job is the median wall time of that rule's earlier succeeded runs at the scale.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import ArtifactError
from .exploration import iter_nodes
from .load import Artifact
from .remote import absent
from .runs import expected_seconds


@dataclass
class Plan:
    claim: str
    scale: str
    seeds: list[int]
    command: list[str]
    jobs: dict[str, int] = field(default_factory=dict)
    expected_s: dict[str, float | None] = field(default_factory=dict)

    @property
    def total_s(self) -> float | None:
        """Serial job time (None when some rule never ran before); the wall time divides by the cores used."""
        each = [(self.expected_s[r], n) for r, n in self.jobs.items() if not r.startswith("reproduce_claim_")]
        known = [(s, n) for s, n in each if s is not None]
        return round(sum(s * n for s, n in known), 1) if len(known) == len(each) else None

    def as_json(self) -> dict:
        return {"claim": self.claim, "scale": self.scale, "seeds": self.seeds, "command": " ".join(self.command),
                "jobs": [{"rule": r, "count": n, "expected_s_each": self.expected_s[r]} for r, n in self.jobs.items()],
                "expected_job_s": self.total_s}


def snakemake_command(art: Artifact, cid: str, scale: str, seeds: list[int] | None, from_scratch: bool) -> list[str]:
    if cid not in art.claims:
        raise ArtifactError(None, "claim", f"no claim {cid!r}", "see `arx status` for claim ids", code="ARX501")
    check = art.claims[cid].checks.get(scale)
    if check is None:
        raise ArtifactError(art.claim_files[cid], "checks", f"has no check at scale {scale!r}",
                            f"use --scale {' or '.join(art.claims[cid].checks)}", code="ARX502")
    cmd = [sys.executable, "-m", "snakemake", f"reproduce_claim_{cid}", "--config", f"scale={scale}"]
    if seeds is not None:
        cmd.append(f"seeds=[{','.join(map(str, seeds))}]")
    cmd += ["--forceall"] if from_scratch else ["--forcerun", check.rule]
    return cmd


_JOB_LINE = re.compile(r"^(\S+)\s+(\d+)$")


def parse_job_stats(text: str) -> dict[str, int]:
    """Rule -> job count from the ``Job stats:`` table of a Snakemake dry run."""
    jobs: dict[str, int] = {}
    lines = text.splitlines()
    if "Job stats:" not in lines:
        return jobs
    for line in lines[lines.index("Job stats:") + 1:]:
        m = _JOB_LINE.match(line.strip())
        if m and m.group(1) == "total":
            break
        if m:
            jobs[m.group(1)] = int(m.group(2))
    return jobs


_RULE_LINE = re.compile(r"^(?:local)?rule (\w+):$")
_OUTPUT_LINE = re.compile(r"^\s+output: (.+)$")


def parse_job_outputs(text: str) -> dict[str, list[str]]:
    """``rule -> outputs`` of every job in a (non-quiet) Snakemake dry run."""
    out: dict[str, list[str]] = {}
    rule = None
    for line in text.splitlines():
        m = _RULE_LINE.match(line.strip()) if not line.startswith(" ") else None
        if m:
            rule = m.group(1)
        elif rule and (o := _OUTPUT_LINE.match(line)):
            out.setdefault(rule, []).extend(x.strip() for x in o.group(1).split(","))
    return out


def _dry_run(art: Artifact, command: list[str], quiet: bool) -> str:
    try:
        dry = subprocess.run([*command, "--dry-run", *(["--quiet", "rules"] if quiet else [])], cwd=art.root,
                             capture_output=True, text=True)
    except OSError as e:
        raise ArtifactError(None, "snakemake", f"cannot start Snakemake: {e}", "pip install -e . (it installs "
                            "snakemake)", code="ARX509") from None
    if dry.returncode != 0:
        last = (dry.stderr.strip() or dry.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise ArtifactError(None, "snakemake", f"the dry run failed: {last[0]}", f"run `{' '.join(command)} -n` "
                            "to see the whole message", code="ARX509")
    return dry.stdout


def upstream_to_pull(art: Artifact, cid: str, scale: str, seeds: list[int] | None = None) -> list[str]:
    """DVC pointers whose data is absent here and which the plan would otherwise rebuild upstream of the claim's
    rule (a zoo model, a base checkpoint): pulling them from the remote replaces retraining."""
    command = snakemake_command(art, cid, scale, seeds, from_scratch=False)
    check_rule = art.claims[cid].checks[scale].rule
    outputs = [o for rule, outs in parse_job_outputs(_dry_run(art, command, quiet=False)).items()
               if rule != check_rule and not rule.startswith("reproduce_claim_") for o in outs]
    return absent(art.root, [str(Path(o).parent) for o in outputs]) if outputs else []


def plan(art: Artifact, cid: str, scale: str, seeds: list[int] | None = None, from_scratch: bool = False) -> Plan:
    command = snakemake_command(art, cid, scale, seeds, from_scratch)
    jobs = parse_job_stats(_dry_run(art, command, quiet=True))
    expected = expected_seconds(iter_nodes(art.root), scale)
    return Plan(cid, scale, seeds if seeds is not None else art.seeds(scale), command, jobs,
                {rule: expected.get(rule) for rule in jobs})


def run(art: Artifact, p: Plan) -> int:
    """Drive Snakemake with the plan's command in the artifact root, its output streaming through (to stderr,
    so ``--json`` stays one document on stdout); its exit status."""
    return subprocess.run(p.command, cwd=art.root, stdout=sys.stderr).returncode
