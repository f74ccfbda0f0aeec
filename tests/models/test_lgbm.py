"""LightGBM parameters, the three models and their predictions.

The models are trained on small generated data sets (a few thousand rows)
with a fast learning rate, so the module runs in seconds.
"""

from __future__ import annotations

import json

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

from models.design import FeatureFrame
from models.lgbm import (
    ABSENT_CLASS_PROBABILITY,
    TrainedModel,
    predict_defection,
    predict_transition,
    predict_value,
    refit,
    train_defection,
    train_transition,
    train_value,
)
from models.lgbm_params import LightGBMParams
from models.stages import STAGES

SEGMENTS = ("loyal", "discount", "impulsive", "wanderer")
NUMERIC = ("x1", "x2", "x3", "x4")
CATEGORICAL = ("segment", "stage")
FAST = LightGBMParams(learning_rate=0.1, num_leaves=15, min_child_samples=20,
                      num_boost_round=400, early_stopping_rounds=30)


def _rows(n: int, seed: int) -> pd.DataFrame:
    """Features of ``n`` customers: four numeric ones (x4 partly missing), a segment, a stage."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": [f"c{seed}-{i}" for i in range(n)],
        "x1": rng.normal(size=n),
        "x2": rng.normal(size=n),
        "x3": rng.integers(0, 10, size=n).astype("int32"),
        "x4": pd.array(np.where(rng.uniform(size=n) < 0.2, np.nan, rng.normal(size=n)),
                       dtype="Float64"),
        "segment": rng.choice(SEGMENTS, size=n),
        "stage": rng.choice(STAGES[1:5], size=n),
    })
    seg_effect = pd.Series(dict(zip(SEGMENTS, (-1.0, 0.5, 1.0, 0.0), strict=True)))
    frame["logit"] = 1.5 * frame["x1"] - frame["x2"] + seg_effect[frame["segment"]].to_numpy()
    frame["defected"] = rng.uniform(size=n) < expit(frame["logit"].to_numpy())
    return frame


def _frame_spec(train: pd.DataFrame) -> FeatureFrame:
    return FeatureFrame.from_training(train, numeric=NUMERIC, categorical=CATEGORICAL,
                                      fixed_categories={"stage": STAGES})


@pytest.fixture(scope="module")
def data():
    train, stop, test = _rows(3000, 1), _rows(1500, 2), _rows(3000, 3)
    spec = _frame_spec(train)
    return {name: (spec.transform(part), part)
            for name, part in (("train", train), ("stop", stop), ("test", test))}


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------


def test_params_defaults_and_reproducibility_switches():
    p = LightGBMParams().booster_params()
    assert p["deterministic"] is True and p["force_row_wise"] is True
    assert (p["learning_rate"], p["num_leaves"], p["min_data_in_leaf"], p["seed"]) == \
        (0.05, 31, 50, 42)
    assert LightGBMParams().num_boost_round == 2000
    assert LightGBMParams().early_stopping_rounds == 100


@pytest.mark.parametrize("bad", [{"learning_rate": 0.0}, {"bagging_fraction": 1.5},
                                 {"num_leaves": 1}, {"early_stopping_rounds": 0}])
def test_params_are_validated(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        LightGBMParams(**bad)


# --------------------------------------------------------------------------
# Defection
# --------------------------------------------------------------------------


def _defection(data, params=FAST):
    (X_tr, tr), (X_st, st) = data["train"], data["stop"]
    return train_defection(X_tr, tr["defected"], X_st, st["defected"], params)


def test_defection_same_seed_same_predictions_other_seed_other_predictions(data):
    X_te = data["test"][0]
    first, second = _defection(data), _defection(data)
    p1, p2 = predict_defection(first, X_te), predict_defection(second, X_te)
    assert np.array_equal(p1, p2)
    assert first.booster.model_to_string() == second.booster.model_to_string()
    other = _defection(data, LightGBMParams(**{**FAST.model_dump(), "seed": 7}))
    assert not np.array_equal(p1, predict_defection(other, X_te))


def test_defection_learns_the_signal(data):
    model = _defection(data)
    X_te, te = data["test"]
    p = predict_defection(model, X_te)
    assert p.shape == (len(te),) and ((p > 0) & (p < 1)).all()
    truth = expit(te["logit"].to_numpy())
    assert np.corrcoef(p, truth)[0, 1] > 0.9
    assert model.feature_names == (*NUMERIC, *CATEGORICAL)
    assert model.metric == "binary_logloss"
    assert model.best_score == pytest.approx(min(model.history))


def test_early_stopping_stops_on_noise():
    rng = np.random.default_rng(5)
    train, stop = _rows(2000, 5), _rows(1000, 6)
    spec = _frame_spec(train)
    params = LightGBMParams(learning_rate=0.1, num_boost_round=500, early_stopping_rounds=20)
    model = train_defection(spec.transform(train), rng.uniform(size=2000) < 0.3,
                            spec.transform(stop), rng.uniform(size=1000) < 0.3, params)
    assert model.best_iteration < params.num_boost_round
    # training went on exactly early_stopping_rounds past the best round, then stopped
    assert len(model.history) == model.best_iteration + params.early_stopping_rounds
    assert model.history[model.best_iteration - 1] == model.best_score == min(model.history)
    # the booster keeps the best rounds only, and predictions use them
    assert model.booster.num_trees() == model.best_iteration
    X = spec.transform(stop)
    assert np.array_equal(predict_defection(model, X),
                          model.booster.predict(X, num_iteration=model.best_iteration))


def test_defection_rejects_null_labels(data):
    (X_tr, tr), (X_st, st) = data["train"], data["stop"]
    y = tr["defected"].astype(object)
    y.iloc[3] = None
    with pytest.raises(ValueError, match="1 missing value"):
        train_defection(X_tr, y, X_st, st["defected"], FAST)


def test_train_rejects_frames_not_built_alike(data):
    (X_tr, tr), (X_st, st) = data["train"], data["stop"]
    with pytest.raises(ValueError, match="different columns"):
        train_defection(X_tr, tr["defected"], X_st.drop(columns="x1"), st["defected"], FAST)
    with pytest.raises(ValueError, match="neither float64 nor category"):
        train_defection(X_tr.assign(segment=X_tr["segment"].astype(str)), tr["defected"],
                        X_st, st["defected"], FAST)


def test_predict_checks_columns_and_model_kind(data):
    model = _defection(data)
    X_te = data["test"][0]
    with pytest.raises(ValueError, match="model's columns"):
        predict_defection(model, X_te[list(reversed(X_te.columns))])
    with pytest.raises(ValueError, match="'binary' model"):
        predict_value(model, X_te)


# --------------------------------------------------------------------------
# Transition
# --------------------------------------------------------------------------


def _next_stage(frame: pd.DataFrame, seed: int) -> pd.Series:
    """Next stage from x1 (no 'reactivated' ever, 'prospect' never)."""
    rng = np.random.default_rng(seed)
    noisy = frame["x1"].to_numpy() + rng.normal(scale=0.5, size=len(frame))
    idx = np.digitize(noisy, [-1.0, 0.0, 1.0, 1.7]) + 1
    return pd.Series(np.array(STAGES)[idx], index=frame.index)


@pytest.fixture(scope="module")
def transition(data):
    (X_tr, tr), (X_st, st) = data["train"], data["stop"]
    y_stop = _next_stage(st, 2)
    y_stop.iloc[:5] = "reactivated"  # unseen in training: accepted, left out of early stopping
    return train_transition(X_tr, _next_stage(tr, 1), X_st, y_stop, FAST)


def test_transition_probabilities(data, transition):
    X_te, te = data["test"]
    probs = predict_transition(transition, X_te)
    assert list(probs.columns) == list(STAGES)
    assert probs.index.equals(X_te.index)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert transition.trained_classes == STAGES[1:6]
    # classes never seen in training get the tiny constant, renormalised
    for absent in ("prospect", "reactivated"):
        assert probs[absent].max() <= ABSENT_CLASS_PROBABILITY
        assert probs[absent].min() > 0
    # and the seen classes carry the signal: the true class is the most likely one often
    truth = _next_stage(te, 3)
    hit = (probs.idxmax(axis=1) == truth).mean()
    assert hit > 0.5  # five classes: chance is about 0.2-0.3


def test_transition_one_row_and_no_rows(data, transition):
    X_te = data["test"][0]
    one = predict_transition(transition, X_te.iloc[[7]])
    pd.testing.assert_frame_equal(one, predict_transition(transition, X_te).iloc[[7]])
    none = predict_transition(transition, X_te.iloc[:0])
    assert none.shape == (0, len(STAGES)) and list(none.columns) == list(STAGES)


def test_saved_and_reloaded_model_predicts_the_same(data, transition):
    X_te = data["test"][0]
    text = transition.booster.model_to_string(num_iteration=transition.best_iteration)
    meta = json.loads(json.dumps(transition.metadata()))
    again = TrainedModel(booster=lgb.Booster(model_str=text), **meta)
    assert again.classes == STAGES and again.feature_names == transition.feature_names
    pd.testing.assert_frame_equal(predict_transition(again, X_te),
                                  predict_transition(transition, X_te))


def test_transition_rejects_unknown_and_single_class(data):
    (X_tr, tr), (X_st, st) = data["train"], data["stop"]
    with pytest.raises(ValueError, match="not among the classes"):
        train_transition(X_tr, tr["stage"].replace({"core": "Core"}), X_st, st["stage"], FAST)
    with pytest.raises(ValueError, match="at least two"):
        train_transition(X_tr, ["core"] * len(X_tr), X_st, st["stage"], FAST)


# --------------------------------------------------------------------------
# Value
# --------------------------------------------------------------------------


def _spend(frame: pd.DataFrame, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Zero-inflated, skewed spend with a known mean: P(buy) * E(amount)."""
    rng = np.random.default_rng(seed)
    p_buy = expit(frame["x1"].to_numpy())
    mean_amount = np.exp(3.0 + 0.8 * frame["x2"].to_numpy())
    amount = rng.gamma(shape=2.0, scale=mean_amount / 2.0)
    return np.where(rng.uniform(size=len(frame)) < p_buy, amount, 0.0), p_buy * mean_amount


