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
from .diagnostics import ArtifactError, writing
from .evidence import digests, dvc_entries, resolve_evidence, sha256
from .exploration import node_path, now_iso, state_dir
from .load import Artifact, load_node, read_json, rel, validate
from .preregistration import Registration, posthoc_warnings, registrations
from .schema import CheckResult, Claim, Condition, ConditionResult, IntervalRule, MetricsFile, ReviewReport, Verdict

REVIEW_DIR = Path("evidence") / "review"


def report_path(scale: str) -> Path:
    """``evidence/review/<scale>.json``: one report per scale, so reviewing one scale never replaces another's."""
    return REVIEW_DIR / f"{scale}.json"


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
                                "fix checks.<scale>.key to a dotted path inside `metrics`", code="ARX401")
    return node


def _number(metrics: dict, key: str, source: str, field_: str, evidence_hint: str) -> float | None:
    value = lookup(metrics, key, source, field_)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArtifactError(source, field_, f"{key!r} is a {type(value).__name__} in the metrics file, not a number",
                            f"point the {evidence_hint} at a numeric metric", code="ARX402")
    return float(value)


def compare(check: Condition, value: float) -> bool:
    lo, hi, strict = check.bounds()
    return (lo < value < hi) if strict else (lo <= value <= hi)


# ---------------------------------------------------------------------------------------------- evidence
class Inspector:
    """Loads and verifies evidence files once per review (memoised by path)."""

    def __init__(self, art: Artifact):
        self.art = art
        self.root = art.root
        self._cache: dict[str, EvidenceState] = {}
        self.rules: dict[str, str | None] = {}  # metrics path -> the Snakemake rule its run node recorded
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
            self.rules[path] = run.rule if run else None
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
        def recorded(x: Any) -> Any:  # as arx.run records it: NaN becomes null
            if isinstance(x, dict):
                return {k: recorded(v) for k, v in x.items()}
            if isinstance(x, list):
                return [recorded(v) for v in x]
            return None if isinstance(x, float) and math.isnan(x) else x

        def same(a: Any, b: Any) -> bool:
            return json.dumps(recorded(a), sort_keys=True) == json.dumps(recorded(b), sort_keys=True)

        if not same(now, then):
            changed = sorted(k for k in {*now, *then} if not same(now.get(k), then.get(k)))
            return "stale (config)", f"config changed since the run ({', '.join(changed)})"
        return None


# ---------------------------------------------------------------------------------------------- verdicts
def _items(metrics: dict, key: str | None, value: float | None, source: str, field_: str, seed: int) -> Any:
    """The per-item values at ``key`` as an array whose mean must be ``value`` (None when no key)."""
    if key is None or value is None:
        return None
    import numpy as np

    raw = lookup(metrics, key, source, field_)
    if not isinstance(raw, list) or not raw or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in raw):
        raise ArtifactError(source, field_, f"{key!r} at seed {seed} is not a non-empty list of numbers",
                            "point it at the per-item values the experiment writes", code="ARX403")
    arr = np.asarray(raw, dtype=float)
    if abs(float(arr.mean()) - value) > 1e-6 * max(1.0, abs(value)):
        raise ArtifactError(source, field_, f"the mean of {key!r} at seed {seed} is {arr.mean():.6g}, not the "
                            f"tested value {value:.6g}", "name the per-item values whose mean is the key", code="ARX403")
    return arr


@dataclass
class _Measured:
    """One condition's per-seed measurements."""

    values: dict[int, float | None]
    samples: list[Any]  # stats.SeedSample per present seed with a finite value


def _measure(cond: Condition, states: dict[int, EvidenceState], source: str, where: str) -> _Measured:
    from .stats import SeedSample

    values: dict[int, float | None] = {}
    samples = []
    for seed, st in states.items():
        assert st.metrics is not None, "only present evidence is measured"
        m = st.metrics.metrics
        a = _number(m, cond.key, source, f"{where}.key", "key")
        b = _number(m, cond.minus, source, f"{where}.minus", "minus key") if cond.minus else None
        value = None if a is None or (cond.minus and b is None) or not math.isfinite(a) or \
            (b is not None and not math.isfinite(b)) else a - (b or 0.0)
        values[seed] = value
        if value is None:
            continue
        items = _items(m, cond.items, a, source, f"{where}.items", seed)
        minus_items = _items(m, cond.minus_items, b, source, f"{where}.minus_items", seed)
        if cond.paired and minus_items is not None and len(minus_items) != len(items):
            raise ArtifactError(source, f"{where}.minus_items", f"paired items of unequal length at seed {seed} "
                                f"({len(items)} vs {len(minus_items)})", "set paired: false for two independent samples",
                                code="ARX403")
        samples.append(SeedSample(value, items, minus_items))
    return _Measured(values, samples)


