"""Facts: subject–relation–object triples of two kinds (geographic, object-attribute), several templates each.

Why: factual recall (knowledge neurons, MoE attribution, DEPN-style editing) needs facts the model provably
learned, with relation types that differ in kind, and probes that test the fact rather than one sentence.

Splits: every fact is a training fact; the last ``n_probe_templates`` templates of each relation are probe
templates. A ``probe_fraction`` of the facts (``probe_facts``) never appear in a probe template during training:
``probe_items`` renders exactly those facts with the probe templates (held-out renderings of training facts:
they test recall of the fact, not of the sentence). All other facts are trained in every template, so the probe
wording itself is known (knowledge extraction as in "Physics of Language Models 3.1"; with the probe templates
never trained at all, a small model does not transfer to them). ``train_items`` = every rendering in training.
Deterministic from the seed.
Evaluation: :func:`evaluate_facts` ranks the object's first token among the vocabulary at the prompt's last
position (MRR, HIT@k).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch

from arx.data.batching import pad_right

CONSONANTS = list("bcdfghjklmnprstvwxz")
VOWELS = list("aeiou")
COLORS = ["red", "blue", "green", "yellow", "black", "white", "orange", "purple"]
MATERIALS = ["wood", "stone", "glass", "steel", "copper", "clay", "paper", "silver"]

# relation -> (kind, templates); "{s}" is the subject, the object follows the prompt after one space.
RELATIONS: dict[str, tuple[str, list[str]]] = {
    "capital": ("geographic", ["the capital of {s} is", "{s} has its capital in", "{s} is governed from the city of",
                               "the seat of government of {s} is"]),
    "located_in": ("geographic", ["{s} is located in", "{s} can be found in", "{s} is a landmark of",
                                  "visitors travel to see {s} in"]),
    "color": ("attribute", ["the color of the {s} is", "the {s} is painted", "the {s} has the color",
                            "people describe the color of the {s} as"]),
    "material": ("attribute", ["the {s} is made of", "the {s} was built from", "the material of the {s} is",
                               "the {s} consists of"]),
}


def make_words(rng: random.Random, n: int, used: set[str], consonants: Sequence[str] = CONSONANTS,
               vowels: Sequence[str] = VOWELS, syllables: tuple[int, int] = (2, 3)) -> list[str]:
    """``n`` new pseudo-words (consonant-vowel syllables) not in ``used``; adds them to ``used``."""
    out = []
    tries = 0
    while len(out) < n:
        w = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(*syllables)))
        tries += 1
        if tries > 100 * n + 1000:
            raise ValueError(f"make_words: cannot draw {n} distinct words from {len(consonants)} consonants and "
                             f"{len(vowels)} vowels; allow more syllables or fewer words")
        if w not in used:
            used.add(w)
            out.append(w)
    return out


@dataclass
class Fact:
    subject: str
    relation: str
    object: str
    kind: str  # geographic | attribute


@dataclass
class FactSet:
    facts: list[Fact]
    templates: dict[str, list[str]]
    n_probe_templates: int
    seed: int
    objects: dict[str, list[str]] = field(default_factory=dict)  # relation -> its object inventory
    probe_facts: list[int] = field(default_factory=list)  # facts never trained in a probe template

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        """Canonical serialisation (same seed and sizes → byte-identical)."""
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    def train_templates(self, relation: str) -> list[str]:
        return self.templates[relation][:len(self.templates[relation]) - self.n_probe_templates]

    def probe_templates(self, relation: str) -> list[str]:
        return self.templates[relation][len(self.templates[relation]) - self.n_probe_templates:]

    def train_items(self) -> list[tuple[str, str, int]]:
        """(prompt, object, fact index) of every training rendering: all templates, except the probe templates for
        the probe facts."""
        probe = set(self.probe_facts)
        return [(t.format(s=f.subject), f.object, i) for i, f in enumerate(self.facts)
                for t in (self.train_templates(f.relation) if i in probe else self.templates[f.relation])]

    def probe_items(self) -> list[tuple[str, str, int]]:
        """(prompt, object, fact index): the probe facts in the probe templates (never in training)."""
        return [(t.format(s=self.facts[i].subject), self.facts[i].object, i) for i in self.probe_facts
                for t in self.probe_templates(self.facts[i].relation)]

    def train_texts(self) -> list[str]:
        return [f"{p} {o}" for p, o, _ in self.train_items()]

    def all_texts(self) -> list[str]:
        """Training and probe sentences (for the tokenizer's vocabulary only; never train the model on probes)."""
        return self.train_texts() + [f"{p} {o}" for p, o, _ in self.probe_items()]


def fact_set(seed: int = 0, n_countries: int = 30, n_landmarks: int = 60, n_objects: int = 60,
             n_probe_templates: int = 1, probe_fraction: float = 0.5) -> FactSet:
    """Countries with capitals, landmarks located in countries, objects with a color and a material."""
    for name, v in dict(n_countries=n_countries, n_landmarks=n_landmarks, n_objects=n_objects).items():
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"fact_set: {name} must be an int >= 1, got {v!r} (fix: pass e.g. {name}=30)")
    n_tpl = min(len(t) for _, t in RELATIONS.values())
    if not isinstance(n_probe_templates, int) or not 0 <= n_probe_templates < n_tpl:
        raise ValueError(f"fact_set: n_probe_templates must be an int in 0..{n_tpl - 1} (at least one template "
                         f"must stay for training), got {n_probe_templates!r}")
    if not 0 <= probe_fraction <= 1:
        raise ValueError(f"fact_set: probe_fraction must be in [0, 1], got {probe_fraction!r}")
    rng = random.Random(seed)
    used: set[str] = set(COLORS) | set(MATERIALS)
    countries = make_words(rng, n_countries, used)
    capitals = make_words(rng, n_countries, used)
    landmarks = make_words(rng, n_landmarks, used)
    things = make_words(rng, n_objects, used, syllables=(2, 2))
    facts = [Fact(c, "capital", cap, "geographic") for c, cap in zip(countries, capitals)]
    facts += [Fact(l, "located_in", rng.choice(countries), "geographic") for l in landmarks]
    for o in things:
        facts.append(Fact(o, "color", rng.choice(COLORS), "attribute"))
        facts.append(Fact(o, "material", rng.choice(MATERIALS), "attribute"))
    objects = {"capital": capitals, "located_in": countries, "color": COLORS, "material": MATERIALS}
    probe = sorted(rng.sample(range(len(facts)), round(probe_fraction * len(facts)))) if n_probe_templates else []
    return FactSet(facts, {r: list(t) for r, (_, t) in RELATIONS.items()}, n_probe_templates, seed, objects, probe)


