"""Compiled walks over purchases and refunds at ascending cutoffs (numba).

A walk carries each customer's running state from one cutoff to the next: two
pointers into its run of purchases (sorted by day), the first purchase on or
after the cutoff ``c`` and the first within reach of the longest window or trend
period (``c - span``), and what the first pointer has passed: the sum of the
amounts, and the inter-purchase gaps, kept sorted for their medians, with their
sum of squares and the latest. A call for cutoff ``c`` moves the pointers of the
customers it computes forward and fills one row per customer: over ascending
cutoffs each purchase is read once for the features of the whole history,
however many cutoffs there are; the windows' counts and sums are counted
afresh among the purchases within reach (a year by default, not the history).

State arrays (allocated by :mod:`features.partition`, one row per customer):
``ptr`` [n, 2] (starting at the customer's ``start``), ``acc`` [n] (the sum of
the amounts before the first pointer) and, for purchases, ``gaps`` (one slot per
event: a customer's sorted gaps at the start of its run), ``gap_sq`` and
``gap_last`` [n]. Only the customers of ``who`` move; the others stay where they
are, which is right as long as the cutoffs of successive calls never decrease."""

from __future__ import annotations

import numba
import numpy as np

from features.kernel import FIXED, NAN, jit

#: The steps both walks take, inlined where they are taken (a call that writes to
#: the walk's state costs more than the step itself).
_step = numba.njit(cache=True, nogil=True, boundscheck=True, inline="always")


@_step
def _reach(ptr, acc, i, end, day, amount, c):
    """Where customer ``i``'s first pointer gets to at cutoff ``c`` (its first event on
    or after ``c``; ``end``: the end of its run), and the sum of amounts before it."""
    q = ptr[i, 0]
    total = acc[i]
    while q < end and day[q] < c:
        total += amount[q]
        q += 1
    return q, total


@_step
def _move(ptr, acc, i, q, total, day, bound):
    """Customer ``i``'s walk is at ``q`` with ``total`` passed: store them, and move
    its second pointer to the first event on or after ``bound`` (not past ``q``).
    Only what moved is written: most customers stay put between close cutoffs."""
    if q != ptr[i, 0]:
        ptr[i, 0] = q
        acc[i] = total
    lo = ptr[i, 1]
    while lo < q and day[lo] < bound:
        lo += 1
    if lo != ptr[i, 1]:
        ptr[i, 1] = lo
    return lo


@jit
def _insert_gaps(values, lo, n_sorted, n):
    """Sort ``values[lo:lo + n]``, whose first ``n_sorted`` entries are sorted:
    insertion of the few new ones, a full sort when many come at once."""
    if n - n_sorted > 32:
        values[lo:lo + n].sort()
        return
    for j in range(lo + n_sorted, lo + n):
        v = values[j]
        k = j
        while k > lo and values[k - 1] > v:
            values[k] = values[k - 1]
            k -= 1
        values[k] = v


@jit
def _kth_without(values, lo, k, skip):
    """The ``k``-th entry of sorted ``values[lo:]`` once its entry at ``skip`` is
    removed (``skip`` = -1: none removed)."""
    if skip >= 0 and k >= skip:
        return values[lo + k + 1]
    return values[lo + k]


