"""Every bad input of issue 3: one clear line naming file, field and fix; exit 2; nothing written."""

from __future__ import annotations

import os
import re

import pytest
import yaml
from artifact_helpers import snapshot, write

CLAIM = "logic/claims/toy_fit_recovers_weights.yaml"
DEP = "logic/claims/toy_fit_error_small.yaml"


def edit(root, rel, old, new):
    p = root / rel
    text = p.read_text()
    assert old in text, f"fixture changed: {old!r} not in {rel}"
    p.write_text(text.replace(old, new))


def expect_bad(arx, root, *needles, args=("review",), count=1):
    """Exit 2, nothing written, ``count`` error lines (every problem at once), the first holding ``needles``,
    each naming a stable code and a fix."""
    before = snapshot(root)
    code, out, err = arx(*args)
    lines = [line for line in err.splitlines() if line.startswith("arx: error:")]
    assert code == 2, (code, out, err)
    assert "Traceback" not in err + out, err
    assert len(lines) == count, err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    assert all("fix:" in line and re.search(r": ARX[1-9]\d\d ", line) for line in lines), lines
    assert snapshot(root) == before, "a bad input must not write anything"
    return lines[0]


def test_malformed_yaml_names_file_and_line(arx, art):
    edit(art, CLAIM, "statement: Least", "statement: [Least")
    line = expect_bad(arx, art, CLAIM, "malformed YAML")
    assert re.match(rf"arx: error: {re.escape(CLAIM)}:[34]: ", line), line


def test_unsafe_yaml_tag_is_refused_not_constructed(arx, art, tmp_path):
    marker = tmp_path / "pwned"
    edit(art, CLAIM, "statement: Least", f"statement: !!python/object/apply:os.system ['touch {marker}']\nx: Least")
    expect_bad(arx, art, CLAIM, "malformed YAML")
    assert not marker.exists()


def test_unknown_field(arx, art):
    edit(art, CLAIM, "falsification:", "falsifcation_typo: oops\nfalsification:")
    expect_bad(arx, art, CLAIM, "falsifcation_typo", "did you mean 'falsification'?")


def test_unknown_field_in_check_names_line(arx, art):
    edit(art, CLAIM, "    threshold: 0.9", "    threshold: 0.9\n    treshold: 1")
    line = expect_bad(arx, art, CLAIM, "checks.small.treshold")
    assert line.startswith(f"arx: error: {CLAIM}:20: ARX107 checks.small.treshold:")


def test_missing_field(arx, art):
    edit(art, CLAIM, "falsification: R^2 below 0.9 on the held-out split\n", "")
    expect_bad(arx, art, CLAIM, "falsification", "add the field; fields of Claim: id, paper")


def test_bad_comparator_and_threshold_shape(arx, art):
    edit(art, CLAIM, 'comparator: ">="', "comparator: between")
    expect_bad(arx, art, CLAIM, "thresholds: [lo, hi]")


def test_duplicate_claim_ids(arx, art):
    write(art, "logic/claims/toy_copy.yaml", (art / CLAIM).read_text())
    line = expect_bad(arx, art, "logic/claims/toy_copy.yaml", "id:", "duplicate claim id")
    assert "also in logic/claims/toy_fit_recovers_weights.yaml" in line


def test_id_differs_from_file_name(arx, art):
    (art / CLAIM).rename(art / "logic/claims/toy_renamed.yaml")
    expect_bad(arx, art, "logic/claims/toy_renamed.yaml", "id", "differs from the file name")


def test_claim_cites_missing_paper(arx, art):
    edit(art, CLAIM, "paper: toy", "paper: nosuchpaper")
    expect_bad(arx, art, CLAIM, "paper", "nosuchpaper")


def test_claim_cites_missing_claim(arx, art):
    edit(art, DEP, "depends_on: [toy_fit_recovers_weights]", "depends_on: [no_such_claim]")
    expect_bad(arx, art, DEP, "depends_on", "no_such_claim")


def test_dependency_cycle(arx, art):
    edit(art, CLAIM, "checks:", "depends_on: [toy_fit_error_small]\nchecks:")
    expect_bad(arx, art, "depends_on", "cycle", "toy_fit_error_small -> toy_fit_recovers_weights -> toy_fit_error_small")


def test_manifest_lists_paper_without_file(arx, art):
    edit(art, "ara.yaml", "papers: [toy]", "papers: [toy, ghost]")
    code, _, err = arx("validate")  # a warning: usable while papers are being written, but said loudly
    assert code == 0 and "warning: ara.yaml: ARX202 papers: lists paper 'ghost', whose file logic/papers/ghost.yaml" \
        in err
    assert arx("status")[0] == 0
    expect_bad(arx, art, "ara.yaml", "ARX202", "logic/papers/ghost.yaml", args=("validate", "--strict"))
    edit(art, CLAIM, "paper: toy", "paper: ghost")
    expect_bad(arx, art, CLAIM, "paper", "logic/papers/ghost.yaml does not exist")


@pytest.mark.parametrize("path", ["evidence/../secrets.json", "/etc/passwd.json", "logic/x/metrics.json",
                                  "evidence/toy/toy_fit/metrics.txt"])
