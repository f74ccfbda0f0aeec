"""The BG/NBD model of repeat buying: a baseline and a source of features for churn models.

The beta-geometric/negative binomial distribution model of Fader, Hardie and Lee
(2005) describes a customer by three numbers measured from their first purchase:

* ``frequency`` (``x``): the number of repeat purchases,
* ``recency`` (``t_x``): the time of the last repeat purchase (0 if there is none),
* ``T``: the length of the observation, from the first purchase to the cutoff.

It assumes that

1. while active, a customer buys at the times of a Poisson process with rate
   ``lambda``; across customers ``lambda ~ Gamma(shape=r, rate=alpha)``;
2. right after each repeat purchase, the customer becomes inactive for good with
   probability ``p``; across customers ``p ~ Beta(a, b)``, independent of ``lambda``.

A customer therefore cannot drop out before their first repeat purchase, which is
why :meth:`BetaGeoModel.p_alive` is 1 for ``frequency == 0``.

Equation numbers refer to Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005),
"'Counting Your Customers' the Easy Way: An Alternative to the Pareto/NBD Model",
*Marketing Science* 24(2), 275-284.

Its inputs, and :func:`~models.btyd_data.summary_from_events` which builds them
from purchase events, are in :mod:`models.btyd_data`.

One piece: a single estimator and its closed-form math. The likelihood and its
gradient, ``P(alive)`` and the expected purchases are the formulas of one
paper in the estimator's four parameters; they change with the estimator.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from models.btyd_data import (
    _check_customers,
    _check_horizon,
    _check_weights,
    _shape_result,
    check_fit_settings,
    maximize_log_likelihood,
)

__all__ = ["BetaGeoModel"]

# The fit runs on log-parameters; these bounds keep exp() finite and are far wider
# than any parameter a real data set supports (exp(25) is about 7e10).
# Closer to a == 1 than this, eq. (7)/(10) is a 0/0 limit evaluated as the mean of
# the two sides; the functions are smooth in ``a`` there.
_A_ONE_GAP = 1e-7


# --------------------------------------------------------------------------
# Model formulas (arrays in, arrays out; parameters as floats)
# --------------------------------------------------------------------------


def _log_terms(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
               big_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shared part and the two log-terms of the individual likelihood, eq. (6).

    ``log L = shared + logaddexp(alive, dead)``: ``alive`` is the log-probability
    (density) of the data with the customer still active at ``T``, ``dead`` that
    with the customer dropping out right after the purchase at ``t_x``. ``dead`` is
    ``-inf`` for ``x == 0`` (no purchase to drop out after).
    """
    shared = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + big_t)
    dead = np.full_like(alive, -np.inf)
    buyer = x > 0
    xb = x[buyer]
    dead[buyer] = (betaln(a + 1.0, b + xb - 1.0) - betaln(a, b)
                   - (r + xb) * np.log(alpha + t_x[buyer]))
    return shared, alive, dead


