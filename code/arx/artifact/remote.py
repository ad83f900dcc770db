"""Sharing DVC-tracked evidence through a remote (an S3 bucket, an S3-compatible server, or a shared directory).

Why: large outputs (zoo models, base checkpoints) live in DVC, not git, so a fresh clone lacks them, and Snakemake
retrains whatever a rule needs that is absent. A group that pushes once to a shared remote lets every clone pull the
models in seconds instead. ``dvc push`` / ``dvc pull`` do the transfer; this module picks the pointers, runs DVC
under the artifact's lock and turns its failures into one line that says what to do: a remote that does not
answer, credentials it refuses, data it does not hold.

    dvc remote add -d shared s3://my-bucket/arx        # once per group, committed in .dvc/config
    dvc remote modify shared endpointurl https://...   # an S3-compatible server (MinIO, Ceph, ...)
    dvc remote modify --local shared access_key_id ... # credentials stay out of git (.dvc/config.local)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .diagnostics import ArtifactError
from .evidence import dvc, dvc_entries, dvc_initialised
from .load import rel

#: DVC's messages for the three faults a user can fix, most specific first.
_FAULTS = [
    (re.compile(r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|403|Forbidden|Unable to locate credentials|"
                r"NoCredentialsError|InvalidToken|ExpiredToken", re.I),
     "the remote refused the credentials",
     "set them with `dvc remote modify --local {remote} access_key_id ...` and `secret_access_key ...` (or "
     "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)"),
    (re.compile(r"Could not connect|Connection refused|Failed to establish|ConnectTimeout|EndpointConnectionError|"
                r"Name or service not known|Temporary failure in name resolution|timed out|unreachable", re.I),
     "the remote does not answer",
     "check `dvc remote list` (url, endpointurl) and the network; nothing local was changed"),
    (re.compile(r"NoSuchBucket|bucket does not exist|does not exist", re.I),
     "the remote's bucket or directory does not exist",
     "create it, or point the remote elsewhere with `dvc remote modify {remote} url ...`"),
    (re.compile(r"missing cache files|failed to pull|not found in remote|some of the files were not", re.I),
     "the remote does not hold some of these outputs",
     "push them from a machine that has them (`arx evidence push`), or let the workflow rebuild them"),
]


@dataclass
class Transfer:
    """What one push or pull moved: the pointers asked for, the remote, and DVC's summary line."""

    action: str
    remote: str | None
    targets: list[str] = field(default_factory=list)
    summary: str = ""

    def as_json(self) -> dict:
        return {"action": self.action, "remote": self.remote, "targets": self.targets, "summary": self.summary}


def default_remote(root: Path) -> str | None:
    """The remote ``dvc push``/``pull`` use without ``-r`` (``core.remote``), or None."""
    res = dvc(root, "config", "core.remote")
    return res.stdout.strip() or None if res.returncode == 0 else None


def absent(root: Path, under: list[str] | None = None) -> list[str]:
    """``.dvc`` pointers under ``evidence/`` (or only under the ``under`` dirs) whose data is not in the workspace."""
    prefixes = [u.rstrip("/") + "/" for u in under] if under is not None else None
    out = []
    for data, pointer, _md5 in dvc_entries(root):
        shown = rel(data, root)
        if prefixes is not None and not any((shown + "/").startswith(p) or shown.startswith(p) for p in prefixes):
            continue
        if not data.exists():
            out.append(pointer)
    return out


def _fail(action: str, remote: str | None, res, targets: list[str]) -> ArtifactError:
    text = (res.stderr or "") + (res.stdout or "")
    last = [line.strip() for line in text.strip().splitlines() if line.strip()][-1:] or [f"exit {res.returncode}"]
    name = remote or "(default)"
    for pattern, what, fix in _FAULTS:
        if pattern.search(text):
            return ArtifactError(".dvc/config", f"remote {name}", f"dvc {action} failed: {what} ({last[0][:160]})",
                                 fix.format(remote=name), code="ARX505")
    return ArtifactError(".dvc/config", f"remote {name}", f"dvc {action} failed: {last[0][:200]}",
                         f"run `dvc {action} -v{' -r ' + remote if remote else ''}` for the whole message",
                         code="ARX505")


def _transfer(root: Path, action: str, targets: list[str], remote: str | None) -> Transfer:
    if not dvc_initialised(root):
        raise ArtifactError(".dvc/config", None, "DVC is not initialised in this artifact", "run `dvc init`",
                            code="ARX505")
    remote = remote or default_remote(root)
    if remote is None:
        raise ArtifactError(".dvc/config", "core.remote", "no DVC remote is configured",
                            "add one: `dvc remote add -d shared s3://bucket/prefix` (README: Sharing evidence)",
                            code="ARX505")
    res = dvc(root, action, "-r", remote, *targets)
    if res.returncode != 0:
        raise _fail(action, remote, res, targets)
    lines = [line.strip() for line in res.stdout.strip().splitlines() if line.strip()]
    return Transfer(action, remote, targets, lines[-1] if lines else "nothing to do")


def push(root: Path, targets: list[str] | None = None, remote: str | None = None) -> Transfer:
    """``dvc push`` the given pointers (default: every pointer under ``evidence/`` whose data is here)."""
    if targets is None:
        targets = [p for data, p, _ in dvc_entries(root) if data.exists()]
    if not targets:  # never a bare `dvc push`: it would push every pointer, not none
        return Transfer("push", remote, [], "nothing present to push")
    return _transfer(root, "push", targets, remote)


def pull(root: Path, targets: list[str] | None = None, remote: str | None = None) -> Transfer:
    """``dvc pull`` the given pointers (default: every pointer under ``evidence/`` whose data is absent)."""
    if targets is None:
        targets = absent(root)
    if not targets:
        return Transfer("pull", remote, [], "nothing absent")
    return _transfer(root, "pull", targets, remote)
