"""The out-of-time split plan: automatic and explicit plans, and the leaks they refuse."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from models.split_plan import choose_cutoffs, plan_from_cutoffs

D = dt.date


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


@pytest.mark.parametrize(("horizon", "frequency"), [(36_500, "MS"), (3_650, "YS")])
def test_a_plan_past_the_calendar_says_so_without_overflowing(horizon, frequency):
    # The smallest plan's grid would run past year 9999: the message says so, where a
    # date computed from it would overflow.
    with pytest.raises(ValueError, match=r"too short for an out-of-time plan: .* need more "
                                         r"days than the calendar holds"):
        choose_cutoffs(D(2022, 1, 1), D(2023, 6, 30), horizon_days=horizon,
                       frequency=frequency)


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
                              "validation": [], "test": ["2024-06-01"],
                              "validation_share": 0.2, "steps": []}


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
