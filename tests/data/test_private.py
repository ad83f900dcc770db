import json

import pytest

from arx.data import private_corpus


def test_same_seed_identical_different_seed_differs():
    a, b, c = (json.dumps(private_corpus(s, n_background=50, n_records=10).to_dict()) for s in (3, 3, 4))
    assert a == b and a != c


def test_canary_repetitions_and_heldout_disjoint():
    pc = private_corpus(0, n_background=20, n_records=5)
    assert sorted(set(pc.canaries.values())) == [1, 2, 4, 8, 16, 32, 64]
    for s, r in pc.canaries.items():
        assert sum(t == f"{pc.canary_prefix} {s}" for t in pc.texts) == r
    assert not set(pc.heldout) & set(pc.canaries)
    assert not any(t == f"{pc.canary_prefix} {h}" for h in pc.heldout for t in pc.texts)


def test_bad_sizes():
    with pytest.raises(ValueError, match="secret_len"):
        private_corpus(0, secret_len=0)
