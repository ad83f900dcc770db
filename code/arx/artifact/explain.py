"""``arx explain <claim>``: everything an agent needs about one claim, in one JSON document."""

from __future__ import annotations

from typing import Any

from .diagnostics import ArtifactError
from .exploration import iter_nodes
from .load import Artifact
from .review import Inspector, judge
from .runs import claim_runs, previous_runs, run_summary
from .schema import ExplorationNode


def explain(art: Artifact, cid: str, scale: str, limit: int | None = None,
            nodes: list[ExplorationNode] | None = None) -> dict[str, Any]:
    """``limit``: keep the newest ``limit`` runs per scale (the rest are counted in ``runs_left_out``); ``nodes``:
    the exploration graph if the caller has read it already (the report explains every claim)."""
    if cid not in art.claims:
        raise ArtifactError(None, "claim", f"no claim {cid!r}", "see `arx status` for claim ids", code="ARX501")
    claim = art.claims[cid]
    ins = Inspector(art)
    source = art.claim_files[cid]
    nodes = list(iter_nodes(art.root)) if nodes is None else nodes
    previous = previous_runs(nodes)
    per_scale = {}
    for s, check in claim.checks.items():
        seeds = art.seeds(s)
        res = judge(claim, s, ins, source, seeds)
        evidence = {}
        for seed in seeds:
            path = check.evidence_for(seed)
            st = ins.state(path, source, f"checks.{s}.evidence")
            prov = st.metrics.provenance if st.metrics else None
            evidence[str(seed)] = {
                "path": path, "state": st.state, "detail": st.detail,
                "provenance": None if prov is None else {
                    "run_id": prov.run_id, "git_commit": prov.git_commit, "git_dirty": prov.git_dirty,
                    "finished": prov.finished, "wall_s": prov.wall_s, "device": prov.device, "seed": prov.seed,
                    "config": prov.config}}
        runs = [run_summary(n, previous[n.id]) for n in reversed(claim_runs(art, nodes, cid, s))]
        shown = runs if limit is None else runs[:limit]
        per_scale[s] = {
            "check": check.model_dump(mode="json", exclude_none=True), "rule": check.rule,
            "decision": res.decision, "verdict": res.verdict, "value": res.value, "reason": res.reason,
            "conditions": [c.model_dump(mode="json") for c in res.conditions],
            "evidence": evidence,
            "runs": shown, "runs_total": len(runs), "runs_left_out": len(runs) - len(shown),
            "reproduce": f"arx reproduce {cid} --scale {s}",
        }
    paper = art.papers[claim.paper]
    return {
        "claim": claim.model_dump(mode="json"),
        "file": source,
        "paper": {"id": paper.id, "title": paper.title, "authors": paper.authors, "arxiv": paper.arxiv,
                  "code_url": paper.code_url, "file": f"logic/papers/{paper.id}.yaml"},
        "scale": scale,
        "verdict": per_scale.get(scale, {}).get("verdict", "inconclusive"),
        "scales": per_scale,
        "depends_on": {d: judge(art.claims[d], scale, ins, art.claim_files[d], art.seeds(scale)).verdict
                       for d in claim.depends_on},
        "dependents": sorted(c for c, o in art.claims.items() if cid in o.depends_on),
        "notes": [{"id": n.id, "type": n.type, "title": n.title, "body": n.body} for n in nodes
                  if n.type != "run" and cid in n.claims],
        "commands": {"reproduce": f"arx reproduce {cid} --scale {scale}",
                     "plan": f"arx reproduce {cid} --scale {scale} -n",
                     "review": f"arx review --claim {cid} --scale {scale}",
                     "show": f"arx show {cid}",
                     "note": f"arx note --type dead_end --title '...' --claim {cid}"},
    }
