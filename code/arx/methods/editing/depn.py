"""DEPN edit: set the selected FFN neurons' activations to zero.

Two equivalent forms (a test checks identical logits): a runtime gate (forward pre-hook on the down-projection that
multiplies the selected activations by 0, at every position) and a persistent edit that zeroes the corresponding
down-projection weights (the neuron's output direction), so the edited model is an ordinary checkpoint
(``save_pretrained``). Units are ``(layer, neuron)`` pairs as produced by :mod:`arx.methods.attribution.neurons`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from arx.models.adapters import get_adapter


class EditError(ValueError):
    """Bad edit request (unknown layer or neuron index)."""


def _keep_masks(model: nn.Module, units: Iterable[tuple[int, int]]) -> dict[int, torch.Tensor]:
    """Per edited layer a ``[ffn_dim]`` bool mask, False at the selected neurons."""
    adapter = get_adapter(model)
    n = adapter.units("neuron")
    masks: dict[int, torch.Tensor] = {}
    for l, i in units:
        if not 0 <= l < adapter.num_layers:
            raise EditError(f"unknown layer {l}: the model has layers 0..{adapter.num_layers - 1}")
        if not 0 <= i < n:
            raise EditError(f"neuron {i} of layer {l} out of range 0..{n - 1}")
        masks.setdefault(l, torch.ones(n, dtype=torch.bool))[i] = False
    return masks


@contextmanager
def edited(model: nn.Module, units: Iterable[tuple[int, int]]) -> Iterator[nn.Module]:
    """Runtime edit: within the block the selected neurons' activations are zero (a neuron gate of 0)."""
    device = next(model.parameters()).device
    gates = {l: keep.to(device, torch.float32) for l, keep in _keep_masks(model, units).items()}
    with get_adapter(model).gated({"neuron": gates}):
        yield model


def persistent_edit(model: nn.Module, units: Iterable[tuple[int, int]]) -> nn.Module:
    """A copy of ``model`` whose down-projection weights of the selected neurons are zero."""
    masks = _keep_masks(model, units)
    new = copy.deepcopy(model)
    adapter = get_adapter(new)
    with torch.no_grad():
        for l, keep in masks.items():
            mod = adapter.ffn_out(l)
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
