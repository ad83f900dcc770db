"""``arx explain <claim>``: everything an agent needs about one claim, in one JSON document."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from .exploration import iter_nodes
from .load import Artifact, ArtifactError
from .review import Inspector, judge


def explain(art: Artifact, cid: str, scale: str) -> dict[str, Any]:
    if cid not in art.claims:
        raise ArtifactError(None, "claim", f"no claim {cid!r}", "see `arx status` for claim ids")
    claim = art.claims[cid]
    ins = Inspector(art)
    source = art.claim_files[cid]
    nodes = list(iter_nodes(art.root))
    per_scale = {}
    for s, check in claim.checks.items():
        seeds = art.seeds(s)
        res = judge(claim, s, ins, source, seeds)
        evidence = {}
        for seed in seeds:
            path = check.evidence_for(seed)
            st = ins.state(path, source, f"checks.{s}.evidence")
            prov = st.metrics.provenance if st.metrics else None
            out_dir = str(PurePosixPath(path).parent)
            runs = [n for n in nodes if n.run and n.run.out == out_dir and n.run.scale == s]
            evidence[str(seed)] = {
                "path": path, "state": st.state, "detail": st.detail,
                "provenance": None if prov is None else {
                    "run_id": prov.run_id, "git_commit": prov.git_commit, "git_dirty": prov.git_dirty,
                    "finished": prov.finished, "wall_s": prov.wall_s, "device": prov.device, "seed": prov.seed,
                    "config": prov.config},
                "runs": [{"id": n.id, "status": n.run.status, "started": n.run.started,
                          "finished": n.run.finished, "error": n.run.error} for n in runs[-3:]]}
        per_scale[s] = {
            "check": check.model_dump(mode="json", exclude_none=True), "rule": check.rule,
            "decision": res.decision, "verdict": res.verdict, "value": res.value, "reason": res.reason,
            "conditions": [c.model_dump(mode="json") for c in res.conditions],
            "evidence": evidence,
            "reproduce": f"snakemake reproduce_claim_{cid} --config scale={s}",
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
        "commands": {"review": f"arx review --claim {cid} --scale {scale}",
                     "show": f"arx show {cid}",
                     "note": f"arx note --type dead_end --title '...' --claim {cid}"},
    }
