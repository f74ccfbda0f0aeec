"""train and evaluate on the tiny demo: models, metrics, MLflow run, registry and aliases."""

from __future__ import annotations

import json
import shutil

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from features.errors import InputError
from models.fitted import load_fitted, models_digest, predict_all, save_fitted
from pipeline import datasets, evaluate, tracking, train
from pipeline.errors import TrackingStoreError
from pipeline.paths import Paths

pytestmark = pytest.mark.slow


@pytest.fixture
def project(trained_project, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_project[4])
    return trained_project


def test_models_and_reports_are_written(project):
    params, paths, summary, metrics, _ = project
    boosters = ["defection_rfm", "transition", "value"]
    if load_fitted(paths.models)["defection_choice"].booster_weight:
        boosters.append("defection")
    for name in boosters:
        assert (paths.models / f"{name}.txt").exists()
    assert summary["defection_choice"]["chosen"] == summary["defection"]["candidate"]
    assert summary["calibration"]["method"] in ("isotonic", "sigmoid")
    saved = json.loads(paths.evaluation.read_text())
    assert saved["defection"]["model"]["roc_auc"] == metrics["defection"]["model"]["roc_auc"]
    for plot in ("roc", "pr", "calibration", "lift", "confusion", "feature_importance",
                 "ablation"):
        assert (paths.plots / f"{plot}.csv").exists(), plot


def test_metrics_cover_model_baselines_and_oracle(project):
    _, _, _, metrics, _ = project
    d = metrics["defection"]
    for who in ("model", "recency", "rfm_logistic", "bgnbd", "paretonbd", "oracle"):
        assert 0.5 < d[who]["roc_auc"] <= 1.0, who
        assert d[who]["log_loss"] > 0, who
    assert d["oracle"]["roc_auc"] >= d["model"]["roc_auc"] - 0.02  # nothing sees the latent
    assert d["vs_best_baseline"]["ci_low"] <= d["vs_best_baseline"]["diff"]
    assert d["vs_best_baseline"]["diff"] <= d["vs_best_baseline"]["ci_high"]
    t = metrics["transition"]
    assert t["model"]["log_loss"] < t["markov"]["log_loss"]


def test_run_registry_and_aliases(project):
    params, paths, summary, metrics, uri = project
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    run = client.get_run(summary["mlflow"]["run_id"])
    assert run.data.metrics["test_defection_roc_auc"] == pytest.approx(
        metrics["defection"]["model"]["roc_auc"])
    assert run.data.tags["params_md5"] and run.data.tags["git_commit"]  # tests run in a clone
    assert {i.dataset.name for i in run.inputs.dataset_inputs} >= {
        "labelled snapshots (train)", "labelled snapshots (test)"}
    name = params.train.registered_model
    champion = client.get_model_version_by_alias(name, "champion")
    challenger = client.get_model_version_by_alias(name, "challenger")
    assert str(champion.version) == str(challenger.version) == "1"  # the first is promoted


def test_a_worse_challenger_is_not_promoted(project, tmp_path):
    params, paths, summary, metrics, uri = project
    mlflow.set_tracking_uri(uri)
    worse = {k: v for k, v in evaluate.flat_metrics(metrics).items()}
    worse["test_defection_roc_auc"] -= 0.05
    name = params.train.registered_model
    features = MlflowClient().get_model_version(name, "1").tags["feature_schema_digest"]
    try:
        decision = evaluate.promote(params, summary["mlflow"]["run_id"], "1", worse, "other",
                                    features)
        assert not decision["promoted"] and decision["previous_champion"] == "1"
        # The same challenger on other features: the champion cannot score them.
        decision = evaluate.promote(params, summary["mlflow"]["run_id"], "1", worse, "other",
                                    "other features")
        assert decision["promoted"] and "reads other features" in decision["reason"]
    finally:  # promote tagged version 1 with made-up digests: put the real ones back
        tracking.set_version_tag(name, "1", "models_digest", models_digest(paths.models))
        tracking.set_version_tag(name, "1", "feature_schema_digest", features)


def test_same_models_with_new_decisions_are_promoted(project):
    params, paths, summary, metrics, uri = project
    mlflow.set_tracking_uri(uri)
    digest = models_digest(paths.models)
    client = MlflowClient()
    name = params.train.registered_model
    assert client.get_model_version(name, "1").tags["models_digest"] == digest
    # The same models (a policy change re-registers them): promoted whatever the metrics.
    worse = dict(evaluate.flat_metrics(metrics), test_defection_roc_auc=0.5)
    features = client.get_model_version(name, "1").tags["feature_schema_digest"]
    decision = evaluate.promote(params, summary["mlflow"]["run_id"], "1", worse, digest,
                                features)
    assert decision["promoted"] and "same fitted models" in decision["reason"]


