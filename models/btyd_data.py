"""The inputs of the BG/NBD model: ``(frequency, recency, T)`` per customer.

Data contract: for each customer, measured from their first purchase, in one
time unit,

* ``frequency`` (``x``): the number of repeat purchases, a whole number >= 0;
* ``recency`` (``t_x``): the time of the last repeat purchase, 0 if there is
  none, so ``0 <= recency <= T``;
* ``T``: the length of the observation, from the first purchase to the cutoff.

:func:`summary_from_events` builds them from purchase events. The checks here,
run by :class:`models.bgnbd.BetaGeoModel` on what it is given (customers, row
weights, a prediction horizon), refuse inputs that break the contract, naming
how many rows do and the first of them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import OptimizeResult, minimize
from sklearn.exceptions import ConvergenceWarning

__all__ = ["summary_from_events"]


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _as_float_array(values: Any, name: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric; could not convert it to float: {exc}") from exc
    if arr.ndim > 1:
        raise ValueError(f"{name} must be one-dimensional; got an array of shape {arr.shape}.")
    return arr


def _first_bad(mask: np.ndarray, problem: str, hint: str, show: dict[str, np.ndarray]) -> None:
    """Raise a ValueError naming how many rows have ``problem`` and the first of them."""
    bad = np.flatnonzero(mask)
    if bad.size == 0:
        return
    i = int(bad[0])
    example = ", ".join(f"{k}={float(v[i])!r}" for k, v in show.items())
    raise ValueError(
        f"{bad.size} of {mask.size} rows have {problem} (first at position {i}: {example}); "
        f"{hint}"
    )


def _check_customers(frequency: Any, recency: Any, T: Any, *,
                     broadcast: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate (frequency, recency, T) and return them as float arrays.

    With ``broadcast`` the three may be scalars or arrays of broadcastable shapes
    (prediction); without it they must be 1-D arrays of one length (fitting).
    """
    x = _as_float_array(frequency, "frequency")
    t_x = _as_float_array(recency, "recency")
    big_t = _as_float_array(T, "T")
    if broadcast:
        try:
            x, t_x, big_t = np.broadcast_arrays(np.atleast_1d(x), np.atleast_1d(t_x),
                                                np.atleast_1d(big_t))
        except ValueError as exc:
            raise ValueError(
                "frequency, recency and T must have one length (or be scalars); got lengths "
                f"{x.size}, {t_x.size} and {big_t.size}."
            ) from exc
    else:
        if x.ndim != 1 or t_x.ndim != 1 or big_t.ndim != 1:
            raise ValueError("frequency, recency and T must be one-dimensional arrays.")
        if not x.size == t_x.size == big_t.size:
            raise ValueError(
                "frequency, recency and T must have one length; got lengths "
                f"{x.size}, {t_x.size} and {big_t.size}."
            )
        if x.size == 0:
            raise ValueError("frequency, recency and T are empty: there is no customer to fit.")
    show = {"frequency": x, "recency": t_x, "T": big_t}
    for name, arr in show.items():
        _first_bad(~np.isfinite(arr), f"a missing or infinite {name}",
                   "drop or fill these rows first.", show)
    _first_bad(x < 0, "frequency < 0",
               "frequency counts repeat purchases and cannot be negative.", show)
    _first_bad(x != np.round(x), "a frequency that is not a whole number",
               "frequency counts repeat purchases (days with a purchase after the first).", show)
    _first_bad(t_x < 0, "recency < 0",
               "recency is the time from the first to the last purchase.", show)
    _first_bad(t_x > big_t, "recency > T",
               "the last purchase cannot come after the end of the observation (T); "
               "check that both are measured from the first purchase in the same unit.", show)
    _first_bad((x == 0) & (t_x != 0), "recency != 0 although frequency == 0",
               "a customer without repeat purchases has recency 0 by convention.", show)
    return x, t_x, big_t


def _check_horizon(t: Any, *customers: np.ndarray) -> tuple[np.ndarray, ...]:
    """Validate the horizon ``t`` and broadcast it with the customer arrays."""
    horizon = np.atleast_1d(_as_float_array(t, "t"))
    _first_bad(~np.isfinite(horizon) | (horizon < 0), "a horizon t that is missing, infinite "
               "or negative", "t is a length of time in the unit of T.", {"t": horizon})
    try:
        return tuple(np.broadcast_arrays(*customers, horizon))
    except ValueError as exc:
        raise ValueError(
            f"t must be a scalar or have one value per customer ({customers[0].size}); "
            f"got {horizon.size} values."
        ) from exc


