"""Rule inputs derived from the experiment's resolved config (``arx_inputs`` in a .smk): hand-checked cases of the
path matching, and the artifact's real DAG (upstream jobs appear exactly for the models a config names)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from arx.artifact.workflow import Workflow, config_paths, files_under

ROOT = Path(__file__).resolve().parents[2]

ZOO_OUTPUTS = ["evidence/zoo/small/seed_{seed}/{model_id}/metrics.json",
               "evidence/zoo/small/seed_{seed}/{model_id}/model.safetensors"]
DEPN_OUTPUTS = ["evidence/depn/depn_base/small/seed_{seed,\\d+}/metrics.json",
                "evidence/depn/depn_base/small/seed_{seed}/gpt2_private/model.safetensors",
                "evidence/depn/depn_base/small/seed_{seed}/gpt2_private_large/model.safetensors"]


def test_config_paths_takes_evidence_strings_and_zoo_model_ids():
    cfg = {"seed": 3, "zoo_dir": "evidence/zoo/small/seed_3", "zoo_models": {"moe": "olmoe_facts", "dense": "llama"},
           "model_dir": "evidence/depn/depn_base/small/seed_3/gpt2_private/", "note": "evidence is good",
           "checkpoints": ["~/.cache/arx/x", "evidence/a/b"]}
    assert config_paths(cfg) == ["evidence/zoo/small/seed_3", "evidence/depn/depn_base/small/seed_3/gpt2_private",
                                 "evidence/a/b", "evidence/zoo/small/seed_3/olmoe_facts",
                                 "evidence/zoo/small/seed_3/llama"]


def test_files_under_binds_wildcards_and_skips_unbound_ones():
    assert files_under("evidence/zoo/small/seed_0/olmoe_facts", ZOO_OUTPUTS) == [
        "evidence/zoo/small/seed_0/olmoe_facts/metrics.json", "evidence/zoo/small/seed_0/olmoe_facts/model.safetensors"]
    # the zoo dir itself: {model_id} stays unbound below it, so nothing concrete is named
    assert files_under("evidence/zoo/small/seed_0", ZOO_OUTPUTS) == []
    assert files_under("evidence/depn/depn_base/small/seed_2", DEPN_OUTPUTS) == [
        "evidence/depn/depn_base/small/seed_2/metrics.json",
        "evidence/depn/depn_base/small/seed_2/gpt2_private/model.safetensors",
        "evidence/depn/depn_base/small/seed_2/gpt2_private_large/model.safetensors"]
    assert files_under("evidence/depn/depn_base/small/seed_2/gpt2_private", DEPN_OUTPUTS) == [
        "evidence/depn/depn_base/small/seed_2/gpt2_private/model.safetensors"]
    assert files_under("evidence/depn/depn_base/medium/seed_2", DEPN_OUTPUTS) == []  # another scale
    # an inline constraint is honoured: seed_x is no {seed,\d+}
    assert files_under("evidence/depn/depn_base/small/seed_x", DEPN_OUTPUTS[:1]) == []


class _Wildcards:
    def __init__(self, seed: str):
        self.seed = seed


def test_inputs_follow_the_config_of_the_job_seed():
    wf = Workflow.load(ROOT, {"scale": "small"})
    wf.rule_outputs = ZOO_OUTPUTS + DEPN_OUTPUTS
    moe = wf.inputs("moe_attribution_cross", "moe_attribution")(_Wildcards("4"))
    assert sorted({Path(f).parent.name for f in moe}) == ["llama_facts", "olmoe_facts", "qwen2_moe_facts"]
    assert all(f.startswith("evidence/zoo/small/seed_4/") for f in moe)
    assert wf.inputs("depn_edit", "depn")(_Wildcards("1")) == [
        "evidence/depn/depn_base/small/seed_1/gpt2_private/model.safetensors"]
    paper = Workflow.load(ROOT, {"scale": "paper"})
    paper.rule_outputs = ZOO_OUTPUTS
    assert paper.inputs("routing_rise", "routing")(_Wildcards("0")) == []  # a published checkpoint: no rule makes it


def test_the_real_dag_builds_each_upstream_model_once_per_seed():
    res = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--config", "seeds=[0,1]", "-s",
                          "workflows/Snakefile", "moe_attribution_cross_seeds", "routing_rise_seeds"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    jobs = [line for line in res.stdout.splitlines() if "-m arx.run zoo_train" in line]
    built = sorted(line.split("--set model_id=")[1].split()[0] + "@" + line.split("--set seed=")[1].split()[0]
                   for line in jobs)
    assert built == sorted(f"{m}@{s}" for m in ("llama_facts", "olmoe_facts", "qwen2_moe_facts",
                                                "qwen2_moe_multilingual") for s in (0, 1))
