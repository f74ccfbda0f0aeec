"""Reason codes: contributions, reason groups, and the sentences of the top reasons.

The model tests train a small defection booster on generated customers whose
defection is driven by how overdue they are and by unresolved complaints, and
nothing else; the template tests use hand-written contributions.
"""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
from scipy.special import expit

import models.contributions as contributions_module
from features.spec import KEY_COLUMNS, FeatureSpec, feature_table
from models.contributions import (
    BIAS_COLUMN,
    CONTRIBUTION_METHODS,
    OTHER_GROUP,
    REASON_GROUPS,
    contributions,
    group_contributions,
    reason_groups,
)
from models.design import FeatureFrame
from models.lgbm import TrainedModel, train_defection
from models.lgbm_params import LightGBMParams
from models.reasons import top_reasons
from models.stages import STAGES

NUMERIC = (
    "recency_days", "gap_median_days", "recency_gap_ratio",
    "complaint_count_90d", "complaint_unresolved_90d", "complaint_days_since_last",
    "complaint_resolved_rate", "monetary_trend_90d", "satisfaction_last",
    "support_ticket_count_90d", "support_ticket_resolution_hours_mean",
    "email_open_days_since_last", "tenure_days",
)
CATEGORICAL = ("segment", "stage")
FAST = LightGBMParams(learning_rate=0.1, num_leaves=15, min_child_samples=20,
                      num_boost_round=300, early_stopping_rounds=30)
BG_NBD = ("bgnbd_p_alive", "bgnbd_expected_purchases", "bgnbd_p_no_purchase")


def _customers(n: int, seed: int) -> pd.DataFrame:
    """Feature rows with the real names; defection depends on recency_gap_ratio and
    complaint_unresolved_90d only."""
    rng = np.random.default_rng(seed)
    gap = rng.uniform(10, 60, size=n).round()
    recency = rng.integers(1, 400, size=n).astype(np.float64)
    unresolved = rng.poisson(0.5, size=n)
    complaints = unresolved + rng.poisson(0.5, size=n)
    has = complaints > 0
    frame = pd.DataFrame({
        "customer_id": [f"c{seed}-{i}" for i in range(n)],
        "recency_days": recency,
        "gap_median_days": gap,
        "recency_gap_ratio": recency / (1.0 + gap),
        "complaint_count_90d": complaints.astype("int32"),
        "complaint_unresolved_90d": pd.array(unresolved, dtype="Int32"),
        "complaint_days_since_last": np.where(has, rng.integers(1, 90, size=n), np.nan),
        "complaint_resolved_rate": np.where(has, rng.uniform(size=n), np.nan),
        "monetary_trend_90d": np.where(rng.uniform(size=n) < 0.2, np.nan,
                                       rng.normal(scale=0.5, size=n)),
        "satisfaction_last": np.where(rng.uniform(size=n) < 0.3, np.nan,
                                      rng.integers(1, 6, size=n)),
        "support_ticket_count_90d": rng.poisson(1.0, size=n).astype("int32"),
        "support_ticket_resolution_hours_mean": rng.gamma(2.0, 10.0, size=n),
        "email_open_days_since_last": rng.integers(1, 300, size=n).astype(np.float64),
        "tenure_days": recency + rng.integers(0, 1000, size=n),
        "segment": rng.choice(["loyal", "discount", "wanderer"], size=n),
        "stage": rng.choice(["early_repeat", "core", "at_risk"], size=n),
    })
    logit = (-1.0 + 1.2 * np.clip(frame["recency_gap_ratio"].to_numpy() - 2.0, -2.0, 4.0)
             + 1.5 * unresolved)
    frame["defected"] = rng.uniform(size=n) < expit(logit)
    return frame


@pytest.fixture(scope="module")
def fitted():
    train, stop = _customers(3000, 1), _customers(1500, 2)
    spec = FeatureFrame.from_training(train, numeric=NUMERIC, categorical=CATEGORICAL,
                                      fixed_categories={"stage": STAGES})
    model = train_defection(spec.transform(train), train["defected"],
                            spec.transform(stop), stop["defected"], FAST)
    return model, spec


