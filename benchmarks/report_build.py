"""Build time and page weight of `arx report` against the issue-19 targets (<= 10 s, index <= 1 MB).

A generated artifact (the fixture, as in benchmarks/artifact_cli.py): 50 claims x 5 seeds and 200 exploration
nodes. Measured in the same run against the obvious alternative: each claim page reading the exploration graph
itself (`explain` without the shared nodes) and a fresh matplotlib figure with `tight_layout` per plot, which is how
a first version would write it.

    python benchmarks/report_build.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from artifact_cli import N_CLAIMS, SEEDS, build  # noqa: E402

N_NODES = 200


def add_nodes(root: Path, env: dict, have: int) -> None:
    for i in range(N_NODES - have):
        kind = ("question", "decision", "dead_end", "experiment")[i % 4]
        extra = {"decision": ["--choice", "x", "--rationale", "y"],
                 "dead_end": ["--hypothesis", "h", "--failure-mode", "f", "--lesson", "l"]}.get(kind, [])
        res = subprocess.run([sys.executable, "-m", "arx.cli", "note", "--type", kind, "--title", f"node {i}",
                              "--claim", f"toy_gen_{i % (N_CLAIMS - 2):02d}", *extra], cwd=root, env=env,
                             capture_output=True, text=True)
        assert res.returncode == 0, res.stderr


def naive(root: Path, out: Path) -> None:
    """The alternative: every claim page reads the graph itself; a new figure, laid out, per plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from arx.artifact import report
    from arx.artifact.explain import explain
    from arx.artifact.load import load_artifact

    art = load_artifact(root)
    rows = report._claim_rows(art, "small")
    for r in rows:
        data = explain(art, r["id"], "small")
        for res in data["scales"]["small"]["conditions"]:
            fig, ax = plt.subplots(figsize=(5.2, 2.4))
            ax.scatter(range(len(res["per_seed"])), [v or 0 for v in res["per_seed"].values()])
            fig.tight_layout()
            fig.savefig(out / f"{r['id']}.svg", format="svg")
            plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "artifact"
        env = build(root)
        add_nodes(root, env, len(list((root / "exploration" / "nodes").glob("*.yaml"))))
        os.environ.update(ARX_EXPERIMENT_MODULES="arx_fixture_experiments")
        sys.path.insert(0, str(root / "code"))
        from arx.artifact.load import load_artifact
        from arx.artifact.report import build_report

        ours, alt = [], []
        for k in range(args.repeat):
            t0 = time.perf_counter()
            summary = build_report(load_artifact(root), "small", Path(tmp) / f"site{k}")
            ours.append(time.perf_counter() - t0)
            (Path(tmp) / f"naive{k}").mkdir()
            t0 = time.perf_counter()
            naive(root, Path(tmp) / f"naive{k}")
            alt.append(time.perf_counter() - t0)
        nodes = len(list((root / "exploration" / "nodes").glob("*.yaml")))
        weight = (summary.out / "index.html").stat().st_size
    o, a = statistics.median(ours), statistics.median(alt)
    print(f"artifact: {summary.claims} claims x {len(SEEDS)} seeds, {nodes} exploration nodes, {summary.pages} pages")
    print(f"arx report: {o:.2f} s (median of {args.repeat}; target 10 s: {'ok' if o <= 10 else 'SLOW'})")
    print(f"naive claim pages + plots alone: {a:.2f} s; the whole report takes {o / a:.2f}x of that")
    print(f"index page: {weight / 1e3:.0f} kB (target 1000 kB: {'ok' if weight <= 1e6 else 'HEAVY'})")


if __name__ == "__main__":
    main()