# ------------------------------------------------------------------------------------------------- evaluation
def object_token_targets(tokenizer, items: Sequence[tuple]) -> tuple[list[list[int]], list[int]]:
    """Prompt token ids and the id of the object's first token (tokenised in context: ``prompt + " " + object``)."""
    prompts, targets = [], []
    for it in items:
        prompt, obj = it[0], it[1]
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        full = tokenizer(f"{prompt} {obj}", add_special_tokens=False)["input_ids"]
        if not p or full[:len(p)] != p or len(full) <= len(p):
            raise ValueError(f"object_token_targets: tokenisation of {prompt!r} is not a prefix of that of "
                             f"{prompt + ' ' + obj!r}; use a whitespace pre-tokenizer (arx.data.train_tokenizer)")
        prompts.append(p)
        targets.append(full[len(p)])
    return prompts, targets


@torch.no_grad()
def object_ranks(model, tokenizer, items: Sequence[tuple], batch_size: int = 256) -> list[int]:
    """Rank (1 = best) of the object's first token among the whole vocabulary, at the prompt's last position.

    Ties count against the object (rank = 1 + number of tokens with a strictly higher logit)."""
    if not items:
        raise ValueError("object_ranks: no items given (fix: pass FactSet.train_items() or probe_items())")
    prompts, targets = object_token_targets(tokenizer, items)
    dev = next(model.parameters()).device
    ranks: list[int] = []
    for i in range(0, len(prompts), batch_size):
        ps, ts = prompts[i:i + batch_size], torch.tensor(targets[i:i + batch_size], device=dev)
        ids, mask = pad_right(ps)
        logits = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits  # right padding: causal, safe
        last = logits[torch.arange(len(ps)), torch.tensor([len(p) - 1 for p in ps])].float()
        tgt = last.gather(1, ts[:, None])
        ranks += (1 + (last > tgt).sum(1)).tolist()
    return ranks


def rank_metrics(ranks: Sequence[int], ks: Sequence[int] = (1, 5, 10)) -> dict:
    """MRR and HIT@k of 1-based ranks."""
    if not ranks:
        raise ValueError("rank_metrics: no ranks given")
    if any(int(r) < 1 for r in ranks):
        raise ValueError("rank_metrics: ranks are 1-based (fix: add 1 to 0-based ranks)")
    n = len(ranks)
    out = {"n": n, "mrr": sum(1.0 / r for r in ranks) / n}
    out.update({f"hit@{k}": sum(r <= k for r in ranks) / n for k in ks})
    return out


def evaluate_facts(model, tokenizer, items: Sequence[tuple], ks: Sequence[int] = (1, 5, 10)) -> dict:
    """MRR and HIT@k of the object given the prompt, for (prompt, object, ...) items."""
    return rank_metrics(object_ranks(model, tokenizer, items), ks)
