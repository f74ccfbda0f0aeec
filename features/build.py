"""Point-in-time customer features: the per-partition computation.

The feature table is declared in :mod:`features.spec`
(:func:`~features.spec.feature_table`). :func:`compute_features` computes it for one
partition of customers at many cutoffs at once; the engines in :mod:`features.engines`
only decide which partition of the clean tables goes in and where the rows go. The RFM
scores are quintiles across all partitions (:mod:`features.rfm_scores`), from the
values of the first pass :func:`rfm_values`.

The preparation of a partition's events is :mod:`features.partition`.

How the work is shared between cutoffs
--------------------------------------
A partition's events are prepared once: sorted by (customer, day), amounts,
hours and scores turned into exact int64 millionths, each customer's run of
events located. Then one walk goes through the cutoffs in ascending order
(:mod:`features.partition`, compiled in :mod:`features.kernel_purchases` and
:mod:`features.kernel_interactions`): each customer's running state (counts,
sums and last values so far, where its reach of the windows starts, the
inter-purchase gaps kept sorted for their medians) is carried from one cutoff to
the next, so a customer's history is read once however many cutoffs there are;
only the events within reach of a window (a year by default) are counted again
at each cutoff. What a further cutoff costs is mostly its rows: assembling them
(the kernel's arrays become Arrow columns without a copy) and writing them.

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

from features import kernel
from features.partition import (
    EPOCH,
    Customers,
    Interactions,
    Purchases,
    _days,
    _np,
    cutoff_days,
)
from features.rfm_scores import RFM_SOURCES, _edge_lookup, _scores
from features.schema import Table
from features.spec import RFM_SCORE_COLUMNS, FeatureSpec, feature_table


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
    frames = [pd.DataFrame({"cutoff": np.full(values.num_rows, (c - EPOCH).days,
                                              dtype="datetime64[D]"),
                            **{name: values.column(name).to_numpy()
                               for name in RFM_VALUE_COLUMNS[1:]}})
              for c, values in iter_rfm_values(transactions, customer_index, cutoffs)]
    if not frames:
        return pd.DataFrame(columns=list(RFM_VALUE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


RFM_VALUE_COLUMNS = ("cutoff", "recency_days", "frequency", "monetary_mean")


def iter_rfm_values(transactions: pa.Table, customer_index: pa.Table,
                    cutoffs: Sequence[dt.date]) -> Iterator[tuple[dt.date, pa.Table]]:
    """:func:`rfm_values` one cutoff at a time, in ascending order: (cutoff, values),
    the values as an Arrow table without the ``cutoff`` column."""
    customers = Customers(customer_index)
    purchases = Purchases(transactions, customers.codes(transactions), customers.n)
    walk = purchases.walk((), 1, rhythm=False)
    everyone = np.arange(customers.n)
    for c in cutoff_days(cutoffs):
        p = walk.at(c, everyone)
        buyer = p["frequency"] > 0
        yield EPOCH + dt.timedelta(days=c), pa.table({
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

    One walk goes through the cutoffs (see "How the work is shared between cutoffs"
    above). Memory holds the partition's prepared events, the walks' state (a few
    dozen numbers per customer) and one cutoff's rows, whatever the number of
    cutoffs.

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
    cust = Customers(customer_index)
    n = cust.n
    if n == 0 or not cutoffs:
        return

    tx = Purchases(transactions, cust.codes(transactions), n)
    ix = Interactions(interactions, cust.codes(interactions), n, spec)

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
    tx_walk, ix_walk = tx.walk(windows, T), ix.walk(windows, T)
    for c in cutoff_days(cutoffs):
        # The customers seen before the cutoff, in customer order: the batch's rows.
        who = np.flatnonzero(first_seen < c)
        if not who.size:
            continue
        p = tx_walk.at(c, who)
        col: dict[str, np.ndarray] = {
            "cutoff_month": np.full(who.size, (EPOCH + dt.timedelta(days=c)).month),
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
            tx_walk.refunds_at(c, who)
        i = ix_walk.at(c, who)
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
            arrays.append(_arrow(pa.date32(), np.full(size, cutoff_day, np.int32)))
        elif name == "segment":
            arrays.append(take(segment))
        elif name == "relationship_type":
            arrays.append(take(relationship))
        elif column.dtype == "int32":
            values = col[name]
            if name in RFM_SCORE_COLUMNS:
                arrays.append(pa.array(values, pa.int32(), mask=values == 0))
            else:
                arrays.append(_arrow(pa.int32(), values.astype(np.int32, copy=False)))
        else:
            arrays.append(_float_arrow(col[name]))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _arrow(kind: pa.DataType, values: np.ndarray, validity: np.ndarray | None = None,
           nulls: int = 0) -> pa.Array:
    """An Arrow array over ``values`` (contiguous, of ``kind``'s width), without a copy."""
    values = np.ascontiguousarray(values)
    bits = pa.py_buffer(validity) if nulls else None
    return pa.Array.from_buffers(kind, values.size, [bits, pa.py_buffer(values)],
                                 null_count=nulls)


def _float_arrow(values: np.ndarray) -> pa.Array:
    """A float64 column whose NaN are nulls (as ``pa.array(values, from_pandas=True)``
    gives, at a fraction of its cost)."""
    values = np.ascontiguousarray(values, np.float64)
    validity = np.empty((values.size + 7) // 8, np.uint8)
    return _arrow(pa.float64(), values, validity, kernel.validity(values, validity))


def warm_up() -> None:
    """Load (or compile) every compiled function of a feature build, with the types
    the build gives them: the first call of each pays it (see :mod:`features.kernel`)."""
    spec = FeatureSpec()
    customers = Customers(pa.table({"customer_key": pa.array([0], pa.int64()),
                                    "customer_id": ["c"]}))
    one = {"customer_key": pa.array([0], pa.int64()),
           "timestamp": pa.array([0], pa.timestamp("us"))}
    tx = pa.table({**one, "amount": [1.0], "is_refund": [False]})
    ix = pa.table({**one, "kind": pa.array([0], pa.int16()), "satisfaction": [1.0],
                   "resolved": [True], "resolution_hours": [1.0]})
    everyone = np.arange(1)
    walk = Purchases(tx, customers.codes(tx), 1).walk(spec.windows_days, spec.trend_days)
    walk.at(1, everyone)
    walk.refunds_at(1, everyone)
    Interactions(ix, customers.codes(ix), 1, spec).walk(spec.windows_days,
                                                       spec.trend_days).at(1, everyone)
    _float_arrow(np.zeros(1))
    for values in (np.zeros(1), np.zeros(1, np.int32)):  # recency and value; frequency
        _scores(values, np.ones(1, bool), np.zeros(4), False)
