"""A partition's events prepared for the compiled loops (:mod:`features.kernel`).

Sorted by (customer, day), with amounts, hours and scores turned into exact int64
millionths and each customer's run of events located: :class:`Customers` (dense
customer codes), :class:`Purchases` and :class:`Interactions` (the events of each
kind), built once per partition and read by :func:`features.build.iter_features` at
every cutoff.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features import kernel
from features.spec import FeatureSpec


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


class Customers:
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


class Events:
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


class Purchases:
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
        self.buy = Events(buy[0], buy[1], n, {"amount": buy[2]})
        self.ref = Events(ref[0], ref[1], n, {"amount": ref[2]})
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


class Interactions:
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
        self.events = Events(codes, day, n, columns, time=ts_us)
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


def cutoff_days(cutoffs: Sequence[dt.date]) -> list[int]:
    return [(c - EPOCH).days for c in sorted(set(cutoffs))]


EPOCH = dt.date(1970, 1, 1)
