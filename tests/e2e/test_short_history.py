"""End to end on a real log's shape: one acquisition cohort, nine months of purchases,
transactions only, a 13-week horizon, every other parameter at its default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.project_copy import copy_repo, dvc, set_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    repo = copy_repo(tmp_path_factory.mktemp("cohort"))
    # What a user with such a log sets: the data (here the simulator's cohort, its
    # transactions only) and the horizon.
    set_params(repo, {"generate.size": "cohort", "data.interactions": None,
                      "data.customers": None, "labels.horizon_days": 91})
    result = dvc(repo, "repro")
    assert result.returncode == 0, result.stdout + result.stderr
    return repo


def _json(repo: Path, name: str) -> dict:
    return json.loads((repo / "reports" / name).read_text())


def test_the_plan_fits_the_short_history_and_says_how(repo):
    plan = _json(repo, "labels.json")["plan"]
    assert plan["source"] == "automatic" and plan["horizon_days"] == 91
    assert plan["validation"] == [] and plan["validation_share"] == 0.2
    assert len(plan["train"]) >= 3 and len(plan["test"]) == 1
    assert any("fewer than 3 training cutoffs" in step for step in plan["steps"])
    features = _json(repo, "features.json")
    assert set(plan["train"]) | set(plan["test"]) <= set(features["cutoffs"])


def test_every_customer_is_scored(repo):
    customers = _json(repo, "validation.json")["totals"]["customers"]
    scored = _json(repo, "score.json")
    assert scored["customers"] == customers > 1000
    assert "prospect" not in scored["by_stage"]  # transactions only: every customer bought


def test_the_model_is_evaluated_against_the_baselines(repo):
    metrics = _json(repo, "metrics.json")
    assert 0.5 < metrics["defection"]["roc_auc"] <= 1
    assert set(metrics["baseline_roc_auc"]) >= {"recency", "rfm_logistic", "bgnbd", "paretonbd"}


def test_the_defection_model_choice_is_reported(repo):
    # Nine months and a 91-day horizon leave no training window that ends by the latest
    # training cutoff: the candidates are compared on the validation customers that
    # calibrate (models/train.py _out_of_time says when the choice is out of time).
    choice = _json(repo, "train.json")["defection_choice"]
    assert choice["rows"] == "the validation customers that calibrate"
    assert set(choice["candidates"]) == {"logistic_btyd", "paretonbd", "bgnbd", "lightgbm",
                                         "lightgbm_btyd", "blend"}
    table = choice["candidates"]
    chosen = table[choice["chosen"]]
    assert chosen["diff_to_best"] >= -chosen["std_error"]
    # No candidate listed before the chosen one was within one standard error.
    order = choice["order"]
    assert set(order) == set(table)
    for name in order[:order.index(choice["chosen"])]:
        assert table[name]["diff_to_best"] < -table[name]["std_error"]
