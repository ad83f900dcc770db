"""The repository's own artifact is valid: manifest, papers, claims, graph and evidence (pydantic + JSON Schema)."""

from __future__ import annotations

from pathlib import Path

from arx.artifact.load import load_manifest
from arx.artifact.validation import validate_all

REPO = Path(__file__).resolve().parents[2]
PAPERS = {"depn", "lotaqaf", "secret_sharer", "privacy_auditing", "neural_phishing", "moe_knowledge_attribution",
          "moe_pretraining_dynamics", "routing_isolation"}


def test_manifest_lists_the_papers_and_scales():
    manifest = load_manifest(REPO)
    assert set(manifest.papers) == PAPERS
    assert list(manifest.scales) == ["small", "pretrained", "medium", "paper"] and manifest.default_scale == "small"
    assert manifest.scales["pretrained"].seeds == [0, 1, 2]
    for scale in manifest.scales.values():
        assert (REPO / scale.config).is_file()
    assert f"['remote \"{manifest.dvc_remote}\"']" in (REPO / ".dvc" / "config").read_text()


def test_whole_artifact_validates():
    """Fails while a paper listed in ara.yaml has no logic/papers/<id>.yaml, or any file is invalid. The only warning
    allowed is a quote its claim declares recalled (shown as such, never passed off as checked)."""
    checked, warnings = validate_all(REPO)
    assert "ara.yaml" in checked
    assert [w.code for w in warnings] == ["ARX209"] * len(warnings)
    assert sorted(str(w.file) for w in warnings) == ["logic/claims/exposure_grows_with_repetition.yaml"]
