"""A tmp copy of the fixture artifact wired to the *real* Snakefile, profile and arx (optionally git + DVC)."""

from __future__ import annotations

import pytest
from e2e_helpers import make_artifact


@pytest.fixture
def workflow_artifact(tmp_path):
    return make_artifact(tmp_path, git=False)


@pytest.fixture
def repo_artifact(tmp_path):
    return make_artifact(tmp_path, git=True)
