"""The report in a real browser (headless Chromium from Debian's packages, driven by Selenium): the index lists
exactly the claims with the verdicts review computes, filters work, a claim opens with its plot, interval and
every run (the fixture's failed run shown as failed), the exploration page shows every node, no console errors.
Screenshots of the index and one claim page are saved under build/test-artifacts/ for a person to look at."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from report_helpers import browser, chromium_paths

from arx.artifact.exploration import iter_nodes
from arx.artifact.load import load_artifact
from arx.artifact.report import build_report

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "test-artifacts"

pytestmark = pytest.mark.skipif(chromium_paths() is None, reason="needs chromium and chromedriver "
                                "(apt-get install chromium chromium-driver; .ci/run installs them)")


@pytest.fixture(scope="module")
def driver():
    d = browser()
    yield d
    d.quit()


def _errors(d) -> list[dict]:
    return [e for e in d.get_log("browser") if e["level"] == "SEVERE"]


def _visible_rows(d, table: str) -> list:
    from selenium.webdriver.common.by import By

    return [r for r in d.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr") if r.is_displayed()]


def test_real_artifact_index_claim_and_exploration(driver, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    site = tmp_path / "site"
    build_report(load_artifact(ROOT), "small", site)
    status = json.loads(subprocess.run([sys.executable, "-m", "arx.cli", "status", "--scale", "small", "--json"],
                                       cwd=ROOT, capture_output=True, text=True).stdout)
    art = load_artifact(ROOT)
    verdicts = {r["claim"]: r["verdict"] if "small" in art.claims[r["claim"]].checks else "not checked"
                for r in status["claims"] if r["verdict"] != "retired"}
    driver.get((site / "index.html").as_uri())
    rows = _visible_rows(driver, "claims")
    shown = {r.get_attribute("id")[4:]: r.find_element(By.CSS_SELECTOR, "td.verdict").text for r in rows}
    assert shown == verdicts
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / "report_index.png"))
    Select(driver.find_element(By.ID, "filter-verdict")).select_by_value("refuted")
    assert len(_visible_rows(driver, "claims")) == sum(v == "refuted" for v in verdicts.values()) > 0
    assert driver.find_element(By.ID, "claims-count").text == str(sum(v == "refuted" for v in verdicts.values()))
    Select(driver.find_element(By.ID, "filter-verdict")).select_by_value("")
    first = driver.find_element(By.CSS_SELECTOR, "#claims th[data-key=id]")
    first.click(), first.click()  # descending by claim id
    ids = [r.get_attribute("id")[4:] for r in _visible_rows(driver, "claims")]
    assert ids == sorted(verdicts, reverse=True)
    driver.find_element(By.LINK_TEXT, "depn_reduces_exposure").click()
    assert driver.current_url.endswith("claims/depn_reduces_exposure.html")
    assert driver.find_elements(By.CSS_SELECTOR, ".plot svg") and "95% interval" in driver.page_source
    assert driver.find_elements(By.CSS_SELECTOR, "table.runs tbody tr")
    driver.save_screenshot(str(SHOTS / "report_claim.png"))
    driver.get((site / "exploration.html").as_uri())
    assert len(_visible_rows(driver, "nodes")) == len(list(iter_nodes(ROOT)))
    Select(driver.find_element(By.ID, "filter-type")).select_by_value("dead_end")
    dead = [n for n in iter_nodes(ROOT) if n.type == "dead_end"]
    assert len(_visible_rows(driver, "nodes")) == len(dead) > 0
    assert _errors(driver) == []


def test_fixture_failed_run_is_shown_as_failed(driver, tmp_path):
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from e2e_helpers import make_artifact, snakemake
    from selenium.webdriver.common.by import By

    root, env = make_artifact(tmp_path, git=True)
    assert snakemake(root, env, "toy_fit_seeds").returncode == 0
    bad = subprocess.run([sys.executable, "-m", "arx.run", "toy_fit", "--paper-config", "workflows/config/toy.yaml",
                          "--scale", "small", "--out", "evidence/toy/toy_fit/small/seed_9", "--rule", "toy_fit",
                          "--wildcard", "seed=9", "--set", "seed=9", "--set", "n=-1"], cwd=root, env=env,
                         capture_output=True, text=True)
    assert bad.returncode != 0  # a failed run of the claim's rule, recorded in the exploration graph
    res = subprocess.run([sys.executable, "-m", "arx.cli", "report", "--json"], cwd=root, env=env,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    index = Path(json.loads(res.stdout)["index"])
    driver.get(index.as_uri())
    assert {r.get_attribute("id")[4:] for r in _visible_rows(driver, "claims")} == {
        "toy_fit_recovers_weights", "toy_fit_error_small"}
    driver.find_element(By.LINK_TEXT, "toy_fit_recovers_weights").click()
    statuses = [c.text for c in driver.find_elements(By.CSS_SELECTOR, "table.runs tbody td:first-child")]
    assert "failed" in statuses and "succeeded" in statuses
    failed = driver.find_element(By.CSS_SELECTOR, "table.runs td.status-failed")
    assert failed.value_of_css_property("color") == "rgba(198, 40, 40, 1)"  # marked red, not hidden
    assert _errors(driver) == []