def _interval_verdict(cond: Condition, lo: float, hi: float) -> Verdict:
    """Reproduced when the whole interval [lo, hi] satisfies the condition, refuted when none of it does."""
    a, b, strict = cond.bounds()
    ok = (a < lo and hi < b) if strict else (a <= lo and hi <= b)
    bad = (hi <= a or lo >= b) if strict else (hi < a or lo > b)
    return "reproduced" if ok else "refuted" if bad else "inconclusive"


def _margin(cond: Condition, est: float, lo: float | None, hi: float | None) -> float | None:
    """Distance of the estimate from the nearest bound, in interval half-widths (positive inside)."""
    half = None if lo is None or hi is None else (hi - lo) / 2
    if not half:
        return None
    a, b, _ = cond.bounds()
    return min(est - a, b - est) / half


def _decide(cond: Condition, rule: Any, measured: _Measured, n_needed: int) -> ConditionResult:
    from .stats import estimate

    interval_rule = rule if rule.kind == "interval" else IntervalRule(kind="interval")
    present = [v for v in measured.values.values() if v is not None]
    passing = sum(compare(cond, v) for v in present)
    res: dict[str, Any] = dict(subject=cond.subject, needs=cond.describe(), n_seeds=len(present), seeds_satisfying=passing,
               per_seed={str(k): v for k, v in measured.values.items()})
    if not present:
        return ConditionResult(**res, verdict="inconclusive")
    est = estimate(measured.samples, level=interval_rule.level, resamples=interval_rule.resamples,
                   bootstrap_seed=interval_rule.bootstrap_seed, pooled=cond.pooled, paired=cond.paired)
    res.update(estimate=est.estimate, n_items=est.n_items, level=interval_rule.level,
               interval=None if est.lo is None else [est.lo, est.hi],
               margin=_margin(cond, est.estimate, est.lo, est.hi))
    verdict: Verdict
    if len(present) < n_needed:
        verdict = "inconclusive"
    elif rule.kind == "all_seeds":
        verdict = "reproduced" if passing == len(present) else "refuted"
    elif rule.kind == "seeds_passing":
        verdict = "reproduced" if passing >= rule.min else "refuted" if len(present) - passing >= rule.min \
            else "inconclusive"
    else:
        verdict = "inconclusive" if est.lo is None or est.hi is None else _interval_verdict(cond, est.lo, est.hi)
    return ConditionResult(**res, verdict=verdict)


def _describe(r: ConditionResult) -> str:
    null = [s for s, v in r.per_seed.items() if v is None]
    null_text = f"{r.subject} is null (NaN or not computed) at seed {', '.join(null)}" if null else ""
    if r.estimate is None:
        return null_text or f"{r.subject}: no seed measured"
    ci = f" [{r.interval[0]:.4g}, {r.interval[1]:.4g}]" if r.interval else ""
    return (f"{r.subject} = {r.estimate:.4g}{ci}, {r.seeds_satisfying}/{r.n_seeds} seeds satisfy; "
            f"needs {r.needs}: {r.verdict}" + (f" ({null_text})" if null else ""))


def combine(verdicts: list[Verdict]) -> Verdict:
    """Every condition must hold: refuted if any is refuted, reproduced if all are, else inconclusive."""
    if "refuted" in verdicts:
        return "refuted"
    return "reproduced" if verdicts and all(v == "reproduced" for v in verdicts) else "inconclusive"


def summarise_states(states: list[str]) -> str:
    """One word when every seed's evidence is in the same state, else counts (``4 fresh, 1 missing``)."""
    counts = {st: states.count(st) for st in dict.fromkeys(states)}
    return states[0] if len(counts) == 1 else ", ".join(f"{n} {st}" for st, n in counts.items())


