"""End to end: `dvc repro` at the tiny size in a temporary copy of the repository."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from tests.e2e.project_copy import copy_repo, dvc, set_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("repo"))
    set_params(repo, {"generate.size": "tiny"})
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    return repo


def test_repro_writes_every_output(repo):
    for path in ("data/raw/demo/transactions.csv", "data/truth/ground_truth.parquet",
                 "data/clean/transactions.parquet", "data/clean/quarantine.parquet",
                 "reports/validation.json", "reports/features.json", "data/labels/labels.parquet",
                 "data/models/defection_choice.json", "reports/metrics.json",
                 "reports/plots/roc.csv",
                 "reports/promotion.json", "mlflow.db", "reports/training_report.html",
                 "data/scores.duckdb", "reports/score.json", "reports/scoring_report.html"):
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
    status = dvc(repo, "status")
    assert status.returncode == 0 and "up to date" in status.stdout.lower(), status.stdout


def test_dvc_metrics_show_the_headline_figures_only(repo):
    shown = dvc(repo, "metrics", "show", "--json")
    assert shown.returncode == 0, shown.stderr

    def numbers(node):
        if isinstance(node, dict):
            return sum(numbers(v) for v in node.values())
        if isinstance(node, list):
            return sum(numbers(v) for v in node)
        return int(isinstance(node, int | float) and not isinstance(node, bool))

    files = {}

    def collect(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if str(key).endswith(".json") and isinstance(value, dict) and "data" in value:
                    files[key] = value["data"]
                else:
                    collect(value)

    collect(json.loads(shown.stdout))
    assert list(files) == ["reports/metrics.json"], list(files)
    assert 10 <= numbers(files) <= 60, files


def test_experiment_with_another_param_lists_metrics(repo):
    result = dvc(repo, "exp", "run", "-S", "train.lightgbm.learning_rate=0.1")
    assert result.returncode == 0, result.stdout + result.stderr
    shown = dvc(repo, "exp", "show", "--json")
    assert shown.returncode == 0, shown.stderr
    found = []

    def walk(node):
        if isinstance(node, dict):
            data = node.get("data") or {}
            metrics = (data.get("metrics") or {}).get("reports/metrics.json")
            params = (data.get("params") or {}).get("params.yaml")
            if metrics and params and "data" in metrics and "data" in params:
                found.append((params["data"]["train"]["lightgbm"]["learning_rate"],
                              metrics["data"]["defection"]["roc_auc"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(shown.stdout))
    assert 0.1 in {rate for rate, _ in found}, found  # the experiment, with its metrics
    assert all(0.5 < auc <= 1 for _, auc in found)
