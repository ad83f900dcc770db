"""Private corpus: background sentences, PII records and random-digit canaries repeated 1, 2, 4, ..., 64 times.

Why: memorisation/exposure (Secret Sharer, DEPN, privacy auditing) needs secrets with controlled repetition and
held-out canaries from the same distribution as non-members. Deterministic from the seed.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field

FIRST = ["anna", "ben", "carla", "dmitri", "elena", "farid", "greta", "hugo", "ines", "jonas", "kira", "liam"]
LAST = ["meyer", "novak", "olsen", "petrov", "quinn", "rossi", "silva", "tanaka", "ueda", "vogel", "weber", "young"]
STREETS = ["oak street", "mill road", "lake avenue", "hill lane", "park way", "river drive"]
CITIES = ["lindau", "orvik", "santel", "brevo", "kalmar", "tessin"]
TOPICS = ["the weather", "the market", "the train", "the garden", "the report", "the meeting", "the library"]
VERBS = ["was", "seemed", "became", "stayed"]
ADJ = ["quiet", "busy", "late", "early", "green", "closed", "open", "cold"]
CANARY_PREFIX = "my secret code is"


@dataclass
class PrivateCorpus:
    texts: list[str]
    records: list[dict]
    canaries: dict[str, int]  # secret digits -> times inserted
    heldout: list[str]  # never inserted, same distribution
    canary_prefix: str = CANARY_PREFIX
    repetitions: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def private_corpus(seed: int = 0, n_background: int = 2000, n_records: int = 200, max_rep_exp: int = 6,
                   canaries_per_rep: int = 2, n_heldout: int = 20, secret_len: int = 6) -> PrivateCorpus:
    """Background + PII + canaries (each ``canaries_per_rep`` canaries at 2**0..2**max_rep_exp repeats), shuffled."""
    if min(n_background, n_records, canaries_per_rep, n_heldout, secret_len) < 0 or secret_len < 1:
        raise ValueError("private_corpus: sizes must be >= 0 and secret_len >= 1")
    rng = random.Random(seed)
    texts = [f"{rng.choice(TOPICS)} {rng.choice(VERBS)} {rng.choice(ADJ)} in {rng.choice(CITIES)}"
             for _ in range(n_background)]
    records = []
    for _ in range(n_records):
        f, l = rng.choice(FIRST), rng.choice(LAST)
        r = dict(name=f"{f} {l}", phone=_digits(rng, 3) + " " + _digits(rng, 4), email=f"{f}.{l}{rng.randrange(100)}@mail.org",
                 address=f"{rng.randrange(1, 200)} {rng.choice(STREETS)} {rng.choice(CITIES)}", id_number=_digits(rng, 8))
        records.append(r)
        texts.append(f"{r['name']} lives at {r['address']} , phone {r['phone']} , email {r['email']} , id {r['id_number']}")
    reps = [2 ** i for i in range(max_rep_exp + 1)]
    seen: set[str] = set()

    def fresh() -> str:
        while (s := _digits(rng, secret_len)) in seen:
            pass
        seen.add(s)
        return s
    canaries = {fresh(): r for r in reps for _ in range(canaries_per_rep)}
    heldout = [fresh() for _ in range(n_heldout)]
    texts += [f"{CANARY_PREFIX} {s}" for s, r in canaries.items() for _ in range(r)]
    rng.shuffle(texts)
    return PrivateCorpus(texts, records, canaries, heldout, CANARY_PREFIX, reps)
