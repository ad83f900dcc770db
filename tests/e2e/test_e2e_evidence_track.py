"""`arx evidence track`: large files to DVC, metrics stay in git, parallel calls serialised by the lock."""

from __future__ import annotations

import json
import subprocess
import sys

from e2e_helpers import sh


def test_parallel_tracks_all_succeed_and_keep_metrics_in_git(repo_artifact):
    root, env = repo_artifact
    dirs = []
    for i in range(3):
        d = root / f"evidence/zoo/small/model_{i}"
        (d / "checkpoints/step_1").mkdir(parents=True)
        (d / "model.safetensors").write_bytes(bytes(range(256)) * 8)
        (d / "checkpoints/step_1/model.safetensors").write_bytes(b"x" * 100)
        (d / "config.json").write_text("{}")
        (d / "metrics.json").write_text('{"metrics": {}}')
        dirs.append(d)
    procs = [subprocess.Popen([sys.executable, "-m", "arx.cli", "evidence", "track", str(d)], cwd=root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for d in dirs]
    results = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    assert all(code == 0 for code, _, _ in results), results
    for d in dirs:
        assert (d / "model.safetensors.dvc").is_file() and (d / "checkpoints.dvc").is_file()
        assert not (d / "metrics.json.dvc").exists() and not (d / "config.json.dvc").exists()
        rel = d.relative_to(root).as_posix()
        assert sh(root, env, "git", "check-ignore", "-q", f"{rel}/metrics.json").returncode == 1
        assert sh(root, env, "git", "check-ignore", "-q", f"{rel}/model.safetensors").returncode == 0


def test_files_already_in_git_are_left_to_git(repo_artifact):
    root, env = repo_artifact
    d = root / "evidence/toy/plots"
    d.mkdir(parents=True)
    (d / "big.png").write_bytes(b"p" * (2 << 20))
    (d / "arr.npy").write_bytes(b"a" * 10)
    assert sh(root, env, "git", "add", "evidence/toy/plots/big.png").returncode == 0
    res = sh(root, env, sys.executable, "-m", "arx.cli", "evidence", "track", "evidence/toy/plots", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["tracked"] == ["evidence/toy/plots/arr.npy"]
