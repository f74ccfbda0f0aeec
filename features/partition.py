"""A partition's events prepared for the compiled walks, and the walks' state.

Sorted by (customer, day), with amounts, hours and scores turned into exact int64
millionths and each customer's run of events located: :class:`Customers` (dense
customer codes), :class:`Purchases` and :class:`Interactions` (the events of each
kind), built once per partition. Their walks (:meth:`Purchases.walk`,
:meth:`Interactions.walk`) carry each customer's running state from one cutoff
to the next, so that :func:`features.build.iter_features` computes every cutoff
of a partition in one pass over its events (:mod:`features.kernel_purchases`,
:mod:`features.kernel_interactions`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from features import kernel, kernel_interactions, kernel_purchases
from features.spec import FeatureSpec


def _np(col: pa.ChunkedArray | pa.Array, dtype: type | str) -> np.ndarray:
    """A column as a read-only NumPy array: see :func:`_read_only`."""
    return _read_only(np.asarray(col.to_numpy(zero_copy_only=False), dtype=dtype))


def _read_only(values: np.ndarray) -> np.ndarray:
    """``values``, marked read-only. numba compiles a version of a function for each
    combination of writable and read-only arguments; a column is read-only when
    Arrow hands it over without a copy, which depends on its nulls. Every input of
    the kernel is marked read-only so that each function has one version, the one
    :func:`warm_up` loads."""
    values.flags.writeable = False
    return values


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
            return np.zeros(0, np.int64)
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
        self.day = _read_only(day)
        self.extra = {name: _read_only(values) for name, values in extra.items()}
        self.end = np.cumsum(counts)
        self.start = self.end - counts

    def first_day(self) -> np.ndarray:
        """Per customer, the day of its first event (NaN if none)."""
        out = np.full(self.start.shape, np.nan)
        has = self.end > self.start
        out[has] = self.day[self.start[has]]
        return out

    def customer_of(self, positions: np.ndarray) -> np.ndarray:
        """The customer code of the events at ``positions``."""
        return np.searchsorted(self.end, positions, side="right")


class _Walk:
    """The cutoffs of one walk: they may repeat, never go back."""

    def __init__(self) -> None:
        self._last: int | None = None

    def _step(self, c: int) -> None:
        if self._last is not None and c < self._last:
            raise ValueError(f"cutoff day {c} comes after day {self._last}: a walk goes "
                             "through ascending cutoffs; start another walk")
        self._last = c


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

    def walk(self, windows: Sequence[int], trend: int, rhythm: bool = True) -> PurchaseWalk:
        """A walk through ascending cutoffs: windows of ``windows`` days, trend
        periods of ``trend`` days, and the gap features unless not ``rhythm``."""
        return PurchaseWalk(self, windows, trend, rhythm)


def _pointers(start: np.ndarray) -> np.ndarray:
    """A walk's two pointers per customer, at the start of its run."""
    return np.ascontiguousarray(np.repeat(start[:, None], 2, axis=1))


