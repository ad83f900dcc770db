"""Experiment config: scale defaults overlaid by the paper's section, then ``--set`` overrides.

Kept in the artifact core (not in ``arx.run``) so ``arx evidence list`` can rebuild the config a run would use
today and call evidence whose recorded config differs *stale*.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import ArtifactError
from .load import read_scale_config, read_yaml
from .resources import scale_resources


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _set(cfg: dict, assignment: str) -> None:
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ArtifactError(None, "--set", f"{assignment!r} is not key=value", "write e.g. --set steps=10", code="ARX502")
    node = cfg
    *parents, leaf = key.split(".")
    for p in parents:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ArtifactError(None, "--set", f"{key!r}: {p!r} is not a mapping", "set a leaf key", code="ARX502")
    value = yaml.safe_load(raw) if raw else ""
    if isinstance(value, str):  # YAML 1.1 reads 1e-3 as a string; a number is meant
        try:
            value = float(value)
        except ValueError:
            pass
    node[leaf] = value


def _select_instances(cfg: dict) -> None:
    """``<x>_id: name`` next to a mapping ``<x>s`` keeps only ``<x>s.name`` (e.g. a zoo rule's ``model_id`` picks
    one entry of ``models``), so a run's recorded config, and its freshness, depend on its own entry only."""
    for key, name in list(cfg.items()):
        group = cfg.get(key[:-3] + "s") if key.endswith("_id") else None
        if isinstance(group, dict) and isinstance(name, str) and name in group:
            cfg[key[:-3] + "s"] = {name: group[name]}


def scale_defaults(root: Path, scale: str) -> dict:
    """``defaults:`` of the scale's config file: shared by every experiment at that scale."""
    scale_file, doc = read_scale_config(root, scale)
    defaults = (doc.data or {}).get("defaults") if isinstance(doc.data, dict) else None
    if not isinstance(defaults, dict):
        raise ArtifactError(scale_file, "defaults", "missing or not a mapping", "add `defaults:` with device, seed, ...",
                            code="ARX504")
    # one place for threads: a run outside Snakemake gets the scale's default rule threads; a rule's job gets
    # --set num_threads=<what Snakemake granted>
    return _expand({"num_threads": scale_resources(root, scale).default.threads, **defaults})


def _expand(cfg: dict) -> dict:
    return {k: os.path.expanduser(v) if isinstance(v, str) and v.startswith("~/") else v for k, v in cfg.items()}


def build_config(root: Path, scale: str, experiment: str, paper_config: str | None, sets: list[str]) -> dict:
    """Scale defaults, overlaid by ``<paper>.yaml`` → ``<scale>`` → ``<experiment>``, then ``--set``."""
    cfg = scale_defaults(root, scale)
    if paper_config:
        pdoc = read_yaml(root / paper_config, paper_config)
        data = pdoc.data if isinstance(pdoc.data, dict) else {}
        section = data.get(scale)
        if not isinstance(section, dict):
            raise ArtifactError(paper_config, scale, f"no `{scale}:` section",
                                f"add `{scale}:` mapping experiment names to their config", line=pdoc.line_of((scale,)),
                                code="ARX504")
        exp_cfg = section.get(experiment)
        if not isinstance(exp_cfg, dict):
            raise ArtifactError(paper_config, f"{scale}.{experiment}", "missing or not a mapping",
                                f"add `{experiment}: {{...}}` under `{scale}:` (may be empty: {{}})",
                                line=pdoc.line_of((scale,)), code="ARX504")
        cfg = _merge(cfg, exp_cfg)
    for s in sets:
        _set(cfg, s)
    _select_instances(cfg)
    cfg.setdefault("scale", scale)
    return _fill_placeholders(_expand(cfg), {"scale": scale, "seed": str(cfg.get("seed", 0))})


def _fill_placeholders(value: Any, names: dict[str, str]) -> Any:
    """``{scale}`` and ``{seed}`` in string values become the run's scale and seed.

    Why: an upstream path (``model_dir: evidence/depn/depn_base/{scale}/seed_{seed}/gpt2_private``) must follow the
    run's own seed, or seed 3 of an analysis would read the model trained at seed 0.
    """
    if isinstance(value, dict):
        return {k: _fill_placeholders(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill_placeholders(v, names) for v in value]
    if isinstance(value, str) and "{" in value:
        for name, filled in names.items():
            value = value.replace("{" + name + "}", filled)
    return value
