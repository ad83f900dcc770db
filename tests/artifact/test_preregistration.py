"""Pre-registration computed from git history: a check committed after its evidence is labelled post-hoc."""

from __future__ import annotations

import json

from artifact_helpers import git

CLAIM = "logic/claims/toy_fit_recovers_weights.yaml"
ID = "toy_fit_recovers_weights"


def registration(arx, claim: str = ID) -> dict:
    code, out, _ = arx("status", "--json")
    assert code == 0
    return next(r for r in json.loads(out)["claims"] if r["claim"] == claim)["registration"]


def reviewed(arx, claim: str = ID) -> str:
    code, out, _ = arx("review", "--json")
    assert code == 0
    return next(r for r in json.loads(out)["results"] if r["claim"] == claim)["registration"]


def test_check_committed_before_its_evidence_is_pre_registered(arx, committed):
    reg = registration(arx)
    assert reg["status"] == "pre-registered" and reg["check_commit"] == git(committed, "rev-list", "--max-parents=0",
                                                                            "HEAD").strip()
    assert reg["evidence_date"] and reg["check_date"]
    assert reviewed(arx) == "pre-registered"


def test_threshold_changed_after_the_evidence_is_post_hoc_until_rerun(arx, exp, committed):
    path = committed / CLAIM
    path.write_text(path.read_text().replace("threshold: 0.9\n  paper:", "threshold: 0.95\n  paper:", 1))
    assert registration(arx)["status"] == "post-hoc"  # edited, not committed, evidence exists
    git(committed, "commit", "-qam", "tighter threshold")
    reg = registration(arx)
    assert reg["status"] == "post-hoc" and reg["check_commit"] == git(committed, "rev-parse", "HEAD").strip()
    code, out, err = arx("review", "--json")
    doc = json.loads(out)
    assert code == 0 and any("ARX215" in w and ID in w for w in doc["warnings"])
    assert next(r for r in doc["results"] if r["claim"] == ID)["registration"] == "post-hoc"
    code, _, err = arx("review", "--strict")
    assert code == 2 and "ARX215" in err
    assert exp("toy_fit")[0] == 0  # re-run after the protocol is committed: pre-registered again
    assert registration(arx)["status"] == "pre-registered"


def test_wording_changes_do_not_touch_the_registration(arx, committed):
    path = committed / CLAIM
    path.write_text(path.read_text().replace("recovers the planted weights with", "recovers the true weights with"))
    git(committed, "commit", "-qam", "wording")
    assert registration(arx)["status"] == "pre-registered"


def test_a_new_check_without_evidence_is_not_committed_and_without_git_unknown(arx, art, committed):
    path = committed / CLAIM
    path.write_text(path.read_text().replace("decision: {kind: all_seeds}", "decision: {kind: interval}", 1))
    code, out, _ = arx("status", "--scale", "paper", "--json")
    reg = next(r for r in json.loads(out)["claims"] if r["claim"] == ID)["registration"]
    assert reg["status"] == "not committed" and reg["evidence_date"] is None
    (committed / ".git").rename(committed / "git.off")
    assert registration(arx)["status"] == "unknown"


def test_a_protocol_changed_and_reverted_stays_pre_registered_for_evidence_made_under_it(arx, committed):
    """Why: a rewrite that is reverted (and perhaps redone later) must not turn evidence produced under the
    original protocol post-hoc: at the evidence's commit the protocol was already the one judged today."""
    path = committed / CLAIM
    original = path.read_text()
    first = registration(arx)["check_commit"]
    path.write_text(original.replace("threshold: 0.9\n  paper:", "threshold: 0.95\n  paper:", 1))
    git(committed, "commit", "-qam", "rewrite")
    assert registration(arx)["status"] == "post-hoc"
    path.write_text(original)
    git(committed, "commit", "-qam", "revert the rewrite")
    reg = registration(arx)
    assert reg["status"] == "pre-registered" and reg["check_commit"] == first
