"""Helpers for the end-to-end tests: the fixture artifact wired to the real Snakefile, profile and arx."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "artifact"


def make_artifact(dest: Path, git: bool) -> tuple[Path, dict]:
    root = dest / "artifact"
    shutil.copytree(FIXTURE, root)
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    shutil.copy(REPO / "workflows" / "Snakefile", root / "workflows" / "Snakefile")
    shutil.copytree(REPO / "profiles", root / "profiles")
    # the artifact schemas, not the package's experiment schemas: the fixture's toy experiments are not among them
    shutil.copytree(REPO / "logic" / "schemas", root / "logic" / "schemas", ignore=shutil.ignore_patterns("experiments"))
    env = {**os.environ, "ARX_EXPERIMENT_MODULES": "arx_fixture_experiments",
           "PYTHONPATH": os.pathsep.join([str(root / "code"), os.environ.get("PYTHONPATH", "")]),
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    env.pop("ARX_ROOT", None)
    if git:
        for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"],
                    [sys.executable, "-m", "dvc", "remote", "add", "-d", "local", str(dest / "remote")],
                    ["git", "add", "-A"], ["git", "commit", "-qm", "fixture"]):
            subprocess.run(cmd, cwd=root, env=env, check=True, capture_output=True)
    return root, env


def sh(root: Path, env: dict, *cmd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def arx(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return sh(root, env, sys.executable, "-m", "arx.cli", *args)


def snakemake(root: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return sh(root, env, sys.executable, "-m", "snakemake", *args)
