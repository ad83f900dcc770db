"""Config pieces shared by several experiments' Configs (a leading underscore: not an experiment module)."""

from __future__ import annotations

from arx.experiments import ExperimentConfig


class GPT2Spec(ExperimentConfig):
    """Size of a GPT-2 trained here (``build_from_config("gpt2", ...)``): DEPN and the privacy attacks."""

    n_layer: int
    n_embd: int
    n_head: int
    n_inner: int
