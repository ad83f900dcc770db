"""Run nodes for Snakemake jobs that do not go through ``python -m arx.run`` (a user's shell step, a script).

``arx.run`` records its own runs (rejected, failed and killed ones included). Every other job with a shell
command would leave no trace in the exploration graph, so the artifact's Snakemake logger plugin
(``snakemake_logger_plugin_arx``, switched on in the profiles with ``logger: [arx]``) feeds Snakemake's job events
here: a run node is opened when the job starts (its heartbeat kept by this process, so a killed Snakemake leaves
it ``running`` until ``sweep_interrupted`` marks it ``interrupted``) and closed as succeeded or failed, with the
tail of the job's log. Review steps (``arx.cli review``) are not runs of anything and are skipped.

Why events and not log parsing: the events carry the job id, rule, wildcards, outputs and log files as data.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .diagnostics import ArtifactError
from .exploration import RunRecorder, now_iso
from .load import find_root, rel
from .schema import RunInfo

#: shell commands that already record themselves, or that record nothing worth a run node
SELF_RECORDING = ("-m arx.run ", "-m arx.cli review")


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str]
    outputs: list[str]
    logs: list[str]
    shellcmd: str


def _files(value: Any) -> list[str]:
    """Snakemake's formatted file list (``path (flags)``) as plain paths."""
    return [str(v).split(" (", 1)[0] for v in value or []]


def _scale_of(out: str) -> str:
    """The scale in an evidence path (``evidence/<paper>/<experiment>/<scale>/seed_<k>``), else ``default``."""
    parts = PurePosixPath(out).parts
    seeds = [i for i, p in enumerate(parts) if p.startswith("seed_")]
    return parts[seeds[0] - 1] if seeds and seeds[0] > 0 else "default"


@dataclass
class JobRecorder:
    """What the logger plugin calls on Snakemake's job events; keeps the open run of every job."""

    root: Path | None = None
    jobs: dict[int, Job] = field(default_factory=dict)
    open_runs: dict[int, RunRecorder] = field(default_factory=dict)

    def _root(self) -> Path | None:
        if self.root is None:
            try:
                self.root = find_root()
            except ArtifactError:  # Snakemake run outside an artifact: nothing to record
                return None
        return self.root

    def job_info(self, jobid: int, rule: str, wildcards: dict | None, output: Any, log: Any,
                 shellcmd: str | None) -> None:
        """Snakemake logs a job's info as it executes it (after its start event): open the job's run node."""
        if not shellcmd or any(s in shellcmd for s in SELF_RECORDING):
            return
        job = self.jobs[jobid] = Job(rule, {k: str(v) for k, v in (wildcards or {}).items()}, _files(output),
                                     _files(log), shellcmd)
        root = self._root()
        if root is not None and jobid not in self.open_runs:
            out = str(PurePosixPath(job.outputs[0]).parent) if job.outputs else "."
            info = RunInfo(experiment=job.rule, rule=job.rule, wildcards=job.wildcards, scale=_scale_of(out),
                           out=rel(root / out, root), pid=os.getpid(), host=socket.gethostname(), started=now_iso(),
                           status="running", params={"shell": job.shellcmd.strip()[:500]})
            recorder = RunRecorder(root, info, title=f"{job.rule} (shell)")
            recorder.open()
            self.open_runs[jobid] = recorder

    def finished(self, jobid: int) -> None:
        self._close(jobid, "succeeded", None)

    def error(self, jobid: int) -> None:
        self._close(jobid, "failed", "the job's command exited non-zero (see log_tail)")

    def _close(self, jobid: int, status: str, error: str | None) -> None:
        recorder = self.open_runs.pop(jobid, None)
        job = self.jobs.pop(jobid, None)
        if recorder is None or job is None:
            return
        recorder.close(status, self._log_tail(job), error)

    def _log_tail(self, job: Job) -> list[str]:
        lines: list[str] = []
        for log in job.logs:
            path = (self.root or Path.cwd()) / log
            if path.is_file():
                lines += path.read_text(errors="replace").splitlines()[-50:]
        return lines[-50:]
