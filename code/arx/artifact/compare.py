"""``arx compare <rule>``: the runs of one rule grouped by their resolved config minus the seed.

Why: seeds are replicates, configs are treatments. Grouping the evidence of a rule by everything but the seed
gives each configuration's mean and interval over its seeds, and listing only the config keys that differ
between groups shows what was varied, without reading every provenance by hand.
"""

from __future__ import annotations

import json
from typing import Any

from .diagnostics import ArtifactError
from .exploration import node_path
from .load import Artifact, load_node, read_json, rel, validate
from .review import lookup
from .schema import IntervalRule, MetricsFile


def _flatten(cfg: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(cfg, dict):
        out: dict[str, Any] = {}
        for k, v in cfg.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: cfg}


def _without_seed(config: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The resolved config with the seed removed and seed-specific paths written back as ``seed_{seed}``."""
    flat = {k: v for k, v in _flatten(config).items() if k != "seed"}
    if seed is None:
        return flat
    return {k: v.replace(f"seed_{seed}", "seed_{seed}") if isinstance(v, str) else v for k, v in flat.items()}


def runs_of(art: Artifact, rule: str) -> list[tuple[str, MetricsFile]]:
    """Every metrics file under evidence/ whose producing run (its run node) was ``rule``."""
    found = []
    for path in sorted((art.root / "evidence").rglob("metrics.json")):
        shown = rel(path, art.root)
        doc = validate(MetricsFile, read_json(path, shown), shown)
        run_id = doc.provenance.run_id
        node = load_node(node_path(art.root, run_id), art.root) if run_id and node_path(art.root, run_id).is_file() \
            else None
        if node is not None and node.run is not None and node.run.rule == rule:
            found.append((shown, doc))
    return found


def compare(art: Artifact, rule: str, keys: list[str]) -> dict[str, Any]:
    """Groups of runs (same config but the seed): per key the mean over seeds, its interval and n."""
    from .stats import SeedSample, estimate

    runs = runs_of(art, rule)
    if not runs:
        raise ArtifactError(None, "rule", f"no evidence produced by rule {rule!r}",
                            f"run `snakemake {rule}_seeds` first, or see `arx evidence list`", code="ARX501")
    if not keys:
        keys = sorted({c.key for claim in art.claims.values() for check in claim.checks.values()
                       if check.rule == rule for c in check.conditions()})
    groups: dict[str, dict[str, Any]] = {}
    for path, doc in runs:
        cfg = _without_seed(doc.provenance.config, doc.provenance.seed)
        ident = json.dumps(cfg, sort_keys=True, default=str)
        g = groups.setdefault(ident, {"config": cfg, "runs": []})
        g["runs"].append((path, doc))
    rule_defaults = IntervalRule(kind="interval")
    differing = sorted(k for k in {k for g in groups.values() for k in g["config"]}
                       if len({json.dumps(g["config"].get(k), default=str) for g in groups.values()}) > 1)
    out = []
    for g in groups.values():
        row: dict[str, Any] = {"config": {k: g["config"].get(k) for k in differing},
                               "seeds": sorted(d.provenance.seed for _, d in g["runs"] if d.provenance.seed is not None),
                               "evidence": [p for p, _ in g["runs"]], "metrics": {}}
        for key in keys:
            values = []
            for path, doc in g["runs"]:
                v = lookup(doc.metrics, key, path, "--key")
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    values.append(float(v))
            if not values:
                row["metrics"][key] = {"n": 0, "mean": None, "interval": None}
                continue
            e = estimate([SeedSample(v) for v in values], level=rule_defaults.level, resamples=rule_defaults.resamples,
                         bootstrap_seed=rule_defaults.bootstrap_seed)
            row["metrics"][key] = {"n": e.n_seeds, "mean": e.estimate,
                                   "interval": None if e.lo is None else [e.lo, e.hi]}
        out.append(row)
    return {"rule": rule, "keys": keys, "differing_config_keys": differing, "groups": out}


def as_rows(result: dict[str, Any]) -> tuple[list[list[str]], list[str]]:
    """A text table: one row per group and key."""
    header = [*result["differing_config_keys"], "seeds", "key", "mean [95% interval]", "n"]
    rows = []
    for g in result["groups"]:
        for key, m in g["metrics"].items():
            ci = f" [{m['interval'][0]:.4g}, {m['interval'][1]:.4g}]" if m["interval"] else ""
            mean = "-" if m["mean"] is None else f"{m['mean']:.4g}{ci}"
            rows.append([*(str(g["config"][k]) for k in result["differing_config_keys"]),
                         ",".join(map(str, g["seeds"])), key, mean, str(m["n"])])
    return rows, header

