"""``arx reproduce``: the plan (jobs, expected time from earlier runs) and the run it drives."""

from __future__ import annotations

import json

from e2e_helpers import arx

CLAIM = "toy_fit_recovers_weights"


def test_reproduce_plans_then_runs_and_the_runs_attach_to_the_claim(workflow_artifact):
    root, env = workflow_artifact
    res = arx(root, env, "reproduce", CLAIM, "-n", "--json")
    assert res.returncode == 0, res.stderr
    plan = json.loads(res.stdout)
    jobs = {j["rule"]: j for j in plan["jobs"]}
    assert plan["ran"] is False and jobs["toy_fit"]["count"] == 3 and jobs[f"reproduce_claim_{CLAIM}"]["count"] == 1
    assert jobs["toy_fit"]["expected_s_each"] is None and plan["expected_job_s"] is None  # never ran here
    assert "--forcerun toy_fit" in plan["command"] and not (root / "evidence").exists()  # -n runs nothing

    res = arx(root, env, "reproduce", CLAIM, "--seeds", "0", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["exit_code"] == 0
    assert (root / "evidence/toy/toy_fit/small/seed_0/metrics.json").is_file()
    assert not (root / "evidence/toy/toy_fit/small/seed_1").exists()

    res = arx(root, env, "reproduce", CLAIM, "-n", "--json")
    toy_fit = next(j for j in json.loads(res.stdout)["jobs"] if j["rule"] == "toy_fit")
    assert toy_fit["expected_s_each"] > 0  # the median of the run just made

    explained = json.loads(arx(root, env, "explain", CLAIM, "--json").stdout)
    small = explained["scales"]["small"]
    assert small["runs_total"] == 1 and small["runs"][0]["seed"] == "0" and small["runs"][0]["status"] == "succeeded"
    assert explained["commands"]["reproduce"] == f"arx reproduce {CLAIM} --scale small"
    node = (root / "exploration/nodes" / f"{small['runs'][0]['id']}.yaml").read_text()
    assert f"claims:\n- {CLAIM}" in node or f"- {CLAIM}" in node  # the run node names the claims it fed
    trace = arx(root, env, "trace", CLAIM)
    assert small["runs"][0]["id"] in trace.stdout and "run:succeeded" in trace.stdout


def test_reproduce_names_what_is_wrong(workflow_artifact):
    root, env = workflow_artifact
    for args, needle in ((["nosuch", "-n"], "ARX501"), ([CLAIM, "-n", "--scale", "medium"], "ARX502"),
                         ([CLAIM, "-n", "--seeds", "a,b"], "ARX502")):
        res = arx(root, env, "reproduce", *args)
        assert res.returncode == 2 and needle in res.stderr, (args, res.stderr)