def test_value_is_non_negative_and_beats_the_mean(data):
    (X_tr, tr), (X_st, st), (X_te, te) = data["train"], data["stop"], data["test"]
    y_tr, _ = _spend(tr, 1)
    y_st, _ = _spend(st, 2)
    y_te, mean_te = _spend(te, 3)
    assert (y_tr == 0).mean() > 0.3
    model = train_value(X_tr, y_tr, X_st, y_st, FAST)
    pred = predict_value(model, X_te)
    assert model.booster.params["objective"] == "tweedie"
    assert model.booster.params["tweedie_variance_power"] == 1.5
    assert pred.shape == (len(te),) and (pred >= 0).all()
    constant = np.full(len(te), y_tr.mean())
    assert np.abs(pred - y_te).mean() < np.abs(constant - y_te).mean()
    # it recovers the mean structure, which the constant cannot
    assert np.abs(pred - mean_te).mean() < 0.5 * np.abs(constant - mean_te).mean()


def test_value_rejects_negative_spend(data):
    X_tr, X_st = data["train"][0], data["stop"][0]
    y = np.ones(len(X_tr))
    y[7] = -2.0
    with pytest.raises(ValueError, match=r"finite and >= 0; 1 value"):
        train_value(X_tr, y, X_st, np.ones(len(X_st)), FAST)


