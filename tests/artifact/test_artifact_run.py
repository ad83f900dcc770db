"""arx.run: config layering, metrics + provenance, run nodes for success and failure."""

from __future__ import annotations

import json

import pytest
import yaml
from artifact_helpers import run_exp

from arx.artifact.config import build_config
from arx.artifact.diagnostics import ArtifactError


@pytest.fixture
def exp(capsys):
    """One run at seed 0: these tests look at a single run's node and files."""
    return lambda experiment, *extra: run_exp(capsys, experiment, *extra, seeds=(0,))


def nodes(root):
    return [yaml.safe_load(p.read_text()) for p in sorted((root / "exploration/nodes").glob("*.yaml"))]


def test_config_layers_scale_defaults_paper_section_and_sets(art):
    cfg = build_config(art, "small", "toy_fit", "workflows/config/toy.yaml", ["noise=0.5", "opt.lr=1e-3"])
    assert cfg["device"] == "cpu" and cfg["seed"] == 0  # from workflows/config/small.yaml defaults
    assert cfg["n"] == 200 and cfg["noise"] == 0.5 and cfg["opt"] == {"lr": 1e-3}
    assert cfg["scale"] == "small"
    assert build_config(art, "medium", "toy_fit", "workflows/config/toy.yaml", [])["n"] == 2000


def test_an_id_set_selects_its_entry_so_other_entries_do_not_stale_it(art):
    """A wildcard rule's ``model_id`` picks one entry of ``models``: editing another entry leaves the config equal."""
    cfg_file = art / "workflows/config/toy.yaml"
    doc = yaml.safe_load(cfg_file.read_text())
    doc["small"]["toy_fit"]["models"] = {"a": {"width": 1}, "b": {"width": 2}}
    cfg_file.write_text(yaml.safe_dump(doc))
    before = build_config(art, "small", "toy_fit", "workflows/config/toy.yaml", ["model_id=a"])
    assert before["models"] == {"a": {"width": 1}}
    doc["small"]["toy_fit"]["models"]["b"] = {"width": 3}
    cfg_file.write_text(yaml.safe_dump(doc))
    assert build_config(art, "small", "toy_fit", "workflows/config/toy.yaml", ["model_id=a"]) == before
    assert build_config(art, "small", "toy_fit", "workflows/config/toy.yaml", [])["models"]["b"] == {"width": 3}


def test_missing_paper_section_names_file_and_field(art):
    try:
        build_config(art, "medium", "toy_fail", "workflows/config/toy.yaml", [])
    except ArtifactError as e:
        assert e.file == "workflows/config/toy.yaml" and e.field == "medium.toy_fail"
    else:
        raise AssertionError("missing section accepted")


def test_success_writes_metrics_provenance_and_closes_node(exp, art):
    code, out, _ = exp("toy_fit", "--set", "n=300", "--rule", "toy_fit")
    assert code == 0, out
    doc = json.loads((art / "evidence/toy/toy_fit/small/seed_0/metrics.json").read_text())
    assert doc["metrics"]["fit"]["r2"] > 0.9 and doc["metrics"]["n"] == 300
    prov = doc["provenance"]
    assert prov["config"]["n"] == 300 and prov["seed"] == 0 and prov["scale"] == "small"
    assert prov["packages"]["numpy"] and prov["python"] and prov["wall_s"] >= 0
    d = "evidence/toy/toy_fit/small/seed_0"
    assert list(prov["outputs"]) == [f"{d}/arrays/residuals.npy", f"{d}/weights.npy"]
    log = (art / "evidence/toy/toy_fit/small/seed_0/run.log").read_text()
    assert "r2=" in log and "arx.fixture INFO: weights saved" in log
    [node] = nodes(art)
    assert node["id"] == prov["run_id"] and node["run"]["status"] == "succeeded" and node["run"]["rule"] == "toy_fit"
    assert set(node["run"]["evidence"]) == {f"{d}/metrics.json", f"{d}/weights.npy", f"{d}/arrays/residuals.npy"}
    assert [p.name for p in (art / "exploration/.heartbeat").iterdir()] == [".gitignore"]


def test_failure_leaves_failed_node_with_log_tail_and_no_metrics(exp, art):
    code, _, err = exp("toy_fail")
    assert code == 1 and "failed" in err
    [node] = nodes(art)
    run = node["run"]
    assert run["status"] == "failed" and "deliberate failure" in run["error"]
    assert "about to fail on purpose" in run["log_tail"] and any("RuntimeError" in line for line in run["log_tail"])
    assert not (art / "evidence/toy/toy_fail/small/seed_0/metrics.json").exists()


def test_failed_rerun_removes_previous_metrics(exp, art):
    assert exp("toy_fit")[0] == 0
    assert exp("toy_fit", "--set", "n=-1")[0] == 1  # numpy rejects a negative size: the experiment fails
    assert not (art / "evidence/toy/toy_fit/small/seed_0/metrics.json").exists()


