"""The artifact's own configs at every scale: each experiment section builds, names a registered experiment and
validates against its typed Config exactly as ``arx.run`` does; the medium zoo (not trainable here, no GPU)
generates its data and builds its model configs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from arx.artifact.config import build_config, scale_defaults
from arx.experiments import registered
from arx.run import typed_config

ROOT = Path(__file__).resolve().parents[2]
SCALES = list(yaml.safe_load((ROOT / "ara.yaml").read_text())["scales"])
CONFIGS = sorted(p for p in (ROOT / "workflows/config").glob("*.yaml") if p.stem not in SCALES)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_section_builds_at_every_scale(path):
    doc = yaml.safe_load(path.read_text())
    built, experiments = 0, registered()
    for scale in SCALES:
        for experiment in (doc.get(scale) or {}):
            assert experiment in experiments, f"{path.name}: {scale}.{experiment} is not a registered experiment"
            sets = ["model_id=" + next(iter(doc[scale][experiment]["models"]))] \
                if "model_id" in experiments[experiment].config.model_fields and "models" in doc[scale][experiment] \
                else []
            cfg = build_config(ROOT, scale, experiment, str(path.relative_to(ROOT)), sets)
            assert cfg["scale"] == scale
            typed, runtime = typed_config(experiments[experiment], cfg, scale_defaults(ROOT, scale), path.name)
            assert runtime["scale"] == scale and typed.model_dump()
            built += 1
    assert built >= 1


def test_medium_zoo_data_and_model_configs_build():
    from arx.experiments.zoo import DATA
    from arx.models import model_config

    section = yaml.safe_load((ROOT / "workflows/config/zoo.yaml").read_text())["medium"]["zoo_train"]
    assert section["size"] == "m"
    for mid, mc in section["models"].items():
        data = DATA[mc["data"]](0, mc.get("data_args", {}))
        assert data is not None, mid
        cfg = model_config(mc["family"], section["size"], mc["vocab_size"], **mc.get("overrides", {}))
        assert cfg.vocab_size == mc["vocab_size"]
