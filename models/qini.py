"""How well an uplift model orders customers: Qini curves, the Qini coefficient and the
uplift among the top ``k``.

An uplift model is judged on a randomised experiment: customers chosen for a contact,
some of them held out at random (the control group). Ranked by predicted uplift, the
**Qini curve** (Radcliffe, 2007) at the first ``n`` customers is the gain of the treated
among them minus the gain of the controls among them, the controls scaled to the
number of treated::

    Q(n) = G_t(n) - G_c(n) * N_t(n) / N_c(n)

where ``G`` is the summed outcome gain (1 for a customer who stayed, for a defection
action) and ``N`` the number of rows of each group among the first ``n``. ``Q(N)``
is the incremental gain of treating everyone; a random order gives the straight line
from 0 to it. The **Qini coefficient** is the area between the model's curve and that
line, divided by the number of customers: positive when the model puts the customers
who answer first. **Uplift at k** is the difference of the mean gain of the treated and
of the controls among the top ``k`` share.

Pure functions of arrays: gain (the outcome the contact should raise), the predicted
uplift and the treatment flag, one row per customer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["qini_coefficient", "qini_curve", "qini_interval", "qini_points", "uplift_at_k"]


def _inputs(gain: Any, uplift: Any, treated: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    g = np.asarray(gain, dtype=np.float64)
    u = np.asarray(uplift, dtype=np.float64)
    t = np.asarray(treated)
    if not (g.ndim == u.ndim == t.ndim == 1) or not (g.size == u.size == t.size):
        raise ValueError(f"gain, uplift and treated must be one-dimensional of one length, "
                         f"got shapes {g.shape}, {u.shape} and {t.shape}")
    if t.dtype != bool:
        if not np.isin(t, (0, 1)).all():
            raise ValueError("treated must be boolean or 0/1")
        t = t.astype(bool)
    if not (np.isfinite(g).all() and np.isfinite(u).all()):
        raise ValueError("gain and uplift must be finite")
    if t.all() or not t.any():
        raise ValueError(f"the rows need both treated and control customers; got "
                         f"{int(t.sum())} treated of {t.size}")
    return g, u, t


def _order(uplift: np.ndarray) -> np.ndarray:
    # Highest uplift first; ties in row order, so the curve is reproducible.
    return np.argsort(-uplift, kind="stable")


def qini_curve(gain: Any, uplift: Any, treated: Any) -> pd.DataFrame:
    """The Qini curve of a ranking by ``uplift``.

    Parameters
    ----------
    gain
        Outcome per row that the action should raise (1 stayed / 0 defected for a
        retention action; the spend for an action on spend).
    uplift
        Predicted uplift per row: the order of the curve (highest first).
    treated
        True for a contacted customer, False for a control.

    Returns
    -------
    pandas.DataFrame
        One row per rank ``n`` = 0 .. N (``n = 0`` included), columns ``n``, ``qini``
        (the model's curve) and ``random`` (the straight line of a random order).

    Raises
    ------
    ValueError
        If the arrays differ in length, hold non-finite values, or lack either group.
    """
    g, u, t = _inputs(gain, uplift, treated)
    order = _order(u)
    g, t = g[order], t[order]
    n_t = np.concatenate([[0], np.cumsum(t)])
    n_c = np.concatenate([[0], np.cumsum(~t)])
    g_t = np.concatenate([[0.0], np.cumsum(np.where(t, g, 0.0))])
    g_c = np.concatenate([[0.0], np.cumsum(np.where(t, 0.0, g))])
    scale = np.divide(n_t, n_c, out=np.zeros(n_t.size), where=n_c > 0)
    qini = g_t - g_c * scale
    n = np.arange(g.size + 1)
    return pd.DataFrame({"n": n, "qini": qini, "random": qini[-1] * n / g.size})


def qini_coefficient(gain: Any, uplift: Any, treated: Any) -> float:
    """The area between the Qini curve and the random line, per customer: 0 for a
    random order, positive when the customers who answer the contact come first."""
    curve = qini_curve(gain, uplift, treated)
    between = (curve["qini"] - curve["random"]).to_numpy()
    # Trapezoids of width 1 between consecutive ranks.
    return float(np.sum((between[1:] + between[:-1]) / 2.0) / (len(curve) - 1) ** 2)


def uplift_at_k(gain: Any, uplift: Any, treated: Any, *, k: float = 0.3) -> float:
    """Mean gain of the treated minus mean gain of the controls among the top ``k``
    share of rows by predicted uplift (NaN when the top holds no row of a group).

    Raises
    ------
    ValueError
        As :func:`qini_curve`, or when ``k`` is not in (0, 1].
    """
    if not 0 < k <= 1:
        raise ValueError(f"k must be a share in (0, 1], got {k!r}")
    g, u, t = _inputs(gain, uplift, treated)
    top = _order(u)[: max(1, int(np.ceil(k * g.size)))]
    g, t = g[top], t[top]
    if t.all() or not t.any():
        return float("nan")
    return float(g[t].mean() - g[~t].mean())


def qini_points(gain: Any, uplift: Any, treated: Any, *, points: int = 101) -> pd.DataFrame:
    """:func:`qini_curve` at ``points`` evenly spaced shares of the rows (0 to 1), the
    gains divided by the number of rows: ``share``, ``qini``, ``random``."""
    curve = qini_curve(gain, uplift, treated)
    total = len(curve) - 1
    at = np.unique(np.round(np.linspace(0, total, points)).astype(np.int64))
    return pd.DataFrame({"share": at / total, "qini": curve["qini"].to_numpy()[at] / total,
                         "random": curve["random"].to_numpy()[at] / total})


def qini_interval(gain: Any, uplift: Any, treated: Any, *, n_boot: int = 500, seed: int = 0,
                  level: float = 0.95) -> tuple[float, float]:
    """The percentile bootstrap interval of :func:`qini_coefficient` (rows drawn with
    replacement; a draw without both groups is skipped).

    Raises
    ------
    ValueError
        As :func:`qini_curve`, or when ``level`` is not in (0, 1) or ``n_boot < 10``.
    """
    if not 0 < level < 1 or n_boot < 10:
        raise ValueError(f"level must be in (0, 1) and n_boot at least 10, got {level!r} "
                         f"and {n_boot!r}")
    g, u, t = _inputs(gain, uplift, treated)
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(int(n_boot)):
        rows = rng.integers(0, g.size, g.size)
        if t[rows].all() or not t[rows].any():
            continue
        draws.append(qini_coefficient(g[rows], u[rows], t[rows]))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return float(low), float(high)
