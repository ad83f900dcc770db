"""Languages in contact: shared names, loanwords and code-switched lines on top of the multilingual world."""

import pytest

from arx.data import multilingual_corpus
from arx.data.contact import in_contact, multilingual_world

SIZES = dict(n_languages=4, n_low=1, low_fraction=0.25, n_countries=6, n_landmarks=8, n_objects=8)


def _names(mc):
    return {c for f in mc.facts.facts if f.kind == "geographic" for c in (f.subject, f.object)}


def test_without_contact_it_is_the_plain_multilingual_world():
    assert multilingual_world(3, **SIZES).to_json() == multilingual_corpus(3, **SIZES).to_json()


def test_names_are_shared_and_native_words_are_not():
    mc = multilingual_world(0, shared_names=True, **SIZES)
    donor, names = mc.languages[0], _names(mc)
    assert len(names) == 6 + 6 + 8  # countries, capitals, landmarks (a landmark's object is a country)
    for lang in mc.languages[1:]:
        assert all(lang.lexicon[c] == donor.lexicon[c] for c in names)
        assert all(lang.lexicon[c] != donor.lexicon[c] for c in lang.lexicon if c not in names)  # no loans asked
        assert (lang.det, lang.cop) != (donor.det, donor.cop)


def test_loanwords_take_exactly_the_fraction_from_the_donor():
    plain = multilingual_corpus(1, **SIZES)
    mc = multilingual_world(1, shared_names=True, loan_fraction=0.25, **SIZES)
    names, borrowed = _names(mc), []
    for before, lang in zip(plain.languages[1:], mc.languages[1:]):
        rest = [c for c in lang.lexicon if c not in names]
        loans = [c for c in rest if lang.lexicon[c] == mc.languages[0].lexicon[c]]
        assert len(loans) == round(0.25 * len(rest)) > 0
        assert all(lang.lexicon[c] == before.lexicon[c] for c in rest if c not in loans)  # the others stay native
        borrowed.append(frozenset(loans))
    assert len(set(borrowed)) > 1  # each language borrows its own words


def test_code_switched_lines_add_the_donors_relation_word_and_leave_the_facts_seen_unchanged():
    plain = multilingual_corpus(2, **SIZES)
    mc = multilingual_world(2, code_switch_fraction=0.5, **SIZES)
    assert mc.train_facts == plain.train_facts and mc.heldout_facts == plain.heldout_facts
    extra = len(mc.texts) - len(plain.texts)
    assert extra == sum(round(0.5 * len(mc.train_facts[L.name])) for L in mc.languages[1:])
    donor_rel = {mc.languages[0].lexicon[r] for r in mc.facts.templates}
    switched = [t for t in mc.texts if t not in set(plain.texts)]
    assert len(switched) == extra and all(set(t.split()) & donor_rel for t in switched)
    low = next(L for L in mc.languages if L.resource == "low")
    heldout = {f"{p} {o}" for p, o, _ in mc.items(low.name, "heldout")}
    assert not heldout & set(mc.texts)  # a low-resource language's unseen facts stay unseen


def test_deterministic_and_seed_dependent():
    a, b, c = (multilingual_world(s, shared_names=True, loan_fraction=0.2, code_switch_fraction=0.1, **SIZES).to_json()
               for s in (5, 5, 6))
    assert a == b and a != c


def test_bad_fractions_and_repeats_are_clear_errors():
    with pytest.raises(ValueError, match="loan_fraction must be in"):
        multilingual_world(0, loan_fraction=1.5, **SIZES)
    with pytest.raises(ValueError, match="repeats_low"):
        in_contact(multilingual_corpus(0, repeats_low=2, **SIZES), shared_names=True)
