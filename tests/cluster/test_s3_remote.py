"""Evidence round trip through a real S3-compatible HTTP server (moto in server mode on 127.0.0.1), through dvc-s3.

The fixture artifact's evidence is produced by its workflow, committed, pushed with ``arx evidence push``; the DVC
cache and the workspace copies are deleted; ``arx evidence pull`` brings them back and ``arx review --ci`` checks
every hash. The faults a user meets get one line each: a remote that does not answer, credentials it refuses.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from e2e_helpers import arx, make_artifact, sh  # noqa: E402

pytestmark = pytest.mark.slow
BUCKET = "arx-evidence"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(port: int, env: dict | None = None) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"moto server did not listen on 127.0.0.1:{port} within 30 s")


@pytest.fixture
def s3():
    port = _free_port()
    proc = _serve(port)
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/{BUCKET}", method="PUT"), timeout=10)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def _remote(root: Path, env: dict, name: str, endpoint: str, key: str = "testing") -> None:
    for cmd in (["remote", "add", "-f", name, f"s3://{BUCKET}/artifact"],
                ["remote", "modify", name, "endpointurl", endpoint]):
        assert sh(root, env, sys.executable, "-m", "dvc", *cmd).returncode == 0
    for k, v in (("access_key_id", key), ("secret_access_key", "testing")):  # credentials stay out of git
        assert sh(root, env, sys.executable, "-m", "dvc", "remote", "modify", "--local", name, k, v).returncode == 0


def test_evidence_round_trips_through_s3_and_review_verifies_every_hash(s3, tmp_path):
    root, env = make_artifact(tmp_path, git=True)
    res = sh(root, env, sys.executable, "-m", "snakemake", "--cores", "2", "--", "reproduce_claim_toy_fit_recovers_weights",
             timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    pointers = sorted(str(p.relative_to(root)) for p in (root / "evidence").rglob("*.dvc"))
    assert len(pointers) == 6  # weights.npy and arrays/ at each of 3 seeds
    assert arx(root, env, "review").returncode == 0
    for cmd in (["git", "add", "-A"], ["git", "commit", "-qm", "evidence"]):
        assert sh(root, env, *cmd).returncode == 0
    _remote(root, env, "shared", s3)

    res = arx(root, env, "evidence", "push", "-r", "shared", "--json")
    assert res.returncode == 0, res.stderr
    assert sorted(json.loads(res.stdout)["targets"]) == pointers

    shutil.rmtree(root / ".dvc" / "cache")
    data = [root / p[: -len(".dvc")] for p in pointers]
    for d in data:
        shutil.rmtree(d) if d.is_dir() else d.unlink()
    res = arx(root, env, "evidence", "pull", "-r", "shared", "--json")
    assert res.returncode == 0, res.stderr
    assert sorted(json.loads(res.stdout)["targets"]) == pointers
    assert all(d.exists() for d in data)
    res = arx(root, env, "review", "--ci")  # every output present again: its sha256 and DVC md5 are checked
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert json.loads(arx(root, env, "evidence", "pull", "--json").stdout)["targets"] == []  # nothing absent

    # the check is real: one changed byte in a pulled file is tampered evidence
    weights = root / "evidence/toy/toy_fit/small/seed_1/weights.npy"
    raw = bytearray(weights.read_bytes())
    raw[-1] ^= 1
    weights.unlink()  # DVC may have linked it from its cache: write a new file
    weights.write_bytes(bytes(raw))
    res = arx(root, env, "review", "--ci")
    assert res.returncode == 1 and "tampered" in res.stdout + res.stderr


def test_a_remote_that_does_not_answer_and_refused_credentials_are_one_line_each(tmp_path):
    root, env = make_artifact(tmp_path, git=True)
    (root / "evidence/toy/x").mkdir(parents=True)
    (root / "evidence/toy/x/w.npy").write_bytes(b"w" * 64)
    assert arx(root, env, "evidence", "track", "evidence/toy/x").returncode == 0
    _remote(root, env, "dead", f"http://127.0.0.1:{_free_port()}")  # nothing listens there
    res = arx(root, env, "evidence", "push", "-r", "dead")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "does not answer" in res.stderr and "remote dead" in res.stderr

    port = _free_port()
    guarded = _serve(port, {"INITIAL_NO_AUTH_ACTION_COUNT": "0"})  # moto then checks every request's key
    try:
        _remote(root, env, "guarded", f"http://127.0.0.1:{port}", key="not-a-key")
        res = arx(root, env, "evidence", "push", "-r", "guarded")
    finally:
        guarded.terminate()
        guarded.wait(timeout=10)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "refused the credentials" in res.stderr and "access_key_id" in res.stderr