def _check_weights(weights: Any, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = _as_float_array(weights, "weights")
    if w.shape != (n,):
        raise ValueError(
            f"weights must have one value per customer row ({n}); got shape {w.shape}."
        )
    _first_bad(~np.isfinite(w) | (w < 0), "a weight that is missing, infinite or negative",
               "weights count identical (frequency, recency, T) rows.", {"weights": w})
    if w.sum() <= 0:
        raise ValueError("weights sum to 0: there is no customer to fit.")
    return w


# --------------------------------------------------------------------------
# Event log -> (frequency, recency, T)
# --------------------------------------------------------------------------


def summary_from_events(customer_ids: Sequence[Hashable] | pd.Series | np.ndarray,
                        timestamps: Any, cutoff: Any, *,
                        unit_days: float = 7.0) -> pd.DataFrame:
    """Summarise purchase events into the BG/NBD inputs per customer.

    Follows ``lifetimes.utils.summary_data_from_transaction_data`` with daily
    periods: purchases on the same (UTC) calendar day count once, and the first
    purchase day does not count. Only events strictly before ``cutoff`` are used
    (as in :mod:`features.build`, the cutoff is a date taken at 00:00 UTC; lifetimes'
    ``observation_period_end`` is inclusive instead), and only customers with such
    an event appear.

    Parameters
    ----------
    customer_ids : sequence of hashable
        Customer of each event.
    timestamps : sequence of datetime-like
        Time of each event (naive times are taken as UTC); same length as
        ``customer_ids``.
    cutoff : date-like
        End of the observation (exclusive), a date without time of day.
    unit_days : float, default=7.0
        Length of the time unit of ``recency`` and ``T``, in days (7 gives weeks,
        the unit of the CDNOW example).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id`` (sorted), with columns ``frequency`` (int64:
        distinct purchase days after the first), ``recency`` (float64: days from
        the first to the last purchase day, in units) and ``T`` (float64: days from
        the first purchase day to ``cutoff``, in units).

    Raises
    ------
    ValueError
        If the inputs differ in length, have missing customer ids or timestamps,
        ``cutoff`` has a time of day, or ``unit_days`` is not positive.

    Examples
    --------
    >>> summary_from_events(["a", "a", "a", "b"],
    ...                     ["2024-01-01 09:00", "2024-01-01 17:00", "2024-01-15", "2024-01-29"],
    ...                     "2024-01-29", unit_days=7.0)  # doctest: +NORMALIZE_WHITESPACE
                 frequency  recency    T
    customer_id
    a                    1      2.0  4.0
    """
    if not (np.isfinite(unit_days) and unit_days > 0):
        raise ValueError(f"unit_days must be a finite number > 0; got {unit_days!r}.")
    ids = pd.Series(customer_ids, name="customer_id").reset_index(drop=True)
    try:
        # utc=True takes naive times as UTC and converts aware ones; days are UTC days.
        parsed = pd.DatetimeIndex(pd.to_datetime(timestamps, format="ISO8601", utc=True))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"timestamps could not be read as datetimes: {exc}") from exc
    times = pd.Series(parsed.tz_localize(None))
    if len(ids) != len(times):
        raise ValueError(f"customer_ids and timestamps must have one length; got {len(ids)} "
                         f"and {len(times)}.")
    for name, missing in (("customer_ids", ids.isna()), ("timestamps", times.isna())):
        if missing.any():
            i = int(np.flatnonzero(missing.to_numpy())[0])
            raise ValueError(f"{int(missing.sum())} of {len(ids)} events have a missing {name} "
                             f"value (first at position {i}); drop them first.")
    end = pd.to_datetime(cutoff, utc=True).tz_localize(None)
    if end != end.normalize():
        raise ValueError(f"cutoff must be a date (00:00); got {cutoff!r}.")

    days = pd.DataFrame({"customer_id": ids, "day": times.dt.floor("D")})
    days = days[days["day"] < end].drop_duplicates()
    grouped = days.groupby("customer_id", sort=True)["day"]
    first, last, n_days = grouped.min(), grouped.max(), grouped.size()
    unit = pd.Timedelta(days=1) * unit_days
    out = pd.DataFrame({
        "frequency": (n_days - 1).astype("int64"),
        "recency": ((last - first) / unit).astype("float64"),
        "T": ((end - first) / unit).astype("float64"),
    })
    out.index.name = "customer_id"
    return out


# --------------------------------------------------------------------------
# What fitting a BTYD model by maximum likelihood shares
# --------------------------------------------------------------------------

#: Bound of each log-parameter during the fit.
LOG_BOUND = 25.0


def _shape_result(values: np.ndarray, *inputs: Any) -> np.ndarray | float:
    """Return a float for all-scalar inputs, otherwise the array."""
    if all(np.ndim(v) == 0 for v in inputs):
        return float(values.reshape(-1)[0])
    return values


def check_fit_settings(penalizer: Any, max_iter: Any, tol: Any) -> None:
    """Refuse a penalizer below 0, a ``max_iter`` below 1 or a ``tol`` not above 0."""
    if not (np.isfinite(penalizer) and penalizer >= 0):
        raise ValueError(f"penalizer must be a finite number >= 0; got {penalizer!r}.")
    if not (isinstance(max_iter, int | np.integer) and max_iter >= 1):
        raise ValueError(f"max_iter must be an integer >= 1; got {max_iter!r}.")
    if not (np.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a finite number > 0; got {tol!r}.")


def maximize_log_likelihood(objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
                            start: np.ndarray, *, tol: float, max_iter: int, who: str,
                            ridge: str) -> OptimizeResult:
    """Minimise ``objective`` (value and gradient in the log-parameters, each bounded by
    :data:`LOG_BOUND`) with L-BFGS-B; warn, naming ``who`` and the pair of parameters
    that can grow together (``ridge``), when it does not converge."""
    result = minimize(objective, start, jac=True, method="L-BFGS-B",
                      bounds=[(-LOG_BOUND, LOG_BOUND)] * len(start), tol=tol,
                      options={"maxiter": max_iter})
    if not result.success:
        warnings.warn(
            f"{who} did not converge after {int(result.nit)} iterations "
            f"({result.message}). Increase max_iter; if it persists, the likelihood may "
            f"have no finite maximum (too few or too uniform customers, e.g. {ridge} "
            "growing together), and penalizer > 0 keeps the estimate finite.",
            ConvergenceWarning, stacklevel=3)
    return result
