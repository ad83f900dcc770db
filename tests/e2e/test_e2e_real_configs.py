"""The artifact's own configs at every scale: each experiment section builds and names a registered experiment;
the medium zoo (not trainable here, no GPU) generates its data and builds its model configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arx.artifact.config import build_config
from arx.experiments import available

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(p for p in (ROOT / "workflows/config").glob("*.yaml")
                 if p.stem not in ("small", "medium", "paper"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_section_builds_at_every_scale(path):
    doc = yaml.safe_load(path.read_text())
    built = 0
    for scale in ("small", "medium", "paper"):
        for experiment in (doc.get(scale) or {}):
            assert experiment in available(), f"{path.name}: {scale}.{experiment} is not a registered experiment"
            cfg = build_config(ROOT, scale, experiment, str(path.relative_to(ROOT)), [])
            assert cfg["scale"] == scale
            built += 1
    assert built >= 1


def test_medium_zoo_data_and_model_configs_build():
    from arx.experiments.zoo import DATA
    from arx.models import model_config

    models = yaml.safe_load((ROOT / "workflows/config/zoo.yaml").read_text())["medium"]["zoo_train"]["models"]
    for mid, mc in models.items():
        data = DATA[mc["data"]](0, mc.get("data_args", {}))
        assert data is not None, mid
        cfg = model_config(mc["family"], "medium", mc["vocab_size"], **mc.get("overrides", {}))
        assert cfg.vocab_size == mc["vocab_size"]