def test_unknown_experiment_is_bad_input(exp, art):
    code, _, err = exp("toy_nope")
    assert code == 2 and "unknown experiment 'toy_nope'" in err and "toy_fit" in err
    assert not (art / "evidence").exists()


def test_out_must_stay_inside_evidence(capsys, art):
    from arx.run import main

    assert main(["toy_fit", "--paper-config", "workflows/config/toy.yaml", "--out", "../elsewhere"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "starting with evidence/" in err


def test_sigterm_closes_the_node_as_interrupted(art):
    import os
    import signal
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": str(art / "code")}
    proc = subprocess.Popen([sys.executable, "-m", "arx.run", "toy_sleep", "--paper-config",
                             "workflows/config/toy.yaml", "--out", "evidence/toy/toy_sleep"], cwd=art, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        log = art / "evidence/toy/toy_sleep/run.log"
        deadline = time.time() + 30
        while time.time() < deadline and not (log.exists() and "sleeping" in log.read_text()):
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 1
    finally:
        proc.kill()
    [node] = nodes(art)
    assert node["run"]["status"] == "interrupted" and "SIGTERM" in node["run"]["error"]
    assert not (art / "evidence/toy/toy_sleep/metrics.json").exists()


def test_dvc_failure_warns_but_keeps_the_run(exp, art):
    (art / ".dvc").mkdir()
    (art / ".dvc/config").write_text("[core\nbroken")  # DVC initialised but unusable
    code, out, _ = exp("toy_fit")
    assert code == 0 and "WARNING" in out and "dvc add failed" in out
    assert (art / "evidence/toy/toy_fit/small/seed_0/metrics.json").is_file()
    [node] = nodes(art)
    assert node["run"]["status"] == "succeeded" and any("WARNING" in line for line in node["run"]["log_tail"])


def test_leftovers_of_earlier_runs_are_not_provenance(exp, art):
    import os

    d = art / "evidence/toy/toy_fit/small/seed_0"
    d.mkdir(parents=True)
    (d / "old_plot.png").write_bytes(b"old")
    os.utime(d / "old_plot.png", (1, 1))
    code, out, _ = exp("toy_fit")
    assert code == 0 and "left out of its provenance: evidence/toy/toy_fit/small/seed_0/old_plot.png" in out
    doc = json.loads((d / "metrics.json").read_text())
    assert "evidence/toy/toy_fit/small/seed_0/old_plot.png" not in doc["provenance"]["outputs"]
    [node] = nodes(art)
    assert "evidence/toy/toy_fit/small/seed_0/old_plot.png" not in node["run"]["evidence"]


def test_cuda_scale_without_gpu_is_a_clear_error(exp, art):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the medium scale runs instead of failing")
    code, _, err = exp("toy_fit", "--scale", "medium")
    assert code == 2 and "asks for 'cuda' but CUDA is not available" in err and "scale=small" in err
    assert not (art / "evidence").exists()


def test_config_yaml_merge_keys_work_and_duplicates_are_refused(art):
    cfg = art / "workflows/config/toy.yaml"
    cfg.write_text("common: &common {n: 200, d: 5, noise: 0.1}\nsmall:\n  toy_fit:\n    <<: *common\n    n: 50\n")
    assert build_config(art, "small", "toy_fit", "workflows/config/toy.yaml", [])["n"] == 50
    cfg.write_text("small:\n  toy_fit: {n: 1}\n  toy_fit: {n: 2}\n")
    try:
        build_config(art, "small", "toy_fit", "workflows/config/toy.yaml", [])
    except ArtifactError as e:
        assert e.line == 3 and e.field == "small.toy_fit" and "duplicate key" in e.message
    else:
        raise AssertionError("duplicate key accepted")


def test_bad_config_key_or_type_exits_2_naming_file_key_and_fix(exp, art):
    code, _, err = exp("toy_fit", "--set", "nn=3", "--set", "d=notanint")
    line = err.strip().splitlines()[-2] if "recorded as" in err else err.strip()
    assert code == 2
    assert "workflows/config/toy.yaml" in line and "toy_fit.nn: unknown key" in line
    assert "toy_fit.d:" in line and "schema.json" in line
    assert not (art / "evidence/toy/toy_fit/small/seed_0/metrics.json").exists()


def test_provenance_records_resolved_config_with_defaults_and_code_hashes(exp, art):
    cfg = art / "workflows/config/toy.yaml"
    cfg.write_text(cfg.read_text().replace("toy_fit: {n: 200, d: 5, noise: 0.1}", "toy_fit: {n: 200}"))
    assert exp("toy_fit")[0] == 0
    prov = json.loads((art / "evidence/toy/toy_fit/small/seed_0/metrics.json").read_text())["provenance"]
    assert prov["config"]["d"] == 5 and prov["config"]["noise"] == 0.1  # defaults of the Config, not in the YAML
    assert "d" not in prov["config_source"] and prov["config_source"]["n"] == 200
    assert "code/arx_fixture_experiments.py" in prov["code"]
