"""Compiled per-customer loops of the feature kernel (numba).

Each function walks the events of one partition, sorted by (customer, day),
customer by customer, and fills one row per customer of preallocated output
arrays for one cutoff day ``c``: only events whose day is before ``c`` are
read (the loop over a customer's events stops at the first one on or after
``c``). :mod:`features.build` prepares the inputs (dense customer codes,
sorting, exact fixed-point amounts) and names the columns.

Amounts, hours and scores are summed in int64 millionths (:func:`_millionths`;
:data:`FIXED_LIMIT` guards against overflow), exactly; a float is formed only at
the end, so a customer's value does not depend on the other customers of its
partition nor on the order they are summed in.

The functions release the GIL: two partitions are computed at once on two
threads. Compiled code is cached beside this file (``__pycache__``, or
``NUMBA_CACHE_DIR``): only the first run on a machine, or after this file
changes, compiles (a few seconds); later runs load it (about 0.4 s).
"""

from __future__ import annotations

import numba
import numpy as np

FIXED = 1_000_000.0  # fixed-point scale of the int64 sums
DAY_US = 86_400_000_000  # microseconds in a day
HOUR_US = 3_600_000_000.0
NAN = np.nan

# Bounds are checked: an indexing mistake raises IndexError instead of corrupting
# memory, at no cost measurable in bench/features.py.
_jit = numba.njit(cache=True, nogil=True, boundscheck=True)


@_jit
def _sort(values: np.ndarray, m: int) -> None:
    """Sort the first ``m`` entries of ``values`` in place: insertion sort for the
    few gaps of most customers, quicksort for the long histories of a few."""
    if m > 32:
        values[:m].sort()
        return
    for j in range(1, m):
        v = values[j]
        k = j
        while k > 0 and values[k - 1] > v:
            values[k] = values[k - 1]
            k -= 1
        values[k] = v


@_jit
def _kth_without(values: np.ndarray, k: int, skip: int) -> float:
    """The ``k``-th entry of sorted ``values`` once the entry at ``skip`` is removed
    (``skip`` = -1: none removed)."""
    if skip >= 0 and k >= skip:
        return values[k + 1]
    return values[k]


