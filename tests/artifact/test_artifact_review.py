"""Verdicts computed from evidence, integrity checks, exit codes and evidence/review/<scale>.json."""

from __future__ import annotations

import json
import math

import pytest
from artifact_helpers import git, snapshot

from arx.artifact.review import compare
from arx.artifact.schema import Check

CLAIM = "logic/claims/toy_fit_recovers_weights.yaml"


def check(**kw):
    return Check(rule="r", evidence="evidence/p/e/small/seed_{seed}/metrics.json", key="k",
                 decision={"kind": "interval"}, **kw)


@pytest.mark.parametrize("kw,value,expected", [
    ({"comparator": ">=", "threshold": 1}, 1.0, True), ({"comparator": ">", "threshold": 1}, 1.0, False),
    ({"comparator": "<=", "threshold": 1}, 1.0, True), ({"comparator": "<", "threshold": 1}, 1.0, False),
    ({"comparator": "between", "thresholds": [0, 1]}, 1.0, True),
    ({"comparator": "between", "thresholds": [0, 1]}, 1.01, False),
    ({"comparator": "abs_diff_le", "reference": 5, "threshold": 0.5}, 4.5, True),
    ({"comparator": "abs_diff_le", "reference": 5, "threshold": 0.5}, 5.6, False),
])
def test_comparators(kw, value, expected):
    assert compare(check(**kw), value) is expected


@pytest.mark.parametrize("kw", [{"comparator": ">="}, {"comparator": "between", "threshold": 1},
                                {"comparator": "between", "thresholds": [2, 1]},
                                {"comparator": "abs_diff_le", "threshold": 1},
                                {"comparator": ">=", "threshold": math.inf}])
def test_inconsistent_thresholds_are_rejected(kw):
    with pytest.raises(ValueError):
        check(**kw)


