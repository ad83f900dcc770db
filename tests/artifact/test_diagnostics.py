"""Diagnostics: every problem at once with a stable code, a warning tier, strict types, no traceback ever."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from artifact_helpers import snapshot, write

from arx.artifact.diagnostics import CODES

CLAIM = "logic/claims/toy_fit_recovers_weights.yaml"
OTHER = "logic/claims/toy_fit_error_small.yaml"
CODE_DIR = Path(__file__).resolve().parents[2] / "code" / "arx"


def edit(root: Path, rel: str, old: str, new: str) -> None:
    p = root / rel
    text = p.read_text()
    assert old in text, (rel, old)
    p.write_text(text.replace(old, new, 1))


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("arx: error:")]


def test_every_code_used_is_declared_and_every_declared_code_is_used():
    used = {m for f in CODE_DIR.rglob("*.py") for m in re.findall(r'code="(ARX\d{3})"', f.read_text())}
    assert used <= set(CODES), used - set(CODES)
    assert set(CODES) - used == set(), "declared but never reported"


@pytest.mark.parametrize("command", ["review", "validate", "status"])
def test_problems_in_two_claims_are_reported_together_each_with_its_code(arx, art, command):
    edit(art, CLAIM, "threshold: 0.9", "threshold: yes")  # strict: a YAML boolean is not a number
    edit(art, OTHER, "paper: toy", "paper: nosuch")
    before = snapshot(art)
    code, out, err = arx(command, "--json")
    assert code == 2 and snapshot(art) == before
    lines = errors(err)
    assert any(f"{CLAIM}:" in line and "ARX107" in line and "threshold" in line for line in lines), lines
    assert any(f"{OTHER}:" in line and "ARX201" in line and "nosuch" in line for line in lines), lines
    doc = json.loads(out)
    assert {p["code"] for p in doc["problems"]} == {"ARX107", "ARX201"}
    assert set(doc) >= {"code", "error", "file", "line", "field", "fix", "problems"}


@pytest.mark.parametrize("value", ["yes", "'0.95'", "[0.9]"])
def test_no_coercion_into_numbers_and_both_validators_agree(arx, art, value):
    edit(art, CLAIM, "threshold: 0.9", f"threshold: {value}")
    for command in ("review", "validate"):
        code, _, err = arx(command)
        assert code == 2 and "ARX107" in err and "checks.small.threshold" in err, (command, err)
    code, _, err = arx("validate", CLAIM)
    assert code == 2 and "checks.small.threshold" in err


def test_yml_claim_file_is_an_error_not_a_vanished_claim(arx, art):
    (art / CLAIM).rename(art / CLAIM.replace(".yaml", ".yml"))
    for command in ("review", "validate", "status"):
        code, _, err = arx(command)
        assert code == 2 and "ARX109" in err and "rename it to toy_fit_recovers_weights.yaml" in err, command


def test_empty_claims_directory_is_an_error(arx, art):
    for p in (art / "logic" / "claims").iterdir():
        p.unlink()
    code, _, err = arx("review")
    assert code == 2 and "ARX214" in err and "logic/claims" in err


def test_node_citing_a_missing_claim_is_an_error(arx, art):
    write(art, "exploration/nodes/q1.yaml", "id: q1\ntype: question\ntitle: why\ncreated: '2026-01-01'\n"
                                            "claims: [toy_fit_recovers_weights, no_such_claim]\n")
    for command in ("review", "validate"):
        code, _, err = arx(command)
        assert code == 2 and "exploration/nodes/q1.yaml" in err and "ARX303" in err and "no_such_claim" in err
        assert "toy_fit_recovers_weights'" not in err.split("ARX303")[1].split("(fix")[0]


def test_check_naming_a_rule_the_workflow_lacks_is_an_error(arx, art):
    edit(art, CLAIM, "rule: toy_fit", "rule: toy_fitt")
    code, _, err = arx("validate")
    assert code == 2 and "ARX212" in err and "'toy_fitt'" in err and "checks.small.rule" in err


def test_recalled_quote_is_a_warning_that_strict_fails(arx, art):
    edit(art, CLAIM, "  figure: R^2 close to 1", "  figure: R^2 close to 1\n  source: recalled")
    code, _, err = arx("validate")
    assert code == 0 and "warning" in err and "ARX209" in err
    code, out, _ = arx("status", "--json")
    row = next(r for r in json.loads(out)["claims"] if r["claim"] == "toy_fit_recovers_weights")
    assert code == 0 and row["recalled_quote"] is True
    code, _, err = arx("validate", "--strict")
    assert code == 2 and "ARX209" in err
    code, _, err = arx("review", "--strict")
    assert code == 2 and "ARX209" in err


@pytest.mark.parametrize("text", ["outs: [unclosed\n", "just a string\n", "outs:\n- md5: abc\n"])
def test_malformed_dvc_pointer_is_a_one_line_error(arx, exp, art, text):
    assert exp("toy_fit")[0] == 0
    write(art, "evidence/toy/toy_fit/small/seed_0/weights.npy.dvc", text)
    code, out, err = arx("review", "--json")
    assert code == 2 and "Traceback" not in err
    assert json.loads(out)["code"] == "ARX114" and "weights.npy.dvc" in json.loads(out)["file"]


def test_an_unforeseen_failure_is_one_line_and_a_json_error(arx, art, monkeypatch):
    import arx.artifact.review as review

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(review, "review", boom)
    code, out, err = arx("review", "--json")
    assert code == 2 and "Traceback" not in err
    doc = json.loads(out)
    assert doc["code"] == "ARX900" and "RuntimeError: disk on fire" in doc["error"] and "ARX_DEBUG" in doc["fix"]
    assert len(errors(err)) == 1


def test_codes_lists_every_code(arx, art):
    code, out, _ = arx("codes", "--json")
    assert code == 0 and [r["code"] for r in json.loads(out)["codes"]] == list(CODES)


def test_diff_outside_a_git_repository_says_so(arx, art):
    code, out, err = arx("diff", "HEAD", "--json")
    assert code == 2 and json.loads(out)["code"] == "ARX508" and "not a git repository" in err


def test_an_unwritable_report_is_a_one_line_error(arx, art):
    (art / "evidence").mkdir(exist_ok=True)
    write(art, "evidence/review", "a file where the report directory should be")
    code, out, err = arx("review", "--json")
    assert code == 2 and json.loads(out)["code"] == "ARX115" and "Traceback" not in err


def test_resources_naming_an_unknown_rule_or_a_bad_value_are_errors(arx, art):
    scale = art / "workflows" / "config" / "small.yaml"
    scale.write_text(scale.read_text() + "  rules:\n    toy_fitt: {runtime: 3}\n")
    code, _, err = arx("validate")
    assert code == 2 and "ARX216" in err and "resources.rules.toy_fitt" in err
    scale.write_text(scale.read_text().replace("toy_fitt: {runtime: 3}", "toy_fit: {threads: 0}"))
    code, _, err = arx("validate")
    assert code == 2 and "ARX504" in err and "resources.rules.toy_fit.threads" in err