def test_evidence_path_escaping_or_malformed(arx, art, path):
    edit(art, CLAIM, "evidence: evidence/toy/toy_fit/small/seed_{seed}/metrics.json", f"evidence: {path}")
    expect_bad(arx, art, CLAIM, "checks.small.evidence")


def test_evidence_symlink_out_of_tree(arx, art, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "metrics.json").write_text("{}")
    (art / "evidence" / "toy").mkdir(parents=True)
    os.symlink(outside, art / "evidence" / "toy" / "toy_fit")
    # every claim citing the escaping path is reported, at every scale, in one run
    line = expect_bad(arx, art, "logic/claims/toy_", "checks.small.evidence", "ARX113", "outside evidence/", count=3)
    assert "symlink" in line


def test_unknown_scale(arx, art):
    expect_bad(arx, art, "scale", "'huge'", "small, medium, paper", args=("review", "--scale", "huge"))


def test_unknown_scale_in_claim_checks(arx, art):
    edit(art, CLAIM, "  small:", "  tiny:")
    expect_bad(arx, art, CLAIM, "checks.tiny", "unknown scale")


def test_json_key_missing_in_metrics(arx, exp, art):
    assert exp("toy_fit")[0] == 0
    edit(art, CLAIM, "key: fit.r2", "key: fit.r_squared")
    expect_bad(arx, art, CLAIM, "checks.small.key", "fit.r_squared", "r2, sq_errors, weight_error")


def test_exploration_graph_cycle_and_dangling_parent(arx, art):
    node = ("id: {i}\ntype: question\ntitle: q\nparents: [{p}]\ncreated: '2026-01-01T00:00:00Z'\n")
    write(art, "exploration/nodes/a.yaml", node.format(i="a", p="b"))
    write(art, "exploration/nodes/b.yaml", node.format(i="b", p="a"))
    expect_bad(arx, art, "exploration/nodes/", "parents", "cycle", args=("trace",))
    write(art, "exploration/nodes/b.yaml", node.format(i="b", p="zzz"))
    expect_bad(arx, art, "exploration/nodes/b.yaml", "parents", "'zzz'", args=("review",))


def test_bad_run_inputs_exit_2_write_no_evidence_but_record_the_failed_run(exp, art):
    before = snapshot(art)
    code, _, err = exp("toy_sleep", "--scale", "medium")
    assert code == 2 and "workflows/config/toy.yaml" in err and "medium.toy_sleep" in err
    code, _, err = exp("toy_nope")
    assert code == 2 and "unknown experiment 'toy_nope'" in err
    code, _, err = exp("toy_fit", "--scale", "huge")
    assert code == 2 and "unknown scale 'huge'" in err
    code, _, err = exp("toy_fit", "--set", "novalue")
    assert code == 2 and "--set" in err
    after = snapshot(art)
    new = sorted(set(after) - set(before))
    assert len(new) == 4 and all(p.startswith("exploration/nodes/") for p in new)
    assert {k: v for k, v in after.items() if k in before} == before
    nodes = [yaml.safe_load((art / p).read_text()) for p in new]
    assert all(n["run"]["status"] == "failed" and n["run"]["log_tail"] == [n["run"]["error"]] for n in nodes)


@pytest.mark.parametrize("decision, needle", [
    ("{kind: interval, level: 1.2}", "checks.small.decision.interval.level"),
    ("{kind: interval, level: 0.4}", "checks.small.decision.interval.level"),
    ("{kind: majority}", "checks.small.decision"),
    ("{kind: seeds_passing, min: 1}", "checks.small.decision.min"),  # not more than half of 3 seeds
    ("{kind: seeds_passing, min: 5}", "checks.small.decision.min"),  # more than the 3 seeds
])
def test_decision_rule_that_cannot_decide_is_bad_input(arx, art, decision, needle):
    edit(art, CLAIM, "decision: {kind: interval}", f"decision: {decision}")
    for command in ("validate", "review"):
        expect_bad(arx, art, CLAIM, needle, args=(command,))


def test_pooled_without_items_is_bad_input(arx, art):
    edit(art, CLAIM, "    threshold: 0.9\n  paper:", "    threshold: 0.9\n    pooled: true\n  paper:")
    expect_bad(arx, art, CLAIM, "pooled needs items", args=("validate",))


@pytest.mark.parametrize("old, new, needle", [
    ("statement: Least", "statement: TODO Least", "statement: still holds a TODO"),
    ("falsification: R^2 below 0.9 on the held-out split", "falsification: ' '", "falsification: is empty"),
    ("almost exactly when noise is small.", "exactly when noise is small.", "not verbatim in the abstract_sentences"),
])
def test_vacuous_claim_is_bad_input(arx, art, old, new, needle):
    edit(art, CLAIM, old, new)
    for command in ("validate", "review", "status"):
        expect_bad(arx, art, CLAIM, needle, args=(command,))


def test_untouched_scaffold_fails_validation(arx, art):
    assert arx("new-claim", "toy_scaffold", "--paper", "toy")[0] == 0
    # one line per TODO field, plus the quote not verbatim in the abstract: all at once
    expect_bad(arx, art, "logic/claims/toy_scaffold.yaml", "ARX206", "TODO", args=("validate",), count=10)
