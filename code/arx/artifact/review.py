"""Review: static checks of the artifact, then each claim's verdict computed from its evidence.

Static (bad input → :class:`ArtifactError`, exit 2, nothing written): schemas, ids, references, dependency and
exploration-graph cycles, evidence paths inside ``evidence/``, the cited key present in the metrics file.
Integrity (exit 1): the evidence must hash to what its run recorded (``metrics.json`` against the run node named
in its provenance, the other outputs against provenance, DVC-tracked files against their ``.dvc`` md5).
Verdicts: reproduced / refuted from the comparator; inconclusive when the evidence is missing, from another
scale, not a finite number, or tampered.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .config import build_config
from .evidence import digests, dvc_entries, resolve_evidence, sha256
from .exploration import NODES, node_path, now_iso, state_dir
from .load import Artifact, ArtifactError, find_cycle, load_node, read_json, rel, validate
from .schema import CheckResult, Claim, Condition, MetricsFile, ReviewReport

REVIEW_FILE = Path("evidence") / "review.json"


@dataclass
class EvidenceState:
    """What is known about one metrics file: fresh / stale (code) / stale (config) / dirty / missing / tampered."""

    path: str
    state: str
    detail: str = ""
    metrics: MetricsFile | None = None
    problems: list[str] = field(default_factory=list)


def lookup(metrics: dict, key: str, source: str, field_: str) -> Any:
    """Value at a dotted ``key``; a metric name that itself contains dots (``tpr_at_0.01``) matches whole."""
    node: Any = metrics
    parts = key.split(".")
    i = 0
    while i < len(parts):
        for j in range(len(parts), i, -1):  # longest name first, so "tpr_at_0.01" beats "tpr_at_0"
            name = ".".join(parts[i:j])
            if isinstance(node, dict) and name in node:
                node, i = node[name], j
                break
            if isinstance(node, list) and j == i + 1 and name.isdigit() and int(name) < len(node):
                node, i = node[int(name)], j
                break
        else:
            have = ", ".join(sorted(map(str, node))) if isinstance(node, dict) else type(node).__name__
            where = ".".join(parts[:i]) or "metrics"
            raise ArtifactError(source, field_, f"key {key!r} not found in the metrics file: {where} has no "
                                f"{parts[i]!r} (it has: {have or 'nothing'})",
                                "fix checks.<scale>.key to a dotted path inside `metrics`")
    return node


def _number(metrics: dict, key: str, source: str, field_: str, evidence_hint: str) -> float | None:
    value = lookup(metrics, key, source, field_)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArtifactError(source, field_, f"{key!r} is a {type(value).__name__} in the metrics file, not a number",
                            f"point the {evidence_hint} at a numeric metric")
    return float(value)


def _value(metrics: dict, cond: Condition, source: str, where: str) -> float | None:
    """The tested value of one condition: ``metrics[key]``, or ``metrics[key] - metrics[minus]``."""
    value = _number(metrics, cond.key, source, f"{where}.key", "key")
    if cond.minus is None or value is None:
        return value
    other = _number(metrics, cond.minus, source, f"{where}.minus", "minus key")
    return None if other is None else value - other


def compare(check: Condition, value: float) -> bool:
    c, t = check.comparator, check.threshold
    if c == ">=":
        return value >= t
    if c == "<=":
        return value <= t
    if c == ">":
        return value > t
    if c == "<":
        return value < t
    if c == "between":
        lo, hi = check.thresholds
        return lo <= value <= hi
    return abs(value - check.reference) <= t  # abs_diff_le


# ---------------------------------------------------------------------------------------------- evidence
class Inspector:
    """Loads and verifies evidence files once per review (memoised by path)."""

    def __init__(self, art: Artifact):
        self.art = art
        self.root = art.root
        self._cache: dict[str, EvidenceState] = {}
        self._dvc = {rel(p, self.root): (f, d) for p, f, d in dvc_entries(self.root)} \
            if (self.root / "evidence").is_dir() else {}

    def state(self, path: str, source: str, field_: str) -> EvidenceState:
        if path not in self._cache:
            self._cache[path] = self._inspect(path, source, field_)
        return self._cache[path]

    def _inspect(self, path: str, source: str, field_: str) -> EvidenceState:
        full = resolve_evidence(self.root, path, source, field_)
        if not full.is_file():
            return EvidenceState(path, "missing", "not produced yet")
        doc = validate(MetricsFile, read_json(full, path), path)
        problems = self._verify(path, full, doc)
        if problems:
            return EvidenceState(path, "tampered", problems[0], doc, problems)
        stale = self._staleness(doc)
        if stale:
            return EvidenceState(path, stale[0], stale[1], doc)
        if doc.provenance.git_dirty:
            return EvidenceState(path, "dirty", "produced from a working tree with uncommitted changes: commit, then "
                                 "re-run its rule", doc)
        return EvidenceState(path, "fresh", "", doc)

    def _verify(self, path: str, full: Path, doc: MetricsFile) -> list[str]:
        problems = []
        run_id = doc.provenance.run_id
        recorded = None
        if run_id and node_path(self.root, run_id).is_file():
            run = load_node(node_path(self.root, run_id), self.root).run
            recorded = run.evidence.get(path) if run else None
        if recorded is None:
            problems.append(f"{path}: no hash recorded for it by a run (run node {run_id or '?'} missing); "
                            "produced outside arx.run? re-run its rule")
        elif sha256(full) != recorded:
            problems.append(f"{path}: content differs from the sha256 recorded by run {run_id} (tampered); "
                            "re-run its rule")
        for out, digest in doc.provenance.outputs.items():
            f = self.root / out
            dvcfile, dvc_md5 = self._tracked(out)
            if not f.exists():
                if dvcfile:
                    continue  # DVC-tracked and not pulled: nothing local to verify (dvc pull fetches it)
                problems.append(f"{out}: listed in {path} provenance but missing; re-run its rule")
                continue
            sha, md5_ = digests(f)
            if sha != digest:
                problems.append(f"{out}: content differs from the sha256 recorded in {path} (tampered)")
            if dvc_md5 and md5_ != dvc_md5:
                problems.append(f"{out}: content differs from its DVC hash in {dvcfile} (tampered)")
        return problems

    def _tracked(self, out: str) -> tuple[str | None, str | None]:
        """(.dvc file, md5) covering ``out``: the file itself, or a tracked directory holding it (md5 None)."""
        if out in self._dvc:
            return self._dvc[out]
        for parent in PurePosixPath(out).parents:
            if str(parent) in self._dvc:
                return self._dvc[str(parent)][0], None
        return None, None

    def _staleness(self, doc: MetricsFile) -> tuple[str, str] | None:
        """``("stale (code)", files)`` or ``("stale (config)", keys)`` when today's code or config differs."""
        prov = doc.provenance
        changed_code = sorted(path for path, digest in prov.code.items()
                              if not (self.root / path).is_file() or sha256(self.root / path) != digest)
        if changed_code:
            return "stale (code)", f"source changed since the run: {', '.join(changed_code)}"
        if prov.paper_config is None or not (self.root / prov.paper_config).is_file():
            return None
        try:
            now = build_config(self.root, prov.scale, prov.experiment, prov.paper_config, prov.sets)
        except ArtifactError as e:
            return "stale (config)", f"config no longer builds: {e.one_line()}"
        then = prov.config_source if prov.config_source is not None else prov.config
        if json.loads(json.dumps(now)) != then:
            changed = sorted(k for k in {*now, *then} if now.get(k) != then.get(k))
            return "stale (config)", f"config changed since the run ({', '.join(changed)})"
        return None


