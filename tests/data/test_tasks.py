"""Tasks: determinism, disjoint splits, exact-match scorer and greedy check on hand-made cases, bad inputs."""

from types import SimpleNamespace

import pytest
import torch

from arx.data import evaluate_task, exact_match, greedy_correct, task_suite, train_tokenizer
from arx.data.tasks import END


def test_same_seed_identical_different_seed_differs():
    a, b, c = (task_suite(s, max_operand=10, n_arith_test=20, n_objects=10, n_sentiment_train=30,
                          n_sentiment_test=10).to_json() for s in (5, 5, 6))
    assert a == b and a != c


def test_splits_disjoint_and_answers_correct():
    ts = task_suite(0, max_operand=12, n_arith_test=30, n_objects=20, n_sentiment_train=60, n_sentiment_test=20)
    assert set(ts.tasks) == {"arithmetic", "mcq", "sentiment"}
    for t in ts.tasks.values():
        assert t.train and t.test and not {p for p, _ in t.train} & {p for p, _ in t.test}
    for p, a in ts.tasks["arithmetic"].train + ts.tasks["arithmetic"].test:
        x, op, y, eq = p.split()
        assert eq == "=" and int(a) == (int(x) + int(y) if op == "+" else int(x) - int(y)) and int(a) >= 0
    for p, a in ts.tasks["sentiment"].train:
        words = p.replace(",", " ").split()
        from arx.data.tasks import POSITIVE
        assert a == ("positive" if sum(w in POSITIVE for w in words) >= 2 else "negative")
    mcq = ts.tasks["mcq"]
    subj = lambda p: p.split("?")[0].split()[-1] if "color" in p else p.split("made")[0].split()[-1]  # noqa: E731
    assert not {subj(p) for p, _ in mcq.train} & {subj(p) for p, _ in mcq.test}  # disjoint facts
    for p, a in mcq.train + mcq.test:
        assert p.startswith("Q :") and p.endswith("Answer :") and a in "ABCD"
        ans = p.split(f"{a} )")[1].split(")")[0].split()[0]
        assert any(b.startswith(f"the {subj(p)} is made of {ans}") or b == f"the color of the {subj(p)} is {ans}"
                   for b in ts.background)
    assert all(t.endswith(f" {END}") for t in ts.train_texts()[len(ts.background):])


def test_exact_match_hand_made():
    assert exact_match(["19", "1 9", "7 .", "B"], ["19", "19", "8", " B "]) == 0.75
    with pytest.raises(ValueError, match="2 predictions but 1 answers"):
        exact_match(["1", "2"], ["1"])


class _OracleLM(torch.nn.Module):
    """Predicts the next token from a table prefix -> next id (else token 0)."""

    def __init__(self, vocab, table):
        super().__init__()
        self.p, self.vocab, self.table = torch.nn.Parameter(torch.zeros(1)), vocab, table

    def forward(self, input_ids, attention_mask=None):
        out = torch.zeros(*input_ids.shape, self.vocab)
        for b, row in enumerate(input_ids.tolist()):
            for t in range(len(row)):
                out[b, t, self.table.get(tuple(row[:t + 1]), 0)] = 1.0
        return SimpleNamespace(logits=out)


def test_greedy_correct_hand_made():
    ex = [("3 + 4 =", "7"), ("12 + 7 =", "19"), ("5 - 1 =", "4")]
    tok = train_tokenizer([f"{p} {a} {END}" for p, a in ex] + ["0 1 2 3 4 5 6 7 8 9"], 60)
    table = {}
    for k, (p, a) in enumerate(ex):
        ids = tok(f"{p} {a} {END}", add_special_tokens=False)["input_ids"]
        for t in range(len(ids) - 1):
            table[tuple(ids[:t + 1])] = ids[t + 1]
        if k == 1:  # second example: right answer but no end mark -> not an exact match
            table[tuple(ids[:-1])] = tok("9", add_special_tokens=False)["input_ids"][-1]
    lm = _OracleLM(len(tok), table)
    assert greedy_correct(lm, tok, ex, batch_size=2) == [True, False, True]
    from arx.data.tasks import Task
    assert evaluate_task(lm, tok, Task("t", "exact_match", ex, ex[:1]), "train") == {"n": 3, "exact_match": 2 / 3}


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="max_operand"):
        task_suite(0, max_operand=0)
    with pytest.raises(ValueError, match="n_test"):
        task_suite(0, max_operand=3, n_arith_test=50)
    with pytest.raises(ValueError, match="split must be"):
        task_suite(0, max_operand=5, n_arith_test=3, n_objects=4, n_sentiment_train=5,
                   n_sentiment_test=2).tasks["mcq"].split("dev")
