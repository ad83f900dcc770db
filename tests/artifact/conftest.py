"""A fresh copy of the fixture artifact per test; ``arx`` / ``arx.run`` callables running in-process."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from artifact_helpers import git, run_arx, run_exp

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "artifact"


@pytest.fixture
def art(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "artifact"
    shutil.copytree(FIXTURE, root)
    monkeypatch.chdir(root)
    monkeypatch.delenv("ARX_ROOT", raising=False)
    monkeypatch.setenv("ARX_EXPERIMENT_MODULES", "arx_fixture_experiments")
    monkeypatch.syspath_prepend(str(root / "code"))
    # each test imports the fixture experiments from its own copy (their source hashes go into provenance)
    import arx.experiments as registry

    monkeypatch.delitem(sys.modules, "arx_fixture_experiments", raising=False)
    for name in [n for n in registry._REGISTRY if n.startswith("toy_")]:
        monkeypatch.delitem(registry._REGISTRY, name)
    from arx.artifact.validation import write_schemas

    write_schemas(root)
    return root


@pytest.fixture
def arx(capsys):
    return lambda *args: run_arx(capsys, *args)


@pytest.fixture
def exp(capsys):
    return lambda experiment, *extra, **kw: run_exp(capsys, experiment, *extra, **kw)




@pytest.fixture
def committed(arx, exp, art):
    """The fixture artifact as a git repository whose evidence and report are committed."""
    git(art, "init", "-q")
    git(art, "add", "-A")
    git(art, "commit", "-q", "-m", "code")
    assert exp("toy_fit")[0] == 0
    assert arx("review")[0] == 0
    git(art, "add", "-A")
    git(art, "commit", "-q", "-m", "evidence")
    return art
