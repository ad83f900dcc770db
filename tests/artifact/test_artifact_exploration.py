"""Exploration graph: atomic append-only nodes, run recording, interrupted-run detection."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import yaml

from arx.artifact import exploration
from arx.artifact.diagnostics import ArtifactError
from arx.artifact.exploration import RunRecorder, create_node, now_iso, sweep_interrupted
from arx.artifact.schema import ExplorationNode, RunInfo


def info(**kw):
    base = dict(experiment="toy_fit", scale="small", out="evidence/toy/toy_fit", pid=1, host="h",
                started=now_iso(), status="running")
    return RunInfo(**{**base, **kw})


def test_create_never_overwrites(art):
    node = ExplorationNode(id="n1", type="question", title="q", created=now_iso())
    create_node(art, node)
    with pytest.raises(ArtifactError, match="already exists"):
        create_node(art, node.model_copy(update={"title": "other"}))
    assert yaml.safe_load((art / "exploration/nodes/n1.yaml").read_text())["title"] == "q"
    assert [p.name for p in (art / "exploration/nodes").iterdir()] == ["n1.yaml"]  # no temp files left


def test_run_node_requires_run_section():
    with pytest.raises(ValueError):
        ExplorationNode(id="x", type="run", title="t", created=now_iso())


def test_heartbeat_is_touched_while_running(art, monkeypatch):
    monkeypatch.setattr(exploration, "HEARTBEAT_S", 0.05)
    import os
    import socket

    rec = RunRecorder(art, info(pid=os.getpid(), host=socket.gethostname()), "t")
    rec.open()
    first = rec.heartbeat.stat().st_mtime_ns
    time.sleep(0.3)
    assert rec.heartbeat.stat().st_mtime_ns > first
    assert sweep_interrupted(art) == []  # alive: left alone
    rec.close("succeeded", ["ok"])
    assert not rec.heartbeat.exists()
    data = yaml.safe_load((art / f"exploration/nodes/{rec.node.id}.yaml").read_text())
    assert data["run"]["status"] == "succeeded" and data["run"]["wall_s"] >= 0.3


def test_dead_process_is_marked_interrupted(art):
    import socket

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    rec = RunRecorder(art, info(pid=proc.pid, host=socket.gethostname()), "t")
    rec.open()
    rec._stop.set()
    assert sweep_interrupted(art) == [rec.node.id]
    data = yaml.safe_load((art / f"exploration/nodes/{rec.node.id}.yaml").read_text())
    assert data["run"]["status"] == "interrupted" and "process is gone" in data["run"]["error"]
    assert sweep_interrupted(art) == []


def test_other_host_needs_a_stale_heartbeat(art, monkeypatch):
    rec = RunRecorder(art, info(pid=1, host="elsewhere"), "t")
    rec.open()
    rec._stop.set()
    assert sweep_interrupted(art) == []
    monkeypatch.setattr(exploration, "STALE_S", -1)
    assert sweep_interrupted(art) == [rec.node.id]


def test_runs_of_a_claim_include_failures_and_link_to_the_run_before(arx, exp, art):
    from arx.artifact.runs import previous_runs

    assert exp("toy_fit", seeds=(0,))[0] == 0
    assert exp("toy_fit", seeds=(0,))[0] == 0
    failed = info(out="evidence/toy/toy_fit/small/seed_1", status="failed", finished=now_iso(), error="boom",
                  rule="toy_fit", wildcards={"seed": "1"}, log_tail=["Traceback", "boom"])
    create_node(art, ExplorationNode(id="failed1", type="run", title="toy_fit (small)", created=now_iso(), run=failed))
    code, out, _ = arx("explain", "toy_fit_recovers_weights", "--json")
    small = json.loads(out)["scales"]["small"]
    assert code == 0 and small["runs_total"] == 3 and small["runs_left_out"] == 0
    assert small["runs"][0]["id"] == "failed1" and small["runs"][0]["log_tail"] == ["Traceback", "boom"]
    seed0 = [r for r in small["runs"] if r["id"] != "failed1"]
    assert seed0[0]["previous"] == seed0[1]["id"] and seed0[1]["previous"] is None
    code, out, _ = arx("explain", "toy_fit_recovers_weights", "--limit", "1", "--json")
    small = json.loads(out)["scales"]["small"]
    assert len(small["runs"]) == 1 and small["runs_left_out"] == 2
    code, out, _ = arx("trace", "toy_fit_recovers_weights")
    assert "failed1  [run:failed]" in out and out.count("[run:succeeded]") == 2
    nodes = list(exploration.iter_nodes(art))
    assert previous_runs(nodes)["failed1"] is None
    run_nodes = [n for n in nodes if n.run and n.run.status == "succeeded"]
    assert all(n.claims == ["toy_fit_error_small", "toy_fit_recovers_weights"] for n in run_nodes)
