"""End to end: `dvc repro` at the tiny size in a temporary copy of the repository."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _copy_repo(dest: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, check=True, capture_output=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            target = dest / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid"]
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True)
    subprocess.run([*git, "commit", "-qm", "copy"], cwd=dest, check=True)
    return dest


def _env() -> dict[str, str]:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("CHURN_PROJECT_DIR", None)
    return env


def _dvc(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = _copy_repo(tmp_path_factory.mktemp("repo"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["generate"]["size"] = "tiny"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    result = _dvc(repo, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    return repo


def test_repro_writes_every_output(repo):
    for path in ("data/raw/demo/transactions.csv", "data/truth/ground_truth.parquet",
                 "data/clean/transactions.parquet", "data/clean/quarantine.parquet",
                 "reports/validation.json", "reports/features.json", "data/labels/labels.parquet",
                 "data/models/defection.txt", "reports/metrics.json", "reports/plots/roc.csv",
                 "reports/promotion.json", "mlflow.db"):
        assert (repo / path).exists(), path
    assert list((repo / "data/features").glob("part-*.parquet"))


def test_validation_report_reconciles(repo):
    report = json.loads((repo / "reports/validation.json").read_text())
    for name, table in report["tables"].items():
        assert table["rows_read"] == table["rows_accepted"] + table["rows_quarantined"], name
    assert report["tables"]["transactions"]["rows_quarantined"] > 0  # the demo's warts


def test_features_cover_buyers_and_prospects(repo):
    report = json.loads((repo / "reports/features.json").read_text())
    con = duckdb.connect()
    rows, customers, cutoffs, prospects = con.execute(
        "SELECT count(*), count(DISTINCT customer_id), count(DISTINCT cutoff), "
        "count(*) FILTER (WHERE frequency = 0) FROM read_parquet(?)",
        [str(repo / "data/features/*.parquet")]).fetchall()[0]
    assert rows == report["rows"] and customers == report["customers"]
    assert cutoffs == len(report["cutoffs"]) >= 12
    assert prospects > 0
    dupes = con.execute("SELECT count(*) FROM (SELECT customer_id, cutoff FROM read_parquet(?) "
                        "GROUP BY ALL HAVING count(*) > 1)",
                        [str(repo / "data/features/*.parquet")]).fetchall()[0][0]
    assert dupes == 0


def test_second_repro_has_nothing_to_do(repo):
    status = _dvc(repo, "status")
    assert status.returncode == 0 and "up to date" in status.stdout.lower(), status.stdout


def test_experiment_with_another_param_lists_metrics(repo):
    result = _dvc(repo, "exp", "run", "-S", "train.lightgbm.learning_rate=0.1")
    assert result.returncode == 0, result.stdout + result.stderr
    shown = _dvc(repo, "exp", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    found = []

    def walk(node):
        if isinstance(node, dict):
            data = node.get("data") or {}
            metrics = (data.get("metrics") or {}).get("reports/metrics.json")
            params = (data.get("params") or {}).get("params.yaml")
            if metrics and params and "data" in metrics and "data" in params:
                found.append((params["data"]["train"]["lightgbm"]["learning_rate"],
                              metrics["data"]["defection"]["model"]["roc_auc"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(shown.stdout))
    assert 0.1 in {rate for rate, _ in found}, found  # the experiment, with its metrics
    assert all(0.5 < auc <= 1 for _, auc in found)
