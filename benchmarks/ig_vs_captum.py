"""IG over FFN neurons: ours vs captum LayerIntegratedGradients (per layer) vs the KN/DEPN reference loop.

Protocol (docs/methods.md §1): same causal LM (fp32), same prompts, m = 20, left Riemann rule, target = gold-token
softmax probability at the last position, post-activation FFN neurons; warm-up, median of repeats of the whole prompt
set (contenders round-robin within each repeat); prints prompts/s, ratios and fidelity (Pearson r, Spearman ρ, top-20
Jaccard) of each of ours against captum and the loop.

* ``--model gpt2`` (default): a random GPT-2-style model of the given size, random prompts;
* ``--model smollm2``: SmolLM2-135M (30 layers x 1536 neurons) converted from the wheel (the pretrained scale's
  evidence/zoo/pretrained/smollm2_135m, or a fresh conversion), on real-fact prompts it answers correctly. Ours
  includes the layer-cached path (each layer's rows start from its cached hidden state).

    python benchmarks/ig_vs_captum.py [--prompts 50 --repeats 5 --threads 2 --layers 4 --width 128 --seq 24]
    python benchmarks/ig_vs_captum.py --model smollm2 --prompts 5 --repeats 1
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from captum.attr import LayerIntegratedGradients
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

from arx.methods.attribution.ig import alphas, integrated_gradients
from arx.methods.attribution.ig_layer_cache import attribute_ig_from_layers
from arx.methods.attribution.prompts import FactBatch
from arx.models import get_adapter


def prob(model, ids, target):
    return torch.softmax(model(ids).logits[:, -1].float(), -1)[:, target]


class Probe(nn.Module):
    """Identity on a_l[:, t] scaled by ``s`` (s = 0 is captum's baseline pass → zero baseline)."""

    def forward(self, x, s):
        return x * s[:, None]


def ffn_outs(model):
    """Per layer the module whose input holds the FFN neurons."""
    adapter = get_adapter(model)
    return [adapter.ffn_out(l) for l in range(adapter.num_layers)]


def captum_ig(model, ids, target, m):
    sites, probe, state, rows = ffn_outs(model), Probe(), {}, []
    lig = LayerIntegratedGradients(lambda s, inp: prob(model, inp, target), probe)
    for site in sites:
        h = site.register_forward_pre_hook(
            lambda _m, a: (torch.cat([a[0][:, :-1], probe(a[0][:, -1], state["s"])[:, None]], 1),))
        orig = lig.forward_func
        lig.forward_func = lambda s, inp: (state.update(s=s), orig(s, inp))[1]
        try:
            rows.append(lig.attribute(torch.ones(1), baselines=torch.zeros(1), additional_forward_args=(ids[None],),
                                      n_steps=m, method="riemann_left", internal_batch_size=m)[0].detach())
        finally:
            lig.forward_func = orig
            h.remove()
    return torch.stack(rows)


def kn_loop(model, ids, target, m, bs=20):
    """KN/DEPN structure: per layer one clean forward (store a_l[t]), then m/bs forward+backward chunks over the full
    sequence with a_l[t] replaced by α·a; scores = a · Σ grad / m."""
    out = []
    a_grid = alphas(m, "left").float()
    for site in ffn_outs(model):
        store = {}
        h = site.register_forward_pre_hook(lambda _m, a: store.update(a=a[0][0, -1].detach()))
        with torch.no_grad():
            model(ids[None])
        h.remove()
        a = store["a"]
        total = torch.zeros_like(a)
        for c in range(0, m, bs):
            w = (a_grid[c:c + bs, None] * a).requires_grad_(True)
            h = site.register_forward_pre_hook(
                lambda _m, x: (torch.cat([x[0][:, :-1], w[:, None]], 1),))
            try:
                p = prob(model, ids[None].expand(len(w), -1), target)
                total += torch.autograd.grad(p.sum(), w)[0].sum(0)
            finally:
                h.remove()
        out.append(a * total / m)
    return torch.stack(out)


def ours(model, ids, target, m):
    return integrated_gradients(model, ids[:], target, steps=m, rule="left", objective="prob")


def ours_layer_cache(model, ids, target, m):
    return attribute_ig_from_layers(model, FactBatch.single(ids, target), steps=m, rule="left", objective="prob")[0]


def smollm2(n_prompts: int):
    """SmolLM2-135M and ``n_prompts`` real-fact prompts it answers correctly (the probe's known renderings)."""
    import json
    import tempfile
    from pathlib import Path

    from transformers import AutoTokenizer

    from arx.methods.attribution.fact_files import jsonl_facts
    from arx.models import load_model
    from arx.models.gguf import GGUFSource, convert

    root = Path(__file__).resolve().parents[1]
    model_dir = root / "evidence/zoo/pretrained/smollm2_135m"
    if not (model_dir / "model.safetensors").exists():  # not pulled here: convert the wheel's GGUF afresh
        cfg = json.loads((model_dir / "metrics.json").read_text())["provenance"]["config"]["source"]
        model_dir = convert(GGUFSource(cfg["distribution"], cfg["filename"], cfg["sha256"]),
                            Path(tempfile.mkdtemp(prefix="smollm2_")))
    model, tok = load_model(model_dir, dtype="float32").eval(), AutoTokenizer.from_pretrained(model_dir)
    probe = root / "evidence/zoo/pretrained/smollm2_135m/probe.jsonl"
    known = [line for line in map(json.loads, probe.read_text().splitlines()) if line["known"]]
    picked = [known[i * len(known) // n_prompts] for i in range(n_prompts)]  # spread over the relations
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        f.write("".join(json.dumps(x) + "\n" for x in picked))
    batch = jsonl_facts(Path(f.name), tok)
    prompts = [(batch.ids[i, : int(batch.pos[i]) + 1], int(batch.target[i])) for i in range(len(batch))]
    return model, prompts, f"SmolLM2-135M ({get_adapter(model).num_layers} layers x {get_adapter(model).ffn_dim} FFN " \
        f"neurons), {n_prompts} known real-fact prompts of {min(len(p) for p, _ in prompts)}-" \
        f"{max(len(p) for p, _ in prompts)} tokens"


def fidelity(x, y):
    x, y = x.flatten(), y.flatten()
    r = float(torch.corrcoef(torch.stack([x, y]))[0, 1])
    rx, ry = (v.argsort().argsort().double() for v in (x, y))
    rho = float(torch.corrcoef(torch.stack([rx, ry]))[0, 1])
    tx, ty = set(x.topk(20).indices.tolist()), set(y.topk(20).indices.tolist())
    return r, rho, len(tx & ty) / len(tx | ty)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=["gpt2", "smollm2"], default="gpt2")
    ap.add_argument("--prompts", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--seq", type=int, default=24)
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fns = {"kn_loop": kn_loop, "captum": captum_ig, "ours": ours}
    if args.model == "smollm2":
        model, prompts, what = smollm2(args.prompts)
        fns["ours_layer_cache"] = ours_layer_cache
    else:
        vocab = 1000
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=128, n_embd=args.width, n_layer=args.layers,
                                           n_head=4, bos_token_id=0, eos_token_id=0)).eval()
        g = torch.Generator().manual_seed(1)
        prompts = [(torch.randint(0, vocab, (args.seq,), generator=g), int(torch.randint(0, vocab, (1,), generator=g)))
                   for _ in range(args.prompts)]
        what = f"GPT-2 {args.layers} layers × {4 * args.width} FFN neurons, {args.prompts} prompts of {args.seq} tokens"
    print(f"{what}, m={args.steps}, left rule, prob target, {args.threads} threads, device cpu")
    for fn in fns.values():
        for ids, t in prompts[:1 if args.model == "smollm2" else 2]:
            fn(model, ids, t, args.steps)  # warm-up
    runs, results = {name: [] for name in fns}, {}
    for _ in range(args.repeats):  # round-robin, so a change in machine load hits every contender alike
        for name, fn in fns.items():
            t0 = time.perf_counter()
            results[name] = [fn(model, ids, t, args.steps) for ids, t in prompts]
            runs[name].append(time.perf_counter() - t0)
    times = {name: statistics.median(r) for name, r in runs.items()}
    for name, t in times.items():
        print(f"{name:8s} median {t:.3f} s  ({args.prompts / t:.1f} prompts/s)  runs {[round(x, 2) for x in runs[name]]}")
    for mine in [name for name in fns if name.startswith("ours")]:
        for ref in ("captum", "kn_loop", *(["ours"] if mine != "ours" else [])):
            fid = [fidelity(o, c) for o, c in zip(results[mine], results[ref])]
            r, rho, jac = (min(f[i] for f in fid) for i in range(3))
            print(f"{mine} vs {ref:8s}: speed-up {times[ref] / times[mine]:.2f}x  min Pearson r {r:.6f}  "
                  f"min Spearman {rho:.4f}  min top-20 Jaccard {jac:.2f}")


if __name__ == "__main__":
    main()