# --------------------------------------------------------------------------
# Refit on other rows
# --------------------------------------------------------------------------


def test_refit_runs_the_chosen_rounds_on_the_new_rows(data):
    (X, rows), (X_stop, stop) = data["train"], data["stop"]
    model = train_defection(X, rows["defected"], X_stop, stop["defected"], FAST)
    # Rows where the relationship is reversed: the refitted model follows them.
    flipped = ~rows["defected"]
    again = refit(model, X, flipped, FAST)
    assert again.best_iteration == model.best_iteration
    assert again.booster.num_trees() == model.best_iteration
    p_old, p_new = predict_defection(model, X), predict_defection(again, X)
    assert np.corrcoef(p_old, p_new)[0, 1] < -0.5
    # The same rows and labels give the same booster as a fixed-round training.
    same = refit(model, X, rows["defected"], FAST)
    assert same.booster.model_to_string() == refit(model, X, rows["defected"],
                                                    FAST).booster.model_to_string()


def test_refit_of_the_transition_and_value_models(data):
    (X, rows), (X_stop, stop) = data["train"], data["stop"]
    nxt = np.where(rows["defected"], "lost", "core")
    nxt_stop = np.where(stop["defected"], "lost", "core")
    transition = train_transition(X, nxt, X_stop, nxt_stop, FAST)
    # The refit rows hold a class the first model never saw: it is learnt.
    nxt_new = np.where(rows["x2"] > 1.5, "at_risk", nxt)
    again = refit(transition, X, nxt_new, FAST)
    assert set(again.trained_classes) == {"core", "at_risk", "lost"}
    proba = predict_transition(again, X)
    assert proba.shape == (len(X), len(STAGES))
    spend = np.where(rows["defected"], 0.0, 10.0 + rows["x1"].abs())
    value = train_value(X, spend, X_stop, np.where(stop["defected"], 0.0, 10.0), FAST)
    assert refit(value, X, spend * 2, FAST).best_iteration == value.best_iteration


def test_refit_refuses_other_columns(data):
    (X, rows), (X_stop, stop) = data["train"], data["stop"]
    model = train_defection(X, rows["defected"], X_stop, stop["defected"], FAST)
    with pytest.raises(ValueError, match="X has other columns than the model"):
        refit(model, X.drop(columns=["x1"]), rows["defected"], FAST)
