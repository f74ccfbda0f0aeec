"""The plan for a history of any length: as asked, validation by customers, short history."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.planner import SHORT_STEP_DAYS, plan_for_history
from models.split_plan import choose_cutoffs

D = dt.date
DAY = dt.timedelta(days=1)


def test_a_long_history_gets_the_plan_as_asked():
    args = {"horizon_days": 90, "frequency": "MS", "min_history_days": 365, "n_test": 1,
            "n_validation": 1}
    plan = plan_for_history(D(2022, 1, 1), D(2024, 12, 30), **args)
    assert plan == choose_cutoffs(D(2022, 1, 1), D(2024, 12, 30), **args)
    assert plan.steps == () and plan.validation_share is None
    # min_history_days not set: 365 days, as asked.
    assert plan_for_history(D(2022, 1, 1), D(2024, 12, 30), horizon_days=90).train == plan.train


def test_no_validation_cutoff_validates_on_a_share_of_customers():
    plan = plan_for_history(D(2022, 1, 1), D(2024, 12, 30), horizon_days=90, n_validation=0,
                            validation_share=0.25)
    assert plan.validation == [] and plan.validation_share == 0.25
    # The same grid; training runs up to the test period.
    assert plan.test == [D(2024, 10, 1)] and plan.train[-1] == D(2024, 7, 1)
    assert "n_validation is 0" in plan.steps[0]


def test_no_room_for_a_validation_period_validates_on_customers():
    # 636 days are needed for train, validation and test on the monthly grid after a year.
    plan = plan_for_history(D(2022, 1, 1), D(2023, 8, 31), horizon_days=90)
    assert plan.validation == [] and plan.validation_share == 0.2
    assert plan.train == [D(2023, 1, 1), D(2023, 2, 1), D(2023, 3, 1)]
    assert plan.test == [D(2023, 6, 1)]
    assert "no room for 1 validation cutoff" in plan.steps[0]


def test_nine_months_of_one_cohort_with_a_13_week_horizon():
    """Events 1997-01-01..1997-09-29 (observed to 09-30): test at 09-30 - 91 days = 07-01;
    training every 28 days back from 07-01 - 91 = 04-01 while at least 28 days after the
    first event: 04-01, 03-04, 02-04 (01-07 is only 6 days after)."""
    plan = plan_for_history(D(1997, 1, 1), D(1997, 9, 29), horizon_days=91)
    assert plan.test == [D(1997, 7, 1)]
    assert plan.train == [D(1997, 2, 4), D(1997, 3, 4), D(1997, 4, 1)]
    assert plan.validation_share == 0.2 and len(plan.steps) == 2
    assert "fewer than 3 training cutoffs" in plan.steps[1]
    assert "training cutoffs are every 28 days" in plan.steps[1]
    assert "labels.min_history_days not set" in plan.steps[1]


def test_an_explicit_minimum_history_is_kept():
    # The monthly grid from 03-02 gives one training cutoff (04-01): the 28-day one two.
    plan = plan_for_history(D(1997, 1, 1), D(1997, 9, 29), horizon_days=91,
                            min_history_days=60)
    assert plan.train == [D(1997, 3, 4), D(1997, 4, 1)]
    assert plan.test == [D(1997, 7, 1)]


def test_the_minimum_history_plus_two_horizons_is_enough_and_one_day_less_is_not():
    first = D(2023, 1, 1)
    enough = first + dt.timedelta(days=60 + 2 * 91) - DAY  # observed to first + 242 days
    plan = plan_for_history(first, enough, horizon_days=91, min_history_days=60)
    assert plan.train == [first + dt.timedelta(days=60)]
    with pytest.raises(ValueError, match=r"span 241 days .* need 242 days; set "
                                         r"labels\.horizon_days to at most 90 or "
                                         r"labels\.min_history_days to at most 59"):
        plan_for_history(first, enough - DAY, horizon_days=91, min_history_days=60)


def test_without_a_minimum_history_the_message_names_the_horizon_only():
    with pytest.raises(ValueError, match=r"set labels\.horizon_days to at most 36$"):
        plan_for_history(D(2023, 1, 1), D(2023, 4, 10), horizon_days=60)


def test_several_test_cutoffs_in_a_short_history():
    plan = plan_for_history(D(1997, 1, 1), D(1997, 9, 29), horizon_days=56, n_test=2)
    step = dt.timedelta(days=SHORT_STEP_DAYS)
    assert plan.test == [D(1997, 8, 5) - step, D(1997, 8, 5)]
    assert plan.train[-1] + dt.timedelta(days=56) == plan.test[0]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(span=st.integers(30, 1500), horizon=st.integers(7, 200), n_test=st.integers(1, 3),
       n_validation=st.integers(0, 2), history=st.one_of(st.none(), st.integers(0, 400)),
       frequency=st.sampled_from(["MS", "W-MON", "QS"]))
def test_every_plan_found_is_out_of_time_and_observed(span, horizon, n_test, n_validation,
                                                      history, frequency):
    first = D(2020, 3, 17)
    last = first + dt.timedelta(days=span - 1)
    h = dt.timedelta(days=horizon)
    try:
        plan = plan_for_history(first, last, horizon_days=horizon, frequency=frequency,
                                min_history_days=history, n_test=n_test,
                                n_validation=n_validation)
    except ValueError as err:
        # Refused only when shorter than the minimum history and two horizons.
        floor = max(28 if history is None else history, 1)
        assert span < floor + 2 * horizon + SHORT_STEP_DAYS * (n_test - 1), str(err)
        return
    assert all(t > first for t in plan.cutoffs)
    assert all(t + h <= last + DAY for t in plan.test)  # every test window is observed
    later = plan.validation[0] if plan.validation else plan.test[0]
    assert all(t + h <= later for t in plan.train)  # no training label sees a later split
    assert all(t + h <= plan.test[0] for t in plan.validation)
    assert (plan.validation_share is None) == bool(plan.validation)
