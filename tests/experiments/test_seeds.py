"""The seed is part of the evidence identity: it drives data, initialisation and sampling, and nothing else varies.

Runs a tiny zoo model through ``python -m arx.run`` (as a workflow rule does) three times: seed 0 twice, seed 1
once, each into its own ``.../seed_<k>`` directory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from arx.run import main

ROOT = Path(__file__).parents[2]
TINY = ("models.tiny={family: llama, data: facts, vocab_size: 300, "
        "data_args: {n_countries: 4, n_landmarks: 6, n_objects: 6}, "
        "train: {steps: 15, batch_size: 8, seq_len: 10, lr: 0.01, warmup: 2}}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """An artifact copy (manifest, configs, claims, schemas) with three zoo runs: seed 0, seed 0 again, seed 1."""
    import os

    root = tmp_path_factory.mktemp("artifact")
    for part in ("ara.yaml", "workflows", "logic"):
        src = ROOT / part
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / part)
    old = Path.cwd()
    os.chdir(root)
    torch.set_num_threads(1)
    try:
        dirs = {}
        for name, seed in (("a", 0), ("b", 0), ("c", 1)):
            out = f"evidence/zoo/small/seed_{seed}/{name}"
            code = main(["zoo_train", "--paper-config", "workflows/config/zoo.yaml", "--scale", "small", "--out", out,
                         "--set", f"seed={seed}", "--set", TINY, "--set", "model_id=tiny", "--no-track"])
            assert code == 0
            dirs[name] = root / out
    finally:
        os.chdir(old)
    return dirs


#: wall-clock measurements reported among the metrics; everything else must repeat exactly
TIMINGS = {"train_seconds"}


def _measured(run: Path) -> str:
    metrics = json.loads((run / "metrics.json").read_text())["metrics"]
    return json.dumps({k: v for k, v in metrics.items() if k not in TIMINGS}, sort_keys=True)


def test_same_seed_gives_byte_identical_metrics_data_and_weights(runs):
    a, b = runs["a"], runs["b"]
    assert _measured(a) == _measured(b) != _measured(runs["c"])
    for f in ("corpus.jsonl", "model.safetensors"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


def test_another_seed_gives_other_data_and_weights(runs):
    a, c = runs["a"], runs["c"]
    assert (a / "corpus.jsonl").read_bytes() != (c / "corpus.jsonl").read_bytes()
    assert (a / "model.safetensors").read_bytes() != (c / "model.safetensors").read_bytes()
    prov = json.loads((c / "metrics.json").read_text())["provenance"]
    assert prov["seed"] == 1 and prov["config"]["seed"] == 1


def test_config_paths_follow_the_run_seed_and_scale():
    from arx.artifact.config import build_config

    cfg = build_config(ROOT, "small", "depn_edit", "workflows/config/depn.yaml", ["seed=3"])
    assert cfg["model_dir"] == "evidence/depn/depn_base/small/seed_3/gpt2_private"
    cfg = build_config(ROOT, "small", "moe_attribution_cross", "workflows/config/moe_attribution.yaml", [])
    assert cfg["zoo_dir"] == "evidence/zoo/small/seed_0"
