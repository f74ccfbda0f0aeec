"""RFM scores: quintiles of recency, frequency and monetary value across all buyers.

The scores need the whole population at a cutoff, while the features are computed one
partition of customers at a time, so they take two passes: first
:func:`features.build.rfm_values` per partition, then :func:`rfm_edges` over all
partitions gives the quintile edges per cutoff; the second pass
(:func:`features.build.iter_features`) scores each buyer against those edges.

Data contract
-------------
The edges are a frame with columns ``cutoff`` (datetime64), ``source`` (the source
column of :data:`RFM_SOURCES`), ``q20``, ``q40``, ``q60``, ``q80``. A score is 1 to 5
(5 = best); 0 stands for null (not a buyer, or no edges). A value equal to an edge
scores with the values below it (:func:`_scores`, compiled with numba as the kernel is).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.kernel import jit

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
        one row per buyer and cutoff, over all partitions (see
        :func:`features.build.rfm_values`).

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
    if edges is not None:
        _score_buyers(values, buyer, np.ascontiguousarray(edges, np.float64), reverse, out)
    return out


@jit
def _score_buyers(values, buyer, edges, reverse, out):
    """The scores of the buyers into ``out``, as :func:`numpy.searchsorted` on the
    ascending edges would count: NaN sorts after every number (an edge that is NaN
    is below no value, a value that is NaN is above every edge that is not)."""
    for j in range(values.shape[0]):
        if not buyer[j]:
            continue
        v = values[j]
        s = 1
        for e in edges:
            if e < v or (np.isnan(v) and not np.isnan(e)):
                s += 1
        out[j] = 6 - s if reverse else s
