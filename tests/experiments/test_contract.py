"""The experiment contract: typed registration, schemas in sync, claim keys checked against Metrics schemas."""

from __future__ import annotations

from pathlib import Path

import pytest

from arx.artifact.validation import metric_key_problem
from arx.experiments import ExperimentConfig, ExperimentMetrics, RunContext, experiment, registered

ROOT = Path(__file__).resolve().parents[2]


class _Metrics(ExperimentMetrics):
    score: float
    by_group: dict[str, float]
    per_item: list[float]
    maybe: float | None = None


def test_registration_needs_typed_config_and_metrics():
    with pytest.raises(TypeError, match="config must subclass ExperimentConfig"):
        experiment("bad_cfg", config=dict, metrics=_Metrics)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="metrics must subclass ExperimentMetrics"):
        experiment("bad_metrics", config=ExperimentConfig, metrics=dict)  # type: ignore[arg-type]


def test_run_validates_what_the_experiment_returns(tmp_path):
    from arx.experiments import Experiment

    good = Experiment("t", ExperimentConfig, _Metrics, lambda c, x: {"score": 1, "by_group": {}, "per_item": [0.5]})
    assert good.run(ExperimentConfig(), RunContext(out=tmp_path)).score == 1.0
    flag = Experiment("t", ExperimentConfig, _Metrics, lambda c, x: {"score": 1, "by_group": {}, "per_item": [],
                                                                     "passed": True})
    with pytest.raises(ValueError, match="passed"):
        flag.run(ExperimentConfig(), RunContext(out=tmp_path))


def test_metric_key_check_follows_models_mappings_lists_and_dotted_names():
    schema = _Metrics.model_json_schema()
    assert metric_key_problem(schema, "score") is None
    assert metric_key_problem(schema, "by_group.anything") is None
    assert metric_key_problem(schema, "per_item.3") is None
    assert metric_key_problem(schema, "maybe") is None
    assert "has no 'scor'" in metric_key_problem(schema, "scor")
    assert "not a number" in metric_key_problem(schema, "by_group")

    class Dotted(ExperimentMetrics):
        tpr_at_0: float
        inner: _Metrics

    dotted = Dotted.model_json_schema()
    dotted["properties"]["tpr_at_0.01"] = {"type": "number"}
    assert metric_key_problem(dotted, "tpr_at_0.01") is None
    assert metric_key_problem(dotted, "inner.by_group.x") is None
    assert "inner has no 'nope'" in metric_key_problem(dotted, "inner.nope")


def test_experiment_schemas_in_repo_are_in_sync_with_the_code():
    from arx.experiments.__main__ import drift

    assert drift(ROOT) == [], "logic/schemas/experiments/ is out of sync: run `python -m arx.experiments --write`"


def test_every_claim_key_exists_in_its_experiments_metrics_schema():
    from arx.artifact.load import load_artifact
    from arx.artifact.validation import claim_key_problems

    art = load_artifact(ROOT)
    assert claim_key_problems(ROOT, list(art.claims.values())) == []


def test_every_experiment_a_workflow_runs_is_registered_and_typed():
    import re

    wired = {m for smk in (ROOT / "workflows").glob("*.smk")
             for m in re.findall(r'arx_run\("(\w+)"', smk.read_text())}
    exps = {n: e for n, e in registered().items() if e.module.startswith("arx.experiments.")}
    assert wired and wired <= set(exps), f"rules run unregistered experiments: {sorted(wired - set(exps))}"
    for name, exp in exps.items():
        assert issubclass(exp.config, ExperimentConfig) and exp.config is not ExperimentConfig, name
        assert exp.config.model_config.get("extra") == "forbid", name
        assert exp.metrics.model_config.get("extra") == "forbid", name
