"""The compiled feature kernel's common ground: exact sums and the walks' inputs (numba).

The kernel walks the events of one partition, sorted by (customer, day), customer
by customer: :mod:`features.kernel_purchases` (purchases and refunds) and
:mod:`features.kernel_interactions`. This module holds what they share, the
fixed-point arithmetic, and the one pass over a table's columns that turns
them into the walks' inputs; :mod:`features.partition` calls it.

Amounts, hours and scores are summed in int64 millionths (:func:`_millionths`;
:data:`FIXED_LIMIT` guards against overflow), exactly; a float is formed only at
the end, so a customer's value does not depend on the other customers of its
partition, on the order they are summed in, nor on how many cutoffs a walk
stops at on the way.

The functions release the GIL: two partitions are computed at once on two
threads. Compiled code is cached beside each module (``__pycache__``, or
``NUMBA_CACHE_DIR``): only the first run on a machine, or after a module
changes, compiles (a few seconds); later runs load it (about 0.4 s). numba's
cache of a module does not notice a change of the constants it reads from this
one (:data:`FIXED`): changing them means clearing the caches.
"""

from __future__ import annotations

import numba
import numpy as np

FIXED = 1_000_000.0  # fixed-point scale of the int64 sums
DAY_US = 86_400_000_000  # microseconds in a day
HOUR_US = 3_600_000_000.0
NAN = np.nan
#: The largest absolute sum of millionths the int64 sums can hold with room to spare.
FIXED_LIMIT = 2.0**62
NEVER = np.iinfo(np.int64).max  # "resolved at" / "closed on": not resolved

# Bounds are checked: an indexing mistake raises IndexError instead of corrupting
# memory, at no cost measurable in bench/features.py.
jit = numba.njit(cache=True, nogil=True, boundscheck=True)


@jit
def _millionths(value: float) -> float:
    """``value`` in millionths, rounded half to even: the one rounding of every sum."""
    return np.rint(value * FIXED)


@jit
def interaction_inputs(ts_us, satisfaction, resolved, hours,
                       day, satisfaction_fixed, closed_day, hours_fixed, hours_known):
    """Per interaction: its day, its score in millionths (0 if none), the day from
    which it counts as resolved (see below), its hours in millionths (0 if unknown)
    and whether they are known. Returns the largest sum of absolute millionths
    (compare with :data:`FIXED_LIMIT`).

    An interaction is resolved at a cutoff ``c`` if it was resolved before the
    cutoff's first microsecond: its timestamp plus its resolution hours is before
    ``c`` at 00:00. That is ``closed_day < c``, with ``closed_day`` the day of that
    moment (and never before the interaction's own day, which must be before ``c``
    too); :data:`NEVER` if it was not resolved, or so late that the moment does
    not fit in a timestamp (not resolved, as seen from any cutoff)."""
    sat_total = 0.0
    hours_total = 0.0
    for j in range(ts_us.shape[0]):
        d = ts_us[j] // DAY_US
        day[j] = d
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
            closed_day[j] = max(d, (ts_us[j] + np.int64(delay)) // DAY_US)
        else:
            closed_day[j] = NEVER
    return max(sat_total, hours_total)


@jit
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


@jit
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


@jit
def validity(values, bits):
    """Arrow's validity bitmap of ``values`` into ``bits`` (uint8[ceil(n / 8)]): a
    value is valid unless NaN. Returns the number of NaN (null) values."""
    n = values.shape[0]
    nulls = 0
    for b in range(bits.shape[0]):
        byte = 0
        for k in range(min(8, n - 8 * b)):
            if np.isnan(values[8 * b + k]):
                nulls += 1
            else:
                byte |= 1 << k
        bits[b] = byte
    return nulls