class PurchaseWalk(_Walk):
    """Purchase and refund features of a partition at ascending cutoffs
    (:mod:`features.kernel_purchases`)."""

    def __init__(self, purchases: Purchases, windows: Sequence[int], trend: int,
                 rhythm: bool) -> None:
        super().__init__()
        b, r = purchases.buy, purchases.ref
        n = b.start.size
        self.buy, self.ref, self.rhythm, self.trend = b, r, rhythm, trend
        self.windows = np.array(windows, np.int64)
        self.ptr, self.acc = _pointers(b.start), np.zeros(n, np.int64)
        self.gaps = np.empty(b.day.size if rhythm else 0)
        self.gap_sq, self.gap_last = np.zeros(n, np.int64), np.zeros(n, np.int64)
        self.ref_ptr, self.ref_acc = _pointers(r.start), np.zeros(n, np.int64)

    def at(self, c: int, who: np.ndarray) -> dict[str, np.ndarray]:
        """Purchase features of the customers ``who`` (codes) at cutoff day ``c``, keyed
        by ``name`` or ``(name, window)``; without ``rhythm``, the gap features are
        left unset."""
        self._step(c)
        n, w = who.size, len(self.windows)
        out = {name: np.empty(n, np.int32) for name in ("frequency", "frequency_trend")}
        out |= {name: np.empty(n) for name in (
            "recency_days", "monetary_sum", "monetary_mean", "gap_mean_days", "gap_median_days",
            "gap_std_days", "last_gap_days", "prior_gap_median_days", "monetary_trend")}
        freq_w, sum_w, mean_w = np.empty((w, n), np.int32), np.empty((w, n)), np.empty((w, n))
        b = self.buy
        kernel_purchases.purchases(
            c, self.windows, self.trend, self.rhythm, who, b.start, b.end, b.day, b.extra["amount"],
            self.ptr, self.acc, self.gaps, self.gap_sq, self.gap_last,
            out["frequency"], freq_w, out["frequency_trend"], out["recency_days"],
            out["monetary_sum"], out["monetary_mean"], sum_w, mean_w, out["gap_mean_days"],
            out["gap_median_days"], out["gap_std_days"], out["last_gap_days"],
            out["prior_gap_median_days"], out["monetary_trend"])
        for j, days in enumerate(self.windows.tolist()):
            out[("frequency", days)] = freq_w[j]
            out[("monetary_sum", days)] = sum_w[j]
            out[("monetary_mean", days)] = mean_w[j]
        return out

    def refunds_at(self, c: int, who: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Refund count, amount (positive) and count in the trend period of the
        customers ``who``, at day ``c``."""
        self._step(c)
        count, recent, total = (np.empty(who.size, np.int32), np.empty(who.size, np.int32),
                                np.empty(who.size))
        r = self.ref
        kernel_purchases.refunds(c, self.trend, who, r.start, r.end, r.day,
                                 r.extra["amount"], self.ref_ptr, self.ref_acc, count, total,
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
                   "closed_day": np.empty(size, np.int64),
                   "hours_fixed": np.empty(size, np.int64),
                   "hours_known": np.empty(size, np.bool_)}
        # A ticket counts as resolved only from the moment it was resolved: an outcome
        # recorded on the ticket row must not be seen at cutoffs before that moment.
        _check_fixed(kernel.interaction_inputs(
            ts_us, satisfaction, _float(interactions.column("resolved")),
            _float(interactions.column("resolution_hours")), day,
            columns["satisfaction_fixed"], columns["closed_day"], columns["hours_fixed"],
            columns["hours_known"]))
        self.events = e = Events(codes, day, n, columns, time=ts_us)
        self.kinds = spec.interaction_kinds
        self.resolution = np.array([spec.interaction_kinds.index(k)
                                    for k in spec.resolution_kinds], np.int64)
        # The resolved interactions of the tracked kinds, per customer in the order
        # they come to count as resolved.
        x = e.extra
        tracked = np.flatnonzero(np.isin(x["kind"], self.resolution)
                                 & (x["closed_day"] != kernel.NEVER))
        owner = e.customer_of(tracked)
        self.res_order = tracked[np.lexsort((x["closed_day"][tracked], owner))]
        counts = np.bincount(owner, minlength=n)
        self.res_end = np.cumsum(counts)
        self.res_start = self.res_end - counts

    def walk(self, windows: Sequence[int], trend: int) -> InteractionWalk:
        """A walk through ascending cutoffs: windows of ``windows`` days, a trend
        period of ``trend`` days."""
        return InteractionWalk(self, windows, trend)

    def first_day(self) -> np.ndarray:
        return self.events.first_day()


class InteractionWalk(_Walk):
    """Interaction features of a partition at ascending cutoffs
    (:mod:`features.kernel_interactions`)."""

    def __init__(self, interactions: Interactions, windows: Sequence[int], trend: int) -> None:
        super().__init__()
        self.source, self.trend = interactions, trend
        self.windows = np.array(windows, np.int64)
        e = interactions.events
        n, k, r = e.start.size, len(interactions.kinds), interactions.resolution.size
        self.ptr = _pointers(e.start)
        self.last_day = np.full((n, k), kernel_interactions.UNSEEN, np.int32)
        self.res_ptr = interactions.res_start.copy()
        self.opened, self.closed, self.hours_n = (np.zeros((n, r), np.int32) for _ in range(3))
        self.hours_s = np.zeros((n, r), np.int64)
        self.sat_n, self.sat_s = np.zeros(n, np.int32), np.zeros(n, np.int64)
        self.sat_last = np.full(n, np.nan)

    def at(self, c: int, who: np.ndarray) -> dict[str, np.ndarray]:
        """Interaction features of the customers ``who`` (codes) at cutoff day ``c``, keyed
        by ``name`` or ``(name, ...)``."""
        self._step(c)
        ix = self.source
        n, k, r = who.size, len(ix.kinds), ix.resolution.size
        kind_w = np.empty((k, self.windows.size, n), np.int32)
        kind_last = np.empty((k, n))
        rate, hours, unresolved = np.empty((r, n)), np.empty((r, n)), np.empty((r, n), np.int32)
        sat_count, sat_mean, sat_last = np.empty(n, np.int32), np.empty(n), np.empty(n)
        e, x = ix.events, ix.events.extra
        kernel_interactions.interactions(
            c, self.windows, self.trend, ix.resolution, who, e.start, e.end, e.day,
            x["kind"], x["satisfaction"], x["satisfaction_fixed"], x["closed_day"],
            x["hours_fixed"], x["hours_known"], ix.res_order, ix.res_end,
            self.ptr, self.last_day, self.res_ptr, self.opened, self.closed, self.hours_n,
            self.hours_s, self.sat_n, self.sat_s, self.sat_last,
            kind_w, kind_last, rate, hours, unresolved, sat_count, sat_mean, sat_last)
        out: dict = {"satisfaction_count": sat_count, "satisfaction_mean": sat_mean,
                     "satisfaction_last": sat_last}
        for i, kind in enumerate(ix.kinds):
            out[(kind, "days_since_last")] = kind_last[i]
            for j, days in enumerate(self.windows.tolist()):
                out[(kind, days)] = kind_w[i, j]
        for i, code in enumerate(ix.resolution):
            kind = ix.kinds[code]
            out[(kind, "resolved_rate")] = rate[i]
            out[(kind, "resolution_hours_mean")] = hours[i]
            out[(kind, "unresolved")] = unresolved[i]
        return out


def cutoff_days(cutoffs: Sequence[dt.date]) -> list[int]:
    return [(c - EPOCH).days for c in sorted(set(cutoffs))]


EPOCH = dt.date(1970, 1, 1)
