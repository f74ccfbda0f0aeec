"""Evaluation metrics: hand-computed values on tiny arrays.

The six-row fixture ``Y6``/``P6`` (scores already sorted) has, by hand:

* ROC AUC: of the 3 x 3 (defector, non-defector) pairs, the defector at 0.3
  outranks 2 non-defectors and those at 0.5 and 0.6 outrank all 3: 8/9;
* average precision: by decreasing score the defectors come at ranks 1, 2 and 4,
  with precisions 1, 1 and 3/4: (1 + 1 + 0.75) / 3 = 11/12;
* Brier: (0.01 + 0.04 + 0.49 + 0.16 + 0.25 + 0.16) / 6 = 0.185;
* top decile: ceil(6/10) = 1 row, the defector at 0.6: lift 1 / 0.5 = 2,
  capture 1/3;
* ECE over 10 equal-frequency bins: with 6 rows every row has its own bin
  (rank r goes to bin r * 10 // 6), so ECE = mean |y - p| = 2.3 / 6.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

from models.metrics import (
    DEFECTION_METRICS,
    defection_metrics,
    per_group_metrics,
    transition_metrics,
    value_metrics,
)
from models.stages import STAGES

Y6 = np.array([0, 0, 1, 0, 1, 1])
P6 = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])








# --------------------------------------------------------------------------
# defection_metrics
# --------------------------------------------------------------------------


def test_defection_metrics_hand_values() -> None:
    m = defection_metrics(Y6, P6)
    assert list(m) == list(DEFECTION_METRICS)
    assert m["n"] == 6
    assert m["base_rate"] == pytest.approx(0.5)
    assert m["roc_auc"] == pytest.approx(8 / 9)
    assert m["pr_auc"] == pytest.approx(11 / 12)
    expected_ll = -(math.log(0.9) + math.log(0.8) + math.log(0.3) + math.log(0.6)
                    + math.log(0.5) + math.log(0.6)) / 6
    assert m["log_loss"] == pytest.approx(expected_ll)
    assert m["brier"] == pytest.approx(0.185)
    assert m["lift_top_decile"] == pytest.approx(2.0)
    assert m["capture_top_decile"] == pytest.approx(1 / 3)


def test_defection_metrics_ece_uses_equal_frequency_bins() -> None:
    assert defection_metrics(Y6, P6)["ece"] == pytest.approx(2.3 / 6)


def test_lift_and_capture_on_twenty_rows(twenty_rows) -> None:
    # Top decile = ceil(20/10) = 2 rows: ranks 1 (defector) and 2 (not).
    y, p = twenty_rows
    m = defection_metrics(y, p)
    assert m["base_rate"] == pytest.approx(0.2)
    assert m["lift_top_decile"] == pytest.approx(0.5 / 0.2)
    assert m["capture_top_decile"] == pytest.approx(1 / 4)


def test_ties_at_the_decile_boundary_share_the_places() -> None:
    # One row above the boundary (a defector), then 4 rows tied at 0.5 of which 2
    # defected, for the 1 remaining place: 1 + 1 * 2/4 = 1.5 defectors in the top 2.
    # 4 defectors in 20 rows: lift (1.5 / 2) / 0.2 = 3.75, capture 1.5 / 4.
    p = np.array([0.9] + [0.5] * 4 + [0.1] * 15)
    y = np.array([1, 1, 0, 1, 0] + [1] + [0] * 14)
    m = defection_metrics(y, p)
    assert m["lift_top_decile"] == pytest.approx(3.75)
    assert m["capture_top_decile"] == pytest.approx(0.375)
    order = np.random.default_rng(0).permutation(20)
    shuffled = defection_metrics(y[order], p[order])
    assert shuffled["lift_top_decile"] == pytest.approx(3.75)


def test_constant_scores_have_lift_one(twenty_rows) -> None:
    y, _ = twenty_rows
    m = defection_metrics(y, np.full(20, 0.3))
    assert m["lift_top_decile"] == pytest.approx(1.0)
    assert m["capture_top_decile"] == pytest.approx(2 / 20)
    assert m["roc_auc"] == pytest.approx(0.5)


def test_single_class_gives_nan_for_undefined_metrics() -> None:
    m = defection_metrics([1, 1, 1], [0.5, 0.8, 1.0])
    assert math.isnan(m["roc_auc"]) and math.isnan(m["pr_auc"])
    assert m["brier"] == pytest.approx((0.25 + 0.04 + 0.0) / 3)
    assert m["lift_top_decile"] == pytest.approx(1.0)
    none = defection_metrics([0, 0], [0.2, 0.4])
    assert math.isnan(none["lift_top_decile"]) and math.isnan(none["capture_top_decile"])


@pytest.mark.parametrize(
    ("y", "p", "match"),
    [
        ([0, 1], [0.2], "1 values for 2 labels"),
        ([0, 2], [0.2, 0.4], "not 0/1"),
        ([0, 1], [0.2, 1.4], r"outside \[0, 1\]"),
        (pd.array([True, None], dtype="boolean"), [0.1, 0.2], "missing"),
        ([], [], "empty"),
    ],
)
def test_defection_metrics_rejects_bad_input(y: object, p: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        defection_metrics(y, p)


def test_boolean_series_labels_are_accepted() -> None:
    y = pd.Series(pd.array(Y6.astype(bool), dtype="boolean"))
    assert defection_metrics(y, P6)["roc_auc"] == pytest.approx(8 / 9)


# --------------------------------------------------------------------------
# per_group_metrics
# --------------------------------------------------------------------------


def test_per_group_metrics_per_stage() -> None:
    y = np.concatenate([Y6, [1, 1]])
    p = np.concatenate([P6, [0.5, 0.9]])
    stage = pd.Series(pd.Categorical(["core"] * 6 + ["at_risk"] * 2, categories=list(STAGES)),
                      name="stage")
    table = per_group_metrics(y, p, stage)
    assert list(table.index) == ["core", "at_risk"]  # category order, observed only
    assert table.index.name == "stage"
    assert list(table.columns) == list(DEFECTION_METRICS)
    assert table.loc["core", "roc_auc"] == pytest.approx(8 / 9)
    assert table.loc["core", "n"] == 6
    assert math.isnan(table.loc["at_risk", "roc_auc"])
    assert table.loc["at_risk", "brier"] == pytest.approx((0.25 + 0.01) / 2)
    assert table.loc["at_risk", "base_rate"] == pytest.approx(1.0)


def test_per_group_metrics_rejects_missing_groups() -> None:
    with pytest.raises(ValueError, match="groups has 1 missing"):
        per_group_metrics(Y6, P6, ["a", "a", None, "b", "b", "b"])


# --------------------------------------------------------------------------
# transition_metrics
# --------------------------------------------------------------------------


def _transition_fixture() -> tuple[pd.Series, pd.DataFrame]:
    """Five rows; predictions core, at_risk, at_risk (a tie with lost), at_risk, core."""
    rows = [
        {"core": 0.7, "at_risk": 0.3},
        {"core": 0.4, "at_risk": 0.6},
        {"at_risk": 0.5, "lost": 0.5},  # tie: the earlier stage in STAGES wins
        {"at_risk": 0.8, "lost": 0.2},
        {"core": 1.0},
    ]
    proba = pd.DataFrame(rows, columns=list(reversed(STAGES))).fillna(0.0)
    truth = pd.Series(["core", "core", "at_risk", "lost", "core"])
    return truth, proba


def test_transition_metrics_hand_values() -> None:
    truth, proba = _transition_fixture()
    m = transition_metrics(truth, proba)
    assert m["n"] == 5
    assert m["accuracy"] == pytest.approx(3 / 5)
    # F1: core P=2/2 R=2/3 -> 0.8; at_risk P=1/3 R=1 -> 0.5; lost 0; mean of the three.
    assert m["macro_f1"] == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    assert m["recall"] == pytest.approx({"core": 2 / 3, "at_risk": 1.0, "lost": 0.0})
    assert list(m["recall"]) == ["core", "at_risk", "lost"]
    expected_ll = -(math.log(0.7) + math.log(0.4) + math.log(0.5) + math.log(0.2)) / 5
    assert m["log_loss"] == pytest.approx(expected_ll)
    confusion = pd.DataFrame(0, index=pd.Index(list(STAGES), name="true"),
                             columns=pd.Index(list(STAGES), name="predicted"), dtype=np.int64)
    confusion.loc["core", "core"] = 2
    confusion.loc["core", "at_risk"] = 1
    confusion.loc["at_risk", "at_risk"] = 1
    confusion.loc["lost", "at_risk"] = 1
    assert_frame_equal(m["confusion"], confusion)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("drop_column", "exactly the columns"),
        ("bad_sum", "not probability distributions"),
        ("bad_stage", "not stages"),
    ],
)
def test_transition_metrics_rejects_bad_input(change: str, match: str) -> None:
    truth, proba = _transition_fixture()
    if change == "drop_column":
        proba = proba.drop(columns="prospect")
    elif change == "bad_sum":
        proba.loc[0, "core"] = 0.9
    else:
        truth = truth.replace("lost", "gone")
    with pytest.raises(ValueError, match=match):
        transition_metrics(truth, proba)


# --------------------------------------------------------------------------
# value_metrics
# --------------------------------------------------------------------------


def test_value_metrics_hand_values() -> None:
    # errors 1, 0, 2, -1; ranks of pred 1.5, 1.5, 4, 3 against 1, 2, 3, 4:
    # rank covariance 3.5, variances 5 and 4.5 -> rho = 3.5 / sqrt(22.5).
    m = value_metrics([1.0, 2.0, 3.0, 4.0], [2.0, 2.0, 5.0, 3.0])
    assert m == pytest.approx({"n": 4, "mae": 1.0, "rmse": math.sqrt(1.5),
                               "spearman": 3.5 / math.sqrt(22.5), "mean_y": 2.5,
                               "mean_pred": 3.0})


def test_value_metrics_spearman_of_monotone_and_constant_pairs() -> None:
    assert value_metrics([1, 2, 3, 4], [1, 8, 27, 64])["spearman"] == pytest.approx(1.0)
    assert value_metrics([1, 2, 3, 4], [4, 3, 2, 1])["spearman"] == pytest.approx(-1.0)
    assert math.isnan(value_metrics([1, 2, 3], [5, 5, 5])["spearman"])
