"""End to end on the fixture artifact (git + DVC repo in tmp): snakemake -> arx.run -> DVC -> arx review.

One test walks the whole path because each step builds on the previous one's state (and snakemake/DVC
start-up dominates the run time on 2 cores).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import yaml
from e2e_helpers import arx, sh, snakemake


def run_nodes(root, experiment):
    nodes = [yaml.safe_load(p.read_text()) for p in sorted((root / "exploration/nodes").glob("*-run-*.yaml"))]
    return [n for n in nodes if n["run"]["experiment"] == experiment]


def test_claim_reproduced_tracked_failed_tampered_and_killed(repo_artifact, tmp_path):
    root, env = repo_artifact

    # 1. one claim end to end: rule generated from the claim file, evidence produced with provenance
    res = snakemake(root, env, "reproduce_claim_toy_fit_recovers_weights")
    assert res.returncode == 0, res.stdout + res.stderr
    metrics = json.loads((root / "evidence/toy/toy_fit/small/seed_0/metrics.json").read_text())
    assert metrics["metrics"]["fit"]["r2"] > 0.9
    assert metrics["provenance"]["git_commit"] and metrics["provenance"]["git_dirty"] is False
    review = json.loads((root / "evidence/review/small.json").read_text())
    assert [(r["claim"], r["verdict"]) for r in review["results"]] == [("toy_fit_recovers_weights", "reproduced")]
    nodes = run_nodes(root, "toy_fit")
    assert len(nodes) == 3 and {n["run"]["wildcards"]["seed"] for n in nodes} == {"0", "1", "2"}
    assert all(n["run"]["status"] == "succeeded" and n["run"]["rule"] == "toy_fit" for n in nodes)

    # 2. DVC tracks the array (not the metrics), and the default remote works
    dvcfile = yaml.safe_load((root / "evidence/toy/toy_fit/small/seed_0/weights.npy.dvc").read_text())
    assert dvcfile["outs"][0]["path"] == "weights.npy"
    assert yaml.safe_load((root / "evidence/toy/toy_fit/small/seed_0/arrays.dvc").read_text())["outs"][0]["md5"].endswith(".dir")
    assert not (root / "evidence/toy/toy_fit/small/seed_0/metrics.json.dvc").exists()
    ignored = sh(root, env, "git", "check-ignore", "-q", "evidence/toy/toy_fit/small/seed_0/metrics.json")
    assert ignored.returncode == 1, "metrics.json must stay in git"
    assert sh(root, env, sys.executable, "-m", "dvc", "push", "-q").returncode == 0
    assert any((tmp_path / "remote").rglob("*"))

    # 3. arx review computes every verdict; the too-strict claim is refuted, which is a result -> exit 0
    res = arx(root, env, "review", "--json")
    report = json.loads(res.stdout)
    assert res.returncode == 0
    assert {r["claim"]: r["verdict"] for r in report["results"]} == {
        "toy_fit_recovers_weights": "reproduced", "toy_fit_error_small": "refuted"}

    # 4. a deliberately failing rule leaves a failed run node with its log tail
    res = snakemake(root, env, "evidence/toy/toy_fail/small/seed_0/metrics.json")
    assert res.returncode != 0
    [node] = run_nodes(root, "toy_fail")
    assert node["run"]["status"] == "failed" and node["run"]["rule"] == "toy_fail"
    assert "about to fail on purpose" in node["run"]["log_tail"]
    assert any("deliberate failure" in line for line in node["run"]["log_tail"])

    # 5. tampering with DVC-tracked evidence: review exits 1 naming the file and its DVC hash
    with open(root / "evidence/toy/toy_fit/small/seed_0/weights.npy", "ab") as f:
        f.write(b"\0")
    res = arx(root, env, "review")
    assert res.returncode == 1
    assert "evidence/toy/toy_fit/small/seed_0/weights.npy: content differs from its DVC hash" in res.stdout
    assert sh(root, env, sys.executable, "-m", "dvc", "checkout", "-f", "-q").returncode == 0  # restore
    assert arx(root, env, "review").returncode == 0

    # 6. kill -9 of a running run: marked interrupted at the next invocation
    proc = subprocess.Popen([sys.executable, "-m", "snakemake", "evidence/toy/toy_sleep/small/seed_0/metrics.json"],
                            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 60
        while not run_nodes(root, "toy_sleep") and time.time() < deadline:
            time.sleep(0.2)
        [node] = run_nodes(root, "toy_sleep")
        assert node["run"]["status"] == "running"
        os.kill(node["run"]["pid"], signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    res = arx(root, env, "status")
    assert "interrupted" in res.stderr
    [node] = run_nodes(root, "toy_sleep")
    assert node["run"]["status"] == "interrupted" and node["run"]["log_tail"][-1] == "sleeping"
    assert "[run:interrupted]" in arx(root, env, "trace").stdout
