"""Per-rule resources from the scale config: merging, the values Snakemake sees, and the threads a job runs with."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from arx.artifact.config import scale_defaults
from arx.artifact.resources import RuleResources, ScaleResources
from arx.artifact.workflow import Workflow

ROOT = Path(__file__).resolve().parents[2]


def test_an_override_replaces_only_the_keys_it_gives_and_gpu_is_omitted_when_zero():
    declared = ScaleResources(default=RuleResources(threads=2, mem_mb=1000, runtime=10),
                              rules={"big": {"mem_mb": 9000, "gpu": 1}})
    assert declared.of("big") == RuleResources(threads=2, mem_mb=9000, runtime=10, gpu=1)
    assert declared.of("other") == declared.default
    assert declared.of("other").snakemake() == {"mem_mb": 1000, "runtime": 10}
    assert declared.of("big").snakemake() == {"mem_mb": 9000, "runtime": 10, "gpu": 1}


def test_the_artifacts_scales_declare_what_their_rules_get():
    small = Workflow.load(ROOT, {"scale": "small"})
    assert small.threads("depn_edit") == 1 and small.resources("depn_base")["runtime"] == 45
    assert "gpu" not in small.resources("depn_base")
    medium = Workflow.load(ROOT, {"scale": "medium"})
    assert medium.resources("depn_edit")["gpu"] == 1 and medium.threads("depn_edit") == 8
    # one place for threads: a direct run gets the scale's default rule threads
    assert scale_defaults(ROOT, "medium")["num_threads"] == 8
    assert scale_defaults(ROOT, "small")["num_threads"] == 1


def test_dry_run_passes_resources_to_the_job_and_its_threads_to_the_experiment():
    out = subprocess.run([sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "2", "--forceall",
                          "--config", "seeds=[0]", "--", "depn_base_seeds"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    log = out.stdout + out.stderr
    block = log[log.index("rule depn_base:"):]
    resources = next(line for line in block.splitlines() if line.strip().startswith("resources:"))
    assert re.search(r"runtime=45\b", resources) and re.search(r"mem_mb=2000\b", resources)
    assert "--set num_threads=1" in block
