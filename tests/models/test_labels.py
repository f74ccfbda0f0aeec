"""Label windows, label columns, the splits of the labels and the label summary."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.build import compute_features
from models.labels import LABELS, label_summary, make_labels, with_splits
from models.split_plan import SplitPlan
from models.stages import STAGES, StageRules
from tests.features.conftest import SPEC, make_inputs, ts

D = dt.date
H = 90
T = D(2023, 6, 1)
RULES = StageRules()


def _labels(tx_rows, cu_rows=(), t: dt.date = T, h: int = H) -> pd.DataFrame:
    tables = make_inputs(tx_rows, (), cu_rows)
    feats = compute_features(*tables, [t, t + dt.timedelta(days=h)], SPEC).to_pandas()
    return make_labels(feats[feats["cutoff"] == t], feats[feats["cutoff"] != t], rules=RULES,
                       horizon_days=h).set_index("customer_id")


# --------------------------------------------------------------------------
# The label window [t, t + horizon)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("when", "in_window"), [
    pytest.param(dt.datetime(2023, 5, 31, 23, 59, 59), False, id="t-1-at-23:59:59"),
    pytest.param(dt.datetime(2023, 6, 1, 0, 0, 0), True, id="t-at-00:00"),
    pytest.param(dt.datetime(2023, 8, 29, 23, 59, 59), True, id="t+h-1-at-23:59:59"),
    pytest.param(dt.datetime(2023, 8, 30, 0, 0, 0), False, id="t+h-at-00:00"),
])
def test_label_window_bounds(when, in_window):
    assert T + dt.timedelta(days=H) == D(2023, 8, 30)
    labels = _labels([("a", ts("2023-01-10"), 40.0), ("a", when, 12.5)])
    got = labels.loc["a"]
    assert got["future_purchases"] == int(in_window)
    assert got["future_spend"] == (12.5 if in_window else 0.0)
    assert bool(got["defected"]) is (not in_window)


def test_refunds_are_not_purchases():
    labels = _labels([("a", ts("2023-01-10"), 40.0), ("a", ts("2023-06-10"), -40.0),
                      ("b", ts("2023-01-10"), 40.0), ("b", ts("2023-06-10"), 30.0),
                      ("b", ts("2023-06-12"), -30.0)])
    assert labels.loc["a", "future_purchases"] == 0 and bool(labels.loc["a", "defected"])
    assert labels.loc["a", "future_spend"] == 0.0
    assert labels.loc["b", "future_purchases"] == 1 and not labels.loc["b", "defected"]
    assert labels.loc["b", "future_spend"] == 30.0


def test_prospects_have_no_defection_label():
    labels = _labels([("buyer", ts("2023-01-10"), 10.0), ("convert", ts("2023-07-01"), 20.0)],
                     cu_rows=[("idle", ts("2023-02-01"), None, None),
                              ("convert", ts("2023-02-01"), None, None)])
    assert pd.isna(labels.loc["idle", "defected"]) and pd.isna(labels.loc["convert", "defected"])
    assert labels.loc["convert", "future_purchases"] == 1
    assert labels.loc["convert", "future_spend"] == 20.0
    assert (labels.loc["convert", "stage"], labels.loc["convert", "next_stage"]) == (
        "prospect", "first_time_buyer")
    buyer = labels.loc["buyer", "defected"]
    assert not pd.isna(buyer) and bool(buyer)  # bought before t, not in the window


def test_several_cutoffs_and_spend_in_one_call():
    tables = make_inputs([("a", ts("2023-01-10"), 10.0), ("a", ts("2023-03-05"), 7.25),
                          ("a", ts("2023-03-20"), 2.5), ("a", ts("2023-04-29"), 1.0)])
    t1, t2 = D(2023, 2, 1), D(2023, 3, 1)
    cutoffs = [t1, t2, t1 + dt.timedelta(days=60), t2 + dt.timedelta(days=60)]
    feats = compute_features(*tables, cutoffs, SPEC).to_pandas()
    labels = make_labels(feats[feats["cutoff"].isin([t1, t2])], feats, rules=RULES,
                         horizon_days=60)
    assert list(labels["cutoff"]) == [t1, t2]
    assert list(labels["future_purchases"]) == [2, 3]  # [02-01, 04-02) and [03-01, 04-30)
    assert list(labels["future_spend"]) == [9.75, 10.75]


def test_output_columns_and_dtypes():
    labels = _labels([("a", ts("2023-01-10"), 40.0)],
                     cu_rows=[("p", ts("2023-02-01"), None, None)]).reset_index()
    assert list(labels.columns) == [c for c in LABELS.names if c != "split"]
    assert str(labels["stage"].dtype) == "category"
    assert list(labels["stage"].cat.categories) == list(STAGES)
    assert labels["defected"].dtype == "boolean"
    assert labels["future_purchases"].dtype == np.int64
    assert labels["future_spend"].dtype == np.float64


def test_inputs_are_not_modified():
    tables = make_inputs([("a", ts("2023-01-10"), 40.0)])
    feats = compute_features(*tables, [T, T + dt.timedelta(days=H)], SPEC).to_pandas()
    before = feats.copy()
    make_labels(feats[feats["cutoff"] == T], feats, rules=RULES, horizon_days=H)
    pd.testing.assert_frame_equal(feats, before)


def test_missing_row_at_t_plus_h_is_named():
    tables = make_inputs([("a", ts("2023-01-10"), 40.0)])
    feats = compute_features(*tables, [T, T + dt.timedelta(days=30)], SPEC).to_pandas()
    with pytest.raises(ValueError, match=r"1 of 1 rows at t have no row at t \+ 90 days "
                                         r"\(first: customer 'a' at 2023-06-01 needs a row at "
                                         r"2023-08-30\)"):
        make_labels(feats[feats["cutoff"] == T], feats, rules=RULES, horizon_days=H)


def test_fewer_purchases_later_is_refused():
    tables = make_inputs([("a", ts("2023-01-10"), 40.0)])
    now = compute_features(*tables, [T], SPEC).to_pandas()
    later = now.assign(cutoff=T + dt.timedelta(days=H), frequency=0)
    with pytest.raises(ValueError, match=r"fewer purchases at t \+ 90 days than at t .*'a'"):
        make_labels(now, later, rules=RULES, horizon_days=H)


def test_repeated_keys_are_refused():
    tables = make_inputs([("a", ts("2023-01-10"), 40.0)])
    feats = compute_features(*tables, [T, T + dt.timedelta(days=H)], SPEC).to_pandas()
    now = feats[feats["cutoff"] == T]
    with pytest.raises(ValueError, match=r"features_at_t has 2 rows with a repeated"):
        make_labels(pd.concat([now, now]), feats, rules=RULES, horizon_days=H)


# --------------------------------------------------------------------------
# Splits and summary
# --------------------------------------------------------------------------


def _hand_labels() -> pd.DataFrame:
    plan = SplitPlan(train=[D(2023, 1, 1)], validation=[D(2023, 4, 1)], test=[D(2023, 7, 1)],
                     horizon_days=90)
    rows = [  # customer, cutoff, stage, next_stage, defected
        ("a", D(2023, 1, 1), "core", "core", False),
        ("b", D(2023, 1, 1), "core", "at_risk", True),
        ("c", D(2023, 1, 1), "prospect", "prospect", None),
        ("d", D(2023, 1, 1), "at_risk", "lost", True),
        ("a", D(2023, 4, 1), "core", "core", False),
        ("a", D(2023, 7, 1), "core", "at_risk", True),
    ]
    frame = pd.DataFrame(rows, columns=["customer_id", "cutoff", "stage", "next_stage",
                                        "defected"])
    frame["defected"] = frame["defected"].astype("boolean")
    return with_splits(frame, plan)


def test_splits_follow_the_plan():
    labels = _hand_labels()
    assert list(labels.columns[:3]) == ["customer_id", "cutoff", "split"]
    assert list(labels["split"]) == ["train"] * 4 + ["validation", "test"]
    with pytest.raises(ValueError, match=r"cutoffs 2023-02-01 are not in the split plan"):
        with_splits(labels.assign(cutoff=D(2023, 2, 1)).drop(columns="split"),
                    SplitPlan(train=[D(2023, 1, 1)], validation=[], test=[D(2023, 7, 1)],
                              horizon_days=90))


def test_summary_counts_and_rates():
    summary = label_summary(_hand_labels())
    assert summary["rows"] == {"train": 4, "validation": 1, "test": 1, "total": 6}
    assert summary["stage_counts"]["train"] == {
        "prospect": 1, "first_time_buyer": 0, "early_repeat": 0, "core": 2, "at_risk": 1,
        "lost": 0, "reactivated": 0}
    train = summary["defection_rate"]["train"]
    assert train["all"] == pytest.approx(2 / 3)  # prospects do not count
    assert train["by_stage"]["core"] == 0.5 and train["by_stage"]["at_risk"] == 1.0
    assert train["by_stage"]["prospect"] is None and train["by_stage"]["lost"] is None
    assert summary["defection_rate"]["test"]["all"] == 1.0
    matrix = summary["transitions_train"]
    assert matrix["core"]["core"] == 1 and matrix["core"]["at_risk"] == 1
    assert matrix["at_risk"]["lost"] == 1 and matrix["prospect"]["prospect"] == 1
    assert sum(sum(r.values()) for r in matrix.values()) == 4
    assert list(matrix) == list(STAGES) and list(matrix["lost"]) == list(STAGES)
