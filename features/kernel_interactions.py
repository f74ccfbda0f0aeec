"""Compiled walk over interactions at ascending cutoffs (numba).

As for purchases (:mod:`features.kernel_purchases`), a walk carries each
customer's running state from one cutoff to the next: two pointers into its run
of interactions (sorted by day and time), the first on or after the cutoff ``c``
and the first within reach of the longest window or the trend period, and what
the first pointer has passed: the day of the last interaction of each kind, how
many of each tracked kind were opened, and the satisfaction count, sum and last
value. Resolutions follow a second order: the resolved interactions of the
tracked kinds, per customer by the day from which they count as resolved
(``closed_day``, see :func:`features.kernel.interaction_inputs`), with a third
pointer and the count and hours of those passed. The counts per kind and window
and the interactions still open in the trend period are counted afresh at each
cutoff, among the interactions within reach.

State arrays (allocated by :mod:`features.partition`, one row per customer):
``ptr`` [n, 2] (starting at the customer's ``start``), ``last_day`` [n, K]
(:data:`UNSEEN` until a kind is seen), ``res_ptr`` [n] (starting at the
customer's first entry in ``res_order``), ``opened``, ``closed``, ``hours_n``,
``hours_s`` [n, R], ``sat_n``, ``sat_s``, ``sat_last`` [n] (``sat_last``
starting at NaN, the others at 0). Only the customers of ``who`` move; the
cutoffs of successive calls must never decrease.
"""

from __future__ import annotations

import numpy as np

from features.kernel import FIXED, NAN, jit

#: ``last_day`` of a kind not seen yet.
UNSEEN = np.iinfo(np.int32).min
#: Rows computed into a small buffer, then copied out feature by feature: writing
#: the 30-odd per-kind columns row by row would interleave as many output streams.
BLOCK = 256


@jit
def _copy_out(counts, last, n_rows, first_row, kind_w, kind_last):
    """A block's ``n_rows`` rows of counts [B, K, W] and days since the last [B, K]
    into the output columns, from row ``first_row``."""
    for k in range(kind_w.shape[0]):
        for w in range(kind_w.shape[1]):
            for x in range(n_rows):
                kind_w[k, w, first_row + x] = counts[x, k, w]
        for x in range(n_rows):
            kind_last[k, first_row + x] = last[x, k]


@jit
def interactions(c, windows, trend, resolution_kinds, who, start, end, day, kind,
                 satisfaction, satisfaction_fixed, closed_day, hours_fixed, hours_known,
                 res_order, res_end,
                 ptr, last_day, res_ptr, opened, closed, hours_n, hours_s, sat_n, sat_s,
                 sat_last,
                 kind_w, kind_last, resolved_rate, hours_mean, unresolved,
                 sat_count, sat_mean, sat_latest):
    """Interaction counts, service and satisfaction of customers at day ``c``.

    Parameters
    ----------
    c : int
        Cutoff day, not before the previous call's.
    windows : int64[W]
        Window lengths in days.
    trend : int
        Length of the period in which unresolved interactions are counted.
    resolution_kinds : int64[R]
        Kind codes whose resolution is tracked.
    who : int64[m]
        The customers to compute, by code: output row ``r`` is customer ``who[r]``.
    start, end : int64[n]
        Each customer's run of interactions.
    kind : int16[e]
        Kind code of each interaction (-1 outside the vocabulary).
    satisfaction : float64[e]
        Score, NaN where none; ``satisfaction_fixed`` the same in millionths (0 where none).
    closed_day : int64[e]
        Resolved at cutoffs after this day (:data:`features.kernel.NEVER`: at none).
    hours_fixed, hours_known
        Resolution hours in millionths, and whether they are known.
    res_order, res_end : int64
        The interactions of ``resolution_kinds`` that are resolved (positions in the
        arrays above), by customer and ``closed_day``; where each customer's end.

    Outputs, one column per customer of ``who`` (each feature contiguous, as Arrow
    takes it): ``kind_w`` [K, W, m] counts per kind and window; ``kind_last``
    [K, m] days since the last of each kind; ``resolved_rate``, ``hours_mean``,
    ``unresolved`` [R, m]; satisfaction count, mean and last value [m].
    """
    n_kinds = kind_w.shape[0]
    n_windows = windows.shape[0]
    n_res = resolution_kinds.shape[0]
    res_of = np.full(n_kinds, -1, dtype=np.int64)
    for r in range(n_res):
        res_of[resolution_kinds[r]] = r
    span = trend  # how far back the windows and the trend period reach
    for w in range(n_windows):
        span = max(span, windows[w])
    block_counts = np.zeros((BLOCK, n_kinds, n_windows), dtype=np.int32)
    block_last = np.zeros((BLOCK, n_kinds))
    still = np.zeros(n_res, dtype=np.int64)
    m = who.shape[0]
    for row in range(m):
        i = who[row]
        b = row % BLOCK
        counts = block_counts[b]
        e = end[i]
        q = ptr[i, 0]
        while q < e and day[q] < c:
            k = kind[q]
            if k >= 0:
                last_day[i, k] = day[q]
                if res_of[k] >= 0:
                    opened[i, res_of[k]] += 1
            if not np.isnan(satisfaction[q]):
                sat_n[i] += 1
                sat_s[i] += satisfaction_fixed[q]
                sat_last[i] = satisfaction[q]
            q += 1
        lo = ptr[i, 1]
        while lo < q and day[lo] < c - span:
            lo += 1
        if q != ptr[i, 0] or lo != ptr[i, 1]:  # most customers stay put: no write
            ptr[i, 0] = q
            ptr[i, 1] = lo
        z = res_ptr[i]
        while z < res_end[i] and closed_day[res_order[z]] < c:
            j = res_order[z]
            r = res_of[kind[j]]
            closed[i, r] += 1
            if hours_known[j]:
                hours_n[i, r] += 1
                hours_s[i, r] += hours_fixed[j]
            z += 1
        if z != res_ptr[i]:
            res_ptr[i] = z

        counts[:, :] = 0
        still[:] = 0
        for j in range(lo, q):  # the interactions within reach of a window
            k = kind[j]
            if k < 0:
                continue
            age = c - day[j]
            for w in range(n_windows):
                if age <= windows[w]:
                    counts[k, w] += 1
            r = res_of[k]
            if r >= 0 and age <= trend and closed_day[j] >= c:
                still[r] += 1  # opened in the trend period, still open at c
        for k in range(n_kinds):
            block_last[b, k] = c - last_day[i, k] if last_day[i, k] != UNSEEN else NAN
        if b == BLOCK - 1 or row == m - 1:
            _copy_out(block_counts, block_last, b + 1, row - b, kind_w, kind_last)
        for r in range(n_res):
            unresolved[r, row] = still[r]
            resolved_rate[r, row] = closed[i, r] / opened[i, r] if opened[i, r] > 0 else NAN
            hours_mean[r, row] = ((hours_s[i, r] / FIXED) / hours_n[i, r]
                                  if hours_n[i, r] > 0 else NAN)
        sat_count[row] = sat_n[i]
        sat_mean[row] = (sat_s[i] / FIXED) / sat_n[i] if sat_n[i] > 0 else NAN
        sat_latest[row] = sat_last[i]
