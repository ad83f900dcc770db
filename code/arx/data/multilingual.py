"""Multilingual facts: the same facts in several synthetic languages (own words, own word order, own resources).

Why: language-dependent routing in MoE models (and cross-lingual transfer) needs languages that differ only in
surface form. Each language has a disjoint vocabulary drawn from its own consonant set (a "script"; vowels are
shared), its own function words, and one word order: SVO ``det S R cop O`` or VSO ``R det S cop O`` (the object is
last in both so recall can be probed). High-resource languages see every fact in training, low-resource ones only a
``low_fraction`` of them (the rest are their held-out facts). Deterministic from the seed.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field

from arx.data.facts import CONSONANTS, VOWELS, FactSet, fact_set, make_words

ORDERS = ("SVO", "VSO")


@dataclass
class Language:
    name: str
    order: str  # SVO | VSO
    resource: str  # high | low
    det: str
    cop: str
    lexicon: dict[str, str]  # concept (English-side entity or relation name) -> word


@dataclass
class MultilingualCorpus:
    facts: FactSet
    languages: list[Language]
    train_facts: dict[str, list[int]]  # language -> indices of facts it sees in training
    texts: list[str]  # training texts, shuffled
    seed: int
    low_fraction: float = 1.0
    heldout_facts: dict[str, list[int]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    def language(self, name: str) -> Language:
        for l in self.languages:
            if l.name == name:
                return l
        raise ValueError(f"unknown language {name!r}; use one of {[l.name for l in self.languages]}")

    def render(self, lang: str, fact_index: int) -> tuple[str, str]:
        """(prompt, object) of one fact in one language."""
        L, f = self.language(lang), self.facts.facts[fact_index]
        s, r, o = L.lexicon[f.subject], L.lexicon[f.relation], L.lexicon[f.object]
        prompt = f"{L.det} {s} {r} {L.cop}" if L.order == "SVO" else f"{r} {L.det} {s} {L.cop}"
        return prompt, o

    def items(self, lang: str, split: str = "train") -> list[tuple[str, str, int]]:
        """(prompt, object, fact index): split 'train' (seen facts), 'heldout' (unseen; empty for high-resource
        languages) or 'all'."""
        if split not in ("train", "heldout", "all"):
            raise ValueError(f"items: split must be 'train', 'heldout' or 'all', got {split!r}")
        idx = {"train": self.train_facts[lang], "heldout": self.heldout_facts[lang],
               "all": range(len(self.facts.facts))}[split]
        return [(*self.render(lang, i), i) for i in idx]

    def all_texts(self) -> list[str]:
        """Every fact in every language (tokenizer vocabulary and routing measurements; not training)."""
        return [f"{p} {o}" for l in self.languages for p, o, _ in self.items(l.name, "all")]


def multilingual_corpus(seed: int = 0, n_languages: int = 4, n_low: int = 2, low_fraction: float = 0.25,
                        n_countries: int = 15, n_landmarks: int = 25, n_objects: int = 25,
                        repeats_low: int = 1) -> MultilingualCorpus:
    """``n_languages`` languages (the last ``n_low`` low-resource), word orders alternating SVO / VSO."""
    if not isinstance(n_languages, int) or not 1 <= n_languages <= 6:
        raise ValueError(f"multilingual_corpus: n_languages must be an int in 1..6 (consonant sets are split "
                         f"between languages), got {n_languages!r}")
    if not isinstance(n_low, int) or not 0 <= n_low < n_languages:
        raise ValueError(f"multilingual_corpus: n_low must be an int in 0..{n_languages - 1} (at least one "
                         f"high-resource language), got {n_low!r}")
    if not 0 < low_fraction <= 1:
        raise ValueError(f"multilingual_corpus: low_fraction must be in (0, 1], got {low_fraction!r}")
    if not isinstance(repeats_low, int) or repeats_low < 1:
        raise ValueError(f"multilingual_corpus: repeats_low must be an int >= 1, got {repeats_low!r}")
    fs = fact_set(seed, n_countries=n_countries, n_landmarks=n_landmarks, n_objects=n_objects, n_probe_templates=0)
    rng = random.Random(seed * 7919 + 17)
    concepts = sorted({f.subject for f in fs.facts} | {f.object for f in fs.facts}) + sorted(fs.templates)
    cons = list(CONSONANTS)
    rng.shuffle(cons)
    per = len(cons) // n_languages
    used: set[str] = set()
    langs = []
    for i in range(n_languages):
        script = cons[i * per:(i + 1) * per]
        det, cop = make_words(rng, 2, used, script, VOWELS, (1, 1)) if per * len(VOWELS) >= 8 else \
            make_words(rng, 2, used, script, VOWELS, (1, 2))
        words = make_words(rng, len(concepts), used, script, VOWELS, (2, 4))
        langs.append(Language(f"lang{i}", ORDERS[i % len(ORDERS)], "low" if i >= n_languages - n_low else "high",
                              det, cop, dict(zip(concepts, words))))
    n = len(fs.facts)
    train_facts, heldout = {}, {}
    for L in langs:
        idx = list(range(n))
        if L.resource == "low":
            rng.shuffle(idx)
            k = max(1, round(low_fraction * n))
            idx, rest = sorted(idx[:k]), sorted(idx[k:])
        else:
            rest = []
        train_facts[L.name], heldout[L.name] = idx, rest
    mc = MultilingualCorpus(fs, langs, train_facts, [], seed, low_fraction, heldout)
    texts = []
    for L in langs:
        reps = repeats_low if L.resource == "low" else 1
        texts += [f"{p} {o}" for p, o, _ in mc.items(L.name, "train")] * reps
    rng.shuffle(texts)
    mc.texts = texts
    return mc
