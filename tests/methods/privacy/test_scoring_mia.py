import math
import zlib

import pytest
import torch
from privacy_toys import FixedLM

from arx.methods.privacy import mia
from arx.methods.privacy.canaries import (
    Canaries,
    bernoulli_inclusion,
    designed_canaries,
    new_token_count,
    random_canaries,
    secret_scores,
    split_members,
)
from arx.methods.privacy.phishing import decode_digits, extraction_hits, extraction_rate, poison_sentences
from arx.methods.privacy.training import DPConfig, train_lm
from arx.methods.scoring import perplexity, sequence_logprob, sequence_loss, token_logprobs


def batch1(model, s):
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([s])).logits[0, :-1].float(), -1)
    return lp.gather(1, torch.tensor(s[1:])[:, None])[:, 0]


def test_batched_equals_batch1_any_order(gpt2):
    g = torch.Generator().manual_seed(0)
    seqs = [torch.randint(0, 16, (int(n),), generator=g).tolist() for n in torch.randint(2, 20, (40,), generator=g)]
    for bs, mt in [(7, None), (64, None), (64, 50)]:
        got = token_logprobs(gpt2, seqs, batch_size=bs, max_tokens=mt)
        for s, t in zip(seqs, got):
            assert len(t) == len(s) - 1
            assert torch.allclose(t, batch1(gpt2, s), atol=1e-5)


def test_hand_computed_scores():
    m = FixedLM([0.5, 0.25, 0.25])
    seqs = [[0, 0, 1], [1, 2]]
    assert sequence_logprob(m, seqs).tolist() == pytest.approx([math.log(0.5 * 0.25), math.log(0.25)])
    assert sequence_loss(m, seqs).tolist() == pytest.approx([-math.log(0.125) / 2, -math.log(0.25)])
    assert perplexity(m, seqs) == pytest.approx(math.exp(-math.log(0.5 * 0.25 ** 2) / 3))
    lps = token_logprobs(m, [[0, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0]])
    assert mia.min_k_score(lps, 0.2)[0] == pytest.approx(math.log(0.25))  # 2 lowest of 10: both log .25
    # zlib: log-perplexity (mean NLL: 2 tokens at p = .25, 8 at p = .5 -> 1.2 ln 2) over the compressed bytes
    assert len(zlib.compress(b"abc")) == 11
    assert mia.zlib_score(lps, ["abc"])[0] == pytest.approx(-1.2 * math.log(2) / 11)
    assert mia.reference_score(lps, lps)[0] == 0.0
    with pytest.raises(ValueError, match="at least 2 tokens"):
        token_logprobs(m, [[1]])
    with pytest.raises(ValueError, match="empty text set"):
        perplexity(m, [])
    with pytest.raises(ValueError, match="one text per"):
        mia.zlib_score(lps, [])
    with pytest.raises(ValueError, match="min-k"):
        mia.min_k_score(lps, 0.0)


def test_canaries_and_phishing_decode():
    r = random_canaries(10, 5, [3, 4, 5], seed=0)
    assert r.secret_start == 0 and all(3 <= t <= 5 for c in r.sequences for t in c)
    d = designed_canaries(10, 5, [3, 4, 5], first_new_id=40, secret_tokens=2, seed=0)
    # a random 3-token prefix, then 2 new tokens that belong to this canary alone
    assert d.secret_start == 3 and all(3 <= t <= 5 for c in d.sequences for t in c[:3])
    assert [c[3:] for c in d.sequences] == [[40 + 2 * i, 41 + 2 * i] for i in range(10)]
    assert new_token_count(10, 2) == 20
    with pytest.raises(ValueError, match="secret_tokens"):
        designed_canaries(10, 5, [3], 40, secret_tokens=5, seed=0)
    m_in, m_out = split_members(10, 4, seed=1)
    assert len(m_in) == 4 and sorted(m_in + m_out) == list(range(10))
    # the score is the mean log-prob of the secret tokens only: FixedLM gives token t probability p[t]
    toy = FixedLM([0.1, 0.2, 0.3, 0.4])
    two = Canaries([[1, 1, 3], [2, 2, 2]], secret_start=2)
    assert secret_scores(toy, two).tolist() == pytest.approx([math.log(0.4), math.log(0.3)])
    assert secret_scores(toy, Canaries([[1, 3]], 0)).tolist() == pytest.approx([(math.log(0.2) + math.log(0.4)) / 2])
    inc = bernoulli_inclusion(4000, seed=0)
    assert abs(sum(inc) / 4000 - 0.5) < 0.03 and inc == bernoulli_inclusion(4000, seed=0)
    p = poison_sentences([[0, 1]], [2, 3], 4, [0], seed=0)[0]
    assert p[:2] == [0, 1] and p[-1] == 0 and all(t in (2, 3) for t in p[2:6])
    toy = FixedLM([0.1, 0.2, 0.3, 0.4])  # digits = tokens 2, 3: the most likely continuation is all 3s
    assert decode_digits(toy, [[0]], [2, 3], 3) == [[3, 3, 3]]
    assert decode_digits(toy, [[0]], [2, 3], 3, beams=3) == [[3, 3, 3]]
    assert extraction_rate(toy, [[0], [1]], [[3, 3], [2, 3]], [2, 3]) == 0.5
    assert extraction_hits(toy, [[0], [1]], [[3, 3], [2, 3]], [2, 3]) == [1, 0]


def test_dp_training_spends_target_epsilon(gpt2):
    import copy

    model = copy.deepcopy(gpt2)
    seqs = [list(range(i % 5, i % 5 + 8)) for i in range(128)]
    info = train_lm(model, seqs, epochs=2, batch_size=32, lr=1e-3, dp=DPConfig(epsilon=4.0))
    assert info["epsilon_spent"] == pytest.approx(4.0, abs=0.1) and info["noise_multiplier"] > 0
    plain = copy.deepcopy(gpt2)
    before = perplexity(plain, seqs)
    train_lm(plain, seqs, epochs=3, batch_size=16, lr=3e-3)
    assert perplexity(plain, seqs) < before
