"""Population stability index (PSI): how far apart two populations are over the same bins.

The PSI compares the shares of two populations over the same bins::

    PSI = sum_i (a_i - e_i) * ln(a_i / e_i)

where ``e_i`` is the share of the reference (expected) population in bin ``i``
and ``a_i`` that of the current (actual) one. It is zero when the shares are
equal and grows with every bin that gains or loses weight; it is symmetric in
the two populations (it is the Jeffreys divergence of the binned shares).

Reading it
----------
The usual rule of thumb comes from credit scoring (Siddiqi, *Credit Risk
Scorecards*, Wiley 2006; examined by Yurdakul and Naranjo, "Statistical
properties of the population stability index", *Journal of Risk Model
Validation*, 2020):

* PSI < 0.1: no significant change;
* 0.1 <= PSI < 0.25: a moderate change, worth a look;
* PSI >= 0.25: a significant change, action needed.

Monitoring set-ups often use a single alarm level of 0.2 instead, the default
threshold of :meth:`models.drift.DriftReference.compare`. The rule ignores
sample size: two samples of the same population still differ by chance, by about
``(bins - 1) * (1 / n_reference + 1 / n_current)`` on average (PSI scaled by
``1 / (1/n + 1/m)`` is close to a chi-square with ``bins - 1`` degrees of
freedom), so a few hundred rows per side and many bins can cross 0.1 without
any real change.

A share of 0 on one side would make the logarithm infinite, so shares below
``epsilon`` (1e-4 by default) are raised to it first: a bin of the current
data that the reference never filled adds about ``a * ln(a / 1e-4)``.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["psi"]


def psi(expected: ArrayLike, actual: ArrayLike, *, epsilon: float = 1e-4) -> float:
    """Population stability index between two vectors of bin shares.

    ``PSI = sum((a - e) * ln(a / e))`` over the bins, after raising every share
    below ``epsilon`` to ``epsilon`` (the shares are not renormalised after
    that). Symmetric in its two arguments; 0 for equal shares. See the module
    docstring for the usual reading (0.1 moderate, 0.2 or 0.25 significant).

    Parameters
    ----------
    expected
        Shares of the reference population, one per bin: non-negative, finite,
        summing to 1 (within 1e-6).
    actual
        Shares of the current population over the same bins, same conditions.
    epsilon
        Floor of the shares, strictly between 0 and 1: keeps ``ln(a / e)``
        finite for a bin that is empty on one side.

    Returns
    -------
    float
        The index, >= 0.

    Raises
    ------
    ValueError
        When a vector is not one-dimensional or empty, the two differ in
        length, a share is negative, missing or infinite, a vector does not sum
        to 1, or ``epsilon`` is not in (0, 1).
    """
    if (isinstance(epsilon, bool) or not isinstance(epsilon, Real)
            or not 0 < float(epsilon) < 1):
        raise ValueError(f"psi: epsilon must be a number strictly between 0 and 1, "
                         f"got {epsilon!r}")
    e = _shares(expected, "expected")
    a = _shares(actual, "actual")
    if e.size != a.size:
        raise ValueError(f"psi: expected has {e.size} bins and actual {a.size}; pass the "
                         f"shares of both populations over the same bins")
    e = np.maximum(e, epsilon)
    a = np.maximum(a, epsilon)
    return float(np.sum((a - e) * np.log(a / e)))


def _shares(values: ArrayLike, what: str) -> np.ndarray:
    try:
        shares = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as err:
        raise ValueError(f"psi: {what} must be numbers (bin shares): {err}") from None
    if shares.ndim != 1 or shares.size == 0:
        raise ValueError(f"psi: {what} must be a non-empty one-dimensional vector of bin "
                         f"shares, got shape {shares.shape}")
    bad = ~np.isfinite(shares) | (shares < 0)
    if bad.any():
        raise ValueError(f"psi: {what} has {int(bad.sum())} shares that are negative, NaN "
                         f"or infinite (e.g. {float(shares[np.flatnonzero(bad)[0]])!r} in "
                         f"bin {int(np.flatnonzero(bad)[0])})")
    total = float(shares.sum())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"psi: the shares of {what} sum to {total!r}, not 1; divide counts "
                         f"by their total first")
    return shares
