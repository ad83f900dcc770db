"""The generic Snakefile at parse time: generated rules, the run helper, scale errors, no side effects."""

from __future__ import annotations

import hashlib

from e2e_helpers import snakemake


def tree(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file() and ".snakemake" not in p.parts and "__pycache__" not in p.parts}


def test_reproduce_rules_are_generated_per_claim_file(workflow_artifact):
    root, env = workflow_artifact
    res = snakemake(root, env, "--list-rules")
    assert res.returncode == 0, res.stderr
    rules = set(res.stdout.split())
    assert {"reproduce_claim_toy_fit_recovers_weights", "reproduce_claim_toy_fit_error_small", "reproduce_all",
            "review", "toy_fit", "toy_fail"} <= rules
    src = (root / "logic/claims/toy_fit_recovers_weights.yaml").read_text()
    (root / "logic/claims/toy_fit_again.yaml").write_text(src.replace("id: toy_fit_recovers_weights",
                                                                     "id: toy_fit_again"))
    assert "reproduce_claim_toy_fit_again" in snakemake(root, env, "--list-rules").stdout


def test_dry_run_writes_nothing_and_wires_the_run_command(workflow_artifact):
    root, env = workflow_artifact
    before = tree(root)
    res = snakemake(root, env, "-n", "-p", "reproduce_all", "--config", "scale=small")
    assert res.returncode == 0, res.stderr
    out = res.stdout + res.stderr
    for seed in (0, 1, 2):
        assert ("-m arx.run toy_fit --paper-config workflows/config/toy.yaml --scale small --out "
                f"evidence/toy/toy_fit/small/seed_{seed} --rule toy_fit --set num_threads=1 --wildcard seed={seed} "
                f"--set seed={seed}") in out
    assert "-m arx.cli review --scale small" in out and "--allow-missing" not in out
    assert "workflow specific profile profiles/default" in out
    assert tree(root) == before


def test_the_snakefile_header_example_parses_when_copied(workflow_artifact):
    """The HOW TO WRITE example in workflows/Snakefile is what newcomers copy: it must be valid Snakemake."""
    import re

    root, env = workflow_artifact
    header = (root / "workflows/Snakefile").read_text().split("# HOW TO WRITE", 1)[1].split("# arx_run(", 1)[0]
    example = "\n".join(re.sub(r"^#   ?", "", line) for line in header.splitlines()[1:]
                        if line.startswith("#   "))
    assert "rule depn_edit:" in example and "rule zoo_model:" in example
    (root / "workflows/example.smk").write_text(example.replace("depn_edit", "example_edit")
                                                .replace("zoo_model", "example_model") + "\n")
    res = snakemake(root, env, "--list-rules")
    assert res.returncode == 0, res.stdout + res.stderr
    assert {"example_edit", "example_model"} <= set(res.stdout.split())


def test_unknown_scale_is_a_clear_error(workflow_artifact):
    root, env = workflow_artifact
    res = snakemake(root, env, "-n", "--config", "scale=huge")
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "unknown scale 'huge'" in out and "scale=small|medium|paper" in out


def test_bad_claim_file_stops_the_workflow_with_its_name(workflow_artifact):
    root, env = workflow_artifact
    p = root / "logic/claims/toy_fit_error_small.yaml"
    p.write_text(p.read_text().replace("comparator: abs_diff_le", "comparator: approx"))
    res = snakemake(root, env, "-n")
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "logic/claims/toy_fit_error_small.yaml" in out
    assert "checks.small.comparator" in out


def test_run_helper_quotes_sets_and_rewrites_out_wildcards():
    from pathlib import Path

    from arx.artifact.workflow import Workflow

    wf = Workflow(root=Path("."), manifest=None, scale="medium", seeds=[0, 1, 2], claims=[])
    cmd = wf.run_command("depn_edit", paper="depn", model__layers=2, name="a b")
    assert "--scale medium --out evidence/depn/depn_edit/medium/seed_{wildcards.seed} --rule {rule}" in cmd
    assert "--wildcard seed={wildcards.seed} --set seed={wildcards.seed}" in cmd
    assert "--set model.layers=2" in cmd and "--set 'name=a b'" in cmd
    assert wf.metrics_path("depn_edit", paper="depn") == "evidence/depn/depn_edit/medium/seed_{seed}/metrics.json"
    cmd = wf.run_command("zoo_train", paper="zoo", out=f"{wf.zoo_dir}/{{model_id}}", m="{wildcards.model_id}")
    assert "--out evidence/zoo/medium/seed_{wildcards.seed}/{wildcards.model_id}" in cmd
    assert "--wildcard model_id={wildcards.model_id}" in cmd and "--set m={wildcards.model_id}" in cmd
    assert wf.seed_targets(["evidence/x/medium/seed_{seed}/metrics.json"]) == [
        f"evidence/x/medium/seed_{s}/metrics.json" for s in (0, 1, 2)]
    assert wf.seed_targets([f"{wf.zoo_dir}/{{model_id}}/metrics.json"]) == []


def test_wildcard_rule_runs_and_records_its_wildcards(workflow_artifact):
    import json

    import yaml

    root, env = workflow_artifact
    with open(root / "workflows/toy.smk", "a") as f:
        f.write('\nrule toy_wc:\n'
                '    output: arx_metrics("toy_fit", paper="toy", out=f"evidence/toy/{SCALE}/{{n}}")\n'
                '    shell: arx_run("toy_fit", paper="toy", out=f"evidence/toy/{SCALE}/{{n}}", n="{wildcards.n}")\n')
    res = snakemake(root, env, "evidence/toy/small/70/metrics.json")
    assert res.returncode == 0, res.stdout + res.stderr
    prov = json.loads((root / "evidence/toy/small/70/metrics.json").read_text())["provenance"]
    assert prov["config"]["n"] == 70
    node = yaml.safe_load((root / f"exploration/nodes/{prov['run_id']}.yaml").read_text())
    assert node["run"]["wildcards"] == {"n": "70"} and node["run"]["rule"] == "toy_wc"


def test_claim_naming_an_undefined_rule_warns(workflow_artifact):
    root, env = workflow_artifact
    p = root / "logic/claims/toy_fit_error_small.yaml"
    p.write_text(p.read_text().replace("rule: toy_fit", "rule: toy_fitt"))
    res = snakemake(root, env, "-n", "toy_fit_seeds")
    assert res.returncode == 0
    assert "checks.small.rule 'toy_fitt' is not defined in any workflows/*.smk" in res.stderr


def test_each_scale_and_seed_has_its_own_evidence(workflow_artifact):
    """Scale and seed are part of the path: small evidence does not satisfy the paper scale, and
    --config seeds=[0] runs one seed only."""
    root, env = workflow_artifact
    res = snakemake(root, env, "toy_fit_seeds", "--config", "seeds=[0]")
    assert res.returncode == 0, res.stdout + res.stderr
    assert [p.parent.name for p in sorted((root / "evidence/toy/toy_fit/small").glob("*/metrics.json"))] == ["seed_0"]
    res = snakemake(root, env, "-n", "toy_fit_seeds", "--config", "scale=paper")
    assert "evidence/toy/toy_fit/paper/seed_0/metrics.json" in res.stdout
    res = snakemake(root, env, "-n", "toy_fit_seeds")  # the two small seeds still missing
    jobs = [line.split("output: ")[1] for line in res.stdout.splitlines() if "output: " in line]
    assert sorted(jobs) == [f"evidence/toy/toy_fit/small/seed_{s}/metrics.json" for s in (1, 2)]