def test_training_is_deterministic(project, tmp_path):
    params, paths, _, _, _ = project
    frame = datasets.load_training_frame(paths)
    a, _ = train.fit(frame, params)
    b, _ = train.fit(frame, params)
    test = frame[frame["split"] == "test"]
    pa_ = predict_all(a, test, horizon_days=params.labels.horizon_days)
    pb_ = predict_all(b, test, horizon_days=params.labels.horizon_days)
    pd.testing.assert_frame_equal(pa_, pb_)
    # Byte for byte: the model files of a retraining (and of its refit) are those of
    # the pipeline's run.
    deployed, _ = train.refit(frame, a, params)
    a["effects"], deployed["effects"], _ = train.effects(frame, a, deployed, params,
                                                         datasets.load_contacts(paths))
    save_fitted(a, tmp_path)
    (tmp_path / "deployed").mkdir()
    save_fitted(deployed, tmp_path / "deployed")
    assert models_digest(tmp_path) == models_digest(paths.models)


def test_the_models_that_score_have_seen_the_latest_cutoff(project):
    params, paths, summary, _, _ = project
    frame = datasets.load_training_frame(paths)
    test = frame[frame["split"] == "test"].reset_index(drop=True)
    refit = summary["refit"]
    assert refit["cutoffs"][-1] == pd.Timestamp(test["cutoff"].iloc[0]).date().isoformat()
    assert refit["rows"] == len(frame)
    assert refit["calibration"]["cutoff"] == refit["cutoffs"][-1]
    held_out, deployed = load_fitted(paths.models), load_fitted(paths.deployed_models)
    assert deployed["defection_choice"] == held_out["defection_choice"]
    if held_out["defection"] is not None:
        assert deployed["defection"].best_iteration == held_out["defection"].best_iteration
    # The refit learns from the test rows: it scores differently from the model that
    # never saw them, and with the test rows' outcomes reversed, it predicts more
    # defection for the test customers who now defect and less for those who now stay
    # (the calibrated probability: whatever the candidate, its calibrator learns from
    # the latest window's outcomes; a BTYD candidate's own parts read no outcome).
    buyers = test[test["defected"].notna()].reset_index(drop=True)
    y = buyers["defected"].astype(bool).to_numpy()
    h = params.labels.horizon_days
    raw = {name: predict_all(models, buyers, horizon_days=h)["p_defect_raw"].to_numpy()
           for name, models in (("held_out", held_out), ("deployed", deployed))}
    assert not np.allclose(raw["deployed"], raw["held_out"])
    reversed_ = frame.copy()
    at_test = (reversed_["split"] == "test") & reversed_["defected"].notna()
    reversed_.loc[at_test, "defected"] = ~reversed_.loc[at_test, "defected"].astype(bool)
    moved, _ = train.refit(reversed_, held_out, params)
    before = predict_all(deployed, buyers, horizon_days=h)["p_defect"].to_numpy()
    after = predict_all(moved, buyers, horizon_days=h)["p_defect"].to_numpy()
    assert after[~y].mean() > before[~y].mean() + 0.05
    assert after[y].mean() < before[y].mean() - 0.05


def test_the_transition_and_value_models_boost_at_their_own_learning_rates(project):
    params, paths, _, _, _ = project
    shared = params.train.lightgbm.learning_rate
    rates = {"transition": params.train.transition_learning_rate,
             "value": params.train.value_learning_rate, "defection_rfm": shared}
    assert len(set(rates.values())) == 3
    for folder in (paths.models, paths.deployed_models):
        fitted = load_fitted(folder)
        for name, rate in rates.items():
            assert float(fitted[name].booster.params["learning_rate"]) == rate, name


def test_evaluate_stops_before_any_work_when_the_store_lost_the_training_run(
        project, tmp_path, monkeypatch):
    params, paths, summary, _, _ = project
    before = paths.evaluation.read_bytes()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'another.db'}")
    with pytest.raises(TrackingStoreError, match=f"the training run {summary['mlflow']['run_id']}"
                       " of reports/train.json is not in the MLflow tracking store"):
        evaluate.main(params, paths)
    assert paths.evaluation.read_bytes() == before


def test_train_and_evaluate_before_their_inputs_exist_name_the_stage_to_run(
        project, tmp_path, monkeypatch):
    params = project[0]
    empty = Paths(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    with pytest.raises(InputError, match=r"labels\.parquet is missing: run `churn labels`"):
        train.main(params, empty)
    with pytest.raises(InputError, match=r"train\.json is missing: run `churn train`"):
        evaluate.main(params, empty)
    # Labels without the feature table: the features stage is the one to run.
    empty.labels.mkdir(parents=True)
    shutil.copy(project[1].labels_table, empty.labels_table)
    with pytest.raises(InputError, match=r"is missing: run `churn features`"):
        datasets.load_training_frame(empty)
