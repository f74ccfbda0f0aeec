"""Label windows, label columns, the out-of-time split plan and the label summary."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.build import compute_features
from models.labels import (
    LABELS,
    SplitPlan,
    choose_cutoffs,
    label_summary,
    make_labels,
    plan_from_cutoffs,
    with_splits,
)
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
# The out-of-time split
# --------------------------------------------------------------------------


def test_automatic_plan_hand_checked():
    """Events 2022-01-01..2024-12-30, observed up to 2024-12-31 (exclusive).

    test: the latest month start t with t + 90 <= 2024-12-31 is 2024-10-01 (ends 12-30);
    validation: t + 90 <= 2024-10-01 -> 2024-07-01 (ends 09-29);
    train: from 2023-01-01 (a year of history) while t + 90 <= 2024-07-01 -> to 2024-04-01.
    """
    plan = choose_cutoffs(D(2022, 1, 1), D(2024, 12, 30), horizon_days=90)
    assert plan.test == [D(2024, 10, 1)]
    assert plan.validation == [D(2024, 7, 1)]
    assert plan.train == [D(2023, m, 1) for m in range(1, 13)] + [D(2024, m, 1)
                                                                  for m in range(1, 5)]
    assert plan.horizon_days == 90
    assert plan.label_cutoffs[-1] == D(2024, 12, 30)


def test_windows_end_exactly_on_the_next_split_on_a_30_day_grid():
    """Grid 2023-01-01 + 30 k; data observed up to 2024-01-01 (exclusive).

    test: the latest t <= 2024-01-01 - 90 days = 2023-10-03 is k = 9, 2023-09-28;
    validation: t + 90 <= 2023-09-28 -> k = 6, 2023-06-30 (ends exactly on the test cutoff);
    train: t + 90 <= 2023-06-30 -> k = 0..3, up to 2023-04-01 (ends exactly on validation).
    """
    plan = choose_cutoffs(D(2022, 1, 1), D(2023, 12, 31), horizon_days=90, frequency="30D")
    assert plan.test == [D(2023, 9, 28)] and plan.validation == [D(2023, 6, 30)]
    assert plan.train == [D(2023, 1, 1), D(2023, 1, 31), D(2023, 3, 2), D(2023, 4, 1)]


def test_one_more_day_of_data_moves_nothing_until_a_window_fits():
    # The window of 2024-11-01 needs events up to 2025-01-29.
    short = choose_cutoffs(D(2022, 1, 1), D(2025, 1, 28), horizon_days=90)
    enough = choose_cutoffs(D(2022, 1, 1), D(2025, 1, 29), horizon_days=90)
    assert short.test == [D(2024, 10, 1)] and enough.test == [D(2024, 11, 1)]
    assert enough.validation == [D(2024, 8, 1)] and enough.train[-1] == D(2024, 5, 1)


@pytest.mark.parametrize(("frequency", "horizon", "n_test", "n_validation"), [
    ("MS", 90, 1, 1), ("MS", 30, 3, 2), ("MS", 180, 1, 0), ("W-MON", 28, 2, 2),
    ("30D", 90, 2, 1), ("QS", 60, 1, 1),
])
def test_plan_never_leaks(frequency, horizon, n_test, n_validation):
    first, last = D(2021, 3, 17), D(2024, 11, 5)
    plan = choose_cutoffs(first, last, horizon_days=horizon, frequency=frequency,
                          n_test=n_test, n_validation=n_validation)
    h = dt.timedelta(days=horizon)
    assert len(plan.test) == n_test and len(plan.validation) == n_validation and plan.train
    later = plan.validation or plan.test
    assert max(plan.train) + h <= later[0]
    if plan.validation:
        assert max(plan.validation) + h <= plan.test[0]
    assert max(plan.test) + h <= last + dt.timedelta(days=1)
    assert min(plan.train) >= first + dt.timedelta(days=365)
    grid = [d.date() for d in pd.date_range(first + dt.timedelta(days=365),
                                            last + dt.timedelta(days=1), freq=frequency)]
    assert set(plan.cutoffs) <= set(grid)
    # The test cutoffs are the latest observable ones: the next grid date is not.
    after = [g for g in grid if g > plan.test[-1]]
    assert not after or after[0] + h > last + dt.timedelta(days=1)


def test_plan_starts_at_an_explicit_first_cutoff():
    plan = choose_cutoffs(D(2022, 1, 1), D(2024, 12, 30), horizon_days=90,
                          first=D(2024, 2, 15))
    assert plan.train == [D(2024, 3, 1), D(2024, 4, 1)]


def test_too_short_data_says_how_many_days_are_needed():
    # Smallest plan: train 2023-01-01, validation 2023-04-01, test 2023-07-01 whose
    # window ends 2023-09-28: 636 days from 2022-01-01.
    with pytest.raises(ValueError, match=r"span 546 days \(2022-01-01 to 2023-06-30\).* need "
                                         r"636 days \(events up to 2023-09-28\)"):
        choose_cutoffs(D(2022, 1, 1), D(2023, 6, 30), horizon_days=90)
    plan = choose_cutoffs(D(2022, 1, 1), D(2023, 9, 28), horizon_days=90)
    assert (plan.train, plan.validation, plan.test) == (
        [D(2023, 1, 1)], [D(2023, 4, 1)], [D(2023, 7, 1)])
    with pytest.raises(ValueError, match=r"need 636 days"):
        choose_cutoffs(D(2022, 1, 1), D(2023, 9, 27), horizon_days=90)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="n_test >= 1"):
        choose_cutoffs(D(2022, 1, 1), D(2024, 1, 1), horizon_days=90, n_test=0)
    with pytest.raises(ValueError, match="is before first_event"):
        choose_cutoffs(D(2024, 1, 1), D(2022, 1, 1), horizon_days=90)


def test_explicit_plan_is_accepted_and_sorted():
    plan = plan_from_cutoffs(["2023-03-01", "2023-02-01"], [], ["2024-06-01"],
                             horizon_days=90, first_event=D(2022, 1, 1),
                             last_event=D(2024, 12, 30))
    assert plan.train == [D(2023, 2, 1), D(2023, 3, 1)] and plan.validation == []
    assert plan.split_of(D(2024, 6, 1)) == "test"
    assert plan.to_dict() == {"horizon_days": 90, "train": ["2023-02-01", "2023-03-01"],
                              "validation": [], "test": ["2024-06-01"]}


@pytest.mark.parametrize(("train", "validation", "test", "message"), [
    pytest.param([D(2024, 1, 1), D(2024, 4, 2), D(2024, 4, 3), D(2024, 5, 1)], [D(2024, 7, 1)],
                 [D(2024, 10, 1)],
                 r"training cutoffs 2024-04-03, 2024-05-01 leak into the validation period: "
                 r".*first validation cutoff 2024-07-01 \(the last must be on or before "
                 r"2024-04-02\)",
                 id="train-into-validation"),
    pytest.param([D(2024, 1, 1)], [D(2024, 4, 1), D(2024, 8, 1)], [D(2024, 10, 1)],
                 r"validation cutoffs 2024-08-01 leak into the test period",
                 id="validation-into-test"),
    pytest.param([D(2024, 1, 1), D(2024, 8, 1)], [], [D(2024, 10, 1)],
                 r"training cutoffs 2024-08-01 leak into the test period",
                 id="train-into-test-without-validation"),
    pytest.param([D(2024, 1, 1)], [D(2024, 7, 1)], [D(2024, 7, 1)],
                 r"cutoff 2024-07-01 is listed twice \(validation and test\)",
                 id="same-date-twice"),
    pytest.param([], [D(2024, 7, 1)], [D(2024, 10, 1)], r"no training cutoff", id="no-train"),
])
def test_leaking_plans_are_refused_naming_the_dates(train, validation, test, message):
    with pytest.raises(ValueError, match=message):
        plan_from_cutoffs(train, validation, test, horizon_days=90,
                          first_event=D(2022, 1, 1), last_event=D(2024, 12, 30))


def test_windows_may_end_exactly_on_the_next_split():
    plan = plan_from_cutoffs([D(2024, 4, 2)], [D(2024, 7, 1)], [D(2024, 9, 29)],
                             horizon_days=90, first_event=D(2022, 1, 1),
                             last_event=D(2024, 12, 27))
    assert plan.cutoffs == [D(2024, 4, 2), D(2024, 7, 1), D(2024, 9, 29)]
    assert plan.label_cutoffs == [D(2024, 7, 1), D(2024, 9, 29), D(2024, 12, 28)]


def test_unobserved_test_window_is_refused():
    with pytest.raises(ValueError, match=r"test cutoffs 2024-11-01 have label windows .* past "
                                         r"the last event \(2024-12-30\); the latest "
                                         r"observable cutoff is 2024-10-02"):
        plan_from_cutoffs([D(2024, 1, 1)], [D(2024, 7, 1)], [D(2024, 10, 2), D(2024, 11, 1)],
                          horizon_days=90, first_event=D(2022, 1, 1),
                          last_event=D(2024, 12, 30))


def test_cutoff_before_the_data_is_refused():
    with pytest.raises(ValueError, match=r"cutoffs 2021-12-01, 2022-01-01 are on or before "
                                         r"the first event"):
        plan_from_cutoffs([D(2021, 12, 1), D(2022, 1, 1), D(2023, 1, 1)], [], [D(2024, 1, 1)],
                          horizon_days=90, first_event=D(2022, 1, 1),
                          last_event=D(2024, 12, 30))


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
