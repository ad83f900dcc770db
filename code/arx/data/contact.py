"""Languages in contact: the multilingual facts world of :mod:`arx.data.multilingual` with shared material.

Why: with fully disjoint vocabularies no two languages share a token, so an MoE model has no reason to route two
high-resource languages to the same experts, and a test of "low-resource languages are routed apart from the
high-resource ones" cannot pass. Real languages share material. Three kinds are added here, each symmetric in
resource level, so none of them favours the high–high pairs by construction:

* shared names: countries, capitals and landmarks (the proper names of the geographic facts) are written the
  same in every language, in the form of the donor language (the first one), as international names are;
* loanwords: a ``loan_fraction`` of every other language's remaining words (object nouns, colors, materials,
  relation words) are the donor's word for the same concept;
* code-switched lines: for a ``code_switch_fraction`` of each other language's training facts, one more training
  line renders the fact in that language with the donor's relation word (the fact, its answer and the set of
  facts a language sees are unchanged).

The world has no numbers to share. Native words keep their language's own consonant set (script), so names and
loans are the only shared script. ``multilingual_world(seed, **args)`` without the contact arguments is exactly
:func:`arx.data.multilingual.multilingual_corpus`. Deterministic from the seed.
"""

from __future__ import annotations

import random
from dataclasses import replace

from arx.data.multilingual import MultilingualCorpus, multilingual_corpus


def in_contact(mc: MultilingualCorpus, shared_names: bool = False, loan_fraction: float = 0.0,
               code_switch_fraction: float = 0.0) -> MultilingualCorpus:
    """A copy of ``mc`` whose languages share names, loanwords and code-switched lines with the donor (language 0)."""
    for name, v in (("loan_fraction", loan_fraction), ("code_switch_fraction", code_switch_fraction)):
        if not 0 <= v <= 1:
            raise ValueError(f"in_contact: {name} must be in [0, 1], got {v!r}")
    if not shared_names and loan_fraction == 0 and code_switch_fraction == 0:
        return mc
    one_line_each = sum(len(v) for v in mc.train_facts.values())
    if len(mc.texts) != one_line_each:
        raise ValueError("in_contact: the corpus repeats low-resource lines (repeats_low > 1); contact lines are "
                         "built one per seen fact, so use repeats_low=1")
    rng = random.Random(mc.seed * 104_729 + 3)
    donor = mc.languages[0]
    names = {c for f in mc.facts.facts if f.kind == "geographic" for c in (f.subject, f.object)} if shared_names \
        else set()
    languages = [donor]
    for lang in mc.languages[1:]:
        lexicon = dict(lang.lexicon)
        for concept in sorted(names):
            lexicon[concept] = donor.lexicon[concept]
        rest = sorted(c for c in lexicon if c not in names)
        for concept in rng.sample(rest, round(loan_fraction * len(rest))):
            lexicon[concept] = donor.lexicon[concept]
        languages.append(replace(lang, lexicon=lexicon))
    out = replace(mc, languages=languages, texts=[])
    texts = [f"{p} {o}" for lang in languages for p, o, _ in out.items(lang.name, "train")]
    for lang in languages[1:]:
        seen = out.train_facts[lang.name]
        for i in sorted(rng.sample(seen, round(code_switch_fraction * len(seen)))):
            relation = mc.facts.facts[i].relation
            prompt, obj = out.render(lang.name, i)
            own, borrowed = lang.lexicon[relation], donor.lexicon[relation]
            texts.append(f"{' '.join(borrowed if w == own else w for w in prompt.split())} {obj}")
    rng.shuffle(texts)
    out.texts = texts
    return out


def multilingual_world(seed: int = 0, shared_names: bool = False, loan_fraction: float = 0.0,
                       code_switch_fraction: float = 0.0, **corpus_args) -> MultilingualCorpus:
    """:func:`multilingual_corpus` (``corpus_args``) put in contact (:func:`in_contact`)."""
    return in_contact(multilingual_corpus(seed, **corpus_args), shared_names, loan_fraction, code_switch_fraction)
