"""Batched sequence scoring vs an LLM-PBE-style batch-1 loop, and exact exposure throughput (docs/methods.md §3).

Same model, same 1,000 member + 1,000 non-member texts, same LOSS metric: (a) one text per forward (LLM-PBE
``_get_score``), (b) ``arx.methods.scoring`` (length-sorted buckets, padding masked). Prints texts/s of both, the ratio,
max |score_a − score_b| and |AUC_a − AUC_b|. Exposure: all 10^4 candidates of a 4-digit secret by the digit-trie walk
vs scoring the 10^4 full sequences (batched), candidates/s and max |log-prob difference|; then 100 canaries against
10^4 references (interpolation + extrapolation) end to end.

    python benchmarks/privacy_scoring.py [--threads 1]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from arx.data.chars import DIGITS, encode, line, name, zipf_sentences
from arx.experiments.privacy import build
from arx.methods.privacy.exposure import (
    digit_space_logprobs,
    extrapolation_exposure,
    interpolation_exposure,
    log_perplexity_bits,
)
from arx.methods.privacy.roc import auc
from arx.methods.scoring import token_logprobs


def loop_loss(model, seqs):
    """LLM-PBE style: one text per forward, mean NLL."""
    out = []
    for s in seqs:
        ids = torch.tensor([s])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, :-1].float()
        out.append(-float(torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None]).double().mean()))
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = {"model": {"n_layer": 2, "n_embd": 64, "n_head": 4, "n_inner": 256}}  # the small-scale privacy model
    model = build(cfg, 0)
    g = torch.Generator().manual_seed(0)
    texts = zipf_sentences(2000, g)
    seqs = [line(s) for s in texts]

    t = time.perf_counter()
    a = loop_loss(model, seqs)
    ta = time.perf_counter() - t
    t = time.perf_counter()
    b = np.array([-float(x.double().mean()) for x in token_logprobs(model, seqs, batch_size=128)])
    tb = time.perf_counter() - t
    auc_a, auc_b = auc(-a[:1000], -a[1000:]), auc(-b[:1000], -b[1000:])
    print(f"scoring 2000 texts: batch-1 loop {len(seqs) / ta:.0f} texts/s, batched {len(seqs) / tb:.0f} texts/s, "
          f"ratio {ta / tb:.1f}x; max|score diff| {np.abs(a - b).max():.2e}; |AUC diff| {abs(auc_a - auc_b):.1e}")

    prefix = encode(f"\n{name(g)} pin ")
    t = time.perf_counter()
    trie = digit_space_logprobs(model, prefix, DIGITS, 4)
    tt = time.perf_counter() - t
    full_seqs = [prefix + [DIGITS[int(c)] for c in f"{i:04d}"] for i in range(10_000)]
    t = time.perf_counter()
    full = torch.stack([x[-4:].double().sum() for x in token_logprobs(model, full_seqs, batch_size=1024)])
    tf = time.perf_counter() - t
    print(f"exact exposure space 10^4: trie {1e4 / tt:.0f} cand/s, full-sequence batched {1e4 / tf:.0f} cand/s, "
          f"ratio {tf / tt:.1f}x; max|logp diff| {float((trie - full).abs().max()):.1e}")

    t = time.perf_counter()
    ref = log_perplexity_bits(trie)
    can = [[DIGITS[int(c)] for c in f"{int(i):04d}"] for i in torch.randint(0, 10_000, (100,), generator=g)]
    cpx = log_perplexity_bits(np.array([float(x[-4:].double().sum())
                                        for x in token_logprobs(model, [prefix + c for c in can])]))
    interpolation_exposure(cpx, ref), extrapolation_exposure(cpx, ref)
    print(f"100 canaries vs 10^4 references (trie + interpolation + extrapolation): {tt + time.perf_counter() - t:.1f} s "
          f"(goal <= 60 s)")
    assert np.abs(a - b).max() <= 1e-5 and float((trie - full).abs().max()) <= 1e-4, "scores differ"


if __name__ == "__main__":
    main()
