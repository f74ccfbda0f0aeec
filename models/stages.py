"""Lifecycle stages: the seven stages of the domain model, assigned by explicit rules.

A customer's stage as of a cutoff ``t`` is a function of its row in the feature
table at ``t`` (only events on days before ``t``). The rules and their wording
come from the domain model (``DOMAIN.md``, "Lifecycle stages"); every threshold
is a field of :class:`StageRules`, whose values the pipeline takes from the
``stages`` section of ``params.yaml``.

The same rules give the stage at ``t`` and at ``t + horizon`` (see
:func:`models.labels.make_labels`), so a stage transition compares like with
like.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    field_validator,
)

__all__ = ["REQUIRED_COLUMNS", "STAGES", "STAGE_DTYPE", "StageRules", "assign_stages"]

#: The stage vocabulary, in lifecycle order. No other spelling is used in code.
STAGES: tuple[str, ...] = (
    "prospect",
    "first_time_buyer",
    "early_repeat",
    "core",
    "at_risk",
    "lost",
    "reactivated",
)

#: Categories in lifecycle order. Unordered: "lost < reactivated" would mean nothing.
STAGE_DTYPE = pd.CategoricalDtype(list(STAGES), ordered=False)

#: Feature-table columns the rules read (see ``docs/data_dictionary.md``).
REQUIRED_COLUMNS: tuple[str, ...] = (
    "frequency",
    "recency_days",
    "gap_median_days",
    "last_gap_days",
    "prior_gap_median_days",
    "days_since_first_purchase",
)


#: The longest count of days a rule may hold: a hundred years. A longer one is a
#: typing error, and would reach past the calendar's dates.
MAX_DAYS = 36_500


class StageRules(BaseModel):
    """Every threshold of the stage rules (defaults of the domain model).

    The declaration of the ``stages`` section of ``params.yaml``: the defaults and
    ranges below are the ones the pipeline validates the file with.

    Durations are whole days between the day of a purchase and the cutoff, as
    in the feature table: ``recency_days == 1`` is a purchase the day before.

    Parameters
    ----------
    lost_after_days
        ``lost``: no purchase for this many days (``recency_days`` above it).
    dormant_after_days
        A one-time buyer is ``at_risk`` after this many days without a second
        purchase. Must be below ``lost_after_days``.
    at_risk_gap_factor
        A repeat buyer is ``at_risk`` when the days since its last purchase exceed
        this multiple of its own median inter-purchase gap. At least 1: a smaller
        factor would flag customers before their usual next purchase is due.
    core_min_purchases
        ``core`` needs at least this many purchases (at least 2).
    core_min_tenure_days
        ``core`` needs at least this many days since the first purchase.
    reactivated_window_days
        A customer stays ``reactivated`` for this many days after the purchase
        that ended its ``at_risk`` or ``lost`` spell.
    min_usual_gap_days
        Floor of the "usual gap" the at-risk rule multiplies: with two or three
        purchases a few days apart the median gap says little about the
        customer's rhythm, and without a floor such a customer would be
        ``at_risk`` within days. 1 reproduces the literal rule.

    Raises
    ------
    pydantic.ValidationError
        (a ``ValueError``) naming the field, when a threshold is not a whole
        number of days (``at_risk_gap_factor``: a finite number), out of range,
        or inconsistent with another.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    lost_after_days: StrictInt = Field(default=365, gt=0, le=MAX_DAYS)
    # Validated also when left at its default: the check reads lost_after_days.
    dormant_after_days: StrictInt = Field(default=120, gt=0, le=MAX_DAYS, validate_default=True)
    at_risk_gap_factor: StrictFloat = Field(default=3.0, ge=1.0, allow_inf_nan=False)
    core_min_purchases: StrictInt = Field(default=4, ge=2)
    core_min_tenure_days: StrictInt = Field(default=180, ge=0, le=MAX_DAYS)
    reactivated_window_days: StrictInt = Field(default=90, gt=0, le=MAX_DAYS)
    min_usual_gap_days: StrictInt = Field(default=7, gt=0, le=MAX_DAYS)

    @field_validator("dormant_after_days")
    @classmethod
    def _dormant_before_lost(cls, value: int, info: ValidationInfo) -> int:
        lost = info.data.get("lost_after_days")  # absent when it failed its own checks
        if lost is not None and value >= lost:
            raise ValueError(f"dormant_after_days ({value}) must be below lost_after_days "
                             f"({lost}): a one-time buyer is at_risk before it is lost")
        return value


