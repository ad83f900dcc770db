"""Small supervised tasks for adaptation (quantization-aware / LoRA / ternary fine-tuning): arithmetic, MMLU-like
multiple choice over facts, and sentiment classification, each with disjoint train/test splits.

Why: adaptation methods need tasks with an exact score that a small model can learn in minutes. Every example is
``(prompt, answer)``; the training text is ``prompt + " " + answer + " ."`` (" ." ends the answer). Exact match:
the greedy continuation of the prompt is the answer followed by the end mark, compared after removing whitespace
(the digit tokenizer decodes "19" as "1 9"). The MCQ questions ask about facts whose statements are in
``background`` (knowledge), and its train/test splits use disjoint facts. Deterministic from the seed.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch

from arx.data.batching import pad_right
from arx.data.facts import COLORS, MATERIALS, fact_set

END = "."
LETTERS = "ABCD"
POSITIVE = ["great", "lovely", "fresh", "warm", "tasty", "bright", "calm", "clean"]
NEGATIVE = ["awful", "stale", "cold", "bland", "dirty", "noisy", "rude", "broken"]
NEUTRAL = ["soup", "room", "bread", "staff", "garden", "train", "music", "coffee", "view", "table"]


@dataclass
class Task:
    name: str
    metric: str  # exact_match (accuracy for the choice tasks: the answer is one letter / label)
    train: list[tuple[str, str]]
    test: list[tuple[str, str]]
    choices: list[str] = field(default_factory=list)  # the closed answer set, if any

    def texts(self, split: str = "train") -> list[str]:
        return [f"{p} {a} {END}" for p, a in self.split(split)]

    def split(self, split: str) -> list[tuple[str, str]]:
        if split not in ("train", "test"):
            raise ValueError(f"Task.split: split must be 'train' or 'test', got {split!r}")
        return self.train if split == "train" else self.test


@dataclass
class TaskSuite:
    tasks: dict[str, Task]
    background: list[str]  # knowledge the MCQ questions ask about (fact statements)
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1)

    def train_texts(self) -> list[str]:
        return list(self.background) + [t for task in self.tasks.values() for t in task.texts("train")]

    def all_texts(self) -> list[str]:
        return self.train_texts() + [t for task in self.tasks.values() for t in task.texts("test")]


def _split(rng: random.Random, items: list, n_test: int) -> tuple[list, list]:
    items = list(items)
    rng.shuffle(items)
    return items[n_test:], items[:n_test]


def arithmetic_task(rng: random.Random, max_operand: int = 30, n_test: int = 100) -> Task:
    pairs = [(a, b, op) for a in range(max_operand) for b in range(max_operand) for op in "+-" if op == "+" or a >= b]
    if n_test >= len(pairs):
        raise ValueError(f"arithmetic_task: n_test={n_test} must be < the {len(pairs)} problems "
                         f"(fix: lower n_test or raise max_operand)")
    tr, te = _split(rng, pairs, n_test)
    ex = lambda p: (f"{p[0]} {p[2]} {p[1]} =", str(p[0] + p[1] if p[2] == "+" else p[0] - p[1]))  # noqa: E731
    return Task("arithmetic", "exact_match", [ex(p) for p in tr], [ex(p) for p in te])


def mcq_task(rng: random.Random, seed: int, n_objects: int = 60, test_fraction: float = 0.2
             ) -> tuple[Task, list[str]]:
    fs = fact_set(seed + 1, n_countries=1, n_landmarks=1, n_objects=n_objects, n_probe_templates=0)
    facts = [f for f in fs.facts if f.relation in ("color", "material")]
    background = [f"{fs.templates[f.relation][0].format(s=f.subject)} {f.object}" for f in facts]
    subjects = sorted({f.subject for f in facts})
    n_test = max(1, round(test_fraction * len(subjects)))
    train_s, test_s = _split(rng, subjects, n_test)
    question = {"color": "what is the color of the {s} ?", "material": "what is the {s} made of ?"}
    def ex(f):
        pool = COLORS if f.relation == "color" else MATERIALS
        opts = [f.object] + rng.sample([o for o in pool if o != f.object], 3)
        rng.shuffle(opts)
        body = " ".join(f"{LETTERS[i]} ) {o}" for i, o in enumerate(opts))
        return f"Q : {question[f.relation].format(s=f.subject)} {body} Answer :", LETTERS[opts.index(f.object)]
    tr = [ex(f) for s in train_s for f in facts if f.subject == s]
    te = [ex(f) for s in test_s for f in facts if f.subject == s]
    return Task("mcq", "exact_match", tr, te, list(LETTERS)), background


def sentiment_task(rng: random.Random, n_train: int = 400, n_test: int = 100) -> Task:
    seen: set[str] = set()
    out = []
    while len(out) < n_train + n_test:
        n_pos = rng.choice([0, 1, 2, 3])
        words = rng.sample(POSITIVE, n_pos) + rng.sample(NEGATIVE, 3 - n_pos)
        rng.shuffle(words)
        text = f"review : the {rng.choice(NEUTRAL)} was {words[0]} , {words[1]} and {words[2]} . sentiment :"
        if text in seen:
            continue
        seen.add(text)
        out.append((text, "positive" if n_pos >= 2 else "negative"))
    return Task("sentiment", "exact_match", out[n_test:], out[:n_test], ["positive", "negative"])


def task_suite(seed: int = 0, max_operand: int = 30, n_arith_test: int = 100, n_objects: int = 60,
               n_sentiment_train: int = 400, n_sentiment_test: int = 100) -> TaskSuite:
    """Arithmetic (a ± b), MCQ over object facts, and 3-adjective sentiment (label = majority)."""
    for name, v in dict(max_operand=max_operand, n_arith_test=n_arith_test, n_objects=n_objects,
                        n_sentiment_train=n_sentiment_train, n_sentiment_test=n_sentiment_test).items():
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"task_suite: {name} must be an int >= 1, got {v!r}")
    if n_sentiment_train + n_sentiment_test > 1000:
        raise ValueError("task_suite: n_sentiment_train + n_sentiment_test must be <= 1000 (distinct reviews)")
    rng = random.Random(seed)
    arith = arithmetic_task(rng, max_operand, n_arith_test)
    mcq, background = mcq_task(rng, seed, n_objects)
    senti = sentiment_task(rng, n_sentiment_train, n_sentiment_test)
    return TaskSuite({t.name: t for t in (arith, mcq, senti)}, background, seed)


# ------------------------------------------------------------------------------------------------- scoring
def _norm(s: str) -> str:
    return "".join(s.split())


def exact_match(predictions: Sequence[str], answers: Sequence[str]) -> float:
    """Fraction of predictions equal to the answer after removing whitespace (and a trailing end mark)."""
    if len(predictions) != len(answers):
        raise ValueError(f"exact_match: {len(predictions)} predictions but {len(answers)} answers "
                         "(fix: one prediction per example)")
    if not answers:
        raise ValueError("exact_match: no examples given")
    strip = lambda s: _norm(s)[:-len(END)] if _norm(s).endswith(END) else _norm(s)  # noqa: E731
    return sum(strip(p) == strip(a) for p, a in zip(predictions, answers)) / len(answers)


@torch.no_grad()
def greedy_correct(model, tokenizer, examples: Sequence[tuple[str, str]], batch_size: int = 256) -> list[bool]:
    """Per example: does greedy decoding from the prompt produce exactly ``answer`` then the end mark?

    Computed teacher-forced in one pass (greedy output equals the target iff the argmax at every target position
    is the target token), which is exact and much faster than generating."""
    if not examples:
        raise ValueError("greedy_correct: no examples given")
    seqs, starts = [], []
    for prompt, answer in examples:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        full = tokenizer(f"{prompt} {answer} {END}", add_special_tokens=False)["input_ids"]
        if full[:len(p)] != p:
            raise ValueError(f"greedy_correct: tokenisation of {prompt!r} is not a prefix of the full example")
        seqs.append(full)
        starts.append(len(p))
    dev = next(model.parameters()).device
    out: list[bool] = []
    for i in range(0, len(seqs), batch_size):
        ss, st = seqs[i:i + batch_size], starts[i:i + batch_size]
        ids, mask = pad_right(ss)
        pred = model(input_ids=ids.to(dev), attention_mask=mask.to(dev)).logits.argmax(-1).cpu()
        for j, s in enumerate(ss):
            out.append(bool((pred[j, st[j] - 1:len(s) - 1] == torch.tensor(s[st[j]:])).all()))
    return out


def evaluate_task(model, tokenizer, task: Task, split: str = "test") -> dict:
    """Exact-match accuracy of greedy answers on ``split`` (see :func:`greedy_correct`)."""
    ok = greedy_correct(model, tokenizer, task.split(split))
    return {"n": len(ok), task.metric: sum(ok) / len(ok)}
