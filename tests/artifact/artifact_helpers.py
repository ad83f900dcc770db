"""Helpers for the artifact-core tests (imported by conftest and tests)."""

from __future__ import annotations

import hashlib
from pathlib import Path


def run_arx(capsys, *args: str) -> tuple[int, str, str]:
    from arx.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


#: the fixture artifact's seeds per scale (tests/fixtures/artifact/ara.yaml)
FIXTURE_SEEDS = {"small": (0, 1, 2)}


def run_exp(capsys, experiment: str, *extra: str, seeds: tuple[int, ...] | None = None) -> tuple[int, str, str]:
    """Run ``experiment`` at every seed of its scale (as the workflow would), each into
    ``evidence/toy/<experiment>/<scale>/seed_<k>``; the first failing run's result, else the last one's."""
    from arx.run import main

    scale = extra[extra.index("--scale") + 1] if "--scale" in extra else "small"
    code, out, err = 0, "", ""
    for seed in seeds if seeds is not None else FIXTURE_SEEDS.get(scale, (0,)):
        code = main([experiment, "--paper-config", "workflows/config/toy.yaml", "--scale", "small",
                     "--out", f"evidence/toy/{experiment}/{scale}/seed_{seed}", "--set", f"seed={seed}", *extra])
        out, err = capsys.readouterr()
        if code != 0:
            break
    return code, out, err


def snapshot(root: Path) -> dict[str, str]:
    """Content hash of every file under root (to assert a command wrote nothing)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def git(root: Path, *args: str) -> str:
    """git in ``root`` with a fixed identity and no user config."""
    import subprocess

    res = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                         env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                              "GIT_COMMITTER_EMAIL": "t@t", "HOME": str(root), "PATH": "/usr/bin:/bin"})
    assert res.returncode == 0, res.stderr
    return res.stdout