def assign_stages(features: pd.DataFrame, rules: StageRules) -> pd.Series:
    """The lifecycle stage of every row of the feature table.

    The first rule that holds gives the stage, in this order (quotes are the
    domain model's wording; ``r`` is ``recency_days``, ``n`` is ``frequency``,
    ``g(x)`` is ``max(x, min_usual_gap_days)``, the usual gap with a floor so that
    two purchases a few days apart do not make a customer overdue within days):

    1. ``prospect`` -- "no purchase; at least one interaction or a customer
       record": ``n == 0``. The feature table has a row only for customers seen
       before the cutoff, so every row without a purchase is a prospect.
    2. ``lost`` -- "no purchase for ``lost_after_days``": ``r > lost_after_days``,
       i.e. none of the ``lost_after_days`` days before the cutoff has a purchase.
    3. ``at_risk`` -- "days since last purchase > ``at_risk_gap_factor`` x its
       median inter-purchase gap (or > ``dormant_after_days`` for one-time
       buyers)": ``n == 1 and r > dormant_after_days``, or
       ``n >= 2 and r > at_risk_gap_factor * g(gap_median_days)``. This applies
       to ``early_repeat`` as well as ``core`` customers ("a core or repeat
       customer drifting away").
    4. ``reactivated`` -- "a purchase after a gap that had put it in
       ``at_risk``/``lost``, within ``reactivated_window_days``":
       ``r <= reactivated_window_days`` and the last gap (``last_gap_days``)
       would have made the stage ``lost`` or ``at_risk`` on the day of the last
       purchase, judged with the rhythm known then:
       ``last_gap_days > lost_after_days``; or, with 3+ purchases,
       ``last_gap_days > at_risk_gap_factor * g(prior_gap_median_days)``; or,
       with exactly 2 purchases (one purchase before the gap),
       ``last_gap_days > dormant_after_days``.
    5. ``core`` -- "``core_min_purchases``+ purchases and tenure >=
       ``core_min_tenure_days``, and buying at its usual rhythm":
       ``n >= core_min_purchases and days_since_first_purchase >=
       core_min_tenure_days``. Tenure counts from the first purchase (not from
       the first contact); the usual rhythm is implied by not being ``at_risk``.
    6. ``early_repeat`` -- "2+ purchases, and not yet ``core``": ``n >= 2``.
    7. ``first_time_buyer`` -- "exactly 1 purchase, within ``lost_after_days``":
       ``n == 1``. Because of rule 3, a one-time buyer is ``first_time_buyer``
       only up to ``dormant_after_days``; between that and ``lost_after_days``
       it is ``at_risk``.

    Every comparison with a threshold is strict where the domain model says
    "after" or "more than" and inclusive where it says "within" or "at least":
    a customer exactly at a threshold keeps its earlier stage.

    Parameters
    ----------
    features
        Rows of the feature table (one per customer and cutoff) with at least the
        columns of :data:`REQUIRED_COLUMNS`. Not modified.
    rules
        The thresholds.

    Returns
    -------
    pandas.Series
        Named ``stage``, on the index of ``features``, of dtype :data:`STAGE_DTYPE`
        (the seven stages of :data:`STAGES` as categories, in lifecycle order).

    Raises
    ------
    ValueError
        If a required column is missing, or a row with purchases lacks its
        recency or tenure (the row did not come from the feature kernel).
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in features.columns]
    if missing:
        raise ValueError(f"assign_stages: the feature rows lack the columns {missing}; "
                         f"the stage rules read {list(REQUIRED_COLUMNS)}")
    col = {c: features[c].to_numpy(dtype=np.float64, na_value=np.nan) for c in REQUIRED_COLUMNS}
    n = col["frequency"]
    r = col["recency_days"]
    bad_n = np.isnan(n) | (n < 0)
    if bad_n.any():
        i = int(np.flatnonzero(bad_n)[0])
        raise ValueError(f"assign_stages: {int(bad_n.sum())} rows have a missing or negative "
                         f"frequency (first: row {features.index[i]!r}, "
                         f"frequency={features['frequency'].iloc[i]!r})")
    buyer = n > 0
    incomplete = buyer & (np.isnan(r) | np.isnan(col["days_since_first_purchase"]))
    if incomplete.any():
        i = int(np.flatnonzero(incomplete)[0])
        raise ValueError(
            f"assign_stages: {int(incomplete.sum())} rows have purchases but no recency_days or "
            f"days_since_first_purchase (first: row {features.index[i]!r}, frequency={n[i]:g}); "
            "pass rows of the feature table as computed by features.build"
        )

    factor = rules.at_risk_gap_factor
    usual_gap = np.fmax(col["gap_median_days"], rules.min_usual_gap_days)
    prior_gap = np.fmax(col["prior_gap_median_days"], rules.min_usual_gap_days)
    last_gap = col["last_gap_days"]
    # Comparisons with NaN are False, which is what the rules want for columns that
    # are null by construction (no gaps with one purchase, no prior median with two).
    with np.errstate(invalid="ignore"):
        prospect = ~buyer
        lost = buyer & (r > rules.lost_after_days)
        at_risk = ((n == 1) & (r > rules.dormant_after_days)) | (
            (n >= 2) & (r > factor * usual_gap))
        comeback = (
            (last_gap > rules.lost_after_days)
            | ((n >= 3) & (last_gap > factor * prior_gap))
            | ((n == 2) & (last_gap > rules.dormant_after_days))
        )
        reactivated = buyer & (r <= rules.reactivated_window_days) & comeback
        core = ((n >= rules.core_min_purchases)
                & (col["days_since_first_purchase"] >= rules.core_min_tenure_days))
        early_repeat = n >= 2
        first_time = n == 1
    conditions = [prospect, lost, at_risk, reactivated, core, early_repeat, first_time]
    order = ["prospect", "lost", "at_risk", "reactivated", "core", "early_repeat",
             "first_time_buyer"]
    codes = np.select(conditions, [STAGES.index(s) for s in order], default=-1)
    # Every buyer has n == 1 or n >= 2, so the default is unreachable; a -1 would
    # surface as a null stage rather than a wrong one.
    return pd.Series(pd.Categorical.from_codes(codes, dtype=STAGE_DTYPE), index=features.index,
                     name="stage")
