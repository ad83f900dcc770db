"""The exploration graph: one YAML file per node under ``exploration/nodes/``.

Nodes are created atomically (write a temp file, then ``link`` it into place, which fails rather than
overwrites) so parallel writers never clobber each other and git never sees a merge conflict. The only
node ever rewritten is a ``run`` node, and only by the process that owns it (to close it) or, once that
process is provably gone, by the interrupted-run sweep.

A run is recorded from inside ``arx.run``: opened before any work (status ``running``, a heartbeat file
touched by a thread), closed in ``finally``. A node still ``running`` whose process is dead (same host) or
whose heartbeat is stale becomes ``interrupted`` at the next invocation (``arx`` commands, Snakemake onstart).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import ArtifactError, writing
from .load import load_node, rel
from .schema import NOTE_FIELDS, ExplorationNode, NodeType, RunInfo

NODES = Path("exploration") / "nodes"
HEARTBEATS = Path("exploration") / ".heartbeat"
HEARTBEAT_S = 5.0
STALE_S = 60.0


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_id(type_: str, title: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:40] or "node"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{type_}-{slug}-{secrets.token_hex(3)}"


def state_dir(root: Path) -> Path:
    """``exploration/.heartbeat/``: heartbeats and locks; ignores itself so git never sees it."""
    d = root / HEARTBEATS
    if not d.is_dir():
        d.mkdir(parents=True, exist_ok=True)
        (d / ".gitignore").write_text("*\n")
    return d


def node_path(root: Path, node_id: str) -> Path:
    return root / NODES / f"{node_id}.yaml"


def _dump(node: ExplorationNode) -> str:
    return yaml.safe_dump(node.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True,
                          width=120)


def _write_tmp(path: Path, text: str) -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(3)}.tmp")
    with writing(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    return tmp


def create_node(root: Path, node: ExplorationNode) -> Path:
    """Atomically create the node file; refuses to overwrite an existing node."""
    path = node_path(root, node.id)
    tmp = _write_tmp(path, _dump(node))
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise ArtifactError(rel(path, root), "id", "a node with this id already exists", "use a new id", code="ARX506") from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _replace_node(root: Path, node: ExplorationNode) -> None:
    path = node_path(root, node.id)
    os.replace(_write_tmp(path, _dump(node)), path)


def add_note(root: Path, type_: NodeType, title: str, body: str = "", parents: list[str] | None = None,
             claims: list[str] | None = None, author: str | None = None,
             fields: dict[str, Any] | None = None) -> ExplorationNode:
    """A hand-written node; ``fields``: its ARA structured fields (``NOTE_FIELDS`` of its type)."""
    if type_ == "run":
        raise ArtifactError(None, "--type", "run nodes are recorded by arx.run, not written by hand",
                            "use question, experiment, dead_end, decision or pivot", code="ARX502")
    known = {p.stem for p in (root / NODES).glob("*.yaml")}
    for p in parents or []:
        if p not in known:
            raise ArtifactError(None, "--parent", f"no node {p!r} in exploration/nodes", "see `arx trace` for node ids",
                                code="ARX501")
    given = {k: v for k, v in (fields or {}).items() if v is not None}
    wrong = sorted(set(given) - set(NOTE_FIELDS.get(type_, ())))
    if wrong:
        owner = next(t for t, names in NOTE_FIELDS.items() if wrong[0] in names)
        raise ArtifactError(None, f"--{wrong[0].replace('_', '-')}", f"belongs to {owner} notes, not {type_}",
                            f"use --type {owner} or drop it", code="ARX502")
    node = ExplorationNode(id=new_id(type_, title), type=type_, title=title, body=body, parents=parents or [],
                           claims=claims or [], created=now_iso(), author=author or os.environ.get("USER"), **given)
    create_node(root, node)
    return node


def iter_nodes(root: Path) -> Iterator[ExplorationNode]:
    for path in sorted((root / NODES).glob("*.yaml")):
        yield load_node(path, root)


# ---------------------------------------------------------------------------------------------- runs
def record_run(root: Path, info: RunInfo, title: str) -> ExplorationNode:
    """Write an already finished run node (a run rejected before it could start)."""
    node = ExplorationNode(id=new_id("run", title), type="run", title=title, created=info.started, run=info)
    create_node(root, node)
    return node


class RunRecorder:
    """Opens a run node before work, keeps its heartbeat alive, closes it with the outcome."""

    def __init__(self, root: Path, info: RunInfo, title: str, parents: list[str] | None = None,
                 claims: list[str] | None = None):
        self.root = root
        self.node = ExplorationNode(id=new_id("run", title), type="run", title=title, parents=parents or [],
                                    claims=claims or [], created=info.started, run=info)
        self.heartbeat = root / HEARTBEATS / self.node.id
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def open(self) -> None:
        state_dir(self.root)
        self.heartbeat.touch()
        create_node(self.root, self.node)
        self._thread = threading.Thread(target=self._beat, name="arx-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.heartbeat.touch()
            except OSError:
                pass

    def close(self, status: str, log_tail: list[str], error: str | None = None,
              evidence: dict[str, str] | None = None, max_rss_mb: float | None = None) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=2)
        run = self.node.run
        assert run is not None
        finished = now_iso()
        run = run.model_copy(update={
            "status": status, "finished": finished, "log_tail": log_tail, "error": error,
            "evidence": evidence or {}, "max_rss_mb": max_rss_mb,
            "wall_s": round(_parse(finished) - _parse(run.started), 3),
        })
        self.node = self.node.model_copy(update={"run": run})
        _replace_node(self.root, self.node)
        self.heartbeat.unlink(missing_ok=True)


def _parse(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet reaped) still answers kill(0); it is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except (OSError, IndexError):
        return True


def sweep_interrupted(root: Path) -> list[str]:
    """Mark ``running`` run nodes whose process is gone (or heartbeat stale) as ``interrupted``."""
    marked = []
    host = socket.gethostname()
    for path in sorted((root / NODES).glob("*.yaml")):
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        if "status: running" not in text:
            continue
        node = load_node(path, root)
        run = node.run
        if run is None or run.status != "running":
            continue
        beat = root / HEARTBEATS / node.id
        last = beat.stat().st_mtime if beat.exists() else _parse(run.started)
        age = time.time() - last
        # same host: the pid decides (a busy run may miss beats; a very old beat covers pid reuse);
        # elsewhere only a stale heartbeat can tell
        dead = (not _pid_alive(run.pid) or age > 10 * STALE_S) if run.host == host else age > STALE_S
        if not dead:
            continue
        current = load_node(path, root).run  # the owner may have closed it meanwhile
        if current is None or current.status != "running":
            continue
        why = "process is gone" if run.host == host and age <= 10 * STALE_S else f"heartbeat is {int(age)} s old"
        finished = datetime.fromtimestamp(last, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        run = run.model_copy(update={"status": "interrupted", "finished": finished,
                                     "error": f"interrupted: found still running but its {why} (killed?)"})
        log = root / run.out / "run.log"
        if log.is_file() and not run.log_tail:
            run = run.model_copy(update={"log_tail": log.read_text(errors="replace").splitlines()[-50:]})
        _replace_node(root, node.model_copy(update={"run": run}))
        beat.unlink(missing_ok=True)
        marked.append(node.id)
    return marked