# ---------------------------------------------------------------------------------------------- verdicts
def judge(claim: Claim, scale: str, ins: Inspector, source: str) -> CheckResult:
    check = claim.checks.get(scale)
    if check is None:
        return CheckResult(claim=claim.id, scale=scale, verdict="inconclusive", reason=f"no check at scale {scale}")
    base = dict(claim=claim.id, scale=scale, evidence=check.evidence, check=check.describe_all())
    st = ins.state(check.evidence, source, f"checks.{scale}.evidence")
    if st.state == "missing":
        return CheckResult(**base, verdict="inconclusive",
                           reason=f"evidence missing: run `snakemake reproduce_claim_{claim.id} --config scale={scale}`")
    if st.state == "tampered":
        return CheckResult(**base, verdict="inconclusive", reason=f"tampered evidence: {st.detail}")
    values = [_value(st.metrics.metrics, c, source, f"checks.{scale}") for c in check.conditions()]
    if st.metrics.provenance.scale != scale:
        return CheckResult(**base, verdict="inconclusive",
                           reason=f"evidence was produced at scale {st.metrics.provenance.scale}, not {scale}: run "
                                  f"`snakemake reproduce_claim_{claim.id} --config scale={scale} --forcerun {check.rule}`")
    parts, failed = [], False
    for cond, value in zip(check.conditions(), values):
        if value is None:
            return CheckResult(**base, verdict="inconclusive", reason=f"{cond.subject} is null (NaN or not computed)")
        if not math.isfinite(value):
            return CheckResult(**base, verdict="inconclusive", value=None, reason=f"{cond.subject} is {value}")
        ok = compare(cond, value)
        failed |= not ok
        parts.append(f"{cond.subject} = {value:.6g} ({'ok' if ok else 'fails'}: needs {cond.describe()})"
                     if check.also else f"{cond.subject} = {value:.6g}; needs {cond.describe()}")
    return CheckResult(**base, value=float(values[0]), verdict="refuted" if failed else "reproduced",
                       reason="; ".join(parts))


