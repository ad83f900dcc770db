"""Pre-registration computed from git history, never asserted: was a check fixed before its evidence?

A check's *protocol* is everything that decides its verdict: key, minus, items, comparator, threshold(s),
reference, the ``also`` conditions and the decision rule (not the rule name or the evidence path, which are
wiring). The check is **pre-registered** when, at the commit every seed's evidence was produced at
(``provenance.git_commit``), the claim file's committed protocol already equalled today's, and **post-hoc** when
at any seed's commit it differed (or the claim did not yet exist). Its registration commit is the oldest commit,
among those the evidence was produced after, since which the protocol has not changed (found by reading every
committed version of the claim file). Deciding at the evidence's commit, not by the newest change, keeps a
protocol that was changed and then reverted (a rewrite undone, then redone) pre-registered for evidence made
under it. A protocol edited in the working tree but not yet committed is post-hoc when evidence exists (it
cannot have been fixed before it) and ``not committed`` otherwise. Without git history (an exported tarball,
a shallow clone missing the commits) it is ``unknown``.

Why: "fixed before the run" is the artifact's central promise; a label written by hand would be one more
thing to trust.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from .diagnostics import ArtifactError
from .load import Artifact

Status = Literal["pre-registered", "post-hoc", "not committed", "unknown"]
WIRING = {"rule", "evidence"}


@dataclass(frozen=True)
class Registration:
    status: Status
    check_commit: str | None = None
    check_date: str | None = None
    evidence_commit: str | None = None
    evidence_date: str | None = None

    def describe(self) -> str:
        dates = []
        if self.check_date and self.check_commit:
            dates.append(f"check committed {self.check_date[:10]} ({self.check_commit[:8]})")
        if self.evidence_date:
            dates.append(f"evidence produced {self.evidence_date[:10]}")
        return self.status + (f": {', '.join(dates)}" if dates else "")

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def protocol(claim_data: Any, scale: str) -> str | None:
    """The decision-relevant part of one scale's check in a raw (possibly old-format) claim mapping, as a
    canonical string; None when that version had no such check."""
    checks = claim_data.get("checks") if isinstance(claim_data, dict) else None
    check = checks.get(scale) if isinstance(checks, dict) else None
    if not isinstance(check, dict):
        return None
    return json.dumps({k: v for k, v in check.items() if k not in WIRING}, sort_keys=True, default=str)


class GitHistory:
    """Committed versions of the claim files, read with two git processes (log + cat-file --batch)."""

    def __init__(self, root: Path):
        self.root = root
        self.ok = self._git("rev-parse", "--is-inside-work-tree").strip() == "true"
        self.versions: dict[str, list[tuple[str, str]]] = {}  # claim file -> [(commit, date)] newest first
        self._ancestors: dict[str, set[str] | None] = {}
        if not self.ok:
            return
        prefix = self._git("rev-parse", "--show-prefix").strip()
        self.prefix = prefix
        log = self._git("log", "--format=%x01%H %cI", "--name-only", "--", "logic/claims")
        for block in log.split("\x01")[1:]:
            head, *files = [line for line in block.splitlines() if line.strip()]
            commit, date = head.split(" ", 1)
            for f in files:
                path = f[len(prefix):] if prefix and f.startswith(prefix) else f
                self.versions.setdefault(path, []).append((commit, date))
        wanted = [f"{c}:{prefix}{path}" for path, vs in self.versions.items() for c, _ in vs]
        self.blobs = self._cat(wanted)

    def _git(self, *args: str, stdin: str | None = None) -> str:
        try:
            res = subprocess.run(["git", *args], cwd=self.root, capture_output=True, text=True, input=stdin)
        except OSError:
            return ""
        return res.stdout if res.returncode == 0 else ""

    def _cat(self, specs: list[str]) -> dict[str, Any]:
        """``commit:path`` -> the file's text (None when absent) through one ``git cat-file --batch``."""
        if not specs:
            return {}
        proc = subprocess.run(["git", "cat-file", "--batch"], cwd=self.root, input=("\n".join(specs) + "\n").encode(),
                              capture_output=True)
        out, pos = proc.stdout, 0
        parsed: dict[str, str | None] = {}
        for spec in specs:
            end = out.index(b"\n", pos)
            header = out[pos:end].decode().split()
            pos = end + 1
            if len(header) < 3:  # "<spec> missing"
                parsed[spec] = None
                continue
            size = int(header[2])
            text = out[pos:pos + size].decode("utf-8", errors="replace")
            pos += size + 1
            parsed[spec] = text if header[1] == "blob" else None
        return parsed

    def registered(self, claim_file: str, scale: str, current: str,
                   before: str | None = None) -> tuple[str, str] | None:
        """(commit, date) since which the check's protocol equals ``current``, looking only at versions that are
        ``before`` or its ancestors (all versions when None); None if the newest such version differs."""
        since = None
        for commit, date in self.versions.get(claim_file, []):
            if before is not None and not self.is_ancestor(commit, before):
                continue
            if protocol(_parse(self.blobs.get(f"{commit}:{self.prefix}{claim_file}")), scale) != current:
                break
            since = (commit, date)
        return since

    def has(self, commit: str) -> bool:
        """Whether this clone holds ``commit`` (a shallow or foreign clone may not)."""
        return self.is_ancestor(commit, commit) is True

    def is_ancestor(self, commit: str, of: str) -> bool | None:
        """Whether ``commit`` is ``of`` or an ancestor of it (None when ``of`` is not in this clone)."""
        if of not in self._ancestors:
            listed = self._git("rev-list", of)
            self._ancestors[of] = set(listed.split()) if listed else None
        ancestors = self._ancestors[of]
        return None if ancestors is None else commit in ancestors


