"""Point-in-time customer features: declarations and the per-partition kernel.

Every feature is declared once in :func:`feature_table` (name, dtype, family,
meaning). :func:`compute_features` computes them for one partition of
customers at many cutoffs at once; the engines in :mod:`features.engines` only
decide which partition of the clean tables goes in and where the rows go.

How many cutoffs cost little more than one
------------------------------------------
Events are sorted once by (customer, day). For each event table the kernel
keeps running sums (amounts, counts per interaction kind, resolved tickets,
...). The state of a customer at a day ``b`` is then the running sum at the
position of its last event before ``b``, found by a binary search on the
composite key ``customer * 2**20 + day``. A windowed aggregate over
``[c - w, c)`` is the difference of two such look-ups, and the median of the
inter-purchase gaps before ``c`` is an order statistic found with one more
pass over the gaps pre-sorted by value. Per cutoff the work is one binary
search per customer and window, plus one linear pass for the median: the
events are never re-aggregated per cutoff.

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

from features.schema import Column, Table

_DAY_BITS = 20  # days since 1970 fit in 20 bits until the year 4840
_DAY_US = 86_400_000_000

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
    return np.floor_divide(_np(ts.cast(pa.timestamp("us")).cast(pa.int64()), np.int64), _DAY_US)


def _float(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric or boolean column as float64, nulls as NaN."""
    if pa.types.is_boolean(col.type):
        col = col.cast(pa.int8())
    return _np(col.cast(pa.float64()), np.float64)


def _cumsum(values: np.ndarray) -> np.ndarray:
    """Running sum with a leading zero: ``out[j] = values[:j].sum()``."""
    out = np.zeros(values.size + 1, dtype=np.float64)
    np.cumsum(values, out=out[1:])
    return out


_FIXED = 1_000_000  # amounts, hours and scores are summed in millionths, exactly


def _cumsum_fixed(values: np.ndarray) -> np.ndarray:
    """Running sum (leading zero) of ``values`` in exact millionths, as int64.

    Window sums are differences of running sums over the whole partition; in
    floating point they would carry rounding from other customers' events and
    so depend on how customers are partitioned. In integers they are exact.
    """
    scaled = np.rint(values * _FIXED)
    if scaled.size and np.abs(scaled).sum() >= 2.0**62:
        raise ValueError("amounts too large to sum exactly: split the data into more "
                         "partitions per chunk")
    out = np.zeros(values.size + 1, dtype=np.int64)
    np.cumsum(scaled.astype(np.int64), out=out[1:])
    return out


