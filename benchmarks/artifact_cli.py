"""Start-up and review speed of the artifact core against the issue-3 targets.

Measures, on a generated artifact with 50 claims x 5 seeds (tmp dir; each claim decided by a 95% interval with
2000 bootstrap resamples): `arx --help` (target 0.5 s), `arx review` (target 2 s), `snakemake -n reproduce_all`
(target 3 s). For scale, each figure is also shown as a ratio to a bare `python -c pass` start measured in the
same run (the floor any CLI pays). The interval itself is timed against a plain Python resampling loop.

    python benchmarks/artifact_cli.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "artifact"
N_CLAIMS = 50
SEEDS = (0, 1, 2, 3, 4)


def build(root: Path) -> dict:
    shutil.copytree(FIXTURE, root)
    shutil.copy(REPO / "Snakefile", root / "Snakefile")
    shutil.copy(REPO / "workflows" / "Snakefile", root / "workflows" / "Snakefile")
    shutil.copytree(REPO / "profiles", root / "profiles")
    shutil.copytree(REPO / "logic" / "schemas", root / "logic" / "schemas")
    template = (root / "logic/claims/toy_fit_recovers_weights.yaml").read_text()
    for i in range(N_CLAIMS - 2):
        (root / f"logic/claims/toy_gen_{i:02d}.yaml").write_text(
            template.replace("id: toy_fit_recovers_weights", f"id: toy_gen_{i:02d}")
            .replace("threshold: 0.9", f"threshold: {0.5 + i / 100}"))
    manifest = root / "ara.yaml"
    manifest.write_text(manifest.read_text().replace("seeds: [0, 1, 2]", f"seeds: {list(SEEDS)}"))
    env = {**os.environ, "ARX_EXPERIMENT_MODULES": "arx_fixture_experiments",
           "PYTHONPATH": str(root / "code"), "OMP_NUM_THREADS": "1"}
    for seed in SEEDS:
        res = subprocess.run([sys.executable, "-m", "arx.run", "toy_fit", "--paper-config", "workflows/config/toy.yaml",
                              "--set", f"seed={seed}", "--out", f"evidence/toy/toy_fit/small/seed_{seed}"],
                             cwd=root, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
    return env


def interval_speed(repeat: int) -> tuple[float, float]:
    """Seconds for one interval (5 seeds, 2000 resamples): arx.artifact.stats vs a Python resampling loop."""
    import random

    from arx.artifact.stats import SeedSample, estimate

    values = [0.31, 0.52, 0.44, 0.60, 0.38]

    def loop() -> tuple[float, float]:
        rng = random.Random(0)
        draws = sorted(sum(rng.choices(values, k=len(values))) / len(values) for _ in range(2000))
        return draws[50], draws[1949]

    def ours() -> None:
        estimate([SeedSample(v) for v in values], level=0.95, resamples=2000, bootstrap_seed=0)

    out = []
    for fn in (ours, loop):
        fn()
        t0 = time.perf_counter()
        for _ in range(repeat * 20):
            fn()
        out.append((time.perf_counter() - t0) / (repeat * 20))
    return out[0], out[1]


def timed(cmd: list[str], root: Path, env: dict, repeat: int, ok=(0,)) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - t0)
        assert res.returncode in ok, (cmd, res.returncode, res.stdout[-2000:], res.stderr[-2000:])
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "artifact"
        env = build(root)
        arx = shutil.which("arx") or ""
        help_cmd = [arx, "--help"] if arx else [sys.executable, "-m", "arx.cli", "--help"]
        floor = timed([sys.executable, "-c", "pass"], root, env, args.repeat)
        rows = [
            ("arx --help", timed(help_cmd, root, env, args.repeat), 0.5),
            (f"arx review ({N_CLAIMS} claims x {len(SEEDS)} seeds)",
             timed(help_cmd[:-1] + ["review", "--json"], root, env, args.repeat, ok=(0, 1)), 2.0),
            ("snakemake -n reproduce_all", timed([sys.executable, "-m", "snakemake", "-n", "reproduce_all"], root,
                                                 env, args.repeat), 3.0),
        ]
        claims = json.loads(subprocess.run(help_cmd[:-1] + ["status", "--json"], cwd=root, env=env,
                                           capture_output=True, text=True).stdout)["claims"]
        assert len(claims) == N_CLAIMS
    ours, loop = interval_speed(args.repeat)
    print(f"one interval (5 seeds x 2000 resamples): {ours * 1e3:.2f} ms vectorised vs {loop * 1e3:.2f} ms Python "
          f"loop ({loop / ours:.1f}x)")
    print(f"python start-up floor: {floor:.3f} s (median of {args.repeat})")
    print(f"{'command':<32} {'median s':>9} {'target s':>9} {'x floor':>8}  verdict")
    for name, t, target in rows:
        print(f"{name:<32} {t:>9.3f} {target:>9.1f} {t / floor:>8.1f}  {'ok' if t <= target else 'SLOW'}")


if __name__ == "__main__":
    main()
