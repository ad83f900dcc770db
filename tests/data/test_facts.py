"""Facts: determinism, splits, the MRR/HIT@k scorer on hand-made cases, bad inputs, and that a tiny model learns them."""

import json
from types import SimpleNamespace

import pytest
import torch

from arx.data import evaluate_facts, fact_set, object_ranks, rank_metrics, train_tokenizer
from arx.data.facts import object_token_targets
from arx.models import build_model, train

torch.set_num_threads(1)


def test_same_seed_identical_different_seed_differs():
    a, b, c = (fact_set(s).to_json() for s in (3, 3, 4))
    assert a == b and a != c
    assert json.loads(a)["seed"] == 3


def test_relations_kinds_and_templates():
    fs = fact_set(0, n_countries=4, n_landmarks=6, n_objects=5)
    rels = {f.relation: f.kind for f in fs.facts}
    assert rels == {"capital": "geographic", "located_in": "geographic", "color": "attribute",
                    "material": "attribute"}
    assert len(fs.facts) == 4 + 6 + 2 * 5
    assert all(len(t) >= 3 for t in fs.templates.values())
    caps = [f.object for f in fs.facts if f.relation == "capital"]
    assert len(set(caps)) == len(caps)  # one capital per country
    subjects = {f.subject for f in fs.facts}
    assert not subjects & set(caps)


def test_probe_split_is_held_out_renderings_of_training_facts():
    fs = fact_set(1, n_countries=6, n_landmarks=8, n_objects=8, probe_fraction=0.5)
    train, probe = fs.train_items(), fs.probe_items()
    assert probe and not {p for p, _, _ in probe} & {p for p, _, _ in train}
    assert {i for _, _, i in probe} == set(fs.probe_facts)
    assert {i for _, _, i in train} == set(range(len(fs.facts)))  # every fact is trained
    for p, _, i in probe:  # the probe template is trained for other facts only
        rel = fs.facts[i].relation
        assert any(p == t.format(s=fs.facts[i].subject) for t in fs.probe_templates(rel))
    others = [i for i in range(len(fs.facts)) if i not in set(fs.probe_facts)]
    tr = set(train)
    assert all((t.format(s=fs.facts[i].subject), fs.facts[i].object, i) in tr
               for i in others for t in fs.probe_templates(fs.facts[i].relation))
    assert fs.train_texts() == [f"{p} {o}" for p, o, _ in train]


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="n_countries must be an int >= 1"):
        fact_set(0, n_countries=0)
    with pytest.raises(ValueError, match="n_probe_templates"):
        fact_set(0, n_probe_templates=4)
    with pytest.raises(ValueError, match="probe_fraction"):
        fact_set(0, probe_fraction=1.5)
    with pytest.raises(ValueError, match="1-based"):
        rank_metrics([0, 1])
    with pytest.raises(ValueError, match="no ranks"):
        rank_metrics([])


def test_rank_metrics_hand_made():
    m = rank_metrics([1, 2, 4, 1], ks=(1, 3))
    assert m == {"n": 4, "mrr": pytest.approx((1 + 0.5 + 0.25 + 1) / 4), "hit@1": 0.5, "hit@3": 0.75}


class _FixedLM(torch.nn.Module):
    """Same logits -id at every position: the rank of token id v is v + 1."""

    def __init__(self, vocab):
        super().__init__()
        self.w = torch.nn.Parameter(-torch.arange(vocab, dtype=torch.float))

    def forward(self, input_ids, attention_mask=None):
        return SimpleNamespace(logits=self.w.expand(*input_ids.shape, -1))


def test_object_ranks_hand_checked():
    fs = fact_set(0, n_countries=3, n_landmarks=3, n_objects=3)
    tok = train_tokenizer(fs.all_texts(), 200)
    items = fs.train_items()[:7]
    _, targets = object_token_targets(tok, items)
    assert object_ranks(_FixedLM(len(tok)), tok, items, batch_size=3) == [t + 1 for t in targets]
    for (p, o, _), t in zip(items, targets):  # the target is the object's first token in context
        assert tok.convert_ids_to_tokens(t).lstrip("▁") == o[:len(tok.convert_ids_to_tokens(t).lstrip("▁"))]


def test_tiny_model_learns_training_facts():
    fs = fact_set(0, n_countries=4, n_landmarks=4, n_objects=4, probe_fraction=0.25)
    tok = train_tokenizer(fs.all_texts(), 200)
    m = build_model("llama", "xs", len(tok), seed=0)
    before = evaluate_facts(m, tok, fs.train_items())
    train(m, tok, fs.train_texts(), dict(steps=250, batch_size=16, seq_len=14, lr=0.01, warmup=10))
    after = evaluate_facts(m, tok, fs.train_items())
    assert before["hit@1"] < 0.1 and after["hit@1"] >= 0.6 and after["mrr"] > before["mrr"] + 0.4
