"""The plan for a history of any length: which cutoffs train, validate and test.

:func:`plan_for_history` tries the plans below in order and returns the first that
fits the data, saying in :attr:`~models.split_plan.SplitPlan.steps` which it gave up
and why:

1. **Out of time, as asked** (:func:`models.split_plan.choose_cutoffs`): training,
   ``n_validation`` validation and ``n_test`` test cutoffs on the snapshot grid, each
   split's label windows ending before the next split starts, training from
   ``min_history_days`` after the first event (365 when not set).
2. **Validation by customers**: when there is no room for a validation period (or
   ``n_validation`` is 0), a stable share of the customers (``validation_share``)
   validates on the training cutoffs instead, so that no training customer validates;
   the test period stays out of time.
3. **A short history**: when the grid leaves fewer than :data:`MIN_TRAINING_CUTOFFS`
   training cutoffs before the test cutoff, the test cutoff is the latest whose label
   window is fully observed (the day after the last event minus the horizon), and
   training cutoffs are every
   :data:`SHORT_STEP_DAYS` days before it, the last one's label window ending on the
   test cutoff (an embargo: no training label sees a test day), from
   ``min_history_days`` after the first event (:data:`SHORT_MIN_HISTORY_DAYS` when
   not set).

Any history of at least the minimum history plus two horizons gets a plan; a shorter
one is refused with the horizon and the minimum history that would fit.
"""

from __future__ import annotations

import datetime as dt

from models.split_plan import SplitPlan, choose_cutoffs

#: The history before the first training cutoff of plans 1 and 2, unless given.
STRICT_MIN_HISTORY_DAYS = 365
#: The history before the first training cutoff of a short history's plan, unless given.
SHORT_MIN_HISTORY_DAYS = 28
#: Days between the training cutoffs of a short history's plan.
SHORT_STEP_DAYS = 28
#: Plan 2 needs this many training cutoffs, else plan 3 is tried (more, closer cutoffs).
MIN_TRAINING_CUTOFFS = 3


def plan_for_history(
    first_event: dt.date,
    last_event: dt.date,
    *,
    horizon_days: int,
    frequency: str = "MS",
    min_history_days: int | None = None,
    n_test: int = 1,
    n_validation: int = 1,
    validation_share: float = 0.2,
    first: dt.date | None = None,
) -> SplitPlan:
    """The first plan of the module's list that fits the data.

    Parameters
    ----------
    first_event, last_event
        Days of the first and last event (the data is observed to the end of
        ``last_event``).
    horizon_days
        Length of the label window ``[t, t + horizon_days)``.
    frequency
        The snapshot grid of plans 1 and 2 (a pandas offset alias).
    min_history_days
        Days between the first event and the first training cutoff; None: 365 for
        plans 1 and 2, :data:`SHORT_MIN_HISTORY_DAYS` for plan 3.
    n_test, n_validation
        Test cutoffs (at least 1) and validation cutoffs (0: validation by customers).
    validation_share
        The share of customers that validates in plans 2 and 3.
    first
        Start of the grid (the first training cutoff at the earliest) instead of
        ``first_event + min_history_days``.

    Raises
    ------
    ValueError
        When even plan 3 does not fit: the message names the longest horizon and
        the longest minimum history that would.
    """
    if horizon_days <= 0 or n_test < 1 or n_validation < 0:
        raise ValueError(f"need horizon_days > 0, n_test >= 1 and n_validation >= 0; got "
                         f"{horizon_days}, {n_test}, {n_validation}")
    strict_history = STRICT_MIN_HISTORY_DAYS if min_history_days is None else min_history_days
    common = {"horizon_days": horizon_days, "frequency": frequency,
              "min_history_days": strict_history, "n_test": n_test, "first": first}
    share = f"{validation_share:.0%} of the customers (a stable hash of their ids)"
    steps: list[str] = []
    if n_validation:
        try:
            return choose_cutoffs(first_event, last_event, n_validation=n_validation, **common)
        except ValueError:
            steps.append(f"no room for {n_validation} validation cutoff(s) of "
                         f"{horizon_days} days between training and test on the "
                         f"{frequency!r} grid: {share} validate on the training cutoffs")
    else:
        steps.append(f"labels.n_validation is 0: {share} validate on the training cutoffs")
    try:
        plan = choose_cutoffs(first_event, last_event, n_validation=0, **common)
    except ValueError:
        plan = None
    if plan is not None and len(plan.train) >= MIN_TRAINING_CUTOFFS:
        return SplitPlan(train=plan.train, validation=[], test=plan.test,
                         horizon_days=horizon_days, validation_share=validation_share,
                         steps=steps)
    try:
        return _short_history_plan(first_event, last_event, horizon_days=horizon_days,
                                   min_history_days=min_history_days, n_test=n_test,
                                   validation_share=validation_share, first=first,
                                   steps=steps, frequency=frequency)
    except ValueError:
        if plan is None:
            raise
        return SplitPlan(train=plan.train, validation=[], test=plan.test,
                         horizon_days=horizon_days, validation_share=validation_share,
                         steps=steps)


def _short_history_plan(first_event: dt.date, last_event: dt.date, *, horizon_days: int,
                        min_history_days: int | None, n_test: int, validation_share: float,
                        first: dt.date | None, steps: list[str],
                        frequency: str) -> SplitPlan:
    """Plan 3: test at the latest observable cutoff, training every few weeks before it."""
    h, step = dt.timedelta(days=horizon_days), dt.timedelta(days=SHORT_STEP_DAYS)
    history = SHORT_MIN_HISTORY_DAYS if min_history_days is None else min_history_days
    # A cutoff sees the events on days before it: the first event's day has none.
    start = max(first or first_event + dt.timedelta(days=history),
                first_event + dt.timedelta(days=1))
    observed_to = last_event + dt.timedelta(days=1)
    test = [observed_to - h - step * k for k in reversed(range(n_test))]
    train = []
    t = test[0] - h
    while t >= start:
        train.append(t)
        t -= step
    if not train:
        span = (observed_to - first_event).days
        floor = max(history, 1)
        longest_h = (span - floor - SHORT_STEP_DAYS * (n_test - 1)) // 2
        longest_m = span - 2 * horizon_days - SHORT_STEP_DAYS * (n_test - 1)
        fixes = [f"labels.horizon_days to at most {longest_h}" if longest_h >= 1 else None,
                 f"labels.min_history_days to at most {longest_m}"
                 if longest_m >= 1 and min_history_days is not None else None]
        fixes = [f for f in fixes if f]
        raise ValueError(
            f"the events span {span} days ({first_event} to {last_event}), too short for "
            f"any plan: one training and {n_test} test cutoff(s) with label windows of "
            f"{horizon_days} days after {history} days of history need "
            f"{history + 2 * horizon_days + SHORT_STEP_DAYS * (n_test - 1)} days"
            + (f"; set {' or '.join(fixes)}" if fixes else "")
            + (", or features.first_snapshot earlier" if first is not None else ""))
    steps = [*steps, (
        f"the {frequency!r} grid leaves fewer than {MIN_TRAINING_CUTOFFS} training cutoffs "
        f"before the test cutoff: the test "
        f"cutoff is the latest whose {horizon_days}-day window is observed ({test[-1]}), "
        f"training cutoffs are every {SHORT_STEP_DAYS} days from {min(train)} to "
        f"{max(train)} ({history} days of history"
        + (", labels.min_history_days not set" if min_history_days is None else "") + ")")]
    return SplitPlan(train=sorted(train), validation=[], test=test, horizon_days=horizon_days,
                     validation_share=validation_share, steps=steps)
