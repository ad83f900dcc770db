"""A fresh copy of the fixture artifact per test, and helpers to run ``arx`` / ``arx.run`` in-process."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "artifact"


@pytest.fixture
def art(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "artifact"
    shutil.copytree(FIXTURE, root)
    monkeypatch.chdir(root)
    monkeypatch.delenv("ARX_ROOT", raising=False)
    monkeypatch.setenv("ARX_EXPERIMENT_MODULES", "arx_fixture_experiments")
    monkeypatch.syspath_prepend(str(root / "code"))
    from arx.artifact.validation import write_schemas

    write_schemas(root)
    return root


def run_arx(capsys, *args: str) -> tuple[int, str, str]:
    from arx.cli import main

    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def run_exp(capsys, experiment: str, *extra: str) -> tuple[int, str, str]:
    from arx.run import main

    code = main([experiment, "--paper-config", "workflows/config/toy.yaml", "--scale", "small",
                 "--out", f"evidence/toy/{experiment}", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def snapshot(root: Path) -> dict[str, str]:
    """Content hash of every file under root (to assert a command wrote nothing)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture
def arx(capsys):
    return lambda *args: run_arx(capsys, *args)


@pytest.fixture
def exp(capsys):
    return lambda experiment, *extra: run_exp(capsys, experiment, *extra)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


