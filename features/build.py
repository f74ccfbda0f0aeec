"""Point-in-time customer features: the per-partition computation.

The feature table is declared in :mod:`features.spec`
(:func:`~features.spec.feature_table`). :func:`compute_features` computes it for one
partition of customers at many cutoffs at once; the engines in :mod:`features.engines`
only decide which partition of the clean tables goes in and where the rows go. The RFM
scores are quintiles across all partitions (:mod:`features.rfm_scores`), from the
values of the first pass :func:`rfm_values`.

One piece: the preparation of a partition's events (:class:`_Customers`,
:class:`_Events`, :class:`_Purchases`, :class:`_Interactions`) and the per-cutoff
computation over them. The prepared arrays (dense customer codes, each customer's run
of events, the fixed-point encoding) are the layout that the compiled loops and
:func:`iter_features` read; they change together.

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
events whose day (their calendar day in UTC) is strictly before ``c``. Durations
are whole days between the event's day and the cutoff; a window of ``N`` days is
the days ``[c - N, c)``. :data:`features.spec.DEFINITIONS` states these rules,
and the others the columns share, for the data dictionary.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from features import kernel
from features.rfm_scores import RFM_SOURCES, _edge_lookup, _scores
from features.schema import Table
from features.spec import RFM_SCORE_COLUMNS, FeatureSpec, feature_table

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
    scores are computed from these values over all partitions
    (:func:`~features.rfm_scores.rfm_edges`).

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
        RFM quintile edges over all partitions
        (:func:`~features.rfm_scores.rfm_edges`); without them the score columns are null.

    Yields
    ------
    pyarrow.RecordBatch
        For each cutoff in ascending order, one row per customer seen before it
        (a purchase, an interaction, or a signup date) in customer_key order, with
        the columns of :func:`~features.spec.feature_table`. Cutoffs with no such customer yield
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