def _probe_rows() -> pd.DataFrame:
    """Row 0: 143 days without a purchase (4.8 times the usual gap of 29 days) and 2
    unresolved complaints; row 1: bought 3 days ago, no complaint."""
    base = _customers(2, 9).drop(columns="defected")
    rows = pd.concat([base.iloc[[0]]] * 2, ignore_index=True)
    rows.index = pd.Index([101, 102])
    rows["recency_days"] = [143.0, 3.0]
    rows["gap_median_days"] = [29.0, 29.0]
    rows["recency_gap_ratio"] = rows["recency_days"] / (1.0 + rows["gap_median_days"])
    rows["complaint_count_90d"] = np.array([3, 0], dtype="int32")
    rows["complaint_unresolved_90d"] = pd.array([2, 0], dtype="Int32")
    rows["complaint_days_since_last"] = [12.0, np.nan]
    rows["complaint_resolved_rate"] = [0.25, np.nan]
    rows["monetary_trend_90d"] = [0.0, 0.0]
    rows["satisfaction_last"] = [4.0, 4.0]
    return rows


# --------------------------------------------------------------------------
# Contributions
# --------------------------------------------------------------------------


@pytest.mark.parametrize("method", CONTRIBUTION_METHODS)
def test_contributions_sum_to_the_raw_score(fitted, method):
    model, spec = fitted
    X = spec.transform(_customers(500, 3))
    contrib = contributions(model, X, method=method)
    assert list(contrib.columns) == [*model.feature_names, BIAS_COLUMN]
    assert contrib.index.equals(X.index)
    assert (contrib.dtypes == np.float64).all()
    raw = model.booster.predict(X, raw_score=True, num_iteration=model.best_iteration)
    np.testing.assert_allclose(contrib.sum(axis=1).to_numpy(), raw, rtol=0, atol=1e-6)
    # the bias is one number, the expected raw score, not a per-row quantity
    assert contrib[BIAS_COLUMN].nunique() == 1
    # the two drivers carry more than any feature unrelated to them
    spread = contrib.drop(columns=BIAS_COLUMN).abs().mean()
    unrelated = ["monetary_trend_90d", "satisfaction_last", "support_ticket_count_90d",
                 "support_ticket_resolution_hours_mean", "email_open_days_since_last",
                 "segment", "stage"]
    assert spread[["recency_gap_ratio", "complaint_unresolved_90d"]].min() > \
        3 * spread[unrelated].max()


