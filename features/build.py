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
    frames = [f for _, f in iter_rfm_values(transactions, customer_index, cutoffs)]
    if not frames:
        return pd.DataFrame(columns=list(RFM_VALUE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


RFM_VALUE_COLUMNS = ("cutoff", "recency_days", "frequency", "monetary_mean")


def iter_rfm_values(transactions: pa.Table, customer_index: pa.Table,
                    cutoffs: Sequence[dt.date]) -> Iterator[tuple[dt.date, pd.DataFrame]]:
    """:func:`rfm_values` one cutoff at a time, in ascending order: (cutoff, values)."""
    customers = Customers(customer_index)
    purchases = Purchases(transactions, customers.codes(transactions), customers.n)
    everyone = np.arange(customers.n)
    for c in cutoff_days(cutoffs):
        p = purchases.at(c, everyone, (), 1, rhythm=False)
        buyer = p["frequency"] > 0
        yield EPOCH + dt.timedelta(days=c), pd.DataFrame({
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
    for c in cutoff_days(cutoffs):
        # The customers seen before the cutoff, in customer order: the batch's rows.
        who = np.flatnonzero(first_seen < c)
        if not who.size:
            continue
        p = tx.at(c, who, windows, T)
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