def check_graph(root: Path) -> list[str]:
    """Static checks of the exploration graph: node schema, parent references, no cycles."""
    nodes = {}
    for path in sorted((root / NODES).glob("*.yaml")):
        node = load_node(path, root)
        if node.id != path.stem:
            raise ArtifactError(rel(path, root), "id", f"id {node.id!r} differs from the file name",
                                f"set id: {path.stem}")
        nodes[node.id] = node
    for node in nodes.values():
        for p in node.parents:
            if p not in nodes:
                raise ArtifactError(f"exploration/nodes/{node.id}.yaml", "parents", f"parent {p!r} does not exist",
                                    "fix the id (see `arx trace`)")
    cycle = find_cycle({i: n.parents for i, n in nodes.items()})
    if cycle:
        raise ArtifactError(f"exploration/nodes/{cycle[0]}.yaml", "parents", f"cycle {' -> '.join(cycle)}",
                            "remove one parent edge of the cycle")
    return list(nodes)


def review(art: Artifact, scale: str, claim_ids: list[str] | None = None) -> ReviewReport:
    """Static checks + verdicts; raises ArtifactError on bad input before anything is written."""
    check_graph(art.root)
    for cid in claim_ids or []:
        if cid not in art.claims:
            raise ArtifactError(None, "--claim", f"no claim {cid!r}", "see `arx status` for claim ids")
    ins = Inspector(art)
    for cid, claim in art.claims.items():  # every cited path must stay inside evidence/, at every scale
        for s, check in claim.checks.items():
            resolve_evidence(art.root, check.evidence, art.claim_files[cid], f"checks.{s}.evidence")
    results = [judge(art.claims[c], scale, ins, art.claim_files[c]) for c in (claim_ids or art.claims)]
    tampered = sorted({p for st in ins._cache.values() for p in st.problems})
    return ReviewReport(scale=scale, generated=now_iso(), tampered=tampered, results=results)


def write_report(root: Path, report: ReviewReport, partial: bool) -> Path:
    """Write ``evidence/review.json`` atomically; a partial (``--claim``) review merges into the existing one."""
    path = root / REVIEW_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(state_dir(root) / "review.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if partial and path.is_file():
            try:
                old = ReviewReport.model_validate_json(path.read_text())
            except ValueError:
                old = None
            if old is not None and old.scale == report.scale:
                mine = {r.claim for r in report.results}
                report = report.model_copy(update={
                    "results": sorted([r for r in old.results if r.claim not in mine] + report.results,
                                      key=lambda r: r.claim),
                    "tampered": sorted(set(old.tampered) | set(report.tampered)),
                })
        tmp = path.with_name(f".review.{os.getpid()}.tmp")
        tmp.write_text(report.model_dump_json(indent=2) + "\n")
        os.replace(tmp, path)
    return path


def exit_code(report: ReviewReport, strict: bool = False, verdict_exit: bool = True) -> int:
    if report.tampered:
        return 1
    if not verdict_exit:
        return 0
    bad = {"refuted"} | ({"inconclusive"} if strict else set())
    missing = any(r.reason.startswith("evidence missing") for r in report.results)
    return 1 if missing or any(r.verdict in bad for r in report.results) else 0