def _loglik_and_grad(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray,
                     big_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row log-likelihood and its gradient with respect to the log-parameters.

    Returns ``(ll, grad)`` with ``ll`` of shape ``(n,)`` and ``grad`` of shape ``(n, 4)``.
    """
    r, alpha, a, b = np.exp(log_params)
    shared, alive, dead = _log_terms(r, alpha, a, b, x, t_x, big_t)
    both = np.logaddexp(alive, dead)
    w_alive = np.exp(alive - both)  # posterior weight of "still active at T"
    w_dead = 1.0 - w_alive
    buyer = x > 0
    psi_abx = digamma(a + b + x)
    # Where x == 0 the "dead" term has weight 0; evaluate its digammas at a harmless x.
    x_safe = np.where(buyer, x, 1.0)
    d_r = (digamma(r + x) - digamma(r) + np.log(alpha)
           - w_alive * np.log(alpha + big_t) - w_dead * np.log(alpha + t_x))
    d_alpha = r / alpha - (r + x) * (w_alive / (alpha + big_t) + w_dead / (alpha + t_x))
    d_a = (-(digamma(a) - digamma(a + b))
           + w_alive * (digamma(a) - psi_abx)
           + w_dead * (digamma(a + 1.0) - psi_abx))
    d_b = (-(digamma(b) - digamma(a + b))
           + w_alive * (digamma(b + x) - psi_abx)
           + np.where(buyer, w_dead * (digamma(b + x_safe - 1.0) - psi_abx), 0.0))
    grad = np.column_stack([d_r * r, d_alpha * alpha, d_a * a, d_b * b])
    return shared + both, grad


def _p_alive(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
             big_t: np.ndarray) -> np.ndarray:
    # Eq. (11) written as a logistic of the log-odds of "dropped out at t_x".
    log_odds_dead = np.full(x.shape, -np.inf)
    buyer = x > 0
    xb = x[buyer]
    log_odds_dead[buyer] = (np.log(a) - np.log(b + xb - 1.0)
                            + (r + xb) * (np.log(alpha + big_t[buyer])
                                          - np.log(alpha + t_x[buyer])))
    return expit(-log_odds_dead)


def _expected_if_alive(r: float, alpha: float, a: float, b: float, x: np.ndarray,
                       big_t: np.ndarray, t: np.ndarray) -> np.ndarray:
    """E[Y(t) | active at T, x, T]: the numerator of eq. (10) over its first factor.

    Eq. (10) has ``((alpha+T)/(alpha+T+t))**(r+x) * 2F1(r+x, b+x; a+b+x-1; z)`` with
    ``z = t/(alpha+T+t)``. For large ``x`` the 2F1 is huge and the power tiny; Euler's
    transformation ``2F1(p, q; c; z) = (1-z)**(c-p-q) * 2F1(c-p, c-q; c; z)`` turns the
    product into ``(1-z)**(a-1) * 2F1(a+b-1-r, a-1; a+b+x-1; z)``, whose arguments
    do not grow with ``x``.
    """
    if abs(a - 1.0) < _A_ONE_GAP:
        return 0.5 * (_expected_if_alive_at(r, alpha, 1.0 - 2 * _A_ONE_GAP, b, x, big_t, t)
                      + _expected_if_alive_at(r, alpha, 1.0 + 2 * _A_ONE_GAP, b, x, big_t, t))
    return _expected_if_alive_at(r, alpha, a, b, x, big_t, t)


def _expected_if_alive_at(r: float, alpha: float, a: float, b: float, x: np.ndarray,
                          big_t: np.ndarray, t: np.ndarray) -> np.ndarray:
    c = a + b + x - 1.0
    log_one_minus_z = np.log(alpha + big_t) - np.log(alpha + big_t + t)
    z = -np.expm1(log_one_minus_z)
    bracket = 1.0 - np.exp((a - 1.0) * log_one_minus_z) * hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
    return c / (a - 1.0) * bracket


# --------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------


class BetaGeoModel(BaseEstimator):
    """BG/NBD model of repeat buying (Fader, Hardie & Lee, 2005), fit by maximum likelihood.

    Parameters
    ----------
    penalizer : float, default=0.0
        Weight of an L2 penalty ``penalizer * (r**2 + alpha**2 + a**2 + b**2)``
        added to the mean negative log-likelihood per customer (the convention of
        the ``lifetimes`` package). 0 gives the plain maximum-likelihood estimate.
    max_iter : int, default=1000
        Maximum number of L-BFGS-B iterations.
    tol : float, default=1e-10
        Tolerance passed to :func:`scipy.optimize.minimize` (L-BFGS-B's ``ftol`` and
        ``gtol``) on the mean negative log-likelihood per customer.

    Attributes
    ----------
    r_ : float
        Shape of the gamma distribution of purchase rates.
    alpha_ : float
        Rate (inverse scale) of the gamma distribution of purchase rates, in the
        time unit of ``recency`` and ``T``.
    a_ : float
        First shape parameter of the beta distribution of dropout probabilities.
    b_ : float
        Second shape parameter of the beta distribution of dropout probabilities.
    log_likelihood_ : float
        Total (weighted) log-likelihood of the training data at the estimate,
        without the penalty.
    n_iter_ : int
        Number of optimizer iterations.
    converged_ : bool
        Whether the optimizer reported success. A :class:`ConvergenceWarning` is
        issued otherwise.

    Notes
    -----
    Times (``recency``, ``T``, ``t``) may be in any unit as long as it is the same
    everywhere; ``alpha_`` is in that unit. The likelihood is eq. (6) of the paper in
    log form (``gammaln``/``betaln``, log-sum-exp over its two terms), maximised over
    the logarithms of the four parameters with L-BFGS-B and an analytic gradient.

    References
    ----------
    Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005), "'Counting Your Customers'
    the Easy Way: An Alternative to the Pareto/NBD Model", *Marketing Science* 24(2),
    275-284.

    Fader, P. S., Hardie, B. G. S. and Lee, K. L., "Computing P(alive) Using the
    BG/NBD Model", technical note.

    Examples
    --------
    With ``tx`` a frame of purchases (``customer_id``, ``timestamp``) and
    :func:`~models.btyd_data.summary_from_events`:

    >>> rfm = summary_from_events(tx["customer_id"], tx["timestamp"], "2024-04-01")
    ... # doctest: +SKIP
    >>> model = BetaGeoModel().fit(rfm["frequency"], rfm["recency"], rfm["T"])
    ... # doctest: +SKIP
    >>> p_quiet_13_weeks = model.p_no_purchase(13.0, rfm["frequency"], rfm["recency"], rfm["T"])
    ... # doctest: +SKIP
    """

    def __init__(self, *, penalizer: float = 0.0, max_iter: int = 1000,
                 tol: float = 1e-10) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    # -- fitting -------------------------------------------------------------

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> BetaGeoModel:
        """Estimate ``r``, ``alpha``, ``a`` and ``b`` by maximum likelihood.

        Parameters
        ----------
        frequency : array-like of shape (n,)
            Number of repeat purchases ``x`` (whole numbers >= 0).
        recency : array-like of shape (n,)
            Time of the last repeat purchase ``t_x``, measured from the first purchase;
            0 where ``frequency == 0``. ``0 <= recency <= T``.
        T : array-like of shape (n,)
            Length of the observation, from the first purchase to the cutoff.
        weights : array-like of shape (n,), optional
            Number of customers each row stands for, so that the model can be fit
            on ``(frequency, recency, T)`` rows aggregated with a count. Default 1.

        Returns
        -------
        BetaGeoModel
            The fitted model (``self``).

        Raises
        ------
        ValueError
            If the inputs have different lengths, are empty, contain missing or
            infinite values, or break ``frequency >= 0`` (whole),
            ``0 <= recency <= T`` or ``frequency == 0 => recency == 0``; or if the
            hyper-parameters are invalid. The message gives the number of bad rows
            and the first of them.
        """
        check_fit_settings(self.penalizer, self.max_iter, self.tol)
        x, t_x, big_t = _check_customers(frequency, recency, T, broadcast=False)
        w = _check_weights(weights, x.size)
        total = w.sum()
        penalizer = float(self.penalizer)

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            ll, grad = _loglik_and_grad(log_params, x, t_x, big_t)
            params = np.exp(log_params)
            value = -(w @ ll) / total + penalizer * np.sum(params**2)
            gradient = -(w @ grad) / total + 2.0 * penalizer * params**2
            return float(value), gradient

        result = maximize_log_likelihood(objective, self._start(x, big_t, w), tol=self.tol,
                                         max_iter=self.max_iter, who="BetaGeoModel",
                                         ridge="a and b")
        self.r_, self.alpha_, self.a_, self.b_ = (float(v) for v in np.exp(result.x))
        ll, _ = _loglik_and_grad(result.x, x, t_x, big_t)
        self.log_likelihood_ = float(w @ ll)
        self.n_iter_ = int(result.nit)
        self.converged_ = bool(result.success)
        return self

    @staticmethod
    def _start(x: np.ndarray, big_t: np.ndarray, w: np.ndarray) -> np.ndarray:
        # r = 1 and the pooled repeat-purchase rate put alpha on the data's time scale;
        # a = 1, b = 3 is a diffuse beta with mean dropout probability 1/4.
        rate = (w @ x) / max(w @ big_t, 1e-12)
        alpha = 1.0 / rate if rate > 0 else float(np.average(big_t, weights=w)) + 1.0
        return np.log([1.0, np.clip(alpha, 1e-6, 1e6), 1.0, 3.0])

    # -- predictions -----------------------------------------------------------

    def _params(self) -> tuple[float, float, float, float]:
        check_is_fitted(self, ["r_", "alpha_", "a_", "b_"])
        return self.r_, self.alpha_, self.a_, self.b_

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> np.ndarray | float:
        """Log-likelihood of each customer's ``(frequency, recency, T)``, eq. (6).

        Parameters
        ----------
        frequency, recency, T : array-like or scalar
            As in :meth:`fit`; broadcast against each other.

        Returns
        -------
        numpy.ndarray or float
            One log-likelihood per customer (a float if all inputs are scalars).
        """
        params = self._params()
        x, t_x, big_t = _check_customers(frequency, recency, T, broadcast=True)
        shared, alive, dead = _log_terms(*params, x, t_x, big_t)
        return _shape_result(shared + np.logaddexp(alive, dead), frequency, recency, T)

    def p_alive(self, frequency: Any, recency: Any, T: Any) -> np.ndarray | float:
        """Probability that a customer is still active at ``T``, eq. (11).

        ``P(alive | x, t_x, T) = 1 / (1 + [x > 0] * a / (b + x - 1)
        * ((alpha + T) / (alpha + t_x)) ** (r + x))``; it is 1 for ``x == 0`` because
        under BG/NBD a customer can only drop out right after a repeat purchase.

        Parameters
        ----------
        frequency, recency, T : array-like or scalar
            As in :meth:`fit`; broadcast against each other.

        Returns
        -------
        numpy.ndarray or float
            Probabilities in [0, 1] (a float if all inputs are scalars).
        """
        params = self._params()
        x, t_x, big_t = _check_customers(frequency, recency, T, broadcast=True)
        return _shape_result(_p_alive(*params, x, t_x, big_t), frequency, recency, T)

    def expected_purchases(self, t: Any, frequency: Any, recency: Any,
                           T: Any) -> np.ndarray | float:
        """Expected number of purchases in ``(T, T + t]`` given the history, eq. (10).

        ``E[Y(t) | x, t_x, T] = P(alive) * (a + b + x - 1) / (a - 1) *
        [1 - ((alpha + T) / (alpha + T + t)) ** (r + x) *
        2F1(r + x, b + x; a + b + x - 1; t / (alpha + T + t))]``, evaluated through
        Euler's transformation of the Gaussian hypergeometric function
        (:func:`scipy.special.hyp2f1`) so that it stays accurate for large ``x``.

        Parameters
        ----------
        t : array-like or float
            Length of the prediction horizon, in the unit of ``T`` (>= 0).
        frequency, recency, T : array-like or scalar
            As in :meth:`fit`; broadcast against each other and ``t``.

        Returns
        -------
        numpy.ndarray or float
            Expected purchases (a float if all inputs are scalars).
        """
        params = self._params()
        x, t_x, big_t = _check_customers(frequency, recency, T, broadcast=True)
        x, t_x, big_t, horizon = _check_horizon(t, x, t_x, big_t)
        alive = _p_alive(*params, x, t_x, big_t)
        expected = alive * _expected_if_alive(*params, x, big_t, horizon)
        return _shape_result(expected, t, frequency, recency, T)

    def p_no_purchase(self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray | float:
        """Probability of no purchase in ``(T, T + t]`` given the history.

        Derivation. Given the history, the customer is either already inactive
        (probability ``1 - P(alive)``), and then certainly makes no purchase, or still
        active at ``T`` (probability ``P(alive)``, :meth:`p_alive`). The data and
        "active at ``T``" have likelihood ``lambda**x * exp(-lambda * T) * (1 - p)**x``,
        so given both, ``lambda ~ Gamma(r + x, rate=alpha + T)`` (independent of ``p``).
        An active customer can drop out only right after a purchase, so with no
        purchase in ``(T, T + t]`` they stay active through it, and the event is just
        "no event of a Poisson process with rate ``lambda`` in a window of length
        ``t``": ``exp(-lambda * t)``. Averaged over the gamma posterior,
        ``E[exp(-lambda * t)] = ((alpha + T) / (alpha + T + t)) ** (r + x)``. Hence::

            P(no purchase in (T, T + t])
                = (1 - P(alive)) + P(alive) * ((alpha + T) / (alpha + T + t)) ** (r + x)

        Parameters
        ----------
        t : array-like or float
            Length of the window, in the unit of ``T`` (>= 0).
        frequency, recency, T : array-like or scalar
            As in :meth:`fit`; broadcast against each other and ``t``.

        Returns
        -------
        numpy.ndarray or float
            Probabilities in [0, 1], non-increasing in ``t`` (a float if all inputs
            are scalars).
        """
        r, alpha, a, b = self._params()
        x, t_x, big_t = _check_customers(frequency, recency, T, broadcast=True)
        x, t_x, big_t, horizon = _check_horizon(t, x, t_x, big_t)
        alive = _p_alive(r, alpha, a, b, x, t_x, big_t)
        # 1 - ((alpha+T)/(alpha+T+t))**(r+x), computed without cancellation for small t.
        p_buy_if_alive = -np.expm1((r + x) * (np.log(alpha + big_t)
                                             - np.log(alpha + big_t + horizon)))
        return _shape_result(1.0 - alive * p_buy_if_alive, t, frequency, recency, T)

    def expected_purchases_new(self, t: Any) -> np.ndarray | float:
        """Expected number of repeat purchases of a new customer in ``(0, t]``, eq. (7).

        ``E[X(t)] = (a + b - 1) / (a - 1) * [1 - (alpha / (alpha + t)) ** r *
        2F1(r, b; a + b - 1; t / (alpha + t))]``, i.e. eq. (10) with
        ``x = t_x = T = 0``.

        Parameters
        ----------
        t : array-like or float
            Time since the first purchase, in the unit of ``T`` (>= 0).

        Returns
        -------
        numpy.ndarray or float
            Expected repeat purchases (a float if ``t`` is a scalar).
        """
        params = self._params()
        (horizon,) = _check_horizon(t)
        zeros = np.zeros_like(horizon)
        return _shape_result(_expected_if_alive(*params, zeros, zeros, horizon), t)