@jit
def _median_sorted(values, lo, m, skip):
    """Median of the ``m`` entries of sorted ``values[lo:lo + m]`` (``m`` >= 1), once
    its entry at ``skip`` is removed (-1: none)."""
    if m % 2 == 1:
        v = _kth_without(values, lo, m // 2, skip)
        return (v + v) / 2.0
    return (_kth_without(values, lo, m // 2 - 1, skip)
            + _kth_without(values, lo, m // 2, skip)) / 2.0


@jit
def _find(values, lo, n, v):
    """The first position ``k`` of sorted ``values[lo:lo + n]`` whose entry is ``v``
    or more (binary search)."""
    a, b = 0, n
    while a < b:
        mid = (a + b) // 2
        if values[lo + mid] < v:
            a = mid + 1
        else:
            b = mid
    return a


@jit
def purchases(c, windows, trend, rhythm, who, start, end, day, amount,
              ptr, acc, gaps, gap_sq, gap_last,
              freq, freq_w, freq_trend, recency, spent, mean, spent_w, mean_w,
              gap_mean, gap_median, gap_std, last_gap, prior_gap_median, spend_trend):
    """Recency, frequency, monetary, rhythm and trend of customers at day ``c``.

    Parameters
    ----------
    c : int
        Cutoff day (days since 1970-01-01), not before the previous call's.
    windows : int64[W]
        Window lengths in days.
    trend : int
        Length ``T`` of the trend periods ``[c - T, c)`` and ``[c - 2T, c - T)``.
    rhythm : bool
        Whether to compute the gap features (else they are left unset); the same
        for every call of a walk.
    who : int64[m]
        The customers to compute, by code: output row ``r`` is customer ``who[r]``.
    start, end : int64[n]
        Each customer's run of purchases in ``day`` and ``amount``.
    day : int64[e]
        Day of each purchase, ascending within a customer.
    amount : int64[e]
        Purchase amount in millionths.
    ptr, acc, gaps, gap_sq, gap_last
        The walk's state (see the module's docstring).

    The remaining arguments are the outputs, one row per customer of ``who``
    (``_w``: one row per window, [W, m]).
    """
    n_windows = windows.shape[0]
    span = 2 * trend  # how far back the windows and trend periods reach
    for k in range(n_windows):
        span = max(span, windows[k])
    count_w = np.zeros(n_windows, dtype=np.int64)
    sum_w = np.zeros(n_windows, dtype=np.int64)
    for row in range(who.shape[0]):
        i = who[row]
        s0 = start[i]
        e = end[i]
        q, total = _reach(ptr, acc, i, e, day, amount, c)
        if rhythm and q != ptr[i, 0]:
            for j in range(max(ptr[i, 0], s0 + 1), q):  # the new gaps
                g = day[j] - day[j - 1]
                gaps[j - 1] = g  # the customer's gap number j - s0 - 1
                gap_sq[i] += g * g
                gap_last[i] = g
            _insert_gaps(gaps, s0, max(ptr[i, 0] - s0 - 1, 0), q - s0 - 1)
        lo = _move(ptr, acc, i, q, total, day, c - span)

        count_w[:] = 0
        sum_w[:] = 0
        n_last = 0
        n_prev = 0
        s_last = 0
        s_prev = 0
        for j in range(lo, q):  # the purchases within reach of a window
            age = c - day[j]
            a = amount[j]
            for k in range(n_windows):
                if age <= windows[k]:
                    count_w[k] += 1
                    sum_w[k] += a
            if age <= trend:
                n_last += 1
                s_last += a
            elif age <= 2 * trend:
                n_prev += 1
                s_prev += a

        count = q - s0
        freq[row] = count
        spent[row] = total / FIXED
        for k in range(n_windows):
            freq_w[k, row] = count_w[k]
            spent_w[k, row] = sum_w[k] / FIXED
            mean_w[k, row] = spent_w[k, row] / count_w[k] if count_w[k] > 0 else NAN
        freq_trend[row] = n_last - n_prev
        recent = s_last / FIXED
        prev = s_prev / FIXED
        spend_trend[row] = (recent - prev) / prev if prev != 0 else NAN
        if count == 0:
            recency[row] = NAN
            mean[row] = NAN
        else:
            recency[row] = c - day[q - 1]
            mean[row] = spent[row] / count

        if not rhythm:
            continue
        n_gaps = max(count - 1, 0)
        gm = 0.0
        gap_mean[row] = NAN
        gap_median[row] = NAN
        gap_std[row] = NAN
        last_gap[row] = NAN
        prior_gap_median[row] = NAN
        if n_gaps >= 1:
            gm = (day[q - 1] - day[s0]) / n_gaps  # the sum of the gaps
            gap_mean[row] = gm
            last_gap[row] = gap_last[i]
            gap_median[row] = _median_sorted(gaps, s0, n_gaps, -1)
        if n_gaps >= 2:
            var = (gap_sq[i] - n_gaps * (gm * gm)) / (n_gaps - 1)
            gap_std[row] = np.sqrt(max(var, 0.0))
            # All gaps but the last: the rhythm the last purchase kept or broke.
            skip = _find(gaps, s0, n_gaps, gap_last[i])
            prior_gap_median[row] = _median_sorted(gaps, s0, n_gaps - 1, skip)


@jit
def refunds(c, trend, who, start, end, day, amount, ptr, acc, count, total, count_trend):
    """Refunds (``amount``: positive millionths) of the customers ``who`` before day
    ``c``: their count, amount and count in ``[c - trend, c)``. The walk's state is
    as for :func:`purchases` (the second pointer reaching back ``trend`` days)."""
    for row in range(who.shape[0]):
        i = who[row]
        q, s = _reach(ptr, acc, i, end[i], day, amount, c)
        lo = _move(ptr, acc, i, q, s, day, c - trend)
        count[row] = q - start[i]
        total[row] = s / FIXED
        count_trend[row] = q - lo