def registrations(art: Artifact, scale: str, provenance: dict[str, list[tuple[str | None, str]]],
                  claim_ids: list[str]) -> dict[str, Registration]:
    """The registration at ``scale`` of each claim in ``claim_ids``. ``provenance``: claim id ->
    [(git_commit, started)] of the seeds' evidence present (absent when none is)."""
    history = GitHistory(art.root)
    out: dict[str, Registration] = {}
    for cid in claim_ids:
        claim = art.claims[cid]
        if scale not in claim.checks:
            continue
        runs = provenance.get(cid, [])
        evidence_date = min((started for _, started in runs), default=None)
        if not history.ok:
            out[cid] = Registration("unknown", evidence_date=evidence_date)
            continue
        current = protocol(_raw(art.root / art.claim_files[cid]), scale)
        since = history.registered(art.claim_files[cid], scale, current) if current is not None else None
        if since is None or current is None:
            out[cid] = Registration("post-hoc" if runs else "not committed", evidence_date=evidence_date)
            continue
        status: Status = "pre-registered"
        in_force: list[tuple[str, str]] = []  # per seed: since when the protocol it ran under was committed
        for made_at, _ in runs:
            if not made_at or not history.has(made_at):
                status = "unknown"
                continue
            at_run = history.registered(art.claim_files[cid], scale, current, before=made_at)
            if at_run is None:
                status = "post-hoc"
                break
            in_force.append(at_run)
        commit, date = since if status == "post-hoc" or not in_force else max(in_force, key=lambda c: c[1])
        out[cid] = Registration(status, commit, date, runs[0][0] if runs else None, evidence_date)
    return out


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse(text: str | None) -> Any:
    """A committed claim file's YAML (None when absent or unparsable: that version decides nothing)."""
    try:
        return yaml.load(text, Loader=_Loader) if text is not None else None
    except yaml.YAMLError:
        return None


def _raw(path: Path) -> Any:
    try:
        return _parse(path.read_text(encoding="utf-8"))
    except OSError:
        return None


def posthoc_warnings(art: Artifact, scale: str, regs: dict[str, Registration]) -> list[ArtifactError]:
    """ARX215 for every post-hoc check (a warning: the verdict stands, labelled; ``--strict`` fails on it)."""
    return [ArtifactError(art.claim_files[cid], f"checks.{scale}", f"is {reg.describe()}",
                          "commit the protocol, then re-run the check's rule (`arx reproduce "
                          f"{cid} --scale {scale}`)", code="ARX215")
            for cid, reg in sorted(regs.items()) if reg.status == "post-hoc"]

