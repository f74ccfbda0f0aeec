"""Point-in-time customer features: declarations and the per-partition kernel.

Every feature is declared once in :func:`feature_table` (name, dtype, family,
meaning). :func:`compute_features` computes them for one partition of
customers at many cutoffs at once; the engines in :mod:`features.engines` only
decide which partition of the clean tables goes in and where the rows go.

How the work is shared between cutoffs
--------------------------------------
A partition's events are prepared once: sorted by (customer, day), amounts,
hours and scores turned into exact int64 millionths, each customer's run of
events located. Per cutoff, compiled loops (:mod:`features.kernel`) walk each
customer's events up to the cutoff and fill every feature in one pass; the
inter-purchase gaps are sorted per customer for their medians. Preparing the
inputs, reading them and writing the rows cost more than the walk, so many
cutoffs cost far less than as many separate builds.

Point-in-time rule
------------------
A cutoff ``c`` is a date, taken at 00:00 UTC. Features at ``c`` see only
events whose day is strictly before ``c``. Durations are whole days between
the event's day and the cutoff.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import kernel
from features.schema import Column, Table

KEY_COLUMNS = ("customer_id", "cutoff")
RFM_SCORE_COLUMNS = ("rfm_recency_score", "rfm_frequency_score", "rfm_monetary_score")


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
        Column("cutoff", "date32", "Snapshot date: only events on earlier days are seen.",
               family="key"),
        Column("cutoff_month", "int32", "Month of the cutoff (1 to 12): the season in which "
               "the customer is seen, and the next horizon starts.", family="calendar"),
        Column("tenure_days", "double", "Days since the customer was first seen (signup, first "
               "purchase or first interaction, whichever is earliest).", family="tenure"),
        Column("days_since_first_purchase", "double", "Days since the first purchase; null "
               "before any purchase.", family="tenure"),
        Column("recency_days", "double", "Days since the last purchase; null before any "
               "purchase.", family="rfm"),
        Column("frequency", "int32", "Number of purchases (refunds excluded), all time.",
               family="rfm"),
        Column("monetary_sum", "double", "Amount spent on purchases, all time.", family="rfm"),
        Column("monetary_mean", "double", "Mean purchase amount, all time; null before any "
               "purchase.", family="rfm"),
    ]
    for w in spec.windows_days:
        cols += [
            Column(f"frequency_{w}d", "int32", f"Number of purchases in the last {w} days.",
                   family="rfm"),
            Column(f"monetary_sum_{w}d", "double", f"Amount spent in the last {w} days.",
                   family="rfm"),
            Column(f"monetary_mean_{w}d", "double", f"Mean purchase amount in the last {w} "
                   "days; null without purchases in the window.", family="rfm"),
        ]
    cols += [
        Column("gap_mean_days", "double", "Mean days between consecutive purchases; null with "
               "fewer than 2 purchases.", family="rhythm"),
        Column("gap_median_days", "double", "Median days between consecutive purchases (the "
               "customer's usual gap); null with fewer than 2 purchases.", family="rhythm"),
        Column("gap_std_days", "double", "Standard deviation of the days between consecutive "
               "purchases; null with fewer than 3 purchases.", family="rhythm"),
        Column("last_gap_days", "double", "Days between the last two purchases; null with "
               "fewer than 2 purchases.", family="rhythm"),
        Column("prior_gap_median_days", "double", "Median gap before the last purchase (all "
               "gaps but the last): the rhythm the last purchase broke or kept; null with fewer "
               "than 3 purchases.", family="rhythm"),
        Column("recency_gap_ratio", "double", "Days since the last purchase divided by the "
               "median gap (1 + median, so same-day repeat buyers stay finite): how overdue "
               "the next purchase is.", family="rhythm"),
        Column(f"frequency_trend_{T}d", "int32", f"Purchases in the last {T} days minus "
               f"purchases in the {T} days before.", family="trend"),
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
        Column("rfm_recency_score", "int32", "Recency quintile among buyers at the same cutoff "
               "(5 = most recent); null before any purchase.", family="rfm_score"),
        Column("rfm_frequency_score", "int32", "Frequency quintile among buyers at the same "
               "cutoff (5 = most purchases); null before any purchase.", family="rfm_score"),
        Column("rfm_monetary_score", "int32", "Monetary (mean purchase) quintile among buyers at "
               "the same cutoff (5 = highest); null before any purchase.", family="rfm_score"),
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


# --------------------------------------------------------------------------
# The kernel
# --------------------------------------------------------------------------


def _np(col: pa.ChunkedArray | pa.Array, dtype: type | str) -> np.ndarray:
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=dtype)


def _days(ts: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Days since 1970-01-01 of a timestamp column without nulls."""
    return np.floor_divide(_np(ts.cast(pa.timestamp("us")).cast(pa.int64()), np.int64),
                           kernel.DAY_US)


