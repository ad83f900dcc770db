"""Evidence: paths inside ``evidence/``, content hashes, and DVC tracking funnelled through one lock.

Snakemake owns the pipeline; DVC only stores and verifies. Metrics JSON stays in git (reviewers see it in
diffs); checkpoints, arrays and large files are ``dvc add``-ed. DVC's own repo lock gives up after a few
seconds, so every ``dvc`` call made by arx goes through an ``fcntl`` lock on ``.dvc/tmp/arx-dvc.lock``
(plus ``--wait-for-lock``), which serialises parallel Snakemake jobs.
"""

from __future__ import annotations

import fcntl
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .diagnostics import ArtifactError, Problems
from .load import read_yaml, rel
from .schema import evidence_path_problem

EVIDENCE = "evidence"
KEEP_IN_GIT = {"metrics.json", "run.log", ".gitignore"}
TRACK_SUFFIXES = {".pt", ".pth", ".bin", ".safetensors", ".npy", ".npz", ".pkl", ".ckpt", ".h5", ".parquet",
                  ".arrow", ".onnx"}
TRACK_MIN_BYTES = 1 << 20


def digests(path: Path) -> tuple[str, str]:
    """(sha256, md5) of a file in one read: sha256 is what runs record, md5 what DVC records."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_evidence(root: Path, path: str, source: str, field: str) -> Path:
    """The on-disk path of ``path``, refusing anything that leaves ``evidence/`` (also through symlinks)."""
    problem = evidence_path_problem(path)
    if problem:
        raise ArtifactError(source, field, f"evidence path {path!r} {problem}", "point it inside evidence/", code="ARX113")
    full = root / path
    base = (root / EVIDENCE).resolve()
    target = full.resolve()
    if target != base and base not in target.parents:
        raise ArtifactError(source, field, f"evidence path {path!r} resolves to {target}, outside evidence/ "
                            "(symlink out of the tree)", "replace the symlink by the real file inside evidence/", code="ARX113")
    return full


def output_files(out: Path, since: float | None = None) -> tuple[list[Path], list[Path]]:
    """Regular files under ``out`` (no DVC/git bookkeeping, no run.log), split into (written since, older).

    Files older than the run are leftovers of earlier runs: they are not part of this run's provenance.
    """
    fresh: list[Path] = []
    old: list[Path] = []
    for p in sorted(out.rglob("*")):
        if p.is_file() and not p.is_symlink() and p.name not in {"run.log", ".gitignore"} and p.suffix != ".dvc":
            (old if since is not None and p.stat().st_mtime < since else fresh).append(p)
    return fresh, old


def hash_files(root: Path, paths: list[Path]) -> dict[str, str]:
    return {rel(p, root): sha256(p) for p in paths}


# ---------------------------------------------------------------------------------------------- DVC
def dvc_initialised(root: Path) -> bool:
    return (root / ".dvc" / "config").is_file()


@contextmanager
def dvc_lock(root: Path) -> Iterator[None]:
    """Cross-process lock serialising arx's DVC calls (blocks until free)."""
    lock = root / ".dvc" / "tmp" / "arx-dvc.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def dvc(root: Path, *args: str) -> subprocess.CompletedProcess:
    with dvc_lock(root):
        return subprocess.run([sys.executable, "-m", "dvc", "--wait-for-lock", *args], cwd=root,
                              capture_output=True, text=True)


def _is_large(p: Path) -> bool:
    if p.is_dir():
        return any(_is_large(c) for c in p.rglob("*") if c.is_file()) or \
            sum(c.stat().st_size for c in p.rglob("*") if c.is_file()) >= TRACK_MIN_BYTES
    return p.suffix in TRACK_SUFFIXES or p.stat().st_size >= TRACK_MIN_BYTES


def trackable(path: Path) -> list[Path]:
    """What ``dvc add`` should take under ``path``: large files/dirs, never metrics JSON or logs.

    A directory holding a ``metrics.json`` anywhere below is descended into rather than added whole, so
    the metrics stay in git.
    """
    if path.is_file():
        return [] if path.name in KEEP_IN_GIT or path.suffix == ".dvc" else [path]
    picked = []
    for entry in sorted(path.iterdir()):
        if entry.name in KEEP_IN_GIT or entry.suffix == ".dvc" or entry.is_symlink():
            continue
        if entry.is_dir():
            if any(entry.rglob("metrics.json")):
                picked += trackable(entry)
            elif _is_large(entry):
                picked.append(entry)
        elif _is_large(entry):
            picked.append(entry)
    return picked


def track(root: Path, path: Path) -> list[str]:
    """``dvc add`` the large outputs under ``path``; returns the repo-relative paths added."""
    if not dvc_initialised(root):
        raise ArtifactError(".dvc/config", None, "DVC is not initialised in this artifact", "run `dvc init`", code="ARX505")
    full = path if path.is_absolute() else root / path
    shown = rel(full, root)
    if not full.exists():
        raise ArtifactError(shown, None, "no such file or directory", "produce it first (run its rule)", code="ARX101")
    resolve_evidence(root, shown, shown, "path")
    if full.is_file() and full.name in KEEP_IN_GIT:
        raise ArtifactError(shown, None, f"{full.name} stays in git, not DVC", "track checkpoints/arrays instead", code="ARX502")
    targets = [rel(p, root) for p in trackable(full)]
    if targets:  # anything already in git (a file, or files inside a dir) would make dvc add refuse
        in_git = subprocess.run(["git", "ls-files", "--", *targets], cwd=root, capture_output=True,
                                text=True).stdout.splitlines()
        targets = [t for t in targets if not any(g == t or g.startswith(t + "/") for g in in_git)]
    if not targets:
        return []
    res = dvc(root, "add", "-q", *targets)
    if res.returncode != 0:
        msg = (res.stderr or res.stdout).strip().splitlines()
        raise ArtifactError(shown, None, f"dvc add failed: {msg[-1] if msg else res.returncode}",
                            "see `dvc add -v` for details", code="ARX505")
    return targets


def dvc_entries(root: Path) -> list[tuple[Path, str, str | None]]:
    """(data path, .dvc file, md5 or None for directories) for every .dvc file under evidence/.

    A pointer that does not parse or lacks ``outs[].path`` (a hand edit, a DVC/git merge conflict) is every
    problem at once as ARX114, never a traceback.
    """
    out, problems = [], Problems()
    for dvcfile in sorted((root / EVIDENCE).rglob("*.dvc")):
        shown = rel(dvcfile, root)
        fix = f"restore it with `git checkout -- {shown}` or re-run `arx evidence track` on its data"
        with problems.collect():
            try:
                data = read_yaml(dvcfile, shown).data
            except ArtifactError as e:
                raise ArtifactError(shown, None, f"not a DVC pointer: {e.message}", fix, e.line,
                                    code="ARX114") from None
            outs = data.get("outs") if isinstance(data, dict) else None
            if not isinstance(outs, list) or not outs or not all(
                    isinstance(o, dict) and isinstance(o.get("path"), str) for o in outs):
                raise ArtifactError(shown, "outs", "not a DVC pointer: needs a list of outs, each with a path and "
                                    "md5", fix, code="ARX114")
            for o in outs:
                digest = str(o["md5"]) if o.get("md5") is not None else None
                is_dir = bool(digest and digest.endswith(".dir"))
                out.append((dvcfile.parent / o["path"], shown, None if is_dir else digest))
    problems.raise_errors()
    return out
