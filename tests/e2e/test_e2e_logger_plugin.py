"""The Snakemake logger plugin: a shell step that does not go through arx.run still becomes a run node."""

from __future__ import annotations

import yaml
from e2e_helpers import arx, snakemake


def shell_runs(root):
    nodes = [yaml.safe_load(p.read_text()) for p in sorted((root / "exploration/nodes").glob("*.yaml"))]
    return [n for n in nodes if n["type"] == "run" and n["run"]["rule"] == "toy_shell"]


def test_a_plain_shell_rule_is_recorded_succeeded_and_failed(workflow_artifact):
    root, env = workflow_artifact
    ok = snakemake(root, env, "evidence/toy/toy_shell/small/seed_0/out.txt")
    assert ok.returncode == 0, ok.stderr
    bad = snakemake(root, env, "evidence/toy/toy_shell/small/seed_1/out.txt")
    assert bad.returncode != 0
    runs = {n["run"]["wildcards"]["seed"]: n["run"] for n in shell_runs(root)}
    assert set(runs) == {"0", "1"}
    assert runs["0"]["status"] == "succeeded" and runs["0"]["scale"] == "small"
    assert runs["1"]["status"] == "failed" and runs["1"]["log_tail"] == ["step 1 ran"]
    assert runs["1"]["wall_s"] is not None and "test 1 = 0" in runs["1"]["params"]["shell"]
    assert arx(root, env, "validate").returncode == 0
    dry = snakemake(root, env, "-n", "evidence/toy/toy_shell/small/seed_2/out.txt")
    assert dry.returncode == 0 and len(shell_runs(root)) == 2  # a dry run records nothing
