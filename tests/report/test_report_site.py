"""`arx report` on the real artifact: deterministic bytes, every claim and node present, links that resolve, the
index's verdicts equal to `arx review --json`'s, and the page weight."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from report_helpers import broken_links

from arx.artifact.exploration import iter_nodes
from arx.artifact.load import load_artifact
from arx.artifact.report import build_report

ROOT = Path(__file__).resolve().parents[2]


def _digest(site: Path) -> dict[str, str]:
    return {p.relative_to(site).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(site.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "small"
    build_report(load_artifact(ROOT), "small", out)
    return out


def test_same_artifact_same_bytes(site, tmp_path):
    again = tmp_path / "again"
    build_report(load_artifact(ROOT), "small", again)
    assert _digest(again) == _digest(site)


def test_every_claim_paper_and_node_has_its_place_and_links_resolve(site):
    art = load_artifact(ROOT)
    active = sorted(c for c, claim in art.claims.items() if claim.retired is None)
    index = (site / "index.html").read_text()
    assert re.findall(r'<tr data-paper="[^"]*" data-verdict="[^"]*" id="row-([^"]+)"', index) == active
    assert sorted(p.stem for p in (site / "claims").glob("*.html")) == active
    assert sorted(p.stem for p in (site / "papers").glob("*.html")) == sorted(art.papers)
    exploration = (site / "exploration.html").read_text()
    ids = re.findall(r'<tr id="([^"]+)" data-type=', exploration)
    assert sorted(ids) == sorted(n.id for n in iter_nodes(ROOT))
    drawn = re.findall(r'<circle [^>]*fill="([^"]+)" class="node( bad)?" data-id="([^"]+)"', exploration)
    assert sorted(d[2] for d in drawn) == sorted(ids)  # every node is in the graph, none hidden
    nodes = {n.id: n for n in iter_nodes(ROOT)}
    for color, bad, nid in drawn:
        n = nodes[nid]
        marked = n.type == "dead_end" or (n.run is not None and n.run.status in ("failed", "interrupted"))
        assert bool(bad) == marked and (color == "#c62828") == marked
    assert broken_links(site) == []
    assert (site / "index.html").stat().st_size < 1_000_000


def test_index_verdicts_are_the_reviews(site):
    res = subprocess.run([sys.executable, "-m", "arx.cli", "status", "--scale", "small", "--json"], cwd=ROOT,
                         capture_output=True, text=True)
    art = load_artifact(ROOT)
    rows = {r["claim"]: r["verdict"] if "small" in art.claims[r["claim"]].checks else "not checked"
            for r in json.loads(res.stdout)["claims"] if r["verdict"] != "retired"}  # review: "no check at scale"
    index = (site / "index.html").read_text()
    shown = {cid: verdict for verdict, cid in re.findall(r'data-verdict="([^"]+)" id="row-([^"]+)"', index)}
    assert shown == rows and len(rows) >= 30


def test_claim_page_has_plot_interval_history_and_runs(site):
    page = (site / "claims" / "depn_reduces_exposure.html").read_text()
    assert page.count("<svg") >= 1 and "threshold (&gt;= 0.3)" in page
    assert re.search(r"estimate [0-9.]+ \[[0-9.]+, [0-9.]+\] \(95% interval\)", page)
    art = load_artifact(ROOT)
    assert page.count('<li><b>') == len(art.claims["depn_reduces_exposure"].history)
    assert 'class="status-succeeded"' in page and "snakemake reproduce_claim_depn_reduces_exposure" in page


def test_unknown_scale_is_a_clear_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "arx.cli", "report", "--scale", "huge", "--out", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "scale" in res.stderr


def test_without_scale_every_reviewed_scale_is_built_and_linked(tmp_path):
    res = subprocess.run([sys.executable, "-m", "arx.cli", "report", "--json", "--out", str(tmp_path)], cwd=ROOT,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    sites = {s["scale"] for s in json.loads(res.stdout)["sites"]}
    assert sites == {p.stem for p in (ROOT / "evidence" / "review").glob("*.json")} >= {"small", "pretrained"}
    small = (tmp_path / "small" / "index.html").read_text()
    assert '<a href="../pretrained/index.html">pretrained</a>' in small
    page = (tmp_path / "pretrained" / "claims" / "knowledge_neurons_real_facts.html").read_text()
    assert "code hashes" in page and "code/arx/experiments/pretrained.py" in page and "packages" in page
    assert broken_links(tmp_path) == []
