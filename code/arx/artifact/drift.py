"""Verdict drift between two reviews: what ``arx review --ci`` fails on and what ``arx diff`` shows.

A committed report (``evidence/review/<scale>.json`` at a git revision) is the artifact's statement of its
verdicts. ``--ci`` recomputes the review and compares: any claim whose verdict, estimate, interval or tested
condition differs from the committed report is drift (a threshold edited without re-running, evidence replaced
without committing the new report, review code that changed a verdict). ``arx diff`` is the same comparison
between two revisions, the pull-request view of a research artifact.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .diagnostics import ArtifactError
from .review import parse_report, report_path
from .schema import CheckResult, ReviewReport


@dataclass(frozen=True)
class Change:
    claim: str
    field: str
    before: str
    after: str


def report_at(root: Path, rev: str | None, scale: str) -> ReviewReport | None:
    """The report of ``scale`` at git revision ``rev`` (None: the working tree); None when there is none."""
    path = report_path(scale)
    if rev is None:
        full = root / path
        if not full.is_file():
            return None
        try:
            return parse_report(full.read_text())
        except ValueError as e:
            raise ArtifactError(path.as_posix(), None, f"not a valid review report ({e.__class__.__name__})",
                                "regenerate it with `arx review`", code="ARX108") from None
    try:
        inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=root, capture_output=True, text=True)
    except OSError:
        inside = None
    if inside is None or inside.stdout.strip() != "true":
        raise ArtifactError(None, "revision", f"cannot read revision {rev!r}: "
                            + ("git is not installed" if inside is None else "this artifact is not a git repository"),
                            "run inside a git clone of the artifact (review --ci and diff compare committed reports)",
                            code="ARX508")
    ok = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=root,
                        capture_output=True, text=True)
    if ok.returncode != 0:
        raise ArtifactError(None, "revision", f"{rev!r} is not a commit of this repository",
                            "pass a commit, branch or tag, e.g. HEAD~1 (see `git log`)", code="ARX503")
    shown = subprocess.run(["git", "show", f"{rev}:{path.as_posix()}"], cwd=root, capture_output=True, text=True)
    if shown.returncode != 0:
        return None
    try:
        return parse_report(shown.stdout)
    except ValueError as e:
        raise ArtifactError(f"{rev}:{path.as_posix()}", None, f"not a valid review report ({e.__class__.__name__})",
                            "regenerate it with `arx review` and commit it", code="ARX108") from None


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.6g}"


def _summary(r: CheckResult) -> dict[str, str]:
    out = {"verdict": r.verdict, "check": r.check or "-", "decision": r.decision or "-"}
    for c in r.conditions:
        tag = c.subject if len(r.conditions) > 1 else "estimate"
        out[tag] = _fmt(c.estimate)
        out[f"{tag} interval"] = "-" if not c.interval else f"[{_fmt(c.interval[0])}, {_fmt(c.interval[1])}]"
        out[f"{tag} seeds"] = f"{c.seeds_satisfying}/{c.n_seeds}"
    return out


def differences(before: ReviewReport | None, after: ReviewReport | None) -> list[Change]:
    """Per claim, every summary field (verdict, check, decision, estimates, intervals, seeds) that differs."""
    old = {r.claim: _summary(r) for r in (before.results if before else [])}
    new = {r.claim: _summary(r) for r in (after.results if after else [])}
    changes = []
    for claim in sorted(old.keys() | new.keys()):
        a, b = old.get(claim), new.get(claim)
        if a is None or b is None:
            changes.append(Change(claim, "claim", "absent" if a is None else "present",
                                  "absent" if b is None else "present"))
            continue
        changes += [Change(claim, k, a.get(k, "-"), b.get(k, "-")) for k in dict.fromkeys([*a, *b])
                    if a.get(k) != b.get(k)]
    return changes
