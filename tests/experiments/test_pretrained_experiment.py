"""Knowledge neurons on a tiny model standing in for SmolLM2 (same code path): the split is by fact, the drops
match zeroing the neurons' weights by hand, the random control is layer-matched; bad inputs are clear errors."""

from __future__ import annotations

import json
from typing import get_args

import pytest
import torch
from pydantic import ValidationError

from arx.data import train_tokenizer
from arx.data.real_facts import FACTS, TEMPLATES, Relation, real_facts, renderings
from arx.experiments import RunContext
from arx.experiments import pretrained as X
from arx.methods.attribution.fact_files import jsonl_facts
from arx.methods.attribution.ig import attribute_ig
from arx.methods.attribution.neurons import select_topk
from arx.methods.attribution.prompts import target_logprob
from arx.methods.editing.depn import persistent_edit
from arx.models import build_model, load_model, save_model

RELATIONS = ["capital", "currency"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("kn_model")
    rows = renderings(real_facts(RELATIONS))
    tok = train_tokenizer([f"{p} {a}" for p, a, _ in rows], vocab_size=400)
    save_model(build_model("llama", "xs", len(tok), seed=3), out, tok)
    lines = [{"relation": f.relation, "fact": f.index, "prompt": p, "object": a, "known": f.index % 3 != 0}
             for p, a, f in rows]  # a third of the facts "unknown": they must never be used
    (out / "probe.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return out


def _cfg(model_dir, **kw):
    return X.KnowledgeNeuronsConfig.model_validate({
        **dict(model_dir=str(model_dir), relations=RELATIONS, k=3, ig_steps=2, ig_path="joint", random_draws=2,
               max_rows=64), **kw})


def test_real_facts_have_templates_and_unique_subjects_per_relation():
    for rel, facts in FACTS.items():
        assert len(TEMPLATES[rel]) == 3 and len(facts) >= 28
        assert len({s for s, _ in facts}) == len(facts), rel  # one answer per subject
    assert renderings(real_facts(["landmark"]))[0][0] == "The Eiffel Tower is located in the country of"
    with pytest.raises(ValueError, match="unknown relation"):
        real_facts(["weather"])
    assert set(get_args(Relation)) == set(FACTS) == set(TEMPLATES)
    with pytest.raises(ValidationError, match="relations.0"):  # a misspelt relation is a config error (exit 2)
        X.KnowledgeNeuronsConfig.model_validate(dict(model_dir="x", relations=["capitol"], k=1, ig_steps=1,
                                                     ig_path="joint", random_draws=1))


def test_knowledge_neurons_split_drops_and_random_control(model_dir, tmp_path):
    from transformers import AutoTokenizer

    m = X.knowledge_neurons(_cfg(model_dir), RunContext(out=tmp_path, seed=1)).model_dump()
    model, tok = load_model(model_dir), AutoTokenizer.from_pretrained(model_dir)
    for rel in RELATIONS:
        r = m["relations"][rel]
        sel = [json.loads(x) for x in (tmp_path / f"{rel}.selection.jsonl").read_text().splitlines()]
        ev = [json.loads(x) for x in (tmp_path / f"{rel}.evaluation.jsonl").read_text().splitlines()]
        assert all(d["known"] for d in sel + ev)  # only facts the model answers
        assert not {d["fact"] for d in sel} & {d["fact"] for d in ev}  # split by fact, not by rendering
        assert r["selection_facts"] + r["evaluation_facts"] == len({d["fact"] for d in sel + ev})
        assert len(r["neurons"]) == 3 and r["evaluation_renderings"] == len(ev) == len(r["per_item_drop_top"])
        # the oracle: zero the selected neurons' down-projection columns by hand and score again
        batch = jsonl_facts(tmp_path / f"{rel}.evaluation.jsonl", tok)
        with torch.no_grad():
            p0 = target_logprob(model, batch).exp()
            p1 = target_logprob(persistent_edit(model, [tuple(u) for u in r["neurons"]]), batch).exp()
        assert r["per_item_drop_top"] == pytest.approx(((p0 - p1) / p0).tolist(), rel=1e-4, abs=1e-6)
        assert r["drop_top"] == pytest.approx(sum(r["per_item_drop_top"]) / len(ev))
        assert r["prob_before"] == pytest.approx(float(p0.mean()), rel=1e-5)
    s = m["suppression"]
    tops = [m["relations"][r]["drop_top"] for r in RELATIONS]
    rnds = [m["relations"][r]["drop_random"] for r in RELATIONS]
    assert s["top_minus_random"] == pytest.approx((sum(tops) - sum(rnds)) / 2)
    assert sum(m["selected_per_layer"]) == 6
    spec = m["specificity"]  # the oracle again: relation A's neurons zeroed by hand, scored on B's facts
    batch = jsonl_facts(tmp_path / "currency.evaluation.jsonl", tok)
    with torch.no_grad():
        p0 = target_logprob(model, batch).exp()
        edit = persistent_edit(model, [tuple(u) for u in m["relations"]["capital"]["neurons"]])
        p1 = target_logprob(edit, batch).exp()
    assert spec["cross_drop"]["capital"]["currency"] == pytest.approx(float(((p0 - p1) / p0).mean()), rel=1e-4,
                                                                      abs=1e-6)
    assert set(spec["cross_drop"]) == set(RELATIONS) and all(a not in row for a, row in spec["cross_drop"].items())
    assert spec["own_drop_mean"] == pytest.approx(sum(tops) / 2)
    assert spec["own_minus_cross"] == pytest.approx(spec["own_drop_mean"] - spec["cross_drop_mean"])
    for sub in ("again", "other"):
        (tmp_path / sub).mkdir()  # arx.run creates the output directory
    again = X.knowledge_neurons(_cfg(model_dir), RunContext(out=tmp_path / "again", seed=1)).model_dump()
    X.knowledge_neurons(_cfg(model_dir), RunContext(out=tmp_path / "other", seed=2))
    assert again == m  # the seed fixes the split and the random draws
    split = (tmp_path / "capital.selection.jsonl").read_text()
    assert (tmp_path / "other" / "capital.selection.jsonl").read_text() != split  # another seed, another split


def test_missing_probe_and_too_few_facts_are_clear_errors(model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="rule pretrained_model"):
        X.knowledge_neurons(_cfg(tmp_path), RunContext(out=tmp_path, seed=0))
    with pytest.raises(ValueError, match="too few to split"):
        X.knowledge_neurons(_cfg(model_dir, selection_fraction=0.01), RunContext(out=tmp_path, seed=0))


def test_layer_path_selects_the_top_neurons_of_the_general_per_layer_ig(model_dir, tmp_path):
    from transformers import AutoTokenizer

    m = X.knowledge_neurons(_cfg(model_dir, ig_path="layer"), RunContext(out=tmp_path, seed=1)).model_dump()
    model, tok = load_model(model_dir), AutoTokenizer.from_pretrained(model_dir)
    for rel in RELATIONS:  # the oracle: the general per-layer path (no cache), summed over the selection facts
        sel = jsonl_facts(tmp_path / f"{rel}.selection.jsonl", tok)
        scores = attribute_ig(model, sel, "neuron", steps=2, objective="prob", path="layer", use_cache=False).sum(0)
        assert [tuple(u) for u in m["relations"][rel]["neurons"]] == [tuple(u) for u in select_topk(scores, 3)]