def test_review_computes_verdicts_and_writes_report(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    code, out, _ = arx("review", "--json")
    report = json.loads(out)
    verdicts = {r["claim"]: r["verdict"] for r in report["results"]}
    assert verdicts == {"toy_fit_recovers_weights": "reproduced", "toy_fit_error_small": "refuted"}
    assert code == 0 and report["exit_code"] == 0  # a refuted claim is a result, not a failure
    assert json.loads((art / "evidence/review/small.json").read_text())["results"] == report["results"]
    assert arx("review", "--claim", "toy_fit_recovers_weights")[0] == 0
    assert arx("review", "--fail-on", "refuted")[0] == 1
    code, _, err = arx("review", "--fail-on", "wrong")
    assert code == 2 and "--fail-on" in err and "refuted,inconclusive" in err


def test_unchanged_review_writes_nothing_and_prints_the_same_bytes(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    _, first, _ = arx("review", "--json")
    path = art / "evidence/review/small.json"
    stamp = path.stat().st_mtime_ns
    _, second, _ = arx("review", "--json")
    assert second == first and path.stat().st_mtime_ns == stamp
    _, text, _ = arx("review")
    assert "unchanged: evidence/review/small.json" in text


def test_review_of_another_scale_keeps_this_scales_report(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    arx("review")
    small = (art / "evidence/review/small.json").read_text()
    arx("review", "--scale", "paper")
    assert (art / "evidence/review/small.json").read_text() == small
    assert (art / "evidence/review/paper.json").is_file()


def test_partial_review_merges_into_report(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    arx("review")
    arx("review", "--claim", "toy_fit_recovers_weights")
    results = json.loads((art / "evidence/review/small.json").read_text())["results"]
    assert {r["claim"] for r in results} == {"toy_fit_recovers_weights", "toy_fit_error_small"}


def test_missing_evidence_is_inconclusive_and_exit_1(arx, art):
    code, out, _ = arx("review", "--json")
    assert code == 1
    assert all(r["verdict"] == "inconclusive" and "evidence missing" in r["reason"]
               for r in json.loads(out)["results"])


def test_nan_metric_is_inconclusive(arx, exp, art):
    assert exp("toy_fit", "--set", "noise=.nan")[0] == 0  # NaN noise -> NaN r2 -> null in JSON
    code, out, _ = arx("review", "--claim", "toy_fit_recovers_weights", "--json")
    [r] = json.loads(out)["results"]
    assert r["verdict"] == "inconclusive" and "null" in r["reason"]
    assert code == 0 and arx("review", "--claim", "toy_fit_recovers_weights", "--strict")[0] == 1


def test_evidence_from_another_scale_is_inconclusive(arx, capsys, art):
    from arx.run import main

    for seed in (0, 1, 2):  # written into the small scale's paths by a run at scale paper
        assert main(["toy_fit", "--paper-config", "workflows/config/toy.yaml", "--scale", "paper", "--set",
                     "device=cpu", "--set", f"seed={seed}", "--out", f"evidence/toy/toy_fit/small/seed_{seed}"]) == 0
    capsys.readouterr()
    _, out, _ = arx("review", "--json")
    assert all("produced at scale paper" in r["reason"] for r in json.loads(out)["results"])


def test_fewer_seeds_than_the_rule_needs_is_inconclusive(arx, exp, art):
    assert exp("toy_fit", seeds=(0,))[0] == 0
    _, out, _ = arx("review", "--json")
    for r in json.loads(out)["results"]:
        assert r["verdict"] == "inconclusive" and "1 of 3 seeds present" in r["reason"]
        assert r["conditions"][0]["per_seed"].keys() == {"0"}


def test_every_condition_reports_estimate_interval_and_seeds(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    _, out, _ = arx("review", "--json")
    (r,) = [r for r in json.loads(out)["results"] if r["claim"] == "toy_fit_recovers_weights"]
    (c,) = r["conditions"]
    values = list(c["per_seed"].values())
    assert c["n_seeds"] == 3 and c["seeds_satisfying"] == 3 and c["estimate"] == pytest.approx(sum(values) / 3)
    lo, hi = c["interval"]
    assert lo <= c["estimate"] <= hi and c["margin"] == pytest.approx((c["estimate"] - 0.9) / ((hi - lo) / 2))
    _, text, _ = arx("status")
    assert "3/3 seeds" in text


@pytest.mark.parametrize("rule, verdict", [("{kind: seeds_passing, min: 2}", "reproduced"),
                                           ("{kind: seeds_passing, min: 4}", None),
                                           ("{kind: all_seeds}", "reproduced")])
def test_seed_count_rules(arx, exp, art, rule, verdict):
    path = art / CLAIM
    path.write_text(path.read_text().replace("decision: {kind: interval}", f"decision: {rule}", 1))
    assert exp("toy_fit")[0] == 0
    code, out, err = arx("review", "--claim", "toy_fit_recovers_weights", "--json")
    if verdict is None:  # min above the number of seeds: bad input naming the field
        assert code == 2 and "checks.small.decision.min" in err and "at most 3" in err
    else:
        assert json.loads(out)["results"][0]["verdict"] == verdict


def test_tampered_metrics_exit_1_naming_the_file(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    p = art / "evidence/toy/toy_fit/small/seed_0/metrics.json"
    doc = json.loads(p.read_text())
    doc["metrics"]["fit"]["weight_error"] = 0.0
    p.write_text(json.dumps(doc))
    code, out, _ = arx("review", "--json")
    report = json.loads(out)
    assert code == 1 and report["tampered"] and "evidence/toy/toy_fit/small/seed_0/metrics.json" in report["tampered"][0]
    assert all(r["verdict"] == "inconclusive" for r in report["results"])


def test_tampered_array_exit_1(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    with open(art / "evidence/toy/toy_fit/small/seed_0/weights.npy", "ab") as f:
        f.write(b"x")
    code, out, _ = arx("review", "--json")
    assert code == 1 and "weights.npy" in json.loads(out)["tampered"][0]


def test_metrics_written_outside_arx_run_is_flagged(arx, art):
    p = art / "evidence/toy/toy_fit/small/seed_0/metrics.json"
    p.parent.mkdir(parents=True)
    prov = {"experiment": "toy_fit", "scale": "small", "git_commit": None, "git_dirty": None, "config": {},
            "seed": 0, "packages": {}, "device": "cpu", "python": "3", "platform": "x", "started": "s",
            "finished": "f", "wall_s": 0.0}
    p.write_text(json.dumps({"metrics": {"fit": {"r2": 1.0, "weight_error": 0.0}}, "provenance": prov}))
    code, out, _ = arx("review", "--json")
    assert code == 1 and "no hash recorded" in json.loads(out)["tampered"][0]


def test_status_reports_stale_when_config_changed(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    _, out, _ = arx("status", "--json")
    assert {c["evidence"] for c in json.loads(out)["claims"]} == {"fresh"}
    cfg = art / "workflows/config/toy.yaml"
    cfg.write_text(cfg.read_text().replace("toy_fit: {n: 200", "toy_fit: {n: 250"))
    _, out, _ = arx("evidence", "list", "--json")
    rows = json.loads(out)["evidence"]
    assert len(rows) == 3 and all(r["state"] == "stale (config)" and "n" in r["detail"] for r in rows)


def test_status_shows_every_claim_when_one_names_a_missing_key(arx, exp, art):
    """Why: status is the dashboard; one claim whose key left the metrics (evidence from before a rewrite) must be
    listed as an error beside the others' verdicts, not abort the whole table."""
    assert exp("toy_fit")[0] == 0
    claim = art / "logic/claims/toy_fit_error_small.yaml"
    claim.write_text(claim.read_text().replace("key: fit.weight_error", "key: fit.no_such_metric", 1))
    code, out, err = arx("status", "--json")
    rows = {r["claim"]: r for r in json.loads(out)["claims"]}
    assert code == 2 and "ARX401" in err and "fit.no_such_metric" in err
    assert rows["toy_fit_error_small"]["verdict"] == "error" and rows["toy_fit_error_small"]["error"]["code"] == "ARX401"
    assert rows["toy_fit_recovers_weights"]["verdict"] == "reproduced"


def test_editing_the_experiment_source_marks_its_evidence_stale_code(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    src = art / "code/arx_fixture_experiments.py"
    src.write_text(src.read_text().replace("d: int = 5", "d: int = 6"))
    _, out, _ = arx("evidence", "list", "--json")
    rows = json.loads(out)["evidence"]
    assert len(rows) == 3 and all(r["state"] == "stale (code)" and "code/arx_fixture_experiments.py" in r["detail"]
                                  for r in rows)


def test_dvc_tracked_outputs_not_pulled_are_not_tampering(arx, exp, art):
    import shutil

    assert exp("toy_fit")[0] == 0
    d = art / "evidence/toy/toy_fit/small/seed_0"
    (d / "weights.npy.dvc").write_text("outs:\n- md5: 0123\n  path: weights.npy\n")
    (d / "arrays.dvc").write_text("outs:\n- md5: 4567.dir\n  path: arrays\n")
    (d / "weights.npy").unlink()
    shutil.rmtree(d / "arrays")
    code, out, _ = arx("review", "--json")
    assert code == 0 and json.loads(out)["tampered"] == []
    (d / "arrays.dvc").unlink()  # no longer tracked: a missing output is now a problem
    code, out, _ = arx("review", "--json")
    assert code == 1 and "residuals.npy: listed in" in json.loads(out)["tampered"][0]


def _add_condition(art, condition: str) -> None:
    path = art / CLAIM
    text = path.read_text()
    path.write_text(text.replace("    threshold: 0.9\n  paper:", f"    threshold: 0.9\n    also:\n{condition}  paper:", 1))


@pytest.mark.parametrize("condition,verdict,shown", [
    ("    - {key: fit.weight_error, comparator: '<=', threshold: 1.0}\n", "reproduced", "fit.weight_error ="),
    ("    - {key: fit.weight_error, comparator: '<', threshold: 0.0}\n", "refuted", "fit.weight_error ="),
    # minus: the tested value is key - minus ("A beats B")
    ("    - {key: fit.r2, minus: fit.weight_error, comparator: '>', threshold: 0.0}\n", "reproduced",
     "fit.r2 - fit.weight_error ="),
    ("    - {key: fit.weight_error, minus: fit.r2, comparator: '>', threshold: 0.0}\n", "refuted",
     "fit.weight_error - fit.r2 ="),
])
def test_every_condition_of_a_compound_check_must_hold(arx, exp, art, condition, verdict, shown):
    _add_condition(art, condition)
    assert exp("toy_fit")[0] == 0
    _, out, _ = arx("review", "--claim", "toy_fit_recovers_weights", "--json")
    (result,) = [r for r in json.loads(out)["results"] if r["claim"] == "toy_fit_recovers_weights"]
    assert result["verdict"] == verdict
    assert "fit.r2 =" in result["reason"] and shown in result["reason"]


def test_compound_condition_with_a_missing_key_is_a_clear_error(arx, exp, art):
    _add_condition(art, "    - {key: fit.nope, comparator: '<=', threshold: 1.0}\n")
    assert exp("toy_fit")[0] == 0
    code, _, err = arx("review", "--claim", "toy_fit_recovers_weights")
    assert code == 2 and "fit.nope" in err and "toy_fit_recovers_weights.yaml" in err


def test_pooled_items_condition(arx, exp, art):
    _add_condition(art, "    - {key: fit.mse, items: fit.sq_errors, pooled: true, comparator: '<=', threshold: 1.0}\n")
    assert exp("toy_fit")[0] == 0
    _, out, _ = arx("review", "--claim", "toy_fit_recovers_weights", "--json")
    (r,) = json.loads(out)["results"]
    pooled = r["conditions"][1]
    sq = [v for s in (0, 1, 2) for v in json.loads((art / f"evidence/toy/toy_fit/small/seed_{s}/metrics.json")
                                                   .read_text())["metrics"]["fit"]["sq_errors"]]
    assert pooled["n_items"] == 600 and pooled["estimate"] == pytest.approx(sum(sq) / len(sq))
    assert r["verdict"] == "reproduced"


@pytest.mark.parametrize("condition, needle", [
    ("    - {key: fit.r2, items: fit.sq_errors, comparator: '>=', threshold: 0.0}\n", "the mean of 'fit.sq_errors'"),
    ("    - {key: fit.mse, minus: fit.mean_coef_error, items: fit.sq_errors, minus_items: fit.coef_errors, "
     "comparator: '>=', threshold: -9.0}\n", "paired items of unequal length"),
])
def test_items_that_do_not_fit_their_key_are_bad_input(arx, exp, art, condition, needle):
    _add_condition(art, condition)
    assert exp("toy_fit")[0] == 0
    code, _, err = arx("review", "--claim", "toy_fit_recovers_weights")
    assert code == 2 and needle in err and "toy_fit_recovers_weights.yaml" in err
    if "minus_items" in condition:  # two independent samples are fine unpaired
        path = art / CLAIM
        path.write_text(path.read_text().replace("comparator: '>=', threshold: -9.0}", "paired: false, "
                                                 "comparator: '>=', threshold: -9.0}"))
        assert arx("review", "--claim", "toy_fit_recovers_weights")[0] == 0


def test_review_ci_passes_on_a_clean_checkout_and_writes_nothing(arx, committed):
    before = snapshot(committed)
    code, out, _ = arx("review", "--ci", "--json")
    assert code == 0 and json.loads(out)["changes"] == [] and snapshot(committed) == before


def test_review_ci_names_the_claims_whose_evidence_is_missing(arx, committed):
    (committed / "evidence/toy/toy_fit/small/seed_1/metrics.json").unlink()
    arx("review")  # committed as it is: the verdict is the same, only the evidence is gone
    git(committed, "commit", "-qam", "seed 1 removed")
    code, out, _ = arx("review", "--ci", "--json")
    assert code == 1 and "toy_fit_recovers_weights" in json.loads(out)["missing"] and not json.loads(out)["changes"]
    _, text, _ = arx("review", "--ci")
    assert "claim(s) without their evidence" in text and "arx reproduce toy_fit_recovers_weights" in text


def test_review_ci_fails_on_tampered_evidence(arx, committed):
    p = committed / "evidence/toy/toy_fit/small/seed_1/metrics.json"
    doc = json.loads(p.read_text())
    doc["metrics"]["fit"]["r2"] = 0.5
    p.write_text(json.dumps(doc))
    code, out, _ = arx("review", "--ci", "--json")
    assert code == 1 and "seed_1/metrics.json" in json.loads(out)["tampered"][0]


def test_review_ci_fails_on_a_threshold_edited_without_rerunning_and_diff_shows_it(arx, committed):
    path = committed / CLAIM
    path.write_text(path.read_text().replace("threshold: 0.9\n  paper:", "threshold: 0.95\n  paper:", 1))
    code, out, _ = arx("review", "--ci", "--json")
    changes = json.loads(out)["changes"]
    assert code == 1 and {(c["claim"], c["field"]) for c in changes} >= {("toy_fit_recovers_weights", "check")}
    _, text, _ = arx("review", "--ci")
    assert "fit.r2 >= 0.95" in text and "fit.r2 >= 0.9" in text
    arx("review")  # the new report, not yet committed: diff against HEAD lists the change
    _, out, _ = arx("diff", "HEAD", "--json")
    assert [c["field"] for c in json.loads(out)["changes"] if c["claim"] == "toy_fit_recovers_weights"][0] == "check"
    git(committed, "commit", "-qam", "threshold")
    _, out, _ = arx("diff", "HEAD~1", "HEAD", "--json")
    assert json.loads(out)["changes"] and arx("review", "--ci")[0] == 0
    code, _, err = arx("diff", "nope")
    assert code == 2 and "not a commit" in err


def test_review_ci_fails_on_evidence_from_a_dirty_tree(arx, exp, committed):
    src = committed / "workflows/config/toy.yaml"
    src.write_text(src.read_text() + "# an uncommitted edit\n")
    assert exp("toy_fit")[0] == 0
    code, out, _ = arx("review", "--ci", "--json")
    assert code == 1 and len(json.loads(out)["dirty"]) == 3


def test_rerunning_over_committed_evidence_is_not_a_dirty_tree(arx, exp, committed):
    """A re-run replaces tracked evidence (and run nodes); that alone must not mark the new evidence dirty."""
    assert exp("toy_fit")[0] == 0  # rewrites the committed metrics.json: a tracked file under evidence/ changes
    first = json.loads((committed / "evidence/toy/toy_fit/small/seed_0/metrics.json").read_text())
    assert first["provenance"]["git_dirty"] is False
    assert exp("toy_fit")[0] == 0  # and again, now over a modified evidence file
    code, out, _ = arx("review", "--ci", "--json")
    assert code == 0 and json.loads(out)["dirty"] == []


def test_check_rule_must_be_the_rule_that_produced_the_evidence(arx, exp, art):
    assert exp("toy_fit", "--rule", "toy_fit")[0] == 0
    assert arx("review")[0] == 0
    path = art / CLAIM
    path.write_text(path.read_text().replace("rule: toy_fit", "rule: toy_fail", 1))
    code, _, err = arx("review", "--claim", "toy_fit_recovers_weights")
    assert code == 2 and "checks.small.rule" in err and "produced by rule 'toy_fit'" in err and "set rule: toy_fit" in err


def test_diff_against_a_malformed_report_is_a_clear_error(arx, committed):
    (committed / "evidence/review/small.json").write_text("{not json")
    code, _, err = arx("diff", "HEAD")
    assert code == 2 and "evidence/review/small.json" in err and "arx review" in err


def test_diff_from_a_revision_without_a_report_says_so_once(arx, committed):
    code, out, _ = arx("diff", "HEAD~1", "HEAD", "--json")  # HEAD~1 is the code commit, before any review
    report = json.loads(out)
    assert code == 0 and report["without_report"] == ["HEAD~1"]
    assert {(c["field"], c["before"], c["after"]) for c in report["changes"]} == {("claim", "absent", "present")}
    _, text, _ = arx("diff", "HEAD~1", "HEAD")
    assert text.count("has no evidence/review/small.json") == 1


def test_a_retired_claim_is_listed_not_judged_and_not_rerun(arx, exp, art):
    from arx.artifact.workflow import Workflow

    assert exp("toy_fit")[0] == 0
    path = art / CLAIM
    path.write_text(path.read_text() + "retired:\n  date: '2026-12-03'\n  reason: no sentence of the paper states it\n")
    code, out, _ = arx("review", "--json")
    report = json.loads(out)
    assert code == 0 and report["retired"] == ["toy_fit_recovers_weights"]
    assert "toy_fit_recovers_weights" not in {r["claim"] for r in report["results"]} and report["results"]
    _, out, _ = arx("status", "--json")
    rows = {r["claim"]: r for r in json.loads(out)["claims"]}
    assert rows["toy_fit_recovers_weights"]["verdict"] == "retired"
    assert rows["toy_fit_recovers_weights"]["retired"]["reason"] == "no sentence of the paper states it"
    assert "toy_fit_recovers_weights" not in {c.id for c in Workflow.load(art, {}).claims}  # no reproduce rule
    path.write_text(path.read_text().replace("  reason: no sentence of the paper states it\n", "  reason: ''\n"))
    code, _, err = arx("validate")
    assert code == 2 and "retired.reason" in err
