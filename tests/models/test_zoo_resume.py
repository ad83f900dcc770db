"""arx.models training as the zoo uses it: resuming restores every weight (the zoo experiment itself is tested in
tests/experiments/test_zoo.py)."""

import pytest
import torch

from arx.data import train_tokenizer
from arx.models import build_model

torch.set_num_threads(1)


@pytest.mark.parametrize("family", ["mixtral", "llama"])
def test_resume_restores_every_weight(family, tmp_path):
    """Resuming from the last checkpoint restores MoE expert weights too (saved per expert, held fused)."""
    from arx.models import train
    texts = [f"w{i % 7} v{i % 5} u{i % 3}" for i in range(30)]
    tok = train_tokenizer(texts, 40)
    cfg = dict(steps=4, batch_size=4, seq_len=8, seed=1, warmup=1, checkpoint_every=4, out_dir=str(tmp_path))
    a = build_model(family, "xs", len(tok), seed=0)
    train(a, tok, texts, cfg)
    b = build_model(family, "xs", len(tok), seed=0)
    r = train(b, tok, texts, cfg)  # resumes at step 4 = the end: weights must equal a's
    assert r.resumed_from == 4
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
