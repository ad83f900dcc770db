"""``python -m arx.run <experiment> ...``: the one door from a workflow rule to method code.

It builds the config (scale defaults overlaid by the paper's section, then ``--set``), opens a ``run`` node in
the exploration graph *before* any work, runs the registered experiment, writes ``<out>/metrics.json``
atomically with provenance, DVC-tracks large outputs, and closes the node in ``finally`` as succeeded,
failed (with the log tail) or interrupted. Recording here rather than in Snakemake hooks means every job,
failed or killed, leaves its own node.

Exit codes: 0 success, 1 the experiment failed, 2 bad input (config, scale, experiment name, --out): no
evidence is written, only a failed run node naming the problem.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import os
import pkgutil
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path
from typing import Any, TypedDict

from pydantic import ValidationError

from arx.artifact.config import build_config, scale_defaults
from arx.artifact.diagnostics import ArtifactError
from arx.artifact.evidence import dvc_initialised, hash_files, output_files, resolve_evidence, track
from arx.artifact.exploration import RunRecorder, now_iso, record_run, sweep_interrupted
from arx.artifact.load import find_root, load_manifest, rel
from arx.artifact.schema import MetricsFile, Provenance, RunInfo
from arx.experiments import RUNTIME_KEYS, Experiment, ExperimentConfig, RunContext

LOG_TAIL = 50
PACKAGES = ("torch", "transformers", "numpy", "arx")


# ---------------------------------------------------------------------------------------------- experiment lookup
def resolve_experiment(name: str) -> Experiment:
    """Import experiment modules until ``name`` is registered.

    Modules whose name prefixes the experiment (``depn`` for ``depn_edit``) go first, then the rest; a
    teammate's module that fails to import does not block other experiments, but is named if ``name`` is
    not found. ``$ARX_EXPERIMENT_MODULES`` (comma-separated) adds modules, e.g. test fixtures.
    """
    import arx.experiments as registry

    extra = [m for m in os.environ.get("ARX_EXPERIMENT_MODULES", "").split(",") if m]
    local = sorted((i.name for i in pkgutil.iter_modules(registry.__path__) if not i.name.startswith("_")),
                   key=lambda m: (not name.startswith(m + "_") and name != m, m))
    failures = []
    for module in [*extra, *(f"{registry.__name__}.{m}" for m in local)]:
        if name in registry._REGISTRY:
            break
        try:
            importlib.import_module(module)
        except Exception as e:  # noqa: BLE001 - a broken sibling module must not hide the one we need
            failures.append(f"{module} ({type(e).__name__}: {e})")
    if name not in registry._REGISTRY:
        known = ", ".join(sorted(registry._REGISTRY)) or "(none)"
        broken = f"; modules that failed to import: {'; '.join(failures)}" if failures else ""
        raise ArtifactError(None, "experiment", f"unknown experiment {name!r}; known: {known}{broken}",
                            "register it with @experiment(...) in code/arx/experiments/<paper>.py", code="ARX501")
    return registry._REGISTRY[name]


def typed_config(exp: Experiment, cfg: dict[str, Any], defaults: dict[str, Any],
                 paper_config: str | None) -> tuple[ExperimentConfig, dict]:
    """Split a merged config into the experiment's validated ``Config`` and the runtime keys.

    A scale default the Config does not declare (``checkpoints_root`` for an experiment that trains its own
    model) is not its business and is left out; any other unknown key, from the paper section or ``--set``, and
    any bad type is an ``ArtifactError`` naming the config file, the dotted key and the fix (exit 2).
    """
    runtime = {k: cfg[k] for k in RUNTIME_KEYS if k in cfg}
    fields = exp.config.model_fields
    own = {k: v for k, v in cfg.items()
           if k not in RUNTIME_KEYS and (k in fields or k not in defaults or defaults[k] != v)}
    try:
        typed = exp.config.model_validate(own)
    except ValidationError as e:
        problems, fixes = [], []
        for err in e.errors():
            key = f"{exp.name}." + ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                problems.append(f"{key}: unknown key")
                fixes.append(f"remove {key} or use one of its Config's keys")
            else:
                problems.append(f"{key}: {err['msg']}")
                fixes.append(f"correct {key}")
        fixes.append(f"the keys and types are in logic/schemas/experiments/{exp.name}.config.schema.json")
        raise ArtifactError(paper_config or "--set", f"{runtime.get('scale', '?')}.{exp.name}",
                            "; ".join(problems), "; ".join(dict.fromkeys(fixes)), code="ARX504") from None
    return typed, runtime


def source_closure(root: Path, module: str) -> dict[str, str]:
    """sha256 of the experiment's module and every ``arx`` source file imported, keyed by repo-relative path.

    Why: evidence is only as fresh as the code that made it; a changed default or method marks it ``stale
    (code)``. Bookkeeping modules (``arx.artifact``, ``arx.run``, ``arx.cli``) are left out: they never
    change a measured value.
    """
    files = []
    for name, loaded in list(sys.modules.items()):
        if name != module and (not name.startswith("arx.") or name.startswith(("arx.artifact", "arx.run", "arx.cli"))):
            continue
        path = getattr(loaded, "__file__", None)
        if path and Path(path).is_file() and Path(path).resolve().is_relative_to(root):
            files.append(Path(path).resolve())
    return hash_files(root, sorted(set(files)))


# ---------------------------------------------------------------------------------------------- helpers
def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if hasattr(x, "tolist"):  # numpy / torch scalars and arrays
        return _jsonable(x.tolist())
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else x
    return x


def atomic_write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


#: what a run writes: changes there do not make the tree dirty (a re-run replaces tracked evidence, and Snakemake
#: removes a job's old outputs before it starts, so every job of a re-run would otherwise see its own outputs)
RUN_OUTPUTS = ("evidence", "exploration")


def git_state(root: Path) -> tuple[str | None, bool | None]:
    """(HEAD, whether tracked files outside the run outputs differ from it)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                *(f":(exclude){d}" for d in RUN_OUTPUTS)], cwd=root,
                               capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    if commit.returncode != 0:
        return None, None
    return commit.stdout.strip(), bool(dirty.stdout.strip()) if dirty.returncode == 0 else None


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