def judge(claim: Claim, scale: str, ins: Inspector, source: str, seeds: list[int]) -> CheckResult:
    """The claim's verdict at ``scale`` from its evidence at every seed of the scale, by its decision rule."""
    check = claim.checks.get(scale)
    if check is None:
        return CheckResult(claim=claim.id, scale=scale, verdict="inconclusive", reason=f"no check at scale {scale}")
    states = {s: ins.state(check.evidence_for(s), source, f"checks.{scale}.evidence") for s in seeds}
    present = [s for s, st in states.items() if st.state != "missing"]
    base: dict[str, Any] = dict(claim=claim.id, scale=scale, evidence=check.evidence, check=check.describe_all(),
                decision=check.decision.describe(), seeds=seeds, seeds_present=present,
                evidence_state=summarise_states([st.state for st in states.values()]))
    rerun = f"arx reproduce {claim.id} --scale {scale}"
    tampered = [st for st in states.values() if st.state == "tampered"]
    if tampered:
        return CheckResult(**base, verdict="inconclusive", reason=f"tampered evidence: {tampered[0].detail}")
    for s in present:
        made_by = ins.rules.get(states[s].path)
        if made_by is not None and made_by != check.rule:
            raise ArtifactError(source, f"checks.{scale}.rule", f"names rule {check.rule!r}, but {states[s].path} was "
                                f"produced by rule {made_by!r} (its run node)", f"set rule: {made_by}", code="ARX213")
    other = sorted({st.metrics.provenance.scale for s, st in states.items() if s in present and st.metrics} - {scale})
    if other:
        return CheckResult(**base, verdict="inconclusive",
                           reason=f"evidence was produced at scale {', '.join(other)}, not {scale}: run `{rerun}`")
    found = {s: states[s] for s in present}
    results = [_decide(c, check.decision, _measure(c, found, source, f"checks.{scale}"), len(seeds))
               for c in check.conditions()]
    first = results[0].estimate
    if not present:
        return CheckResult(**base, verdict="inconclusive", conditions=results,
                           reason=f"evidence missing: 0 of {len(seeds)} seeds present; run `{rerun}`")
    why = "; ".join(_describe(r) for r in results)
    if len(present) < len(seeds):
        return CheckResult(**base, verdict="inconclusive", value=first, conditions=results,
                           reason=f"evidence missing: {len(present)} of {len(seeds)} seeds present; run `{rerun}` "
                                  f"({why})")
    return CheckResult(**base, verdict=combine([r.verdict for r in results]), value=first, conditions=results,
                       reason=why)


def review(art: Artifact, scale: str, claim_ids: list[str] | None = None, strict: bool = False) -> ReviewReport:
    """Static checks + verdicts; raises every problem at once (ArtifactErrors) before anything is written.

    ``strict``: warnings (a post-hoc check, a recalled quote) fail as errors do.
    """
    from .validation import static_problems

    problems = static_problems(art)
    for cid in claim_ids or []:
        if cid not in art.claims:
            problems.add(ArtifactError(None, "--claim", f"no claim {cid!r}", "see `arx status` for claim ids",
                                       code="ARX501"))
    ins = Inspector(art)
    for cid, claim in art.claims.items():  # every cited path must stay inside evidence/, at every scale
        for s, check in claim.checks.items():
            with problems.collect():
                resolve_evidence(art.root, check.evidence_for(0), art.claim_files[cid], f"checks.{s}.evidence")
    seeds = art.manifest.scales[scale].seeds
    results = []
    asked = claim_ids or list(art.claims)
    retired = sorted(c for c in asked if c in art.claims and art.claims[c].retired is not None)
    for c in asked:
        with problems.collect():
            if c in art.claims and c not in retired:
                results.append(judge(art.claims[c], scale, ins, art.claim_files[c], seeds))
    regs = registrations_at(art, scale, ins, [r.claim for r in results])
    for warning in posthoc_warnings(art, scale, regs):
        problems.add(warning)
    problems.raise_errors(strict)
    results = [r.model_copy(update={"registration": regs[r.claim].status}) if r.claim in regs else r
               for r in results]
    states = list(ins._cache.values())
    return ReviewReport(scale=scale, generated=now_iso(), results=results, retired=retired,
                        warnings=[w.one_line() for w in problems.warnings],
                        tampered=sorted({p for st in states for p in st.problems}),
                        stale=sorted(f"{st.path}: {st.state}: {st.detail}" for st in states
                                     if st.state.startswith("stale")),
                        dirty=sorted(st.path for st in states if st.state == "dirty"))


