"""Faults of a scheduled job: ``kill -9`` of ``validate``, ``features`` and ``score`` at
several points, then a re-run, gives the outputs of an uninterrupted run, and leaves
nothing of the killed runs behind.

Each stage runs as DVC runs it (``python -m pipeline.<stage>``) in a copy of the
trained tiny project. A run is killed with SIGKILL when it reaches a point (its
scratch folder made, its temporary output being written); a second run is killed
at a later point; a third one completes. Its outputs are compared with those of an
uninterrupted run: byte for byte for the files, row for row for the DuckDB table.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def project(trained_project, tmp_path_factory) -> Path:
    """A copy of the trained tiny project, with its params file and its MLflow store."""
    root = tmp_path_factory.mktemp("killed") / "project"
    shutil.copytree(trained_project[1].root, root)
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["generate"]["size"] = "tiny"
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def environment(root: Path) -> dict[str, str]:
    return {**os.environ, "CHURN_PROJECT_DIR": str(root), "PYTHONPATH": str(REPO),
            "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
            "SOURCE_DATE_EPOCH": "1735689600"}


def run(root: Path, stage: str) -> None:
    done = subprocess.run([sys.executable, "-m", f"pipeline.{stage}"], cwd=root,
                          env=environment(root), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def kill_at(root: Path, stage: str, reached: Callable[[], bool]) -> None:
    """Start the stage, kill it with SIGKILL as soon as ``reached()``."""
    job = subprocess.Popen([sys.executable, "-m", f"pipeline.{stage}"], cwd=root,
                           env=environment(root), stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    try:
        while job.poll() is None and not reached():
            time.sleep(0.002)
        job.send_signal(signal.SIGKILL)
        _, err = job.communicate(timeout=60)
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
    assert job.returncode == -signal.SIGKILL, f"{stage} ended before the point: {err[-2000:]}"


def any_file(pattern: str, root: Path) -> Callable[[], bool]:
    return lambda: any(root.glob(pattern))


def digests(root: Path, patterns: list[str]) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for pattern in patterns for p in sorted(root.glob(pattern))}


def leftovers(root: Path) -> list[str]:
    """Hidden files and folders under the project but the stage locks."""
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*")
                  if ".locks" not in p.relative_to(root).parts)


def test_killed_validate_then_a_rerun_gives_the_uninterrupted_outputs(project):
    outputs = ["data/clean/*.parquet"]
    run(project, "validate")
    expected = digests(project, outputs)
    kill_at(project, "validate", any_file("data/clean/.validate*", project))
    kill_at(project, "validate", any_file("data/clean/.transactions.parquet.*.tmp", project))
    run(project, "validate")
    assert digests(project, outputs) == expected
    assert leftovers(project) == []


def test_killed_features_then_a_rerun_gives_the_uninterrupted_outputs(project):
    outputs = ["data/features/*", "reports/features.json"]
    run(project, "features")
    expected = digests(project, outputs)
    kill_at(project, "features", any_file("data/.features.*.tmp", project))
    kill_at(project, "features", any_file("data/.features.*.tmp/*.parquet", project))
    assert any(project.glob("data/.features.*.tmp"))  # the killed runs' folders are there ...
    run(project, "features")
    assert digests(project, outputs) == expected
    assert leftovers(project) == []  # ... and the next run removed them


def scores(root: Path) -> list[tuple]:
    with duckdb.connect(str(root / "data" / "scores.duckdb"), read_only=True) as con:
        return con.execute("SELECT * EXCLUDE (scored_at) FROM customer_scores "
                           "ORDER BY as_of, customer_id").fetchall()


def test_killed_score_then_a_rerun_gives_the_uninterrupted_outputs(project):
    outputs = ["data/scores/*/*.parquet"]
    run(project, "score")
    expected, rows = digests(project, outputs), scores(project)
    kill_at(project, "score", any_file(".score-features.*", project))
    kill_at(project, "score", any_file(".score-rows.*/scores/*.parquet", project))
    run(project, "score")
    assert digests(project, outputs) == expected
    assert scores(project) == rows
    assert leftovers(project) == []