def test_path_contributions_taken_in_slices_of_rows_are_the_same_to_the_last_bit(
        fitted, monkeypatch):
    model, spec = fitted
    X = spec.transform(_customers(500, 4))
    whole = contributions(model, X, method="path")
    monkeypatch.setattr(contributions_module, "_LEAF_ROWS", 7)  # 72 slices, the last of 3
    sliced = contributions(model, X, method="path")
    pd.testing.assert_frame_equal(sliced, whole, check_exact=True)
    raw = model.booster.predict(X, raw_score=True, num_iteration=model.best_iteration)
    np.testing.assert_allclose(sliced.sum(axis=1).to_numpy(), raw, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", CONTRIBUTION_METHODS)
def test_contributions_of_one_row_and_of_no_rows(fitted, method):
    model, spec = fitted
    X = spec.transform(_customers(20, 4))
    pd.testing.assert_frame_equal(contributions(model, X.iloc[[7]], method=method),
                                  contributions(model, X, method=method).iloc[[7]])
    empty = contributions(model, X.iloc[:0], method=method)
    assert empty.shape == (0, len(model.feature_names) + 1)
    assert list(empty.columns) == [*model.feature_names, BIAS_COLUMN]


@pytest.mark.parametrize("method", CONTRIBUTION_METHODS)
def test_contributions_by_group_are_the_sums_of_the_features(fitted, method):
    model, spec = fitted
    X = spec.transform(_customers(300, 5))
    groups = reason_groups(model.feature_names)
    by_group = contributions(model, X, method=method, groups=groups)
    assert list(by_group.columns) == [*groups, BIAS_COLUMN]
    expected = group_contributions(contributions(model, X, method=method), groups)
    np.testing.assert_allclose(by_group[list(groups)], expected, atol=1e-9)
    np.testing.assert_allclose(by_group[BIAS_COLUMN],
                               contributions(model, X, method=method)[BIAS_COLUMN])


def test_path_contributions_of_a_hand_made_stump():
    # One tree, one split on x1 at 0.5: the root's expected raw score is the mean of
    # the two leaves weighted by their counts; a row's move to its leaf goes to x1.
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x0": rng.normal(size=400), "x1": np.r_[np.zeros(300), np.ones(100)]})
    y = (X["x1"] > 0.5).astype(int)
    booster = lgb.train({"objective": "binary", "num_leaves": 2, "learning_rate": 1.0,
                         "min_data_in_leaf": 1, "verbose": -1, "seed": 0},
                        lgb.Dataset(X, y), num_boost_round=1)
    model = TrainedModel(booster=booster, feature_names=("x0", "x1"), objective="binary",
                         best_iteration=1, best_score=0.0, metric="binary_logloss")
    tree = booster.dump_model()["tree_info"][0]["tree_structure"]
    root = tree["internal_value"]
    left, right = tree["left_child"]["leaf_value"], tree["right_child"]["leaf_value"]
    out = contributions(model, X.iloc[[0, 399]], method="path")
    assert out["x0"].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(out["x1"], [left - root, right - root])
    np.testing.assert_allclose(out[BIAS_COLUMN], [root, root])
    # On a stump, TreeSHAP and the path method agree (to the 6 significant digits in
    # which LightGBM's model dump writes node values; the sums telescope exactly).
    np.testing.assert_allclose(contributions(model, X.iloc[[0, 399]]), out, atol=1e-5)


def test_an_unknown_contribution_method_is_refused(fitted):
    model, spec = fitted
    with pytest.raises(ValueError, match=r"method must be one of \('treeshap', 'path'\)"):
        contributions(model, spec.transform(_customers(5, 1)), method="lime")


def test_contributions_check_the_columns_and_the_model(fitted):
    model, spec = fitted
    X = spec.transform(_customers(20, 4))
    with pytest.raises(ValueError, match=r"missing \['tenure_days'\]"):
        contributions(model, X.drop(columns="tenure_days"))
    with pytest.raises(ValueError, match="model's order"):
        contributions(model, X[list(reversed(X.columns))])
    with pytest.raises(TypeError, match="DataFrame"):
        contributions(model, X.to_numpy())
    rng = np.random.default_rng(0)
    data = lgb.Dataset(pd.DataFrame({"a": rng.normal(size=60)}), label=np.arange(60) % 3)
    three = lgb.train({"objective": "multiclass", "num_class": 3, "verbosity": -1}, data,
                      num_boost_round=2)
    with pytest.raises(ValueError, match="3 outputs per row"):
        contributions(TrainedModel(three, 2, 0.0, ("a",), "multiclass"),
                      pd.DataFrame({"a": [0.0]}))


# --------------------------------------------------------------------------
# Reason groups
# --------------------------------------------------------------------------


def _model_inputs(spec: FeatureSpec) -> list[str]:
    names = [n for n in feature_table(spec).names if n not in KEY_COLUMNS]
    return [*names, "stage", *BG_NBD]


@pytest.mark.parametrize("spec", [
    FeatureSpec(),
    FeatureSpec(windows_days=(7, 28), trend_days=28, interaction_kinds=("chat", "complaint"),
                resolution_kinds=("chat",)),
], ids=["default", "custom-kinds-and-windows"])
def test_groups_cover_every_feature_exactly_once(spec):
    names = _model_inputs(spec)
    groups = reason_groups(names)
    grouped = [n for members in groups.values() for n in members]
    assert sorted(grouped) == sorted(names)  # every feature, none twice
    assert OTHER_GROUP not in groups  # a new feature needs a rule and a template
    assert all(groups.values())
    # one group per interaction kind, with every column of that kind
    for kind in spec.interaction_kinds:
        assert groups[kind] == [n for n in names if n.startswith(f"{kind}_")]


def test_groups_of_the_default_features():
    groups = reason_groups(_model_inputs(FeatureSpec()))
    assert list(groups) == [
        "overdue", "frequency", "value", "spend_trend", "refunds", "support_ticket",
        "complaint", "survey", "email_open", "web_visit", "call", "satisfaction", "tenure",
        "season", "stage", "segment", "relationship", "purchase_pattern"]
    assert groups["overdue"] == [
        "recency_days", "gap_mean_days", "gap_median_days", "gap_std_days", "last_gap_days",
        "prior_gap_median_days", "recency_gap_ratio", "rfm_recency_score"]
    assert groups["spend_trend"] == ["frequency_trend_90d", "monetary_trend_90d"]
    assert groups["refunds"] == ["refund_count", "refund_amount", "refund_count_90d"]
    assert groups["complaint"] == [
        "complaint_count_30d", "complaint_count_90d", "complaint_count_180d",
        "complaint_count_365d", "complaint_days_since_last", "complaint_resolved_rate",
        "complaint_resolution_hours_mean", "complaint_unresolved_90d"]
    assert groups["purchase_pattern"] == list(BG_NBD)
    assert set(groups) - {"{kind}"} >= set(REASON_GROUPS) - {"{kind}"}


def test_groups_unknown_feature_bias_and_repeats():
    groups = reason_groups(["discount_share", "recency_days", BIAS_COLUMN, "stage"])
    assert groups == {"overdue": ["recency_days"], "stage": ["stage"],
                      OTHER_GROUP: ["discount_share"]}
    with pytest.raises(ValueError, match=r"repeated: \['stage'\]"):
        reason_groups(["stage", "recency_days", "stage"])


def test_group_contributions_sum_the_members():
    contrib = pd.DataFrame({"recency_days": [1.0, -2.0], "recency_gap_ratio": [0.5, 0.25],
                            "stage": [0.125, 0.0], BIAS_COLUMN: [-1.0, -1.0]}, index=[5, 6])
    expected = pd.DataFrame({"overdue": [1.5, -1.75], "stage": [0.125, 0.0]}, index=[5, 6])
    pd.testing.assert_frame_equal(group_contributions(contrib), expected)


# --------------------------------------------------------------------------
# Top reasons from the model
# --------------------------------------------------------------------------


def test_top_reasons_of_an_overdue_customer_with_unresolved_complaints(fitted):
    model, spec = fitted
    rows = _probe_rows()
    contrib = contributions(model, spec.transform(rows))
    reasons = top_reasons(contrib, rows, k=3)
    assert reasons.index.equals(rows.index)
    first = reasons.loc[101]
    assert {first["reason_1_key"], first["reason_2_key"]} == {"overdue", "complaint"}
    texts = {first["reason_1_key"]: first["reason_1"], first["reason_2_key"]: first["reason_2"]}
    assert texts["overdue"] == "no purchase for 143 days, 4.8 times its usual gap"
    assert texts["complaint"] == "2 unresolved complaints in the last 90 days"
    # the customer who bought 3 days ago is not told to be overdue
    second = reasons.loc[102]
    assert "overdue" not in second[["reason_1_key", "reason_2_key", "reason_3_key"]].tolist()
    assert "complaint" not in second[["reason_1_key", "reason_2_key", "reason_3_key"]].tolist()


def test_top_reasons_rank_by_summed_contribution(fitted):
    model, spec = fitted
    rows = _customers(300, 5)
    contrib = contributions(model, spec.transform(rows))
    reasons = top_reasons(contrib, rows, k=2)
    sums = group_contributions(contrib)
    for i, row in enumerate(reasons.itertuples(index=False)):
        ranked = sums.iloc[i].sort_values(ascending=False, kind="stable")
        positive = [key for key, value in ranked.items() if value > 0][:2]
        got = [key for key in (row.reason_1_key, row.reason_2_key) if not pd.isna(key)]
        assert got == positive


def test_top_reasons_do_not_modify_their_inputs(fitted):
    model, spec = fitted
    rows = _probe_rows()
    contrib = contributions(model, spec.transform(rows))
    before_rows, before_contrib = rows.copy(), contrib.copy()
    top_reasons(contrib, rows)
    pd.testing.assert_frame_equal(rows, before_rows)
    pd.testing.assert_frame_equal(contrib, before_contrib)


# --------------------------------------------------------------------------
# Selection, on hand-written contributions
# --------------------------------------------------------------------------


def _contrib(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(values, index=pd.RangeIndex(len(next(iter(values.values())))))


def test_selection_positive_only_and_missing_when_fewer_than_k():
    contrib = _contrib({"recency_days": [0.5, -0.5, 0.0], "stage": [-0.25, -0.1, 0.0],
                        "segment": [0.75, -0.2, 0.0]})
    features = pd.DataFrame({"recency_days": [20.0, 5.0, 8.0], "stage": ["core"] * 3,
                             "segment": ["loyal"] * 3})
    got = top_reasons(contrib, features, k=3)
    assert list(got.columns) == ["reason_1", "reason_2", "reason_3",
                                 "reason_1_key", "reason_2_key", "reason_3_key"]
    assert (got.dtypes == "str").all()
    assert got.loc[0, "reason_1_key"] == "segment" and got.loc[0, "reason_1"] == "segment: loyal"
    assert got.loc[0, "reason_2_key"] == "overdue"
    assert got.loc[0, "reason_2"] == "no purchase for 20 days"
    # only two groups raise row 0's risk; rows 1 and 2 have no positive group at all
    assert got.loc[0, ["reason_3", "reason_3_key"]].isna().all()
    assert got.loc[[1, 2]].isna().all(axis=None)


def test_selection_ties_go_to_the_first_group_and_k_may_exceed_the_groups():
    contrib = _contrib({"a": [1.0], "b": [1.0], "c": [2.0]})
    features = pd.DataFrame({"a": [0.0], "b": [0.0], "c": [0.0]})
    forward = top_reasons(contrib, features, k=4, groups={"a": ["a"], "b": ["b"], "c": ["c"]})
    assert forward.loc[0, ["reason_1_key", "reason_2_key", "reason_3_key"]].tolist() == \
        ["c", "a", "b"]
    assert pd.isna(forward.loc[0, "reason_4_key"])
    backward = top_reasons(contrib, features, k=2, groups={"c": ["c"], "b": ["b"], "a": ["a"]})
    assert backward.loc[0, ["reason_1_key", "reason_2_key"]].tolist() == ["c", "b"]
    # a key without a template is written as itself
    assert forward.loc[0, "reason_1"] == "c"


def test_groups_leave_out_features_and_sum_the_rest():
    contrib = _contrib({"recency_days": [0.3], "recency_gap_ratio": [0.3],
                        "cutoff_month": [0.5]})
    features = pd.DataFrame({"recency_days": [40.0], "recency_gap_ratio": [2.0],
                             "cutoff_month": [12]})
    every = top_reasons(contrib, features, k=1)
    assert every.loc[0, ["reason_1_key", "reason_1"]].tolist() == \
        ["overdue", "no purchase for 40 days, 2 times its usual gap"]
    without_season = top_reasons(contrib, features, k=2,
                                 groups={"overdue": ["recency_days", "recency_gap_ratio"]})
    assert without_season.loc[0, "reason_1_key"] == "overdue"
    assert pd.isna(without_season.loc[0, "reason_2_key"])
    only_season = top_reasons(contrib, features, k=1, groups={"season": ["cutoff_month"]})
    assert only_season.loc[0, "reason_1"] == "time of year: December"


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"k": 0}, ValueError, "k must be an integer >= 1"),
    ({"groups": {"x": ["recency_days"], "y": ["recency_days"]}}, ValueError, "two reason"),
    ({"groups": {"x": ["nope"]}}, ValueError, r"not columns of contrib: \['nope'\]"),
])
def test_top_reasons_errors(kwargs, error, match):
    contrib = _contrib({"recency_days": [1.0, 2.0]})
    with pytest.raises(error, match=match):
        top_reasons(contrib, pd.DataFrame({"recency_days": [1.0, 2.0]}), **kwargs)


