"""Training determinism on CPU and resume from the last intermediate checkpoint."""

import torch

from arx.data import train_tokenizer
from arx.models import build_model, train

torch.set_num_threads(1)
TEXTS = [f"item {i} costs {i * 7 % 100} coins" for i in range(40)]


def _run(tok, out=None, steps=6, every=0):
    m = build_model("gpt2", "xs", len(tok), seed=0)
    res = train(m, tok, TEXTS, dict(steps=steps, batch_size=4, seq_len=12, seed=5, warmup=2,
                                    checkpoint_every=every, out_dir=str(out) if out else None))
    return m, res


def test_same_seed_identical_weights():
    tok = train_tokenizer(TEXTS, vocab_size=60)
    (a, ra), (b, rb) = _run(tok), _run(tok)
    assert ra.losses == rb.losses
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    assert ra.losses[-1] < ra.losses[0]


def test_resume_from_last_checkpoint_matches_uninterrupted(tmp_path):
    tok = train_tokenizer(TEXTS, vocab_size=60)
    full, rf = _run(tok, tmp_path / "full", steps=6, every=3)
    _run(tok, tmp_path / "cut", steps=6, every=3)
    import shutil
    shutil.rmtree(tmp_path / "cut" / "checkpoints" / "step_6")  # as if killed between steps 3 and 6
    assert (tmp_path / "cut" / "checkpoints" / "step_3" / "model.safetensors").exists()
    resumed, rr = _run(tok, tmp_path / "cut", steps=6, every=3)
    assert rr.resumed_from == 3 and rr.losses == rf.losses
    assert all(torch.allclose(p, q) for p, q in zip(full.state_dict().values(), resumed.state_dict().values()))


def test_changed_config_does_not_resume(tmp_path):
    tok = train_tokenizer(TEXTS, vocab_size=60)
    _run(tok, tmp_path, steps=3, every=3)
    _, r = _run(tok, tmp_path, steps=6, every=3)
    assert r.resumed_from == 0
    _run(tok, tmp_path, steps=4, every=2)  # a fresh start drops the other config's checkpoints (step_3, step_6)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step_2", "step_4"]
