"""Multilingual facts: determinism, disjoint vocabularies, word orders, high/low-resource splits, bad inputs."""

import pytest

from arx.data import multilingual_corpus


def test_same_seed_identical_different_seed_differs():
    a, b, c = (multilingual_corpus(s, n_countries=4, n_landmarks=4, n_objects=4).to_json() for s in (1, 1, 2))
    assert a == b and a != c


def test_languages_disjoint_vocabularies_and_orders():
    mc = multilingual_corpus(0, n_languages=4, n_countries=5, n_landmarks=5, n_objects=5)
    vocab = {L.name: set(L.lexicon.values()) | {L.det, L.cop} for L in mc.languages}
    names = list(vocab)
    assert all(not vocab[a] & vocab[b] for i, a in enumerate(names) for b in names[i + 1:])
    for L in mc.languages:  # words are distinct within a language too: the same concept never shares a word
        assert len(set(L.lexicon.values())) == len(L.lexicon)
    assert {L.order for L in mc.languages} == {"SVO", "VSO"}
    f = mc.facts.facts[0]
    for L in mc.languages:
        p, o = mc.render(L.name, 0)
        w = p.split()
        assert o == L.lexicon[f.object]
        if L.order == "SVO":
            assert w == [L.det, L.lexicon[f.subject], L.lexicon[f.relation], L.cop]
        else:
            assert w == [L.lexicon[f.relation], L.det, L.lexicon[f.subject], L.cop]


def test_same_facts_in_every_language_and_resource_split():
    mc = multilingual_corpus(0, n_languages=3, n_low=1, low_fraction=0.25, n_countries=8, n_landmarks=8,
                             n_objects=8)
    n = len(mc.facts.facts)
    high = [L for L in mc.languages if L.resource == "high"]
    low = [L for L in mc.languages if L.resource == "low"]
    assert len(high) == 2 and len(low) == 1
    for L in high:
        assert mc.train_facts[L.name] == list(range(n)) and mc.heldout_facts[L.name] == []
    tr, ho = mc.train_facts[low[0].name], mc.heldout_facts[low[0].name]
    assert len(tr) == round(0.25 * n) and sorted(tr + ho) == list(range(n)) and not set(tr) & set(ho)
    expected = sorted(f"{p} {o}" for L in mc.languages for p, o, _ in mc.items(L.name, "train"))
    assert sorted(mc.texts) == expected  # training text = exactly the seen facts, per language
    heldout_texts = {f"{p} {o}" for p, o, _ in mc.items(low[0].name, "heldout")}
    assert not heldout_texts & set(mc.texts)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="n_languages"):
        multilingual_corpus(0, n_languages=0)
    with pytest.raises(ValueError, match="n_low"):
        multilingual_corpus(0, n_languages=2, n_low=2)
    with pytest.raises(ValueError, match="low_fraction"):
        multilingual_corpus(0, low_fraction=0)
    mc = multilingual_corpus(0, n_countries=2, n_landmarks=2, n_objects=2)
    with pytest.raises(ValueError, match="unknown language"):
        mc.render("klingon", 0)
    with pytest.raises(ValueError, match="split"):
        mc.items("lang0", "test")