def test_top_reasons_need_features_on_the_index_of_contrib():
    contrib = _contrib({"recency_days": [1.0, 2.0]})
    shifted = pd.DataFrame({"recency_days": [1.0, 2.0]}, index=[1, 2])
    with pytest.raises(ValueError, match="on the index of contrib"):
        top_reasons(contrib, shifted)


# --------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------


def _sentence(driver: str, values: dict[str, object], **kwargs: object) -> tuple[str, str]:
    """(key, sentence) of the single reason when ``driver`` alone raises the risk."""
    names = list(dict.fromkeys([driver, *values]))
    contrib = _contrib({n: [1.0 if n == driver else 0.0] for n in names})
    features = pd.DataFrame({n: [v] for n, v in values.items()})
    got = top_reasons(contrib, features, k=1, **kwargs)
    return got.loc[0, "reason_1_key"], got.loc[0, "reason_1"]


@pytest.mark.parametrize(("driver", "values", "expected"), [
    ("recency_days", {"recency_days": 143.0, "recency_gap_ratio": 143 / 30},
     "no purchase for 143 days, 4.8 times its usual gap"),
    # without the ratio it follows from its definition, recency / (1 + median gap)
    ("gap_median_days", {"recency_days": 143.0, "gap_median_days": 29.0},
     "no purchase for 143 days, 4.8 times its usual gap"),
    ("recency_days", {"recency_days": 1.0, "recency_gap_ratio": np.nan},
     "no purchase for 1 day"),
    # a ratio that cannot be derived is not told
    ("gap_median_days", {"recency_days": 10.0, "gap_median_days": -1.0},
     "no purchase for 10 days"),
    ("complaint_unresolved_90d", {"complaint_unresolved_90d": 1, "complaint_count_90d": 4},
     "1 unresolved complaint in the last 90 days"),
    ("complaint_unresolved_90d", {"complaint_unresolved_90d": 2, "complaint_count_90d": 4},
     "2 unresolved complaints in the last 90 days"),
    ("complaint_count_90d", {"complaint_unresolved_90d": 0, "complaint_count_90d": 1},
     "1 complaint in the last 90 days"),
    ("complaint_days_since_last", {"complaint_count_90d": 0, "complaint_resolved_rate": 1.0,
                                   "complaint_days_since_last": 120.0},
     "last complaint 120 days ago"),
    ("support_ticket_count_90d", {"support_ticket_count_90d": 3,
                                  "support_ticket_resolution_hours_mean": 40.2},
     "3 support tickets in the last 90 days, resolved in 40 hours on average"),
    ("support_ticket_count_90d", {"support_ticket_count_90d": 1,
                                  "support_ticket_resolution_hours_mean": 1.0},
     "1 support ticket in the last 90 days, resolved in 1 hour on average"),
    ("support_ticket_count_90d", {"support_ticket_count_90d": 2,
                                  "support_ticket_resolution_hours_mean": np.nan},
     "2 support tickets in the last 90 days"),
    ("email_open_days_since_last", {"email_open_count_90d": 0,
                                    "email_open_days_since_last": 200.0},
     "no e-mail opened for 200 days"),
    ("web_visit_count_90d", {"web_visit_count_30d": 1, "web_visit_count_90d": 3,
                             "web_visit_count_365d": 9},
     "3 web visits in the last 90 days"),
    ("call_count_90d", {"call_count_90d": 0}, "no calls in the last 90 days"),
    ("monetary_trend_90d", {"monetary_trend_90d": -0.6},
     "spend down 60% vs the previous 90 days"),
    ("monetary_trend_90d", {"monetary_trend_90d": 0.25},
     "spend up 25% vs the previous 90 days"),
    ("frequency_trend_90d", {"monetary_trend_90d": np.nan, "frequency_trend_90d": -2},
     "2 fewer purchases than in the previous 90 days"),
    ("frequency_trend_90d", {"frequency_trend_90d": 1},
     "1 more purchase than in the previous 90 days"),
    ("satisfaction_last", {"satisfaction_last": 2.0}, "satisfaction last scored 2 of 5"),
    ("satisfaction_mean", {"satisfaction_last": np.nan, "satisfaction_mean": 2.25},
     "average satisfaction 2.2 of 5"),
    ("frequency_365d", {"frequency": 9, "frequency_90d": 0, "frequency_365d": 1},
     "1 purchase in the last 365 days"),
    ("monetary_sum_365d", {"monetary_sum_365d": 1234.5}, "spent 1,234.50 in the last 365 days"),
    ("refund_count_90d", {"refund_count_90d": 2, "refund_count": 5},
     "2 refunds in the last 90 days"),
    ("refund_count", {"refund_count_90d": 0, "refund_count": 1, "refund_amount": 30.0},
     "1 refund in total, 30.00 refunded"),
    ("tenure_days", {"tenure_days": 45.0}, "customer for 45 days"),
    ("stage", {"stage": "at_risk"}, "lifecycle stage: at risk"),
    ("relationship_type", {"relationship_type": "self_service"},
     "relationship type: self_service"),
    ("bgnbd_p_alive", {"bgnbd_p_alive": 0.349}, "purchase pattern gives a 35% chance of "
                                                 "still being active"),
    ("bgnbd_p_alive", {"bgnbd_p_alive": 0.998, "bgnbd_p_no_purchase": 0.61},
     "purchase pattern gives a 61% chance of no purchase in the coming period"),
    ("chat_unresolved_28d", {"chat_unresolved_28d": 3, "chat_count_28d": 5},
     "3 unresolved chats in the last 28 days"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_sentences_use_the_customers_values(driver, values, expected):
    _, text = _sentence(driver, values)
    assert text == expected


@pytest.mark.parametrize(("driver", "values", "key", "expected"), [
    ("recency_days", {"recency_days": np.nan, "recency_gap_ratio": 3.0}, "overdue",
     "time since the last purchase"),
    ("complaint_unresolved_90d", {"complaint_unresolved_90d": pd.NA,
                                  "complaint_count_90d": np.nan,
                                  "complaint_days_since_last": np.nan}, "complaint",
     "complaint history"),
    ("monetary_trend_90d", {"monetary_trend_90d": np.nan, "frequency_trend_90d": None},
     "spend_trend", "recent change in spending"),
    ("satisfaction_last", {"satisfaction_last": None}, "satisfaction", "satisfaction scores"),
    ("email_open_days_since_last", {"email_open_days_since_last": np.inf}, "email_open",
     "e-mail engagement"),
    ("segment", {"segment": None}, "segment", "customer segment"),
    ("stage", {"stage": pd.NA}, "stage", "lifecycle stage"),
    ("cutoff_month", {"cutoff_month": np.nan}, "season", "time of year"),
], ids=lambda v: v if isinstance(v, str) and " " not in v else None)
def test_sentences_fall_back_when_values_are_missing(driver, values, key, expected):
    got_key, text = _sentence(driver, values)
    assert (got_key, text) == (key, expected)


def test_no_sentence_prints_a_missing_value():
    """Every group of the default features, every value missing: neutral sentences only."""
    names = _model_inputs(FeatureSpec())
    groups = reason_groups(names)
    # group j gets a distinct positive sum, so every group is a reason
    weights = {n: float(len(groups) - j) for j, members in enumerate(groups.values())
               for n in members}
    contrib = _contrib({n: [weights[n] / len(groups[k])] for k in groups for n in groups[k]})
    missing = pd.DataFrame({n: pd.Series([None], dtype=object) for n in names})
    got = top_reasons(contrib, missing, k=len(groups))
    keys = got[[f"reason_{j + 1}_key" for j in range(len(groups))]].iloc[0].tolist()
    texts = got[[f"reason_{j + 1}" for j in range(len(groups))]].iloc[0].tolist()
    assert keys == list(groups)
    assert all(isinstance(t, str) and t for t in texts)
    assert not [t for t in texts if "nan" in t.lower() or "none" in t.lower()
                or "<na>" in t.lower()]
    assert len(set(texts)) == len(texts)  # each group has its own phrase


def test_satisfaction_scale_is_a_parameter():
    _, text = _sentence("satisfaction_last", {"satisfaction_last": 7.0}, satisfaction_scale=10)
    assert text == "satisfaction last scored 7 of 10"
    _, text = _sentence("satisfaction_last", {"satisfaction_last": 3.5}, satisfaction_scale=None)
    assert text == "satisfaction last scored 3.5"