def _diff(cum: np.ndarray, end: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Sum between two positions of a running sum, as float64."""
    d = cum[end] - cum[start]
    return d / _FIXED if cum.dtype == np.int64 else d


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den != 0)
    return out


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
    """One event table of a partition, sorted by (customer, day), with look-ups by day."""

    def __init__(self, code: np.ndarray, day: np.ndarray, n_customers: int,
                 extra: dict[str, np.ndarray] | None = None,
                 time: np.ndarray | None = None) -> None:
        extra = extra or {}
        key = (code.astype(np.int64) << _DAY_BITS) + day
        if key.size:
            # Sorted by (customer, day) and, where ``time`` is given, by time within a
            # day: "the last value before the cutoff" needs the order within a day.
            step = key[1:] > key[:-1]
            ties = key[1:] == key[:-1]
            if time is not None:
                ties &= time[1:] >= time[:-1]
            if not np.all(step | ties):
                order = (np.lexsort((time, key)) if time is not None
                         else np.argsort(key, kind="stable"))
                key, code, day = key[order], code[order], day[order]
                extra = {name: values[order] for name, values in extra.items()}
        self.key, self.code, self.day, self.extra = key, code, day, extra
        counts = np.bincount(code, minlength=n_customers)
        self.end = np.cumsum(counts)
        self.start = self.end - counts

    def before(self, days: Sequence[int]) -> dict[int, np.ndarray]:
        """Per boundary day ``b`` and customer, the position just after its last event
        on a day before ``b`` (its ``start`` if none).

        One pass over the events for all boundaries: each event falls between two
        consecutive boundaries; counting events per (customer, interval) and summing
        along the intervals gives every position at once.
        """
        bounds = np.unique(np.asarray(days, dtype=np.int64))
        if self.day.size == 0:
            return {int(b): self.start for b in bounds}
        width = bounds.size + 1
        interval = np.searchsorted(bounds, self.day, side="right")
        counts = np.bincount(self.code * width + interval, minlength=self.start.size * width)
        below = np.cumsum(counts.reshape(self.start.size, width), axis=1)
        return {int(b): self.start + below[:, j] for j, b in enumerate(bounds)}

    def first_day(self) -> np.ndarray:
        """Per customer, the day of its first event (NaN if none)."""
        out = np.full(self.start.shape, np.nan)
        has = self.end > self.start
        out[has] = self.day[self.start[has]]
        return out

    def at_last(self, values: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Per customer, ``values`` at its last event before ``pos`` (NaN if none)."""
        has = pos > self.start
        out = np.full(pos.shape, np.nan)
        out[has] = values[pos[has] - 1]
        return out

    def carry_forward(self, values: np.ndarray) -> np.ndarray:
        """Per event, the last non-NaN value of ``values`` so far for the same customer."""
        idx = np.where(np.isnan(values), -1, np.arange(values.size))
        if idx.size:
            np.maximum.accumulate(idx, out=idx)
        out = np.full(values.size, np.nan)
        ok = idx >= 0
        ok[ok] = self.code[idx[ok]] == self.code[ok]
        out[ok] = values[idx[ok]]
        return out


class _Gaps:
    """Inter-purchase gaps, sorted by value within each customer, for prefix medians."""

    def __init__(self, purchases: _Events, n_customers: int) -> None:
        day, code, start = purchases.day, purchases.code, purchases.start
        rank = np.arange(day.size) - start[code]  # position among the customer's purchases
        gap = np.zeros(day.size)
        gap[1:] = day[1:] - day[:-1]
        gap[rank == 0] = 0.0
        self.gap = gap  # per purchase, days since the customer's previous one (0 for the first)
        self.cum, self.cum_sq = _cumsum(gap), _cumsum(gap * gap)
        is_gap = rank > 0
        g_code, g_rank, g_val = code[is_gap], rank[is_gap], gap[is_gap].astype(np.int64)
        if n_customers < 1 << 21 and (g_rank.max(initial=0) < 1 << 21):
            # Sort (customer, gap, rank) packed in one int64: a plain sort of integers
            # is several times faster than an argsort or lexsort.
            packed = np.sort((g_code.astype(np.int64) << 42) | (g_val << 21) | g_rank)
            g_code, g_val, g_rank = packed >> 42, (packed >> 21) & 0x1FFFFF, packed & 0x1FFFFF
        else:
            order = np.lexsort((g_val, g_code))
            g_code, g_val, g_rank = g_code[order], g_val[order], g_rank[order]
        self.code, self.rank, self.value = g_code, g_rank, g_val.astype(np.float64)
        counts = np.bincount(self.code, minlength=n_customers)
        self.before_segment = np.cumsum(counts) - counts

    def median(self, n_gaps: np.ndarray) -> np.ndarray:
        """Per customer, the median of its first ``n_gaps`` gaps (NaN where none)."""
        out = np.full(n_gaps.shape, np.nan)
        has = n_gaps > 0
        if not has.any():
            return out
        # The gap of rank r ends the customer's (r+1)-th purchase: seen iff r <= n_gaps.
        seen_cum = np.cumsum(self.rank <= n_gaps[self.code])
        base = np.zeros(n_gaps.size, dtype=np.int64)
        inside = self.before_segment > 0
        base[inside] = seen_cum[self.before_segment[inside] - 1]
        m = n_gaps[has]
        lo = np.searchsorted(seen_cum, base[has] + (m + 1) // 2, side="left")
        hi = np.searchsorted(seen_cum, base[has] + m // 2 + 1, side="left")
        hi = np.where(m % 2 == 1, lo, hi)
        out[has] = (self.value[lo] + self.value[hi]) / 2.0
        return out


class _Purchases:
    """Purchases and refunds of a partition."""

    def __init__(self, transactions: pa.Table, codes: np.ndarray, n: int) -> None:
        refund = _np(transactions.column("is_refund"), bool)
        day = _days(transactions.column("timestamp"))
        amount = _float(transactions.column("amount"))
        self.buy = _Events(codes[~refund], day[~refund], n, {"amount": amount[~refund]})
        self.ref = _Events(codes[refund], day[refund], n, {"amount": -amount[refund]})
        self.buy_amt = _cumsum_fixed(self.buy.extra["amount"])
        self.ref_amt = _cumsum_fixed(self.ref.extra["amount"])
        self.first_day = self.buy.first_day()

    def rfm(self, c: int, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Recency (days), frequency and mean purchase amount at cutoff day ``c``,
        given the purchase positions at ``c`` (see :meth:`_Events.before`)."""
        b = self.buy
        n_buy = pos - b.start
        recency = c - b.at_last(b.day.astype(np.float64), pos)
        mean = _safe_div(_diff(self.buy_amt, pos, b.start), n_buy)
        return recency, n_buy, mean


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
    customers = _Customers(customer_index)
    purchases = _Purchases(transactions, customers.codes(transactions), customers.n)
    frames = []
    for c in _cutoff_days(cutoffs):
        recency, freq, mean = purchases.rfm(c, purchases.buy.before([c])[c])
        buyer = freq > 0
        frames.append(pd.DataFrame({
            "cutoff": np.full(int(buyer.sum()), c, dtype="datetime64[D]"),
            "recency_days": recency[buyer], "frequency": freq[buyer],
            "monetary_mean": mean[buyer]}))
    if not frames:
        return pd.DataFrame(columns=["cutoff", "recency_days", "frequency", "monetary_mean"])
    return pd.concat(frames, ignore_index=True)


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

    Memory holds the partition's running sums and one cutoff's rows, whatever
    the number of cutoffs.

    Parameters
    ----------
    transactions
        Columns ``customer_key`` (int64), ``timestamp``, ``amount``,
        ``is_refund``. Any order; sorted by (customer_key, timestamp) avoids a sort.
    interactions
        Columns ``customer_key``, ``timestamp``, ``kind``, ``satisfaction``,
        ``resolved``, ``resolution_hours``.
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
    buy, ref = tx.buy, tx.ref
    gaps = _Gaps(buy, n)

    kind = _np(pc.index_in(interactions.column("kind"),
                           value_set=pa.array(spec.interaction_kinds)).fill_null(-1), np.int16)
    ix_us = _np(interactions.column("timestamp").cast(pa.timestamp("us")).cast(pa.int64()),
                np.int64)
    ix = _Events(cust.codes(interactions), np.floor_divide(ix_us, _DAY_US), n, {
        "kind": kind,
        "satisfaction": _float(interactions.column("satisfaction")),
        "resolved": _float(interactions.column("resolved")),
        "hours": _float(interactions.column("resolution_hours")),
        "ts_us": ix_us,
    }, time=ix_us)
    kind = ix.extra["kind"]
    kind_cum, kind_last = {}, {}
    for i, k in enumerate(spec.interaction_kinds):
        is_k = kind == i
        kind_cum[k] = _cumsum(is_k)
        kind_last[k] = ix.carry_forward(np.where(is_k, ix.day, np.nan))
    sat = ix.extra["satisfaction"]
    sat_ok = ~np.isnan(sat)
    sat_sum, sat_n = _cumsum_fixed(np.where(sat_ok, sat, 0.0)), _cumsum(sat_ok)
    sat_last = ix.carry_forward(sat)
    # A ticket counts as resolved only from the moment it was resolved: an outcome
    # recorded on the ticket row must not be seen at cutoffs before that moment.
    resolved, hours = ix.extra["resolved"], ix.extra["hours"]
    resolved_at = ix.extra["ts_us"] + np.nan_to_num(hours, nan=0.0) * 3_600_000_000
    res_day = np.where(resolved == 1, np.floor_divide(resolved_at, _DAY_US), np.inf)
    service = {}
    for k in spec.resolution_kinds:
        is_k = kind == spec.interaction_kinds.index(k)
        done = is_k & (resolved == 1)
        known_hours = done & ~np.isnan(hours)
        res = _Events(ix.code[done], res_day[done].astype(np.int64), n,
                      {"hours": np.where(known_hours, hours, 0.0)[done],
                       "known": known_hours[done]})
        service[k] = {"is_k": is_k, "events": res,
                      "hours": _cumsum_fixed(res.extra["hours"]),
                      "hours_n": _cumsum(res.extra["known"])}

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

    T = spec.trend_days
    edge_rows = _edge_lookup(edges)
    for c in _cutoff_days(cutoffs):
        live = first_seen < c
        if not live.any():
            continue
        col: dict[str, np.ndarray] = {}
        pos = buy.before([c - w for w in {0, *spec.windows_days, T, 2 * T}])
        pos = {c - day: p for day, p in pos.items()}  # by window length, 0 = the cutoff
        p_c = pos[0]
        recency, n_buy, mean = tx.rfm(c, p_c)
        spent = _diff(tx.buy_amt, p_c, buy.start)
        col["cutoff_month"] = np.full(n, (_EPOCH + dt.timedelta(days=c)).month)
        col["tenure_days"] = c - first_seen
        col["days_since_first_purchase"] = c - np.where(n_buy > 0, tx.first_day, np.nan)
        col["recency_days"] = recency
        col["frequency"] = n_buy
        col["monetary_sum"] = spent
        col["monetary_mean"] = mean
        for w in spec.windows_days:
            n_w = p_c - pos[w]
            s_w = _diff(tx.buy_amt, p_c, pos[w])
            col[f"frequency_{w}d"] = n_w
            col[f"monetary_sum_{w}d"] = s_w
            col[f"monetary_mean_{w}d"] = _safe_div(s_w, n_w)
        n_gaps = np.maximum(n_buy - 1, 0)
        g_mean = _safe_div(gaps.cum[p_c] - gaps.cum[buy.start], n_gaps)
        g_sq = gaps.cum_sq[p_c] - gaps.cum_sq[buy.start]
        var = _safe_div(g_sq - n_gaps * g_mean**2, n_gaps - 1)
        median = gaps.median(n_gaps)
        col["gap_mean_days"] = g_mean
        col["gap_median_days"] = median
        col["gap_std_days"] = np.where(n_gaps >= 2, np.sqrt(np.maximum(var, 0.0)), np.nan)
        col["last_gap_days"] = buy.at_last(gaps.gap, p_c)
        col["last_gap_days"][n_gaps == 0] = np.nan
        col["prior_gap_median_days"] = gaps.median(np.maximum(n_gaps - 1, 0))
        col["recency_gap_ratio"] = recency / (1.0 + median)
        s_last = _diff(tx.buy_amt, p_c, pos[T])
        s_prev = _diff(tx.buy_amt, pos[T], pos[2 * T])
        col[f"frequency_trend_{T}d"] = (p_c - pos[T]) - (pos[T] - pos[2 * T])
        col[f"monetary_trend_{T}d"] = _safe_div(s_last - s_prev, s_prev)

        r = ref.before([c, c - T])
        r_c = r[c]
        col["refund_count"] = r_c - ref.start
        col["refund_amount"] = _diff(tx.ref_amt, r_c, ref.start)
        col[f"refund_count_{T}d"] = r_c - r[c - T]

        i_w = {c - day: p for day, p in
               ix.before([c - w for w in {0, *spec.windows_days, T}]).items()}
        i_c = i_w[0]
        for k in spec.interaction_kinds:
            for w in spec.windows_days:
                col[f"{k}_count_{w}d"] = kind_cum[k][i_c] - kind_cum[k][i_w[w]]
            col[f"{k}_days_since_last"] = c - ix.at_last(kind_last[k], i_c)
        for k, s in service.items():
            res = s["events"]
            r_c = res.before([c])[c]
            opened = kind_cum[k][i_c] - kind_cum[k][ix.start]
            col[f"{k}_resolved_rate"] = _safe_div(r_c - res.start, opened)
            col[f"{k}_resolution_hours_mean"] = _safe_div(
                _diff(s["hours"], r_c, res.start), s["hours_n"][r_c] - s["hours_n"][res.start])
            still_open = _cumsum(s["is_k"] & (res_day >= c))
            col[f"{k}_unresolved_{T}d"] = still_open[i_c] - still_open[i_w[T]]
        n_sat = sat_n[i_c] - sat_n[ix.start]
        col["satisfaction_count"] = n_sat
        col["satisfaction_mean"] = _safe_div(_diff(sat_sum, i_c, ix.start), n_sat)
        col["satisfaction_last"] = ix.at_last(sat_last, i_c)
        for score, (source, reverse) in RFM_SOURCES.items():
            col[score] = _scores(col[source], n_buy > 0, edge_rows.get((c, source)), reverse)

        rows = None if live.all() else np.flatnonzero(live)
        yield _batch(table, schema, col, rows, c, cust.ids, segment, relationship)


def _batch(table: Table, schema: pa.Schema, col: dict[str, np.ndarray], rows: np.ndarray | None,
           cutoff_day: int, ids: pa.Array, segment: pa.Array,
           relationship: pa.Array) -> pa.RecordBatch:
    take = (lambda a: a) if rows is None else (lambda a: a[rows])
    take_pa = (lambda a: a) if rows is None else (lambda a: a.take(pa.array(rows)))
    size = len(ids) if rows is None else rows.size
    arrays: list[pa.Array] = []
    for column in table.columns:
        name = column.name
        if name == "customer_id":
            arrays.append(take_pa(ids))
        elif name == "cutoff":
            arrays.append(pa.array(np.full(size, cutoff_day, np.int32)).cast(pa.date32()))
        elif name == "segment":
            arrays.append(take_pa(segment))
        elif name == "relationship_type":
            arrays.append(take_pa(relationship))
        elif column.dtype == "int32":
            values = take(col[name])
            if name in RFM_SCORE_COLUMNS:
                arrays.append(pa.array(values, pa.int32(), mask=values == 0))
            else:
                arrays.append(pa.array(values.astype(np.int32)))
        else:
            arrays.append(pa.array(take(col[name]).astype(np.float64, copy=False),
                                   from_pandas=True))
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
