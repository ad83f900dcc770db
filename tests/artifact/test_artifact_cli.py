"""The arx CLI: fast start without torch, --json everywhere, schemas in sync, scaffolds, notes, trace."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from artifact_helpers import snapshot

REPO = Path(__file__).resolve().parents[2]


def test_help_imports_no_torch_nor_pydantic():
    code = ("import sys, arx.cli\n"
            "try:\n    arx.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'pydantic', 'numpy', 'transformers') if m in sys.modules]\n"
            "assert not heavy, heavy")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "review" in res.stdout and "explain" in res.stdout


def test_review_path_never_imports_torch(art):
    code = ("import sys, arx.cli\nrc = arx.cli.main(['review', '--json'])\n"
            "assert 'torch' not in sys.modules\nsys.exit(rc)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=art)
    assert res.returncode == 1 and json.loads(res.stdout)["results"], res.stderr  # evidence missing -> 1


def test_schemas_in_repo_are_in_sync_with_models():
    from arx.artifact.validation import schema_drift

    assert schema_drift(REPO) == [], "logic/schemas/ is out of sync: run `arx schema --write`"


def test_schema_check_detects_drift(arx, art):
    assert arx("schema", "--check")[0] == 0
    p = art / "logic/schemas/claim.schema.json"
    p.write_text(p.read_text().replace('"falsification"', '"falsificatio"', 1))
    code, out, _ = arx("schema", "--check", "--json")
    assert code == 1 and json.loads(out)["out_of_sync"] == ["logic/schemas/claim.schema.json"]


def test_validate_uses_pydantic_and_jsonschema(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    code, out, _ = arx("validate", "--json")
    assert code == 0 and "evidence/toy/toy_fit/small/seed_0/metrics.json" in json.loads(out)["valid"]
    # a schema that is stricter than the model must be reported by the jsonschema pass
    p = art / "logic/schemas/paper.schema.json"
    schema = json.loads(p.read_text())
    schema["required"].append("venue")
    p.write_text(json.dumps(schema))
    code, _, err = arx("validate", "logic/papers/toy.yaml")
    assert code == 2 and "JSON Schema" in err and "venue" in err


@pytest.mark.parametrize("command", [["status"], ["show", "toy_fit_recovers_weights"], ["trace"],
                                     ["explain", "toy_fit_recovers_weights"], ["evidence", "list"],
                                     ["validate"], ["schema", "--check"]])
def test_every_command_speaks_json(arx, exp, art, command):
    assert exp("toy_fit")[0] == 0
    code, out, _ = arx(*command, "--json")
    assert code == 0
    json.loads(out)


def test_bad_input_with_json_prints_error_object(arx, art):
    code, out, _ = arx("show", "no_such_claim", "--json")
    assert code == 2 and json.loads(out)["field"] == "claim"


def test_usage_error_exits_2(art):
    from arx.cli import main

    with pytest.raises(SystemExit) as e:
        main(["review", "--no-such-flag"])
    assert e.value.code == 2


def test_explain_has_everything_for_an_agent(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    assert exp("toy_fail")[0] == 1
    arx("note", "--type", "dead_end", "--title", "tried more noise", "--claim", "toy_fit_error_small")
    _, out, _ = arx("explain", "toy_fit_error_small", "--json")
    data = json.loads(out)
    small = data["scales"]["small"]
    seed0 = small["evidence"]["0"]
    assert data["verdict"] == "refuted" and {e["state"] for e in small["evidence"].values()} == {"fresh"}
    assert seed0["provenance"]["config"]["n"] == 200
    assert [r["status"] for r in small["runs"]] == ["succeeded"] * 3 and small["runs_left_out"] == 0
    assert small["decision"] == "every seed" and small["conditions"][0]["n_seeds"] == 3
    assert small["reproduce"] == "arx reproduce toy_fit_error_small --scale small"
    assert data["depends_on"] == {"toy_fit_recovers_weights": "reproduced"}
    assert data["notes"][0]["title"] == "tried more noise"
    assert data["paper"]["file"] == "logic/papers/toy.yaml"


def test_note_and_trace_build_a_tree(arx, art):
    _, out, _ = arx("note", "--type", "question", "--title", "Why?", "--json")
    q = json.loads(out)["id"]
    _, out, _ = arx("note", "--type", "decision", "--title", "Because", "--parent", q, "--json")
    d = json.loads(out)["id"]
    _, out, _ = arx("trace", "--json")
    [root] = json.loads(out)["nodes"]
    assert root["id"] == q and root["children"][0]["id"] == d
    _, text, _ = arx("trace")
    assert text.splitlines()[1].startswith("  - ") and "[decision]" in text
    _, out, _ = arx("note", "--type", "dead_end", "--title", "fit fails", "--claim", "toy_fit_recovers_weights", "--json")
    about = json.loads(out)["id"]
    _, out, _ = arx("trace", "toy_fit_recovers_weights", "--json")  # a claim id: the nodes about that claim
    assert [n["id"] for n in json.loads(out)["nodes"]] == [about]
    code, _, err = arx("trace", "no_such_thing")
    assert code == 2 and "arx status" in err


def test_note_rejects_unknown_parent_and_claim(arx, art):
    before = snapshot(art)
    assert arx("note", "--type", "question", "--title", "x", "--parent", "nope")[0] == 2
    assert arx("note", "--type", "question", "--title", "x", "--claim", "nope")[0] == 2
    assert snapshot(art) == before


def test_new_claim_scaffold_validates_and_refuses_overwrite(arx, art):
    code, _, _ = arx("new-claim", "toy_between", "--paper", "toy", "--rule", "toy_fit",
                     "--evidence", "evidence/toy/toy_fit/small/seed_{seed}/metrics.json", "--key", "fit.r2",
                     "--comparator", "between", "--thresholds", "0.5", "1.0")
    assert code == 0
    data = yaml.safe_load((art / "logic/claims/toy_between.yaml").read_text())
    assert data["checks"]["small"]["thresholds"] == [0.5, 1.0]
    assert arx("validate", "logic/claims/toy_between.yaml")[0] == 0
    assert arx("new-claim", "toy_between", "--paper", "toy")[0] == 2
    assert arx("new-claim", "Bad-Id", "--paper", "toy")[0] == 2
    assert arx("new-claim", "toy_x", "--paper", "nopaper")[0] == 2


def test_evidence_track_refuses_metrics_and_paths_outside(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    (art / ".dvc").mkdir()
    (art / ".dvc/config").write_text("")
    code, _, err = arx("evidence", "track", "evidence/toy/toy_fit/small/seed_0/metrics.json")
    assert code == 2 and "stays in git" in err
    code, _, err = arx("evidence", "track", "logic")
    assert code == 2 and "evidence/" in err


def test_compare_groups_runs_by_config_minus_seed(arx, capsys, art):
    from arx.run import main

    for n in (200, 400):
        for seed in (0, 1, 2):
            assert main(["toy_fit", "--paper-config", "workflows/config/toy.yaml", "--rule", "toy_fit", "--set",
                         f"n={n}", "--set", f"seed={seed}", "--out", f"evidence/toy/n{n}/small/seed_{seed}"]) == 0
    capsys.readouterr()
    code, out, _ = arx("compare", "toy_fit", "--key", "fit.r2", "--json")
    result = json.loads(out)
    assert code == 0 and result["differing_config_keys"] == ["n"]
    by_n = {g["config"]["n"]: g for g in result["groups"]}
    assert set(by_n) == {200, 400} and all(g["seeds"] == [0, 1, 2] for g in by_n.values())
    for n, g in by_n.items():
        values = [json.loads((art / p).read_text())["metrics"]["fit"]["r2"] for p in g["evidence"]]
        m = g["metrics"]["fit.r2"]
        assert m["n"] == 3 and m["mean"] == pytest.approx(sum(values) / 3)
        assert m["interval"][0] <= m["mean"] <= m["interval"][1]
    _, text, _ = arx("compare", "toy_fit")  # default keys: those the claims on the rule test
    assert "fit.r2" in text and "fit.weight_error" in text
    code, _, err = arx("compare", "toy_nope")
    assert code == 2 and "no evidence produced by rule 'toy_nope'" in err


def test_new_claim_scaffolds_compound_checks_and_a_decision_rule(arx, art):
    code, _, err = arx("new-claim", "toy_compound", "--paper", "toy", "--key", "fit.r2", "--minus", "fit.base",
                       "--also", "fit.r2 >= 0.5", "--also", "fit.a - fit.b > 0", "--decision", "seeds_passing:2")
    assert code == 0, err
    check = yaml.safe_load((art / "logic/claims/toy_compound.yaml").read_text())["checks"]["small"]
    assert check["minus"] == "fit.base" and check["decision"] == {"kind": "seeds_passing", "min": 2}
    assert check["also"] == [{"key": "fit.r2", "comparator": ">=", "threshold": 0.5},
                             {"key": "fit.a", "comparator": ">", "threshold": 0.0, "minus": "fit.b"}]
    code, _, err = arx("new-claim", "toy_bad", "--paper", "toy", "--also", "fit.r2 ~ 1")
    assert code == 2 and "ARX502" in err and not (art / "logic/claims/toy_bad.yaml").exists()
    assert arx("new-claim", "toy_bad", "--paper", "toy", "--decision", "majority")[0] == 2


def test_note_carries_the_ara_fields_of_its_type_only(arx, art):
    code, out, _ = arx("note", "--type", "dead_end", "--title", "IG at 8 steps", "--hypothesis", "8 steps suffice",
                       "--failure-mode", "30% of the sum unexplained", "--lesson", "check completeness", "--json")
    assert code == 0
    node = json.loads(out)
    assert (node["hypothesis"], node["failure_mode"], node["lesson"]) == ("8 steps suffice",
                                                                           "30% of the sum unexplained",
                                                                           "check completeness")
    code, out, _ = arx("note", "--type", "decision", "--title", "one IG", "--choice", "shared IG", "--alternative",
                       "per-paper IG", "--alternative", "none", "--rationale", "one tested path", "--json")
    assert code == 0 and json.loads(out)["alternatives"] == ["per-paper IG", "none"]
    code, _, err = arx("note", "--type", "question", "--title", "q", "--lesson", "x")
    assert code == 2 and "belongs to dead_end notes" in err
    assert arx("validate")[0] == 0