@_jit
def _median_sorted(values: np.ndarray, m: int, skip: int) -> float:
    """Median of the first ``m`` entries of sorted ``values`` (``m`` >= 1), once the
    entry at ``skip`` is removed (-1: none)."""
    if m % 2 == 1:
        v = _kth_without(values, m // 2, skip)
        return (v + v) / 2.0
    return (_kth_without(values, m // 2 - 1, skip) + _kth_without(values, m // 2, skip)) / 2.0


@_jit
def purchases(c, windows, trend, rhythm, who, start, end, day, amount,
              freq, freq_w, freq_trend, recency, spent, mean, spent_w, mean_w,
              gap_mean, gap_median, gap_std, last_gap, prior_gap_median, spend_trend):
    """Recency, frequency, monetary, rhythm and trend of customers at day ``c``.

    Parameters
    ----------
    c : int
        Cutoff day (days since 1970-01-01).
    windows : int64[W]
        Window lengths in days.
    trend : int
        Length ``T`` of the trend periods ``[c - T, c)`` and ``[c - 2T, c - T)``.
    rhythm : bool
        Whether to compute the gap features (else they are left unset).
    who : int64[m]
        The customers to compute, by code: output row ``r`` is customer ``who[r]``.
    start, end : int64[n]
        Each customer's run of purchases in ``day`` and ``amount``.
    day : int64[e]
        Day of each purchase, ascending within a customer.
    amount : int64[e]
        Purchase amount in millionths.

    The remaining arguments are the outputs, one row per customer of ``who``
    (``_w``: one column per window).
    """
    n_windows = windows.shape[0]
    longest = 0
    for i in who:
        longest = max(longest, end[i] - start[i])
    gaps = np.empty(max(longest, 1), dtype=np.float64)  # a customer's gaps, then sorted
    count_w = np.zeros(n_windows, dtype=np.int64)
    sum_w = np.zeros(n_windows, dtype=np.int64)
    for row in range(who.shape[0]):
        i = who[row]
        count_w[:] = 0
        sum_w[:] = 0
        count = 0
        total = 0
        n_last = 0
        n_prev = 0
        s_last = 0
        s_prev = 0
        gap_sum = 0
        gap_sq = 0
        previous = 0
        last_g = 0
        j = start[i]
        while j < end[i] and day[j] < c:
            d = day[j]
            a = amount[j]
            age = c - d  # >= 1
            if count > 0 and rhythm:
                g = d - previous
                gaps[count - 1] = g
                last_g = g
                gap_sum += g
                gap_sq += g * g
            previous = d
            count += 1
            total += a
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
            j += 1

        freq[row] = count
        spent[row] = total / FIXED
        for k in range(n_windows):
            freq_w[row, k] = count_w[k]
            spent_w[row, k] = sum_w[k] / FIXED
            mean_w[row, k] = spent_w[row, k] / count_w[k] if count_w[k] > 0 else NAN
        freq_trend[row] = n_last - n_prev
        recent = s_last / FIXED
        prev = s_prev / FIXED
        spend_trend[row] = (recent - prev) / prev if prev != 0 else NAN
        if count == 0:
            recency[row] = NAN
            mean[row] = NAN
        else:
            recency[row] = c - previous
            mean[row] = spent[row] / count

        if not rhythm:
            continue
        n_gaps = max(count - 1, 0)
        _sort(gaps, n_gaps)
        gm = 0.0
        gap_mean[row] = NAN
        gap_median[row] = NAN
        gap_std[row] = NAN
        last_gap[row] = NAN
        prior_gap_median[row] = NAN
        if n_gaps >= 1:
            gm = gap_sum / n_gaps
            gap_mean[row] = gm
            last_gap[row] = last_g
            gap_median[row] = _median_sorted(gaps, n_gaps, -1)
        if n_gaps >= 2:
            var = (gap_sq - n_gaps * (gm * gm)) / (n_gaps - 1)
            gap_std[row] = np.sqrt(max(var, 0.0))
            # All gaps but the last: the rhythm the last purchase kept or broke.
            skip = n_gaps - 1
            while gaps[skip] != last_g:
                skip -= 1
            prior_gap_median[row] = _median_sorted(gaps, n_gaps - 1, skip)


@_jit
def refunds(c, trend, who, start, end, day, amount, count, total, count_trend):
    """Refunds (``amount``: positive millionths) of the customers ``who`` before day ``c``."""
    for row in range(who.shape[0]):
        i = who[row]
        k = 0
        s = 0
        recent = 0
        j = start[i]
        while j < end[i] and day[j] < c:
            k += 1
            s += amount[j]
            if c - day[j] <= trend:
                recent += 1
            j += 1
        count[row] = k
        total[row] = s / FIXED
        count_trend[row] = recent


@_jit
def interactions(c, windows, trend, resolution_kinds, who, start, end, day, kind, satisfaction,
                 satisfaction_fixed, resolved_us, hours_fixed, hours_known,
                 kind_w, kind_last, resolved_rate, hours_mean, unresolved,
                 sat_count, sat_mean, sat_last):
    """Interaction counts, service and satisfaction of customers at day ``c``.

    Parameters
    ----------
    resolution_kinds : int64[R]
        Kind codes whose resolution is tracked.
    kind : int16[e]
        Kind code of each interaction (-1 outside the vocabulary).
    satisfaction : float64[e]
        Score, NaN where none; ``satisfaction_fixed`` the same in millionths (0 where none).
    resolved_us : int64[e]
        Moment the interaction was resolved (timestamp + resolution hours, in
        microseconds since 1970), :data:`NEVER` if it was not.
    hours_fixed, hours_known
        Resolution hours in millionths, and whether they are known.

    Outputs, one row per customer of ``who`` (as in :func:`purchases`): ``kind_w``
    [m, K, W] counts per kind and window; ``kind_last`` [m, K] days since the last
    of each kind; ``resolved_rate``, ``hours_mean``, ``unresolved`` [m, R];
    satisfaction count, mean and last value.
    """
    c_us = c * DAY_US  # resolved before the cutoff: before its first microsecond
    n_kinds = kind_w.shape[1]
    n_windows = windows.shape[0]
    n_res = resolution_kinds.shape[0]
    res_of = np.full(n_kinds, -1, dtype=np.int64)
    for r in range(n_res):
        res_of[resolution_kinds[r]] = r
    last_day = np.zeros(n_kinds, dtype=np.int64)
    seen = np.zeros(n_kinds, dtype=np.bool_)
    opened = np.zeros(n_res, dtype=np.int64)
    closed = np.zeros(n_res, dtype=np.int64)
    hours_n = np.zeros(n_res, dtype=np.int64)
    hours_s = np.zeros(n_res, dtype=np.int64)
    still_open = np.zeros(n_res, dtype=np.int64)
    for row in range(who.shape[0]):
        i = who[row]
        kind_w[row, :, :] = 0
        seen[:] = False
        opened[:] = 0
        closed[:] = 0
        hours_n[:] = 0
        hours_s[:] = 0
        still_open[:] = 0
        n_sat = 0
        s_sat = 0
        last_sat = NAN
        j = start[i]
        while j < end[i] and day[j] < c:
            k = kind[j]
            if k >= 0:
                age = c - day[j]
                for w in range(n_windows):
                    if age <= windows[w]:
                        kind_w[row, k, w] += 1
                last_day[k] = day[j]
                seen[k] = True
                r = res_of[k]
                if r >= 0:
                    opened[r] += 1
                    if resolved_us[j] < c_us:
                        closed[r] += 1
                        if hours_known[j]:
                            hours_n[r] += 1
                            hours_s[r] += hours_fixed[j]
                    elif age <= trend:
                        still_open[r] += 1
            if not np.isnan(satisfaction[j]):
                n_sat += 1
                s_sat += satisfaction_fixed[j]
                last_sat = satisfaction[j]
            j += 1
        for k in range(n_kinds):
            kind_last[row, k] = c - last_day[k] if seen[k] else NAN
        for r in range(n_res):
            resolved_rate[row, r] = closed[r] / opened[r] if opened[r] > 0 else NAN
            hours_mean[row, r] = (hours_s[r] / FIXED) / hours_n[r] if hours_n[r] > 0 else NAN
            unresolved[row, r] = still_open[r]
        sat_count[row] = n_sat
        sat_mean[row] = (s_sat / FIXED) / n_sat if n_sat > 0 else NAN
        sat_last[row] = last_sat


# --------------------------------------------------------------------------
# Inputs: one pass over a table's columns
# --------------------------------------------------------------------------

#: The largest absolute sum of millionths the int64 sums can hold with room to spare.
FIXED_LIMIT = 2.0**62
NEVER = np.iinfo(np.int64).max  # "resolved at": not resolved


@_jit
def _millionths(value: float) -> float:
    """``value`` in millionths, rounded half to even: the one rounding of every sum."""
    return np.rint(value * FIXED)


@_jit
def interaction_inputs(ts_us, satisfaction, resolved, hours,
                       day, satisfaction_fixed, resolved_us, hours_fixed, hours_known):
    """Per interaction: its day, its score in millionths (0 if none), the moment it
    was resolved (timestamp + resolution hours, in microseconds; :data:`NEVER` if it
    was not), its hours in millionths (0 if unknown) and whether they are known.
    Returns the largest sum of absolute millionths (compare with :data:`FIXED_LIMIT`)."""
    sat_total = 0.0
    hours_total = 0.0
    for j in range(ts_us.shape[0]):
        day[j] = ts_us[j] // DAY_US
        s = satisfaction[j]
        if np.isnan(s):
            satisfaction_fixed[j] = 0
        else:
            scaled = _millionths(s)
            sat_total += abs(scaled)
            satisfaction_fixed[j] = np.int64(scaled)
        h = hours[j]
        known = not np.isnan(h)
        hours_known[j] = known
        if known:
            scaled = _millionths(h)
            hours_total += abs(scaled)
            hours_fixed[j] = np.int64(scaled)
        else:
            hours_fixed[j] = 0
        delay = np.rint(h * HOUR_US) if known else 0.0
        if resolved[j] == 1.0 and delay < NEVER - ts_us[j]:
            resolved_us[j] = ts_us[j] + np.int64(delay)
        else:  # not resolved, or so late that the moment does not fit: never, as seen
            resolved_us[j] = NEVER
    return max(sat_total, hours_total)


@_jit
def split_transactions(code, ts_us, amount, refund,
                       buy_code, buy_day, buy_amount, ref_code, ref_day, ref_amount):
    """Purchases and refunds of a transactions table, in its order: customer code,
    day and amount in millionths (refunds positive). Returns the largest sum of
    absolute millionths (compare with :data:`FIXED_LIMIT`)."""
    b = 0
    r = 0
    buy_total = 0.0
    ref_total = 0.0
    for j in range(code.shape[0]):
        if refund[j]:
            scaled = _millionths(-amount[j])
            ref_total += abs(scaled)
            ref_code[r] = code[j]
            ref_day[r] = ts_us[j] // DAY_US
            ref_amount[r] = np.int64(scaled)
            r += 1
        else:
            scaled = _millionths(amount[j])
            buy_total += abs(scaled)
            buy_code[b] = code[j]
            buy_day[b] = ts_us[j] // DAY_US
            buy_amount[b] = np.int64(scaled)
            b += 1
    return max(buy_total, ref_total)


@_jit
def runs(code, day, time, counts):
    """Count the events of each customer into ``counts``; return whether the events
    are in (customer, day, time) order."""
    ordered = True
    for j in range(code.shape[0]):
        counts[code[j]] += 1
        if j > 0 and ordered and code[j] <= code[j - 1]:
            ordered = code[j] == code[j - 1] and (
                day[j] > day[j - 1] or (day[j] == day[j - 1] and time[j] >= time[j - 1]))
    return ordered


def warm_up() -> None:
    """Load (or compile) every function of the kernel: the first call of each pays it."""
    none = np.zeros(0, np.int64)
    real = np.zeros(0)
    windows = np.array([30], np.int64)
    purchases(1, windows, 1, True, none, none, none, none, none, none,
              np.zeros((0, 1), np.int64), none, real, real, real, np.zeros((0, 1)),
              np.zeros((0, 1)), real, real, real, real, real, real)
    refunds(1, 1, none, none, none, none, none, none, real, none)
    interactions(1, windows, 1, none, none, none, none, none, np.zeros(0, np.int16), real,
                 none, none, none, np.zeros(0, np.bool_), np.zeros((0, 1, 1), np.int64),
                 np.zeros((0, 1)), np.zeros((0, 0)), np.zeros((0, 0)),
                 np.zeros((0, 0), np.int64), none, real, real)
    interaction_inputs(none, real, real, real, none, none, none, none, np.zeros(0, np.bool_))
    split_transactions(none, none, real, np.zeros(0, np.bool_), none, none, none, none, none,
                       none)
    runs(none, none, none, none)
