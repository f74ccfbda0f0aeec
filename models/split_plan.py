"""The out-of-time split: which snapshot cutoffs train, validate and test the models.

Training, validation and test snapshots are cutoffs on one grid (the snapshot
grid of the feature table), ordered in time so that no label of an earlier
split sees a day of a later split's period. The label of a cutoff ``t`` looks
at the days ``[t, t + horizon_days)`` (its *label window*, see
:mod:`models.labels`):

* test: the latest grid dates whose label window is fully observed
  (``t + horizon <= last_event + 1 day``);
* validation: the latest grid dates whose label window ends on or before the
  first test cutoff;
* training: the grid dates from ``first_event + min_history_days`` whose label
  window ends on or before the first validation cutoff.

:func:`choose_cutoffs` finds such a plan for a data set;
:func:`plan_from_cutoffs` checks one given explicitly. Either is a
:class:`SplitPlan`, which refuses any plan that leaks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.hashing import stable_share

__all__ = [
    "SPLITS",
    "SplitPlan",
    "choose_cutoffs",
    "plan_from_cutoffs",
    "validation_customers",
]

#: The splits, in time order.
SPLITS: tuple[str, ...] = ("train", "validation", "test")


def _dates(values: Iterable[Any], what: str) -> list[dt.date]:
    out = []
    for v in values:
        if isinstance(v, dt.datetime):
            v = v.date()
        elif isinstance(v, str):
            v = dt.date.fromisoformat(v)
        if not isinstance(v, dt.date):
            raise ValueError(f"{what}: {v!r} is not a date")
        out.append(v)
    return sorted(out)


def _days(n: int) -> dt.timedelta:
    return dt.timedelta(days=int(n))


def _listing(dates: Sequence[dt.date]) -> str:
    return ", ".join(d.isoformat() for d in dates)


@dataclass(frozen=True)
class SplitPlan:
    """Training, validation and test cutoffs of an out-of-time design.

    Creating a plan checks that it does not leak: the label window
    ``[t, t + horizon_days)`` of every training cutoff ends on or before the first
    validation cutoff (the first test cutoff when there is no validation), and
    that of every validation cutoff on or before the first test cutoff. Whether
    the test windows are observed depends on the data: see
    :func:`plan_from_cutoffs`.

    Parameters
    ----------
    train, validation, test
        Cutoff dates (sorted on creation). ``validation`` may be empty.
    horizon_days
        Length of the label window.
    validation_share
        With no validation cutoffs: the share of customers (a stable hash of their
        ids, :func:`validation_customers`) whose rows at the training cutoffs
        validate instead of training, so that training and validation customers
        are disjoint. None: the validation rows are those of ``validation``.
    steps
        How the plan was found, in words (for the reports): empty for a plan
        given or found as asked.

    Raises
    ------
    ValueError
        Naming the offending dates.
    """

    train: list[dt.date]
    validation: list[dt.date]
    test: list[dt.date]
    horizon_days: int
    validation_share: float | None = None
    steps: tuple[str, ...] = ()
    _split_of: dict[dt.date, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if int(self.horizon_days) != self.horizon_days or self.horizon_days <= 0:
            raise ValueError(f"horizon_days must be a positive whole number of days, got "
                             f"{self.horizon_days!r}")
        for name in SPLITS:
            object.__setattr__(self, name, _dates(getattr(self, name), f"{name} cutoffs"))
        if not self.train:
            raise ValueError("the plan has no training cutoff")
        if not self.test:
            raise ValueError("the plan has no test cutoff")
        if self.validation_share is not None:
            if self.validation:
                raise ValueError("a plan validates on cutoffs or on a share of customers, "
                                 "not both")
            if not 0 < self.validation_share < 1:
                raise ValueError(f"validation_share must lie strictly between 0 and 1, got "
                                 f"{self.validation_share!r}")
        object.__setattr__(self, "steps", tuple(self.steps))
        split_of: dict[dt.date, str] = {}
        for name in SPLITS:
            for d in getattr(self, name):
                if d in split_of:
                    other = split_of[d]
                    raise ValueError(f"cutoff {d} is listed twice ({other} and {name}): each "
                                     "cutoff belongs to one split")
                split_of[d] = name
        object.__setattr__(self, "_split_of", split_of)
        h = _days(self.horizon_days)
        checks = (("training", self.train, ("validation", "test")),
                  ("validation", self.validation, ("test",)))
        for name, cutoffs, after in checks:
            nxt = next(n for n in after if getattr(self, n))
            bound = getattr(self, nxt)[0]
            leaking = [t for t in cutoffs if t + h > bound]
            if leaking:
                raise ValueError(
                    f"{name} cutoffs {_listing(leaking)} leak into the {nxt} period: their "
                    f"label windows of {self.horizon_days} days end after the first {nxt} "
                    f"cutoff {bound} (the last must be on or before "
                    f"{bound - h}); drop them or move the {nxt} cutoffs later"
                )

    @property
    def cutoffs(self) -> list[dt.date]:
        """All cutoffs, sorted."""
        return sorted(self._split_of)

    @property
    def label_cutoffs(self) -> list[dt.date]:
        """The dates ``t + horizon_days`` whose features the labels also need, sorted."""
        return [t + _days(self.horizon_days) for t in self.cutoffs]

    def split_of(self, cutoff: dt.date) -> str:
        """The split a cutoff belongs to."""
        return self._split_of[cutoff]

    def to_dict(self) -> dict[str, Any]:
        """The plan as plain values (ISO dates), for reports."""
        return {"horizon_days": int(self.horizon_days),
                **{name: [d.isoformat() for d in getattr(self, name)] for name in SPLITS},
                "validation_share": self.validation_share, "steps": list(self.steps)}


def validation_customers(customer_ids: Iterable[Any], share: float) -> np.ndarray:
    """Whether each customer validates (True) or trains, in a plan that validates on a
    share of customers: a stable hash of the id (salt ``"validation"``), independent of
    the calibration split and of the hash partitions."""
    return stable_share(customer_ids, share, "validation")


def plan_from_cutoffs(
    train: Iterable[dt.date | str],
    validation: Iterable[dt.date | str],
    test: Iterable[dt.date | str],
    *,
    horizon_days: int,
    first_event: dt.date,
    last_event: dt.date,
    validation_share: float = 0.2,
) -> SplitPlan:
    """Check an explicit plan against the data and return it.

    Parameters
    ----------
    train, validation, test
        Cutoff dates (``datetime.date`` or ISO strings); ``validation`` may be empty.
    horizon_days
        Length of the label window.
    first_event, last_event
        Days of the first and last event in the data.
    validation_share
        With no validation cutoffs, the share of customers that validates on the
        training cutoffs (see :class:`SplitPlan`).

    Returns
    -------
    SplitPlan

    Raises
    ------
    ValueError
        Naming the offending dates: a cutoff that leaks into a later split (see
        :class:`SplitPlan`), a cutoff on or before the first event (no customer is
        known yet), or a test cutoff whose label window runs past the data (the
        unobserved days would read as "no purchase").
    """
    validation = list(validation)
    plan = SplitPlan(train=list(train), validation=validation, test=list(test),
                     horizon_days=horizon_days,
                     validation_share=None if validation else validation_share)
    early = [t for t in plan.cutoffs if t <= first_event]
    if early:
        raise ValueError(f"cutoffs {_listing(early)} are on or before the first event "
                         f"({first_event}): no customer is known before them")
    end = last_event + _days(1)
    unobserved = [t for t in plan.test if t + _days(horizon_days) > end]
    if unobserved:
        raise ValueError(
            f"test cutoffs {_listing(unobserved)} have label windows of {horizon_days} days "
            f"that run past the last event ({last_event}); the latest observable cutoff is "
            f"{end - _days(horizon_days)}"
        )
    return plan


def choose_cutoffs(
    first_event: dt.date,
    last_event: dt.date,
    *,
    horizon_days: int,
    frequency: str = "MS",
    min_history_days: int = 365,
    n_test: int = 1,
    n_validation: int = 1,
    first: dt.date | None = None,
) -> SplitPlan:
    """The out-of-time plan for a data set: the latest observable cutoffs on a grid.

    Parameters
    ----------
    first_event, last_event
        Days of the first and last event in the data (the data is observed up
        to the end of ``last_event``).
    horizon_days
        Length of the label window ``[t, t + horizon_days)``.
    frequency
        The grid, as a pandas offset alias (``"MS"``: first day of each month),
        built like :func:`features.spec.snapshot_cutoffs` so that the cutoffs
        are snapshots of the feature table.
    min_history_days
        The grid starts this many days after the first event: earlier snapshots
        have too little history to learn from.
    n_test, n_validation
        How many test cutoffs (at least 1) and validation cutoffs (0 or more).
    first
        Start of the grid instead of ``first_event + min_history_days``.

    Returns
    -------
    SplitPlan
        ``test``: the ``n_test`` latest grid dates with ``t + horizon <= last_event
        + 1 day``; ``validation``: the ``n_validation`` latest grid dates with
        ``t + horizon <= test[0]``; ``train``: every grid date with ``t + horizon
        <= validation[0]`` (``test[0]`` without validation).

    Raises
    ------
    ValueError
        If the data is too short for one training cutoff, the validation and the
        test cutoffs; the message says how many days of events are needed.
    """
    if horizon_days <= 0 or n_test < 1 or n_validation < 0 or min_history_days < 0:
        raise ValueError(f"need horizon_days > 0, n_test >= 1, n_validation >= 0 and "
                         f"min_history_days >= 0; got {horizon_days}, {n_test}, {n_validation}, "
                         f"{min_history_days}")
    if last_event < first_event:
        raise ValueError(f"last_event {last_event} is before first_event {first_event}")
    h = _days(horizon_days)
    start = first or first_event + _days(min_history_days)
    latest = last_event + _days(1) - h  # the last cutoff whose window is observed
    grid = ([d.date() for d in pd.date_range(start, latest, freq=frequency)]
            if start <= latest else [])
    test = grid[-n_test:] if len(grid) >= n_test else []
    validation: list[dt.date] = []
    if test and n_validation:
        pool = [g for g in grid if g + h <= test[0]]
        validation = pool[-n_validation:] if len(pool) >= n_validation else []
    bound = validation[0] if validation else (test[0] if test else None)
    train = [g for g in grid if bound is not None and g + h <= bound]
    if not test or len(validation) < n_validation or not train:
        needed_last = _needed_last_event(start, horizon_days, frequency, n_test, n_validation)
        span = (last_event - first_event).days + 1
        needed = ("more days than the calendar holds (events past 9999-12-31)"
                  if needed_last is None else
                  f"{(needed_last - first_event).days + 1} days (events up to {needed_last})")
        raise ValueError(
            f"the events span {span} days ({first_event} to {last_event}), too short for an "
            f"out-of-time plan: one training, {n_validation} validation and {n_test} test "
            f"cutoff(s) on the {frequency!r} grid from {start}, each with a {horizon_days}-day "
            f"label window, need {needed}; shorten the horizon or the minimum history, or give "
            "the cutoffs explicitly"
        )
    return SplitPlan(train=train, validation=validation, test=test, horizon_days=horizon_days)


def _needed_last_event(start: dt.date, horizon_days: int, frequency: str, n_test: int,
                       n_validation: int) -> dt.date | None:
    """The last event day that the smallest plan starting at ``start`` needs; None when
    that day is past the end of the calendar (year 9999)."""
    # Each step of the plan advances at least one grid date per day of horizon: this
    # many grid dates always suffice.
    periods = (n_test + n_validation + 2) * (horizon_days + 1)
    h = _days(horizon_days)
    try:
        grid = [d.date() for d in pd.date_range(start, periods=periods, freq=frequency)]

        def first_from(day: dt.date) -> int:
            return next(i for i, g in enumerate(grid) if g >= day)

        i = first_from(grid[0] + h)  # the first validation (or test) cutoff
        if n_validation:
            i = first_from(grid[i + n_validation - 1] + h)
        return grid[i + n_test - 1] + h - _days(1)
    except (OverflowError, NotImplementedError, pd.errors.OutOfBoundsDatetime):
        return None  # a grid, or a window, past the dates a calendar holds
