"""Declaration of the feature table: which columns a feature build produces, and when.

Every feature is declared once in :func:`feature_table` (name, dtype, family,
meaning), for the windows and interaction kinds of a :class:`FeatureSpec`; the
computation in :mod:`features.build` fills exactly these columns, in this order.
The rules that hold across columns (days, windows, refunds, gaps, RFM scores) are
stated once in :data:`DEFINITIONS`; the data dictionary prints both.
:func:`snapshot_cutoffs` chooses the cutoffs a build computes them at.

Data contract
-------------
One row per customer and snapshot cutoff, keyed by :data:`KEY_COLUMNS`. A cutoff
``c`` is a date, taken at 00:00 UTC; features at ``c`` see only events whose day is
strictly before ``c``, and a window of ``N`` days is the days ``[c - N, c)``. The RFM
score columns (:data:`RFM_SCORE_COLUMNS`) are null before a customer's first purchase.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd

from features.schema import Column, Table

KEY_COLUMNS = ("customer_id", "cutoff")
RFM_SCORE_COLUMNS = ("rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score")

#: The definitions the column descriptions of :func:`feature_table` rely on, as the
#: kernel (:mod:`features.kernel`, :mod:`features.build`) and the RFM scores
#: (:mod:`features.rfm_scores`) compute them: term -> definition, in reading order.
DEFINITIONS: dict[str, str] = {
    "Day": "Every timestamp counts on its calendar day in UTC. Validation stores "
           "timestamps in UTC (one written without an offset is read in `data.timezone`, "
           "then converted) and the features floor them to whole UTC days, so with "
           "`data.timezone: Europe/Paris` a purchase at 00:30 local time on 2 March "
           "(23:30 UTC) counts on 1 March. The same holds for `signup_date`.",
    "Cutoff": "A cutoff c is a date, taken at 00:00 UTC. The features at c see the events "
              "on the days before c (day < c) and none of day c itself.",
    "Durations": "Columns in days (`recency_days`, `tenure_days`, `*_days_since_last`, "
                 "`days_since_first_purchase`) are whole days c - d from the event's day d "
                 "to the cutoff: 1 for an event on the day before the cutoff.",
    "Last N days": "A window of N days at cutoff c is the days [c - N, c): the N days "
                   "before the cutoff, the cutoff's own day excluded (the last 30 days at "
                   "2024-03-31 are 2024-03-01 to 2024-03-30). The trend features compare "
                   "the last T days, [c - T, c), with the T days before, [c - 2T, c - T).",
    "Purchases and refunds": "A transaction with a negative amount is a refund "
                             "(`is_refund`); every other one, an amount of 0 included, is a "
                             "purchase. Every purchase count and sum (`frequency*`, "
                             "`monetary_*`, the trend and gap features, the RFM scores, and "
                             "the labels' `future_purchases` and `future_spend`) is over "
                             "purchases only: a refund is neither counted nor subtracted. "
                             "Refunds have their own columns (`refund_*`, amounts positive).",
    "Gaps": "A customer's gaps are the days between consecutive purchases (n purchases give "
            "n - 1 gaps; 0 for two purchases on the same day). `gap_median_days` is their "
            "median (the mean of the two middle gaps for an even number of gaps); "
            "`gap_std_days` their sample standard deviation (ddof = 1: divided by the number "
            "of gaps minus 1), so it needs 2 gaps, i.e. 3 purchases; `prior_gap_median_days` "
            "the median of every gap but the last.",
    "recency_gap_ratio": "`recency_days / (1 + gap_median_days)`: null when "
                         "`gap_median_days` is, i.e. with fewer than 2 purchases (no "
                         "prospect or one-time buyer has a usual gap).",
    "RFM scores": "Per cutoff, over every buyer (a customer with a purchase before the "
                  "cutoff) of the whole data set, all partitions together: the edges are "
                  "the 20%, 40%, 60% and 80% quantiles of `recency_days`, `frequency` and "
                  "`monetary_mean`, interpolated linearly between the sorted values "
                  "(`numpy.quantile`, DuckDB `quantile_cont`). A buyer's score is 1 + the "
                  "number of edges strictly below its value, for recency 5 - that number "
                  "(fewer days is better). Equal values get equal scores, and a value equal "
                  "to an edge goes with the values below it: the lower frequency or "
                  "monetary score, the higher recency score. Where many buyers share a value "
                  "(a frequency of 1) the five scores are not equally large and some may be "
                  "empty. Prospects (no purchase before the cutoff) have no score (null) and "
                  "are not part of the population.",
    "Resolution": "A support ticket or complaint counts as resolved at cutoff c when "
                  "`resolved` is true and its timestamp plus `resolution_hours` is before "
                  "00:00 UTC on c; resolved without known hours, it counts as resolved at "
                  "its timestamp and is left out of `*_resolution_hours_mean`.",
    "Rows": "A customer has a row at every cutoff after it is first seen: its first "
            "purchase, interaction or `signup_date`, whichever is earliest, on a day before "
            "the cutoff (a refund alone does not count). `tenure_days` counts from that day.",
}


@dataclass(frozen=True)
class FeatureSpec:
    """What the feature table contains; everything else is fixed by the code.

    Parameters
    ----------
    windows_days
        Look-back windows, in days, for counts and sums.
    trend_days
        Length ``T`` of the two periods compared by the trend features:
        ``[c - T, c)`` against ``[c - 2T, c - T)``.
    interaction_kinds
        Vocabulary of interaction kinds; each kind gets its own columns.
    resolution_kinds
        Kinds (a subset of ``interaction_kinds``) whose resolution is tracked.
    """

    windows_days: tuple[int, ...] = (30, 90, 180, 365)
    trend_days: int = 90
    interaction_kinds: tuple[str, ...] = (
        "support_ticket", "complaint", "survey", "email_open", "web_visit", "call",
    )
    resolution_kinds: tuple[str, ...] = ("complaint", "support_ticket")

    def __post_init__(self) -> None:
        object.__setattr__(self, "windows_days", tuple(sorted(self.windows_days)))
        object.__setattr__(self, "interaction_kinds", tuple(self.interaction_kinds))
        object.__setattr__(self, "resolution_kinds", tuple(self.resolution_kinds))
        unknown = set(self.resolution_kinds) - set(self.interaction_kinds)
        if unknown:
            raise ValueError(f"resolution kinds {sorted(unknown)} are not interaction kinds")


def feature_table(spec: FeatureSpec) -> Table:
    """Declare the feature table for ``spec``: every column, its dtype and meaning."""
    T = spec.trend_days
    cols: list[Column] = [
        Column("customer_id", "string", "Customer identifier.", family="key"),
        Column("cutoff", "date32", "Snapshot date c, taken at 00:00 UTC: only events on "
               "earlier days are seen.",
               family="key"),
        Column("cutoff_month", "int32", "Month of the cutoff (1 to 12): the season in which "
               "the customer is seen, and the next horizon starts.", family="calendar"),
        Column("tenure_days", "double", "Days since the customer was first seen (signup, first "
               "purchase or first interaction, whichever is earliest).", family="tenure"),
        Column("days_since_first_purchase", "double", "Days since the first purchase; null "
               "before any purchase.", family="tenure"),
        Column("recency_days", "double", "Days since the last purchase; null before any "
               "purchase.", family="rfm"),
        Column("frequency", "int32", "Number of purchases (refunds not counted), all time.",
               family="rfm"),
        Column("monetary_sum", "double", "Amount spent on purchases, all time (refunds not "
               "subtracted).", family="rfm"),
        Column("monetary_mean", "double", "Mean purchase amount, all time; null before any "
               "purchase.", family="rfm"),
    ]
    for w in spec.windows_days:
        cols += [
            Column(f"frequency_{w}d", "int32", f"Number of purchases in the last {w} days: the "
                   f"days [cutoff - {w}, cutoff).", family="rfm"),
            Column(f"monetary_sum_{w}d", "double", f"Amount spent on purchases in the last "
                   f"{w} days (refunds not subtracted).", family="rfm"),
            Column(f"monetary_mean_{w}d", "double", f"Mean purchase amount in the last {w} "
                   "days; null without purchases in the window.", family="rfm"),
        ]
    cols += [
        Column("gap_mean_days", "double", "Mean days between consecutive purchases; null with "
               "fewer than 2 purchases.", family="rhythm"),
        Column("gap_median_days", "double", "Median days between consecutive purchases (the "
               "customer's usual gap); null with fewer than 2 purchases.", family="rhythm"),
        Column("gap_std_days", "double", "Sample standard deviation (ddof = 1) of the days "
               "between consecutive purchases; null with fewer than 3 purchases.", family="rhythm"),
        Column("last_gap_days", "double", "Days between the last two purchases; null with "
               "fewer than 2 purchases.", family="rhythm"),
        Column("prior_gap_median_days", "double", "Median gap before the last purchase (all "
               "gaps but the last): the rhythm the last purchase broke or kept; null with fewer "
               "than 3 purchases.", family="rhythm"),
        Column("recency_gap_ratio", "double", "Days since the last purchase divided by the "
               "median gap (1 + median, so same-day repeat buyers stay finite): how overdue "
               "the next purchase is; null with fewer than 2 purchases.", family="rhythm"),
        Column(f"frequency_trend_{T}d", "int32", f"Purchases in the last {T} days minus "
               f"purchases in the {T} days before: days [cutoff - {T}, cutoff) against "
               f"[cutoff - {2 * T}, cutoff - {T}).", family="trend"),
        Column(f"monetary_trend_{T}d", "double", f"Relative change of spend: last {T} days vs "
               f"the {T} days before ((last - previous) / previous); null when the previous "
               "period has no spend.", family="trend"),
        Column("refund_count", "int32", "Number of refunds, all time.", family="refunds"),
        Column("refund_amount", "double", "Amount refunded (positive), all time.",
               family="refunds"),
        Column(f"refund_count_{T}d", "int32", f"Number of refunds in the last {T} days.",
               family="refunds"),
    ]
    for kind in spec.interaction_kinds:
        for w in spec.windows_days:
            cols.append(Column(f"{kind}_count_{w}d", "int32",
                               f"Number of {kind} interactions in the last {w} days.",
                               family="interactions"))
        cols.append(Column(f"{kind}_days_since_last", "double",
                           f"Days since the last {kind} interaction; null if none.",
                           family="interactions"))
    for kind in spec.resolution_kinds:
        cols += [
            Column(f"{kind}_resolved_rate", "double", f"Share of the {kind} interactions opened "
                   "before the cutoff that were resolved before it (resolved at timestamp + "
                   "resolution_hours); null if none.", family="service"),
            Column(f"{kind}_resolution_hours_mean", "double", f"Mean hours to resolve, over the "
                   f"{kind} interactions resolved before the cutoff; null if none.",
                   family="service"),
            Column(f"{kind}_unresolved_{T}d", "int32", f"Number of {kind} interactions opened in "
                   f"the last {T} days and not resolved before the cutoff.", family="service"),
        ]
    cols += [
        Column("satisfaction_count", "int32", "Number of satisfaction scores given, all time.",
               family="satisfaction"),
        Column("satisfaction_mean", "double", "Mean satisfaction score, all time; null if "
               "none.", family="satisfaction"),
        Column("satisfaction_last", "double", "Most recent satisfaction score; null if none.",
               family="satisfaction"),
        Column("segment", "string", "Customer segment from the customers table; null if "
               "unknown.", family="profile"),
        Column("relationship_type", "string", "Relationship type from the customers table; "
               "null if unknown.", family="profile"),
        Column("rfm_recency_score", "int32", "Recency quintile (1 to 5, 5 = most recent) of "
               "recency_days among all buyers at the same cutoff; a value at a quintile edge "
               "gets the higher score; null before any purchase.", family="rfm_score"),
        Column("rfm_frequency_score", "int32", "Frequency quintile (1 to 5, 5 = most "
               "purchases) of frequency among all buyers at the same cutoff; a value at a "
               "quintile edge gets the lower score; null before any purchase.",
               family="rfm_score"),
        Column("rfm_monetary_score", "int32", "Monetary quintile (1 to 5, 5 = highest) of "
               "monetary_mean among all buyers at the same cutoff; a value at a quintile edge "
               "gets the lower score; null before any purchase.", family="rfm_score"),
    ]
    return Table("features", "One row per customer and snapshot cutoff.", tuple(cols))


# --------------------------------------------------------------------------
# Snapshot cutoffs
# --------------------------------------------------------------------------


def snapshot_cutoffs(
    *,
    first_event: dt.date,
    last_event: dt.date,
    frequency: str = "MS",
    first: dt.date | None = None,
    last: dt.date | None = None,
    min_history_days: int = 365,
) -> list[dt.date]:
    """Choose the snapshot cutoffs for a data set.

    Parameters
    ----------
    first_event, last_event
        Days of the first and last event in the data.
    frequency
        A pandas offset alias (``"MS"``: the first day of each month).
    first
        First cutoff; default ``first_event + min_history_days``, moved onto the grid.
    last
        Last cutoff; default the day after ``last_event``. It is always included,
        even off the grid, so the newest snapshot is the freshest possible.

    Returns
    -------
    Sorted, distinct dates.
    """
    start = first or (first_event + dt.timedelta(days=min_history_days))
    end = last or (last_event + dt.timedelta(days=1))
    if start > end:
        start = end
    grid = pd.date_range(start, end, freq=frequency)
    days = {d.date() for d in grid}
    days.add(end)
    return sorted(days)
