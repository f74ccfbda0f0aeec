"""Labels per training snapshot: stage, next stage, defection and future value.

Windows and the point-in-time rule
----------------------------------
A cutoff ``t`` is a date taken at 00:00 UTC; the features at ``t`` see the
events of the days before ``t``. The *label window* of ``t`` is the days
``[t, t + horizon_days)``, a day ``d`` with ``t <= d < t + horizon_days``:
exactly the events the features at ``t + horizon_days`` see and the features at
``t`` do not. In instants it is the same half-open period, from 00:00 UTC on day
``t`` (included) to 00:00 UTC on day ``t + horizon_days`` (excluded). So every
label is a difference of two rows of the feature table, computed by the same
kernel with the same rules.

Which cutoffs are labelled, and in which split, is the out-of-time plan of
:mod:`models.split_plan`; :func:`with_splits` writes it into the labels.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from features.schema import Column, Table
from models.split_plan import SPLITS, SplitPlan, _days, _listing, validation_customers
from models.stages import REQUIRED_COLUMNS, STAGE_DTYPE, STAGES, StageRules, assign_stages

__all__ = [
    "LABELS",
    "label_summary",
    "make_labels",
    "with_splits",
]

#: The label table written by the ``labels`` stage: one row per customer and cutoff.
LABELS = Table("labels", "One row per customer and labelled snapshot cutoff. The label "
               "window of a cutoff t is the days [t, t + horizon_days) (t <= day < t + "
               "horizon_days): the events the features at t + horizon_days see and those at t "
               "do not.", (
    Column("customer_id", "string", "Customer identifier."),
    Column("cutoff", "date32", "Snapshot date t: the features at t see events before t."),
    Column("split", "string", "train, validation or test (out of time, see SplitPlan)."),
    Column("stage", "string", "Lifecycle stage at t (models.stages)."),
    Column("next_stage", "string", "Lifecycle stage at t + horizon_days (seeing the days "
           "before it), same rules."),
    Column("defected", "bool", "No purchase in the days [t, t + horizon_days); null for "
           "prospects (no purchase before t)."),
    Column("future_purchases", "int64", "Purchases in the days [t, t + horizon_days) "
           "(refunds excluded)."),
    Column("future_spend", "double", "Amount spent on purchases in the days "
           "[t, t + horizon_days) (refunds not subtracted)."),
))

_LABEL_INPUTS = ("customer_id", "cutoff", "monetary_sum", *REQUIRED_COLUMNS)


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------


def _check_frame(frame: pd.DataFrame, name: str) -> None:
    missing = [c for c in _LABEL_INPUTS if c not in frame.columns]
    if missing:
        raise ValueError(f"make_labels: {name} lacks the columns {missing}")
    dupes = frame.duplicated(["customer_id", "cutoff"], keep=False)
    if dupes.any():
        first = frame.loc[dupes].iloc[0]
        raise ValueError(f"make_labels: {name} has {int(dupes.sum())} rows with a repeated "
                         f"(customer_id, cutoff), e.g. ({first['customer_id']!r}, "
                         f"{first['cutoff']})")


def make_labels(
    features_at_t: pd.DataFrame,
    features_at_t_plus_h: pd.DataFrame,
    *,
    rules: StageRules,
    horizon_days: int,
) -> pd.DataFrame:
    """Stage, next stage, defection and future value of each customer at each cutoff.

    Parameters
    ----------
    features_at_t
        Feature-table rows at the labelled cutoffs ``t`` (any number of cutoffs):
        columns ``customer_id``, ``cutoff``, ``monetary_sum`` and those of
        :data:`models.stages.REQUIRED_COLUMNS`. Not modified.
    features_at_t_plus_h
        Feature-table rows, same columns, holding for every row of
        ``features_at_t`` the row of the same customer at ``cutoff +
        horizon_days`` (other rows are ignored). A customer with a row at ``t``
        has one at every later cutoff, so a missing row means the features were
        not computed at ``t + horizon_days``.
    rules
        Stage thresholds, the same at ``t`` and ``t + horizon_days``.
    horizon_days
        Length of the label window ``[t, t + horizon_days)``.

    Returns
    -------
    pandas.DataFrame
        One row per row of ``features_at_t``, in its order, with a fresh index:

        * ``customer_id``, ``cutoff``: as in ``features_at_t``;
        * ``stage``, ``next_stage``: :func:`models.stages.assign_stages` at ``t``
          and at ``t + horizon_days`` (categorical, the seven stages);
        * ``defected`` (nullable boolean): no purchase in the window, i.e.
          ``frequency(t + h) - frequency(t) == 0``; null for prospects (no purchase
          before ``t``), for whom defection has no meaning;
        * ``future_purchases`` (int64): ``frequency(t + h) - frequency(t)``, the
          purchases in the window (refunds are not purchases);
        * ``future_spend`` (float64): ``monetary_sum(t + h) - monetary_sum(t)``,
          rounded to millionths (the precision of the kernel's sums).

    Raises
    ------
    ValueError
        If a column is missing, a (customer, cutoff) repeats, a row at
        ``t + horizon_days`` is missing, or the purchase count falls between
        ``t`` and ``t + horizon_days`` (the two frames come from different data).
    """
    if int(horizon_days) != horizon_days or horizon_days <= 0:
        raise ValueError(f"horizon_days must be a positive whole number, got {horizon_days!r}")
    _check_frame(features_at_t, "features_at_t")
    _check_frame(features_at_t_plus_h, "features_at_t_plus_h")
    now = features_at_t.reset_index(drop=True)
    later = features_at_t_plus_h[list(_LABEL_INPUTS)].copy()
    later["_t"] = pd.to_datetime(later["cutoff"]) - pd.Timedelta(days=int(horizon_days))
    later = later.drop(columns="cutoff")
    keys = pd.DataFrame({"customer_id": now["customer_id"], "_t": pd.to_datetime(now["cutoff"])})
    matched = keys.merge(later, on=["customer_id", "_t"], how="left", validate="one_to_one",
                         indicator=True)
    absent = (matched["_merge"] != "both").to_numpy()
    if absent.any():
        i = int(np.flatnonzero(absent)[0])
        t = keys["_t"].iloc[i].date()
        raise ValueError(
            f"make_labels: {int(absent.sum())} of {len(now)} rows at t have no row at "
            f"t + {horizon_days} days (first: customer {now['customer_id'].iloc[i]!r} at "
            f"{t} needs a row at {t + _days(horizon_days)}); compute the features at every "
            "t + horizon_days"
        )
    n_now = now["frequency"].to_numpy(dtype=np.int64)
    future = matched["frequency"].to_numpy(dtype=np.int64) - n_now
    if (future < 0).any():
        i = int(np.flatnonzero(future < 0)[0])
        raise ValueError(
            f"make_labels: {int((future < 0).sum())} rows have fewer purchases at t + "
            f"{horizon_days} days than at t (first: customer {now['customer_id'].iloc[i]!r} at "
            f"{keys['_t'].iloc[i].date()}); the two feature frames come from different data"
        )
    spend = (matched["monetary_sum"].to_numpy(dtype=np.float64)
             - now["monetary_sum"].to_numpy(dtype=np.float64))
    defected = pd.array(future == 0, dtype="boolean")
    defected[n_now == 0] = pd.NA
    return pd.DataFrame({
        "customer_id": now["customer_id"],
        "cutoff": now["cutoff"],
        "stage": assign_stages(now, rules).array,
        "next_stage": assign_stages(matched, rules).array,
        "defected": defected,
        "future_purchases": future,
        "future_spend": np.round(spend, 6),
    })


def with_splits(labels: pd.DataFrame, plan: SplitPlan) -> pd.DataFrame:
    """``labels`` with a ``split`` column after ``cutoff``, from the plan: the split of
    each row's cutoff, except that in a plan that validates on a share of customers
    (:attr:`SplitPlan.validation_share`) those customers' training rows validate.

    Raises
    ------
    ValueError
        If a cutoff of ``labels`` is not in the plan.
    """
    days = pd.to_datetime(labels["cutoff"]).dt.date
    unknown = sorted(set(days) - set(plan.cutoffs))
    if unknown:
        raise ValueError(f"cutoffs {_listing(unknown)} are not in the split plan")
    split = days.map(plan.split_of)
    if plan.validation_share is not None:
        # Validation by customers: their rows at the training cutoffs validate.
        validating = validation_customers(labels["customer_id"], plan.validation_share)
        split = split.where(~(validating & (split == "train").to_numpy()), "validation")
    out = labels.copy()
    out.insert(out.columns.get_loc("cutoff") + 1, "split",
               pd.Categorical(split, categories=list(SPLITS)))
    return out


# --------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------


def _rate(defected: pd.Series) -> float | None:
    known = defected.dropna()
    return None if known.empty else round(float(known.astype(bool).mean()), 6)


def label_summary(labels: pd.DataFrame) -> dict[str, Any]:
    """Counts and rates of a label table, for the stage report.

    Parameters
    ----------
    labels
        Columns ``split``, ``stage``, ``next_stage``, ``defected`` (see :data:`LABELS`).

    Returns
    -------
    dict
        ``rows`` (per split and ``total``); ``stage_counts`` (per split, every
        stage, zeros included); ``defection_rate`` (per split: ``all`` buyers and
        ``by_stage``; ``None`` where no row has a defined label, e.g. prospects);
        ``transitions_train`` (counts of stage at t -> stage at t + horizon on the
        training split, every pair of stages).
    """
    out: dict[str, Any] = {"rows": {}, "stage_counts": {}, "defection_rate": {}}
    stage = labels["stage"].astype(STAGE_DTYPE)
    for name in SPLITS:
        part = labels.loc[labels["split"] == name]
        part_stage = stage.loc[part.index]
        out["rows"][name] = len(part)
        counts = part_stage.value_counts().reindex(list(STAGES), fill_value=0)
        out["stage_counts"][name] = {s: int(counts[s]) for s in STAGES}
        by_stage = part["defected"].groupby(part_stage, observed=False)
        out["defection_rate"][name] = {
            "all": _rate(part["defected"]),
            "by_stage": {s: _rate(g) for s, g in by_stage},
        }
    out["rows"]["total"] = len(labels)
    train = labels.loc[labels["split"] == "train"]
    matrix = pd.crosstab(train["stage"].astype(STAGE_DTYPE),
                         train["next_stage"].astype(STAGE_DTYPE), dropna=False)
    matrix = matrix.reindex(index=list(STAGES), columns=list(STAGES), fill_value=0)
    out["transitions_train"] = {a: {b: int(matrix.loc[a, b]) for b in STAGES} for a in STAGES}
    return out