def _float(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric or boolean column as float64, nulls as NaN."""
    if pa.types.is_boolean(col.type):
        col = col.cast(pa.int8())
    return _np(col.cast(pa.float64()), np.float64)


def _check_fixed(total: float) -> None:
    """Amounts, hours and scores are summed in exact int64 millionths (a float sum
    would depend on the order of summation, so on how customers are partitioned):
    refuse a partition whose sums could overflow."""
    if total >= kernel.FIXED_LIMIT:
        raise ValueError("amounts too large to sum exactly: split the data into more "
                         "partitions per chunk")


class _Customers:
    """Maps customer keys of one partition to dense codes 0..n-1."""

    def __init__(self, index: pa.Table) -> None:
        keys = _np(index.column("customer_key"), np.int64)
        order = np.argsort(keys, kind="stable")
        if keys.size and np.any(keys[order][1:] == keys[order][:-1]):
            raise ValueError("customer_index has repeated customer_key values")
        self.keys = keys[order]
        self.ids = index.column("customer_id").combine_chunks().take(pa.array(order))
        self.n = self.keys.size
        self._dense = bool(self.n) and self.keys[-1] - self.keys[0] == self.n - 1

    def codes(self, table: pa.Table) -> np.ndarray:
        keys = _np(table.column("customer_key"), np.int64)
        if not keys.size:
            return keys
        if self._dense:
            codes = keys - self.keys[0]
            ok = (codes >= 0) & (codes < self.n)
        else:
            codes = np.minimum(np.searchsorted(self.keys, keys), max(self.n - 1, 0))
            ok = self.keys[codes] == keys if self.n else np.zeros(keys.size, bool)
        if not ok.all():
            raise ValueError(f"{int((~ok).sum())} rows have a customer_key missing from "
                             "customer_index")
        return codes


class _Events:
    """One event table of a partition, sorted by (customer, day): each customer's
    events are the run ``start[i]:end[i]``."""

    def __init__(self, code: np.ndarray, day: np.ndarray, n_customers: int,
                 extra: dict[str, np.ndarray] | None = None,
                 time: np.ndarray | None = None) -> None:
        extra = extra or {}
        code = np.ascontiguousarray(code, np.int64)
        day = np.ascontiguousarray(day, np.int64)
        counts = np.zeros(n_customers, np.int64)
        # Sorted by (customer, day) and, where ``time`` is given, by time within a
        # day: "the last value before the cutoff" needs the order within a day.
        if not kernel.runs(code, day, day if time is None else time, counts):
            order = np.lexsort((day, code) if time is None else (time, day, code))
            day = day[order]
            extra = {name: values[order] for name, values in extra.items()}
        self.day = day
        self.extra = extra
        self.end = np.cumsum(counts)
        self.start = self.end - counts

    def first_day(self) -> np.ndarray:
        """Per customer, the day of its first event (NaN if none)."""
        out = np.full(self.start.shape, np.nan)
        has = self.end > self.start
        out[has] = self.day[self.start[has]]
        return out


class _Purchases:
    """Purchases and refunds of a partition."""

    def __init__(self, transactions: pa.Table, codes: np.ndarray, n: int) -> None:
        refund = _np(transactions.column("is_refund"), bool)
        ts_us = _np(transactions.column("timestamp").cast(pa.timestamp("us")).cast(pa.int64()),
                    np.int64)
        n_ref = int(np.count_nonzero(refund))
        n_buy = refund.size - n_ref
        buy = [np.empty(n_buy, np.int64) for _ in range(3)]
        ref = [np.empty(n_ref, np.int64) for _ in range(3)]
        _check_fixed(kernel.split_transactions(
            np.ascontiguousarray(codes, np.int64), ts_us, _float(transactions.column("amount")),
            refund, *buy, *ref))
        self.buy = _Events(buy[0], buy[1], n, {"amount": buy[2]})
        self.ref = _Events(ref[0], ref[1], n, {"amount": ref[2]})
        self.first_day = self.buy.first_day()

    def at(self, c: int, who: np.ndarray, windows: Sequence[int], trend: int,
           rhythm: bool = True) -> dict[str, np.ndarray]:
        """Purchase features of the customers ``who`` (codes) at cutoff day ``c``, keyed
        by ``name`` or ``(name, window)``; without ``rhythm``, the gap features are
        left unset."""
        n, w = who.size, len(windows)
        out = {name: np.empty(n, np.int32) for name in ("frequency", "frequency_trend")}
        out |= {name: np.empty(n) for name in (
            "recency_days", "monetary_sum", "monetary_mean", "gap_mean_days", "gap_median_days",
            "gap_std_days", "last_gap_days", "prior_gap_median_days", "monetary_trend")}
        freq_w, sum_w, mean_w = np.empty((n, w), np.int32), np.empty((n, w)), np.empty((n, w))
        b = self.buy
        kernel.purchases(
            c, np.asarray(windows, np.int64), trend, rhythm, who,
            b.start, b.end, b.day, b.extra["amount"],
            out["frequency"], freq_w, out["frequency_trend"], out["recency_days"],
            out["monetary_sum"], out["monetary_mean"], sum_w, mean_w, out["gap_mean_days"],
            out["gap_median_days"], out["gap_std_days"], out["last_gap_days"],
            out["prior_gap_median_days"], out["monetary_trend"])
        for j, days in enumerate(windows):
            out[("frequency", days)] = freq_w[:, j]
            out[("monetary_sum", days)] = sum_w[:, j]
            out[("monetary_mean", days)] = mean_w[:, j]
        return out

    def refunds_at(self, c: int, who: np.ndarray,
                   trend: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Refund count, amount (positive) and count in the last ``trend`` days of the
        customers ``who``, at day ``c``."""
        count, recent, total = (np.empty(who.size, np.int32), np.empty(who.size, np.int32),
                                np.empty(who.size))
        r = self.ref
        kernel.refunds(c, trend, who, r.start, r.end, r.day, r.extra["amount"], count, total,
                       recent)
        return count, total, recent


class _Interactions:
    """Interactions of a partition, with what the service features need."""

    def __init__(self, interactions: pa.Table, codes: np.ndarray, n: int,
                 spec: FeatureSpec) -> None:
        kind = interactions.column("kind")
        if not pa.types.is_integer(kind.type):  # names, else positions in the vocabulary
            kind = pc.index_in(kind, value_set=pa.array(spec.interaction_kinds))
        kind = _np(kind.fill_null(-1), np.int16)
        ts_us = _np(interactions.column("timestamp").cast(pa.timestamp("us"))
                    .cast(pa.int64()), np.int64)
        satisfaction = _float(interactions.column("satisfaction"))
        size = ts_us.size
        day = np.empty(size, np.int64)
        columns = {"kind": kind, "satisfaction": satisfaction,
                   "satisfaction_fixed": np.empty(size, np.int64),
                   "resolved_us": np.empty(size, np.int64),
                   "hours_fixed": np.empty(size, np.int64),
                   "hours_known": np.empty(size, np.bool_)}
        # A ticket counts as resolved only from the moment it was resolved: an outcome
        # recorded on the ticket row must not be seen at cutoffs before that moment.
        _check_fixed(kernel.interaction_inputs(
            ts_us, satisfaction, _float(interactions.column("resolved")),
            _float(interactions.column("resolution_hours")), day,
            columns["satisfaction_fixed"], columns["resolved_us"], columns["hours_fixed"],
            columns["hours_known"]))
        self.events = _Events(codes, day, n, columns, time=ts_us)
        self.kinds = spec.interaction_kinds
        self.resolution = np.array([spec.interaction_kinds.index(k)
                                    for k in spec.resolution_kinds], np.int64)

    def at(self, c: int, who: np.ndarray, windows: Sequence[int],
           trend: int) -> dict[str, np.ndarray]:
        """Interaction features of the customers ``who`` (codes) at cutoff day ``c``, keyed
        by ``name`` or ``(name, ...)``."""
        n, k, r = who.size, len(self.kinds), self.resolution.size
        kind_w = np.empty((n, k, len(windows)), np.int32)
        kind_last = np.empty((n, k))
        rate, hours, unresolved = np.empty((n, r)), np.empty((n, r)), np.empty((n, r), np.int32)
        sat_count, sat_mean, sat_last = np.empty(n, np.int32), np.empty(n), np.empty(n)
        e, x = self.events, self.events.extra
        kernel.interactions(
            c, np.asarray(windows, np.int64), trend, self.resolution, who,
            e.start, e.end, e.day, x["kind"], x["satisfaction"], x["satisfaction_fixed"],
            x["resolved_us"], x["hours_fixed"], x["hours_known"],
            kind_w, kind_last, rate, hours, unresolved, sat_count, sat_mean, sat_last)
        out: dict = {"satisfaction_count": sat_count, "satisfaction_mean": sat_mean,
                     "satisfaction_last": sat_last}
        for i, kind in enumerate(self.kinds):
            out[(kind, "days_since_last")] = kind_last[:, i]
            for j, days in enumerate(windows):
                out[(kind, days)] = kind_w[:, i, j]
        for i, code in enumerate(self.resolution):
            kind = self.kinds[code]
            out[(kind, "resolved_rate")] = rate[:, i]
            out[(kind, "resolution_hours_mean")] = hours[:, i]
            out[(kind, "unresolved")] = unresolved[:, i]
        return out

    def first_day(self) -> np.ndarray:
        return self.events.first_day()


def _cutoff_days(cutoffs: Sequence[dt.date]) -> list[int]:
    return [(c - _EPOCH).days for c in sorted(set(cutoffs))]


_EPOCH = dt.date(1970, 1, 1)


def rfm_values(transactions: pa.Table, customer_index: pa.Table,
               cutoffs: Sequence[dt.date]) -> pd.DataFrame:
    """Recency, frequency and monetary value of every buyer of a partition at each cutoff.

    The cheap first pass of a feature build: the quintile edges of the RFM
    scores are computed from these values over all partitions (:func:`rfm_edges`).

    Returns
    -------
    pandas.DataFrame
        Columns ``cutoff`` (date), ``recency_days``, ``frequency``,
        ``monetary_mean``; one row per buyer and cutoff.
    """
    frames = [f for _, f in iter_rfm_values(transactions, customer_index, cutoffs)]
    if not frames:
        return pd.DataFrame(columns=list(RFM_VALUE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


RFM_VALUE_COLUMNS = ("cutoff", "recency_days", "frequency", "monetary_mean")


def iter_rfm_values(transactions: pa.Table, customer_index: pa.Table,
                    cutoffs: Sequence[dt.date]) -> Iterator[tuple[dt.date, pd.DataFrame]]:
    """:func:`rfm_values` one cutoff at a time, in ascending order: (cutoff, values)."""
    customers = _Customers(customer_index)
    purchases = _Purchases(transactions, customers.codes(transactions), customers.n)
    everyone = np.arange(customers.n)
    for c in _cutoff_days(cutoffs):
        p = purchases.at(c, everyone, (), 1, rhythm=False)
        buyer = p["frequency"] > 0
        yield _EPOCH + dt.timedelta(days=c), pd.DataFrame({
            "cutoff": np.full(int(buyer.sum()), c, dtype="datetime64[D]"),
            "recency_days": p["recency_days"][buyer],
            "frequency": p["frequency"][buyer].astype(np.int64),
            "monetary_mean": p["monetary_mean"][buyer]})


def compute_features(
    transactions: pa.Table,
    interactions: pa.Table,
    customers: pa.Table,
    customer_index: pa.Table,
    cutoffs: Sequence[dt.date],
    spec: FeatureSpec,
    edges: pd.DataFrame | None = None,
) -> pa.Table:
    """Features of one partition of customers at every cutoff, as one table.

    See :func:`iter_features`, which yields the same rows one cutoff at a time.
    """
    batches = iter_features(transactions, interactions, customers, customer_index, cutoffs,
                            spec, edges)
    return pa.Table.from_batches(list(batches), schema=feature_table(spec).arrow_schema())


def iter_features(
    transactions: pa.Table,
    interactions: pa.Table,
    customers: pa.Table,
    customer_index: pa.Table,
    cutoffs: Sequence[dt.date],
    spec: FeatureSpec,
    edges: pd.DataFrame | None = None,
) -> Iterator[pa.RecordBatch]:
    """Features of one partition of customers, one record batch per cutoff.

    Memory holds the partition's prepared events and one cutoff's rows, whatever
    the number of cutoffs.

    Parameters
    ----------
    transactions
        Columns ``customer_key`` (int64), ``timestamp``, ``amount``,
        ``is_refund``. Any order; sorted by (customer_key, timestamp) avoids a sort.
    interactions
        Columns ``customer_key``, ``timestamp``, ``kind``, ``satisfaction``,
        ``resolved``, ``resolution_hours``. ``kind`` is the kind's name, or its
        position in ``spec.interaction_kinds`` as an integer (-1 or null outside it).
    customers
        Columns ``customer_key``, ``signup_date``, ``segment``,
        ``relationship_type``; at most one row per customer.
    customer_index
        Columns ``customer_key``, ``customer_id``: every customer of the partition.
    cutoffs
        Snapshot dates.
    spec
        Which windows and kinds.
    edges
        RFM quintile edges over all partitions (:func:`rfm_edges`); without
        them the score columns are null.

    Yields
    ------
    pyarrow.RecordBatch
        For each cutoff in ascending order, one row per customer seen before it
        (a purchase, an interaction, or a signup date) in customer_key order, with
        the columns of :func:`feature_table`. Cutoffs with no such customer yield
        nothing.
    """
    table = feature_table(spec)
    schema = table.arrow_schema()
    cust = _Customers(customer_index)
    n = cust.n
    if n == 0 or not cutoffs:
        return

    tx = _Purchases(transactions, cust.codes(transactions), n)
    ix = _Interactions(interactions, cust.codes(interactions), n, spec)

    signup = np.full(n, np.nan)
    segment = pa.nulls(n, pa.string())
    relationship = pa.nulls(n, pa.string())
    if customers.num_rows:
        at = cust.codes(customers)
        su = customers.column("signup_date").cast(pa.timestamp("us"))
        valid = _np(su.is_valid(), bool)
        signup[at[valid]] = _days(su.filter(pa.array(valid)))
        row_of = np.full(n, -1, dtype=np.int64)
        row_of[at] = np.arange(customers.num_rows)
        take = pa.array(row_of, mask=row_of < 0)
        segment = customers.column("segment").combine_chunks().cast(pa.string()).take(take)
        relationship = (customers.column("relationship_type").combine_chunks()
                        .cast(pa.string()).take(take))
    first_seen = np.fmin(np.fmin(tx.first_day, ix.first_day()), signup)

    T, windows = spec.trend_days, spec.windows_days
    edge_rows = _edge_lookup(edges)
    for c in _cutoff_days(cutoffs):
        # The customers seen before the cutoff, in customer order: the batch's rows.
        who = np.flatnonzero(first_seen < c)
        if not who.size:
            continue
        p = tx.at(c, who, windows, T)
        col: dict[str, np.ndarray] = {
            "cutoff_month": np.full(who.size, (_EPOCH + dt.timedelta(days=c)).month),
            "tenure_days": c - first_seen[who],
            "days_since_first_purchase": c - np.where(p["frequency"] > 0, tx.first_day[who],
                                                      np.nan),
        }
        for name in ("recency_days", "frequency", "monetary_sum", "monetary_mean"):
            col[name] = p[name]
        for w in windows:
            for name in ("frequency", "monetary_sum", "monetary_mean"):
                col[f"{name}_{w}d"] = p[(name, w)]
        for name in ("gap_mean_days", "gap_median_days", "gap_std_days", "last_gap_days",
                     "prior_gap_median_days"):
            col[name] = p[name]
        col["recency_gap_ratio"] = p["recency_days"] / (1.0 + p["gap_median_days"])
        col[f"frequency_trend_{T}d"] = p["frequency_trend"]
        col[f"monetary_trend_{T}d"] = p["monetary_trend"]
        col["refund_count"], col["refund_amount"], col[f"refund_count_{T}d"] = \
            tx.refunds_at(c, who, T)
        i = ix.at(c, who, windows, T)
        for k in spec.interaction_kinds:
            for w in windows:
                col[f"{k}_count_{w}d"] = i[(k, w)]
            col[f"{k}_days_since_last"] = i[(k, "days_since_last")]
        for k in spec.resolution_kinds:
            col[f"{k}_resolved_rate"] = i[(k, "resolved_rate")]
            col[f"{k}_resolution_hours_mean"] = i[(k, "resolution_hours_mean")]
            col[f"{k}_unresolved_{T}d"] = i[(k, "unresolved")]
        for name in ("satisfaction_count", "satisfaction_mean", "satisfaction_last"):
            col[name] = i[name]
        buyer = p["frequency"] > 0
        for score, (source, reverse) in RFM_SOURCES.items():
            col[score] = _scores(col[source], buyer, edge_rows.get((c, source)), reverse)

        rows = None if who.size == n else pa.array(who)
        batch = _batch(table, schema, col, rows, c, cust.ids, segment, relationship)
        del p, i, col  # one cutoff's arrays at a time
        yield batch


def _batch(table: Table, schema: pa.Schema, col: dict[str, np.ndarray], rows: pa.Array | None,
           cutoff_day: int, ids: pa.Array, segment: pa.Array,
           relationship: pa.Array) -> pa.RecordBatch:
    """The rows of one cutoff: ``col`` holds them already; ``rows`` picks the same
    customers from the partition-wide ``ids``, ``segment`` and ``relationship``."""
    def take(values: pa.Array) -> pa.Array:
        return values if rows is None else values.take(rows)

    size = len(col["frequency"])
    arrays: list[pa.Array] = []
    for column in table.columns:
        name = column.name
        if name == "customer_id":
            arrays.append(take(ids))
        elif name == "cutoff":
            arrays.append(pa.array(np.full(size, cutoff_day, np.int32)).cast(pa.date32()))
        elif name == "segment":
            arrays.append(take(segment))
        elif name == "relationship_type":
            arrays.append(take(relationship))
        elif column.dtype == "int32":
            values = col[name]
            if name in RFM_SCORE_COLUMNS:
                arrays.append(pa.array(values, pa.int32(), mask=values == 0))
            else:
                arrays.append(pa.array(values.astype(np.int32, copy=False)))
        else:
            arrays.append(pa.array(col[name].astype(np.float64, copy=False), from_pandas=True))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


# --------------------------------------------------------------------------
# RFM scores: quintiles across all customers at a cutoff
# --------------------------------------------------------------------------

RFM_SOURCES = {
    "rfm_recency_score": ("recency_days", True),   # lower recency is better
    "rfm_frequency_score": ("frequency", False),
    "rfm_monetary_score": ("monetary_mean", False),
}


def rfm_edges(values: pd.DataFrame) -> pd.DataFrame:
    """Quintile edges of recency, frequency and monetary value per cutoff.

    Parameters
    ----------
    values
        Columns ``cutoff``, ``recency_days``, ``frequency``, ``monetary_mean``:
        one row per buyer and cutoff, over all partitions (see :func:`rfm_values`).

    Returns
    -------
    pandas.DataFrame
        Columns ``cutoff`` (datetime64), ``source``, ``q20``, ``q40``, ``q60``,
        ``q80``: one row per cutoff and source column (linear interpolation).
    """
    rows = []
    for cutoff, group in values.groupby("cutoff", sort=True):
        for source, _ in RFM_SOURCES.values():
            q = np.quantile(group[source].to_numpy(dtype=np.float64), [0.2, 0.4, 0.6, 0.8])
            rows.append({"cutoff": pd.Timestamp(cutoff), "source": source,
                         "q20": q[0], "q40": q[1], "q60": q[2], "q80": q[3]})
    return pd.DataFrame(rows, columns=["cutoff", "source", "q20", "q40", "q60", "q80"])


def _edge_lookup(edges: pd.DataFrame | None) -> dict[tuple[int, str], np.ndarray]:
    if edges is None or edges.empty:
        return {}
    days = (pd.to_datetime(edges["cutoff"]).to_numpy().astype("datetime64[D]")
            .astype(np.int64))
    q = edges[["q20", "q40", "q60", "q80"]].to_numpy(dtype=np.float64)
    return {(int(d), s): q[i] for i, (d, s) in enumerate(zip(days, edges["source"], strict=True))}


def _scores(values: np.ndarray, buyer: np.ndarray, edges: np.ndarray | None,
            reverse: bool) -> np.ndarray:
    """1 + the number of edges strictly below the value (5 - that for ``reverse``); 0 = null."""
    out = np.zeros(values.size, dtype=np.int32)
    if edges is None:
        return out
    s = 1 + np.searchsorted(edges, values[buyer], side="left")
    out[buyer] = 6 - s if reverse else s
    return out