class _Tee:
    """Writes to the console and to ``run.log``."""

    def __init__(self, stream, log):
        self.stream, self.log = stream, log

    def write(self, s: str) -> int:
        self.stream.write(s)
        self.log.write(s)
        self.log.flush()
        return len(s)

    def flush(self) -> None:
        self.stream.flush()
        self.log.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()


class _StderrHandler(logging.StreamHandler):
    """Logs of ``arx.*`` modules (INFO and up) to whatever ``sys.stderr`` is now, i.e. console + run.log."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


class _Interrupted(BaseException):
    pass


def _on_signal(signum, _frame):
    job = os.environ.get("SLURM_JOB_ID")
    where = (f" in SLURM job {job} (scancel, or the job hit its time limit: raise `runtime` under `resources:` in "
             "the scale config, then re-run; finished jobs are kept)") if job else ""
    raise _Interrupted(f"received signal {signal.Signals(signum).name}{where}")


def _max_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


class _SlurmJob(TypedDict):
    slurm_job_id: str | None
    slurm_node: str | None


def _slurm() -> _SlurmJob:
    """The SLURM job and node of this run (None outside a SLURM job)."""
    return {"slurm_job_id": os.environ.get("SLURM_JOB_ID"), "slurm_node": os.environ.get("SLURMD_NODENAME")}


def _prepare_runtime(cfg: dict[str, Any]) -> str:
    """Threads, seeds and device; returns the device string. Torch only if installed."""
    threads = cfg.get("num_threads")
    if threads:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    seed = cfg.get("seed")
    device = str(cfg.get("device", "cpu"))
    import random

    if seed is not None:
        random.seed(seed)
    try:
        import numpy as np

        if seed is not None:
            np.random.seed(seed)
    except ImportError:
        pass
    try:
        import torch
    except ImportError:
        return device
    if threads:
        torch.set_num_threads(int(threads))
    if seed is not None:
        torch.manual_seed(seed)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ArtifactError(None, "device", f"config asks for {device!r} but CUDA is not available here",
                                "run on a GPU machine or use --config scale=small (device: cpu)", code="ARX507")
        device = f"{device} ({torch.cuda.get_device_name(0)})"
    return device


# ---------------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m arx.run", description=__doc__.split("\n\n")[0])
    p.add_argument("experiment", help="registered experiment name, e.g. depn_edit")
    p.add_argument("--paper-config", help="workflows/config/<paper>.yaml")
    p.add_argument("--scale", default=None, help="small | medium | paper (default: ara.yaml default_scale)")
    p.add_argument("--out", required=True, help="output dir under evidence/, e.g. evidence/depn/depn_edit")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value (dotted keys, YAML values); repeatable")
    p.add_argument("--rule", default=None, help="Snakemake rule name (recorded in the run node)")
    p.add_argument("--wildcard", action="append", default=[], metavar="NAME=VALUE",
                   help="a wildcard of the rule (recorded in the run node); repeatable")
    p.add_argument("--parent", action="append", default=[], help="exploration node id this run follows from")
    p.add_argument("--no-track", action="store_true", help="do not dvc add large outputs")
    return p.parse_args(argv)


def _claims_fed(root: Path, out_rel: str) -> list[str]:
    """The claims whose evidence this run writes (derived from their checks); none when claims do not load
    (a broken claim must not stop an experiment: review reports it)."""
    from arx.artifact.load import load_artifact
    from arx.artifact.runs import claims_fed_by

    try:
        return claims_fed_by(load_artifact(root), out_rel)
    except ArtifactError:
        return []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = None
    try:
        root = find_root()
        scale = args.scale or load_manifest(root).default_scale
        exp = resolve_experiment(args.experiment)
        merged = build_config(root, scale, args.experiment, args.paper_config, args.sets)
        cfg, runtime = typed_config(exp, merged, scale_defaults(root, scale), args.paper_config)
        out = Path(args.out)
        out_rel = rel(out if out.is_absolute() else Path.cwd() / out, root)
        resolve_evidence(root, out_rel, "command line", "--out")
        device = _prepare_runtime(runtime)
    except ArtifactError as e:
        print(f"arx.run: {e.one_line()}", file=sys.stderr)
        if root is not None:  # a rule that never started is still a failed run: record it, write nothing else
            now = now_iso()
            info = RunInfo(experiment=args.experiment, rule=args.rule, scale=args.scale or "default", out=args.out,
                           paper_config=args.paper_config, pid=os.getpid(), host=socket.gethostname(), **_slurm(),
                           started=now,
                           finished=now, status="failed", error=e.one_line(), log_tail=[e.one_line()])
            node = record_run(root, info, f"{args.experiment} (rejected)")
            print(f"arx.run: recorded as exploration/nodes/{node.id}.yaml", file=sys.stderr)
        return 2
    sweep_interrupted(root)
    out = root / out_rel
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").unlink(missing_ok=True)  # a failed run must not leave the previous metrics as "fresh"
    commit, dirty = git_state(root)
    started = now_iso()
    info = RunInfo(experiment=args.experiment, rule=args.rule,
                   wildcards=dict(w.partition("=")[::2] for w in args.wildcard),
                   params=dict(s.partition("=")[::2] for s in args.sets),
                   scale=scale, paper_config=args.paper_config, out=out_rel, git_commit=commit, git_dirty=dirty,
                   pid=os.getpid(), host=socket.gethostname(), **_slurm(), started=started, status="running")
    recorder = RunRecorder(root, info, title=f"{args.experiment} ({scale})", parents=args.parent,
                           claims=_claims_fed(root, out_rel))
    log_path = out / "run.log"
    old_out, old_err = sys.stdout, sys.stderr
    status, error, evidence = "failed", None, {}
    recorder.open()
    with open(log_path, "w", encoding="utf-8") as log:
        sys.stdout, sys.stderr = _Tee(old_out, log), _Tee(old_err, log)
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))
        arx_logger = logging.getLogger("arx")
        arx_logger.addHandler(handler)
        old_level = arx_logger.level
        arx_logger.setLevel(logging.INFO)
        old_handlers = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        t0, since = time.perf_counter(), time.time() - 1.0  # 1 s slack: file times are coarser than the clock
        try:
            print(f"[arx.run] {args.experiment} scale={scale} out={out_rel} node={recorder.node.id}", flush=True)
            ctx = RunContext.from_runtime(out, runtime)
            metrics = exp.run(cfg, ctx).model_dump(mode="json")
            fresh, leftovers = output_files(out, since)  # before DVC may relink (and re-time) files
            if leftovers:
                print(f"[arx.run] note: not written by this run, left out of its provenance: "
                      f"{', '.join(rel(p, root) for p in leftovers)}", flush=True)
            if dvc_initialised(root) and not args.no_track:
                try:
                    tracked = track(root, out)
                    if tracked:
                        print(f"[arx.run] dvc-tracked: {', '.join(tracked)}", flush=True)
                except ArtifactError as e:  # storage trouble must not throw away the computation
                    print(f"[arx.run] WARNING: {e.one_line()}; track later with `arx evidence track {out_rel}`",
                          flush=True)
            prov = Provenance(experiment=args.experiment, scale=scale, run_id=recorder.node.id,
                              paper_config=args.paper_config, sets=args.sets, git_commit=commit,
                              git_dirty=dirty, config={**_jsonable(runtime), **cfg.model_dump(mode="json")},
                              config_source=_jsonable(merged), code=source_closure(root, exp.module), seed=ctx.seed,
                              packages=package_versions(),
                              device=device, python=sys.version.split()[0], platform=platform.platform(), started=started,
                              finished=now_iso(), wall_s=round(time.perf_counter() - t0, 3),
                              outputs=hash_files(root, [p for p in fresh if p.name != "metrics.json"]))
            doc = MetricsFile(metrics=_jsonable(metrics), provenance=prov).model_dump(mode="json")
            atomic_write_json(out / "metrics.json", doc)
            evidence = hash_files(root, [*(p for p in fresh if p.name != "metrics.json"), out / "metrics.json"])
            status = "succeeded"
            print(f"[arx.run] done in {prov.wall_s:.1f} s -> {out_rel}/metrics.json", flush=True)
        except _Interrupted as e:
            status, error = "interrupted", str(e)
            print(f"[arx.run] interrupted: {e}", flush=True)
        except BaseException as e:  # noqa: BLE001 - every failure must close the node
            error = f"{type(e).__name__}: {e}"
            traceback.print_exc()
            print(f"[arx.run] FAILED: {error}", flush=True)
        finally:
            for s, h in old_handlers.items():
                signal.signal(s, h)
            arx_logger.removeHandler(handler)
            arx_logger.setLevel(old_level)
            sys.stdout, sys.stderr = old_out, old_err
    tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-LOG_TAIL:]
    recorder.close(status, tail, error=error, evidence=evidence, max_rss_mb=_max_rss_mb())
    if status != "succeeded":
        print(f"arx.run: {args.experiment} {status}; run node exploration/nodes/{recorder.node.id}.yaml", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
