"""A throw-away git copy of the repository, and DVC run in it with this environment's Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]


def copy_repo(dest: Path) -> Path:
    """Copy the files git knows (tracked, and untracked but not ignored) into ``dest``
    and commit them there as a new repository; return ``dest``."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    commit_all(dest, "copy")
    return dest


def commit_all(repo: Path, message: str) -> None:
    """Commit everything git does not ignore in ``repo`` (a throw-away copy)."""
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run([*GIT, "commit", "-qm", message], cwd=repo, check=True)


def set_params(repo: Path, values: Mapping[str, Any]) -> None:
    """Set dotted keys (``generate.size``) in the copy's params.yaml."""
    file = repo / "params.yaml"
    params = yaml.safe_load(file.read_text())
    for dotted, value in values.items():
        *parents, leaf = dotted.split(".")
        node = params
        for part in parents:
            node = node[part]
        node[leaf] = value
    file.write_text(yaml.safe_dump(params, sort_keys=False))


def env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a stage: this Python first on PATH (stages run
    ``python -m pipeline.<stage>``), the project directory not overridden."""
    out = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out.pop("CHURN_PROJECT_DIR", None)
    return {**out, **(extra or {})}


def dvc(cwd: Path, *args: str, extra_env: Mapping[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """``dvc <args>`` in ``cwd`` with :func:`env`."""
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env(extra_env),
                          capture_output=True, text=True, timeout=900)
