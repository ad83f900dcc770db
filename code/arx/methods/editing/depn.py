"""DEPN edit: set the selected FFN neurons' activations to zero.

Two equivalent forms (a test checks identical logits): a runtime gate (forward pre-hook on the down-projection that
multiplies the selected activations by 0, at every position) and a persistent edit that zeroes the corresponding
down-projection weights (the neuron's output direction), so the edited model is an ordinary checkpoint
(``save_pretrained``). Units are ``(layer, neuron)`` pairs as produced by :mod:`arx.methods.attribution.neurons`.
"""

from __future__ import annotations

import copy
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

import torch
from torch import nn

from arx.methods.attribution.ig import unit_sites


class EditError(ValueError):
    """Bad edit request (unknown layer or neuron index)."""


def _masks(model: nn.Module, units: Iterable[tuple[int, int]]) -> dict[int, torch.Tensor]:
    sites = unit_sites(model, "neuron")
    masks: dict[int, torch.Tensor] = {}
    for l, i in units:
        if not 0 <= l < len(sites):
            raise EditError(f"unknown layer {l}: the model has layers 0..{len(sites) - 1}")
        if not 0 <= i < sites[l].n:
            raise EditError(f"neuron {i} of layer {l} out of range 0..{sites[l].n - 1}")
        masks.setdefault(l, torch.ones(sites[l].n, dtype=torch.bool))[i] = False
    return masks


@contextmanager
def edited(model: nn.Module, units: Iterable[tuple[int, int]]) -> Iterator[nn.Module]:
    """Runtime edit: within the block the selected neurons' activations are zero."""
    sites = unit_sites(model, "neuron")
    handles = []
    for l, keep in _masks(model, units).items():
        def hook(_m, args, keep=keep):
            x = args[0]
            return (x * keep.to(x.device, x.dtype),)
        handles.append(sites[l].module.register_forward_pre_hook(hook))
    try:
        yield model
    finally:
        for h in handles:
            h.remove()


def persistent_edit(model: nn.Module, units: Iterable[tuple[int, int]]) -> nn.Module:
    """A copy of ``model`` whose down-projection weights of the selected neurons are zero."""
    masks = _masks(model, units)
    new = copy.deepcopy(model)
    sites = unit_sites(new, "neuron")
    with torch.no_grad():
        for l, keep in masks.items():
            mod = sites[l].module
            drop = (~keep).to(mod.weight.device)
            if hasattr(mod, "nf"):  # GPT-2 Conv1D: weight [in=ffn, out=hidden]
                mod.weight[drop, :] = 0
            else:  # nn.Linear: weight [out=hidden, in=ffn]
                mod.weight[:, drop] = 0
    return new


def save_edited(model: nn.Module, units: Iterable[tuple[int, int]], out_dir: Path, tokenizer=None) -> Path:
    """Persistent edit saved as a new checkpoint directory (``save_pretrained``)."""
    new = persistent_edit(model, units)
    out_dir = Path(out_dir)
    new.save_pretrained(out_dir)
    if tokenizer is not None:
        tokenizer.save_pretrained(out_dir)
    return out_dir