def judge_active(art: Artifact, scale: str, ins: Inspector) -> tuple[dict[str, CheckResult], dict[str, ArtifactError]]:
    """Every active claim judged at ``scale``, and the claims whose evidence cannot be read (their error): one bad
    metrics file must not hide the other claims' verdicts (``arx status``, ``arx report``)."""
    seeds = art.seeds(scale)
    results: dict[str, CheckResult] = {}
    broken: dict[str, ArtifactError] = {}
    for cid, claim in sorted(art.claims.items()):
        if claim.retired is None:
            try:
                results[cid] = judge(claim, scale, ins, art.claim_files[cid], seeds)
            except ArtifactError as e:
                broken[cid] = e
    return results, broken


def registrations_at(art: Artifact, scale: str, ins: Inspector, claim_ids: list[str]) -> dict[str, Registration]:
    """Pre-registration of each claim's check at ``scale`` against the evidence ``ins`` has read."""
    runs: dict[str, list[tuple[str | None, str]]] = {}
    for cid in claim_ids:
        check = art.claims[cid].checks.get(scale)
        if check is None:
            continue
        for seed in art.seeds(scale):
            st = ins.state(check.evidence_for(seed), art.claim_files[cid], f"checks.{scale}.evidence")
            if st.metrics is not None:
                runs.setdefault(cid, []).append((st.metrics.provenance.git_commit, st.metrics.provenance.started))
    return registrations(art, scale, runs, claim_ids)


def same_results(a: ReviewReport, b: ReviewReport) -> bool:
    """Equal but for the time they were generated."""
    return a.model_dump(exclude={"generated"}) == b.model_dump(exclude={"generated"})


def parse_report(text: str) -> ReviewReport:
    """A stored report; reports written before warnings existed carried an always-empty ``errors`` list."""
    data = json.loads(text)
    if isinstance(data, dict) and data.get("errors") == []:
        del data["errors"]
    return ReviewReport.model_validate(data)


def read_report(path: Path) -> ReviewReport | None:
    try:
        return parse_report(path.read_text())
    except (OSError, ValueError):
        return None


def write_report(root: Path, report: ReviewReport, partial: bool) -> tuple[Path, ReviewReport, bool]:
    """Write ``evidence/review/<scale>.json`` atomically when its results changed; a partial (``--claim``) review
    merges into the existing one. Returns (path, the report as stored, whether it was written).

    Why only on change: a read-only review must not dirty git; an unchanged report keeps its ``generated`` time,
    so ``arx review --json`` prints the same bytes on the same evidence.
    """
    path = root / report_path(report.scale)
    with writing(report_path(report.scale)):
        path.parent.mkdir(parents=True, exist_ok=True)
        return _write_report_locked(root, path, report, partial)


def _write_report_locked(root: Path, path: Path, report: ReviewReport, partial: bool) -> tuple[Path, ReviewReport, bool]:
    with open(state_dir(root) / "review.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        old = read_report(path) if path.is_file() else None
        if partial and old is not None and old.scale == report.scale:
            mine = {r.claim for r in report.results}
            report = report.model_copy(update={
                "results": sorted([r for r in old.results if r.claim not in mine] + report.results,
                                  key=lambda r: r.claim),
                "tampered": sorted(set(old.tampered) | set(report.tampered)),
                "stale": sorted(set(old.stale) | set(report.stale)),
                "dirty": sorted(set(old.dirty) | set(report.dirty)),
                "warnings": sorted(set(old.warnings) | set(report.warnings)),
                "retired": sorted(set(old.retired) | set(report.retired)),
            })
        if old is not None and same_results(old, report):
            return path, old, False
        tmp = path.with_name(f".review.{os.getpid()}.tmp")
        tmp.write_text(report.model_dump_json(indent=2) + "\n")
        os.replace(tmp, path)
    return path, report, True


#: what ``--fail-on`` accepts besides the evidence problems that always fail
FAIL_ON = ("refuted", "inconclusive")


def exit_code(report: ReviewReport, fail_on: tuple[str, ...] = (), allow_missing: bool = False) -> int:
    """0 when every verdict was computed from sound evidence (refuted and inconclusive are results); 1 when
    evidence is tampered, stale or missing (``allow_missing``: a run of fewer seeds than the scale lists), or
    a verdict is one the caller asked to fail on."""
    if report.tampered or report.stale:
        return 1
    missing = any(r.reason.startswith("evidence missing") for r in report.results)
    if missing and not allow_missing:
        return 1
    return 1 if any(r.verdict in fail_on for r in report.results) else 0
