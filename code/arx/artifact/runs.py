"""Runs as the claims see them: which runs fed a claim, which run came before, how long a rule takes.

Derived from the claims' checks and the run nodes, never typed by hand: a run feeds a claim when its output
directory is the directory of one of the claim's evidence files (any seed of that check's scale) or it ran the
check's rule at the check's scale (runs from before evidence paths carried scale and seed), whatever its outcome,
so failed and interrupted attempts stay attached to the claim they were for. The previous run of a run is
the latest earlier run of the same rule (experiment when there is no rule), scale and output directory, i.e. the
same seed.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from pathlib import PurePosixPath

from .load import Artifact
from .schema import Claim, ExplorationNode


def evidence_dirs(claim: Claim, seeds_of: dict[str, list[int]]) -> dict[str, str]:
    """Output directory -> scale, for every seed of every check of ``claim``."""
    return {str(PurePosixPath(check.evidence_for(seed)).parent): scale
            for scale, check in claim.checks.items() for seed in seeds_of.get(scale, [])}


def claims_fed_by(art: Artifact, out_dir: str) -> list[str]:
    """The claims whose evidence ``out_dir`` holds (what ``arx.run`` records in a run node's ``claims``)."""
    seeds_of = {s: spec.seeds for s, spec in art.manifest.scales.items()}
    wanted = out_dir.rstrip("/")
    return sorted(cid for cid, claim in art.claims.items() if wanted in evidence_dirs(claim, seeds_of))


def claim_runs(art: Artifact, nodes: Iterable[ExplorationNode], cid: str,
               scale: str | None = None) -> list[ExplorationNode]:
    """Every run that fed claim ``cid`` (at ``scale``, or any), oldest first; failed and interrupted included."""
    seeds_of = {s: spec.seeds for s, spec in art.manifest.scales.items()}
    claim = art.claims[cid]
    dirs = evidence_dirs(claim, seeds_of)
    rules = {(check.rule, s) for s, check in claim.checks.items()}
    runs = [n for n in nodes if n.run and (cid in n.claims or n.run.out.rstrip("/") in dirs
                                           or (n.run.rule, n.run.scale) in rules)
            and (scale is None or n.run.scale == scale)]
    return sorted(runs, key=_started)


def _started(n: ExplorationNode) -> str:
    return n.run.started if n.run else n.created


def previous_runs(nodes: Iterable[ExplorationNode]) -> dict[str, str | None]:
    """Run node id -> the id of the run before it of the same rule, scale and output directory (None: first)."""
    last: dict[tuple, str] = {}
    out: dict[str, str | None] = {}
    for n in sorted((n for n in nodes if n.run), key=_started):
        assert n.run is not None
        key = (n.run.rule or n.run.experiment, n.run.scale, n.run.out.rstrip("/"))
        out[n.id] = last.get(key)
        last[key] = n.id
    return out


def expected_seconds(nodes: Iterable[ExplorationNode], scale: str) -> dict[str, float]:
    """Rule -> median wall time of its succeeded runs at ``scale`` (what a plan expects a job to take)."""
    times: dict[str, list[float]] = {}
    for n in nodes:
        if n.run and n.run.status == "succeeded" and n.run.scale == scale and n.run.rule and n.run.wall_s:
            times.setdefault(n.run.rule, []).append(n.run.wall_s)
    return {rule: statistics.median(ts) for rule, ts in times.items()}


def run_summary(n: ExplorationNode, previous: str | None) -> dict:
    """One run as explain and trace show it."""
    run = n.run
    assert run is not None
    return {"id": n.id, "rule": run.rule, "status": run.status, "seed": run.wildcards.get("seed"),
            "started": run.started, "finished": run.finished, "wall_s": run.wall_s, "git_commit": run.git_commit,
            "git_dirty": run.git_dirty, "error": run.error, "previous": previous,
            "log_tail": run.log_tail[-5:] if run.status != "succeeded" else []}
