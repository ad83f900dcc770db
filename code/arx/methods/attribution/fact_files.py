"""Fact files: one JSON object per line with ``prompt``, ``object``, ``relation`` (and optionally ``kind``, ``split``).

Why one reader: the MoE attribution experiments read the zoo's and a paper's fact files, and the pretrained-scale
experiments read the real-fact probe; all of them need the same tokenisation of the object's first token in context
and the same relation numbering (sorted names).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from arx.data.batching import pad_right
from arx.data.facts import object_token_targets
from arx.methods.attribution.prompts import FactBatch


def jsonl_facts(path: Path, tokenizer) -> FactBatch:
    """Facts from ``{"prompt", "object", "relation"}`` lines; the target is the object's first token in context."""
    if not path.exists():
        raise FileNotFoundError(f"fact file {path} is missing: write one JSON object per line with keys "
                                "prompt, object, relation (e.g. from PARAREL/LAMA) and set facts_jsonl")
    lines = [d for d in map(json.loads, filter(str.strip, path.read_text().splitlines()))
             if d.get("split") != "probe"]
    bad = [i + 1 for i, d in enumerate(lines) if not {"prompt", "object", "relation"} <= set(d)]
    if not lines or bad:
        raise ValueError(f"{path}: {'no facts' if not lines else f'lines {bad[:5]} lack prompt/object/relation'}; "
                         "write one JSON object per line with keys prompt, object, relation")
    rel_names = sorted({d["relation"] for d in lines})
    prompts, targets = object_token_targets(tokenizer, [(d["prompt"], d["object"]) for d in lines])
    bos = tokenizer.bos_token_id
    if bos is not None and tokenizer("x")["input_ids"][:1] == [bos]:  # a checkpoint trained with BOS gets it here too
        prompts = [[bos, *p] for p in prompts]
    ids, mask = pad_right(prompts, tokenizer.pad_token_id or 0)
    return FactBatch(ids, mask, torch.tensor([len(p) - 1 for p in prompts]), torch.tensor(targets),
                     torch.tensor([rel_names.index(d["relation"]) for d in lines]))


def relation_kinds(path: Path) -> dict[int, str] | None:
    """Relation index (as in :func:`jsonl_facts`) -> its ``kind`` (geographic / attribute); None when the lines carry
    no kind (a paper-scale facts file may not)."""
    lines = [d for d in map(json.loads, filter(str.strip, path.read_text().splitlines())) if d.get("split") != "probe"]
    kinds = {d["relation"]: d.get("kind") for d in lines}
    if any(k is None for k in kinds.values()):
        return None
    return {i: str(kinds[r]) for i, r in enumerate(sorted(kinds))}
