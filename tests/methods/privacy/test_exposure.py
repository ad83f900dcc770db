import math

import numpy as np
import pytest
import torch
from privacy_toys import FixedLM
from scipy.stats import skewnorm

from arx.methods.privacy.exposure import (
    digit_secret_exposure,
    digit_space_logprobs,
    exact_exposure,
    extrapolation_exposure,
    interpolation_exposure,
    log_perplexity_bits,
)
from arx.methods.scoring import token_logprobs

# vocab: token 0 = prefix token, tokens 1..10 = digits 0..9. Digit "0" has p = 0.5, "1" p = 0.2, the rest 0.0375.
PROBS = [0.0] + [0.5, 0.2] + [0.3 / 8] * 8
DIG = list(range(1, 11))


def test_exposure_hand_computed():
    m = FixedLM([1e-12] + PROBS[1:])
    # "00" is the unique most likely string: rank 1 -> exposure = log2(100)
    assert digit_secret_exposure(m, [0], [0, 0], DIG) == pytest.approx(math.log2(100))
    # "01" ties with "10"; only "00" is strictly more likely: rank 2
    assert digit_secret_exposure(m, [0], [0, 1], DIG) == pytest.approx(math.log2(100) - 1)
    # "11" (p = .04): strictly more likely are 00 (.25), 01 and 10 (.1); 0k/k0 for k >= 2 have .01875 -> rank 4
    assert digit_secret_exposure(m, [0], [1, 1], DIG) == pytest.approx(math.log2(100) - 2)
    # "99" (p = .0375^2): above it are 00, 01, 10, 11 and 0k, k0, 1k, k1 for k >= 2 (32) -> rank 37
    assert digit_secret_exposure(m, [0], [9, 9], DIG) == pytest.approx(math.log2(100) - math.log2(37))


def test_trie_walk_equals_full_sequence_scoring(gpt2):
    prefix, dig = [3, 4, 5], list(range(6, 16))
    lp = digit_space_logprobs(gpt2, prefix, dig, 3, batch_size=37)
    seqs = [prefix + [dig[int(c)] for c in f"{i:03d}"] for i in range(1000)]
    full = torch.stack([t[-3:].double().sum() for t in token_logprobs(gpt2, seqs, batch_size=256)])
    assert torch.allclose(lp, full, atol=1e-5)
    assert float(torch.logsumexp(lp, 0)) <= 1e-6  # a sub-distribution over the digit strings


def test_interpolation_with_all_candidates_is_exact(gpt2):
    px = log_perplexity_bits(digit_space_logprobs(gpt2, [1, 2], list(range(6, 16)), 3))
    for idx in [0, 17, 523, 999, int(np.argmin(px)), int(np.argmax(px))]:
        assert interpolation_exposure(px[idx], px)[0] == exact_exposure(px[idx], px)[0]
    assert exact_exposure(px.min(), px)[0] == pytest.approx(math.log2(1000))
    assert exact_exposure(px.max(), px)[0] >= 0


def test_extrapolation_recovers_skewnormal_tail():
    ref = skewnorm.rvs(3.0, loc=20, scale=4, size=20000, random_state=np.random.default_rng(0))
    for x in [16.0, 18.0, 21.0]:
        truth = -math.log2(skewnorm.cdf(x, 3.0, loc=20, scale=4))
        assert extrapolation_exposure(x, ref)[0] == pytest.approx(truth, abs=0.5)
        if truth < 8:  # interpolation: 2^-8·N ≈ 80 refs below, sampling noise ≈ 1/sqrt(80) relative ≈ 0.16 bit
            assert abs(interpolation_exposure(x, ref)[0] - truth) < 0.4


def test_bad_inputs():
    with pytest.raises(ValueError, match="reference"):
        interpolation_exposure(1.0, np.array([]))
    with pytest.raises(ValueError, match="at least 3"):
        extrapolation_exposure(1.0, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="prefix"):
        digit_space_logprobs(FixedLM(PROBS), [], DIG, 2)
