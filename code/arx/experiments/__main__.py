"""``python -m arx.experiments --write | --check``: JSON Schemas of every experiment's Config and Metrics.

Written to ``logic/schemas/experiments/<experiment>.{config,metrics}.schema.json`` (never edited by hand; a test
fails on drift). Why here and not in ``arx schema``: the experiments import torch, and the ``arx`` command line
must not; ``arx validate`` reads only the generated JSON to check that every claim's key exists.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from arx.artifact.load import find_root
from arx.experiments import registered

SCHEMA_DIR = Path("logic") / "schemas" / "experiments"


def experiment_schemas() -> dict[str, str]:
    """File name → rendered schema, for every experiment of the package (not ones a test or plugin registered)."""
    out = {}
    for name, exp in registered().items():
        if not exp.module.startswith("arx.experiments."):
            continue
        for part, model in (("config", exp.config), ("metrics", exp.metrics)):
            out[f"{name}.{part}.schema.json"] = json.dumps(model.model_json_schema(), indent=2, sort_keys=True) + "\n"
    return out


def drift(root: Path) -> list[str]:
    """Schema files missing, different, or left over from an experiment that no longer exists."""
    want = experiment_schemas()
    have = {p.name for p in (root / SCHEMA_DIR).glob("*.schema.json")}
    bad = [n for n, text in want.items() if not (root / SCHEMA_DIR / n).is_file()
           or (root / SCHEMA_DIR / n).read_text() != text]
    return sorted(str(SCHEMA_DIR / n) for n in {*bad, *(have - set(want))})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m arx.experiments", description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help="write the schemas (and remove stale ones)")
    p.add_argument("--check", action="store_true", help="exit 1 when the schemas drift from the code")
    args = p.parse_args(argv)
    root = find_root()
    if args.write:
        target = root / SCHEMA_DIR
        target.mkdir(parents=True, exist_ok=True)
        want = experiment_schemas()
        for old in target.glob("*.schema.json"):
            if old.name not in want:
                old.unlink()
        for name, text in want.items():
            (target / name).write_text(text)
        print(f"wrote {len(want)} schemas to {SCHEMA_DIR}")
        return 0
    problems = drift(root)
    for d in problems:
        print(f"{d}: out of sync with the code (fix: python -m arx.experiments --write)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
