"""The Pareto/NBD model of repeat buying, fit by maximum likelihood.

The model of Schmittlein, Morrison and Colombo (1987) describes a customer by the
same three numbers as BG/NBD (:mod:`models.bgnbd`), measured from the first
purchase: ``frequency`` (``x``, repeat purchases), ``recency`` (``t_x``, time of
the last repeat purchase, 0 if none) and ``T`` (length of the observation). It
assumes that

1. while active, a customer buys at the times of a Poisson process with rate
   ``lambda``; across customers ``lambda ~ Gamma(shape=r, rate=alpha)``;
2. a customer stays active for an exponentially distributed time with rate
   ``mu`` (at any moment, not only right after a purchase as under BG/NBD);
   across customers ``mu ~ Gamma(shape=s, rate=beta)``, independent of ``lambda``.

Formulas follow Fader, P. S. and Hardie, B. G. S. (2005), "A Note on Deriving the
Pareto/NBD Model and Related Expressions". Its inputs and their checks are in
:mod:`models.btyd_data`.

Numerics. Every quantity reduces to the integral
``J(p, q; a, b) = int_0^inf (a + v)**-p * (b + v)**-q dv``; the likelihood's
``A_0`` term, for instance, is ``(r + s + x) * [J(t_x) - J(T)]`` with ``p = r + x``,
``q = s + 1``, ``a = alpha + t``, ``b = beta + t``. Fader & Hardie write it with
the Gaussian hypergeometric function in two branches, ``2F1(r+s+x, s+1; r+s+x+1;
(alpha-beta)/(alpha+t))`` for ``alpha >= beta`` and ``2F1(r+s+x, r+x; r+s+x+1;
(beta-alpha)/(beta+t))`` for ``alpha < beta``, so that the argument ``z`` lies in
``[0, 1)``. Euler's transformation ``2F1(A, B; C; z) = (1-z)**(C-A-B) *
2F1(C-A, C-B; C; z)`` with ``C - A = 1`` turns both into
``J = a**-p * b**(1-q) * 2F1(1, p; p+q; z) / (p+q-1)`` with ``z = (a-b)/a`` (the
first branch; the second is the same with ``(p, a)`` and ``(q, b)`` swapped), whose
logarithm has no large powers. :func:`scipy.special.hyp2f1` is accurate to about
1e-15 for ``z <= 0.9``, but for ``z`` near 1 it returns NaN once ``p + q`` exceeds
about 170 (many purchases, or ``s`` large) and loses digits where its ``C - A - B``
is near a whole number. For ``z > 0.9``, ``J`` is therefore computed by the
trapezoidal rule in ``u = log(v)``, which converges exponentially in the number of
nodes for this integrand (it is analytic in the strip ``|Im u| < pi``) and agrees
with the hypergeometric form to about 1e-15.

One piece: a single estimator and the formulas of one note in its four parameters
(likelihood, ``P(alive)``, expected purchases, ``P(no purchase)``), all built on
the one integral above; they change together.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import expit, exprel, gammaln, hyp2f1
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

__all__ = ["ParetoNBDModel"]

# The fit runs on log-parameters; these bounds keep exp() finite and are far wider
# than any parameter a real data set supports (exp(25) is about 7e10).
# Up to this argument scipy's 2F1 is accurate (about 1e-15) for the parameters that
# arise here; beyond it, the integral is computed by quadrature.
_Z_HYP2F1 = 0.9
# Step of the trapezoidal rule in log(v): the error is about exp(-pi**2 / step), 7e-18,
# also where many purchases make the integrand fall double-exponentially.
_TRAPEZOID_STEP = 0.25
# Largest number of (row, node) pairs the quadrature holds in memory at once.
_TRAPEZOID_CHUNK = 1 << 20
# Step of the central differences of the log-likelihood in the log-parameters.
_GRADIENT_STEP = 1e-5


# --------------------------------------------------------------------------
# The integral J(p, q; a, b) = int_0^inf (a + v)**-p (b + v)**-q dv, in logs
# --------------------------------------------------------------------------


def _log_tail(p: np.ndarray, q: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``log J(p, q; a, b)`` for ``p, q, a, b > 0`` and ``p + q > 1``, elementwise."""
    p, q, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (p, q, a, b)))
    # Branch alpha >= beta (a >= b): z = (a - b) / a. Otherwise swap the two factors.
    swap = a < b
    big, small = np.where(swap, b, a), np.where(swap, a, b)
    p_big, p_small = np.where(swap, q, p), np.where(swap, p, q)
    m = p + q - 1.0
    z = (big - small) / big
    out = np.empty(z.shape)
    easy = z <= _Z_HYP2F1
    out[easy] = (-p_big[easy] * np.log(big[easy]) + (1.0 - p_small[easy]) * np.log(small[easy])
                 - np.log(m[easy]) + np.log(hyp2f1(1.0, p_big[easy], m[easy] + 1.0, z[easy])))
    hard = ~easy
    if hard.any():
        out[hard] = _log_tail_trapezoid(p[hard], q[hard], a[hard], b[hard])
    return out


def _log_tail_trapezoid(p: np.ndarray, q: np.ndarray, a: np.ndarray,
                        b: np.ndarray) -> np.ndarray:
    """``log J`` by the trapezoidal rule on ``u = log(v)`` over the whole real line.

    The integrand ``exp(phi(u))``, ``phi(u) = u - p log(a + e^u) - q log(b + e^u)``,
    is ``e^u`` times a constant far left of its peak and ``e^(-m u)`` times one far
    right (``m = p + q - 1``). The nodes run from 20 below the point under which
    ``phi`` rises with slope at least 0.9 to where ``phi`` is linear to 1e-16; the
    sums over the nodes beyond both ends are geometric series, added in closed form
    (their error is below 1e-17 of the total). Identical rows are computed once.
    """
    keys, inverse = np.unique(np.column_stack([p, q, a, b]), axis=0, return_inverse=True)
    p, q, a, b = keys.T
    m = p + q - 1.0
    log_a, log_b = np.log(a), np.log(b)
    lo = np.minimum(log_a, log_b) - np.log(10.0 * (m + 1.0)) - 20.0
    hi = np.log(p * a + q * b) + 37.0
    width = int(np.ceil(np.max(hi - lo) / _TRAPEZOID_STEP)) + 1
    rows_per_chunk = max(1, _TRAPEZOID_CHUNK // width)
    nodes = _TRAPEZOID_STEP * np.arange(width)
    out = np.empty(p.shape)
    for start in range(0, p.size, rows_per_chunk):
        rows = slice(start, start + rows_per_chunk)
        # A row whose range is shorter than the longest gets more nodes on the right.
        u = lo[rows, None] + nodes
        e_u = np.exp(u)
        phi = u - p[rows, None] * np.log(a[rows, None] + e_u) \
            - q[rows, None] * np.log(b[rows, None] + e_u)
        top = phi.max(axis=1, keepdims=True)
        scaled = np.exp(phi - top)
        total = (scaled.sum(axis=1) + scaled[:, 0] / np.expm1(_TRAPEZOID_STEP)
                 + scaled[:, -1] * np.exp(-m[rows] * _TRAPEZOID_STEP)
                 / -np.expm1(-m[rows] * _TRAPEZOID_STEP))
        out[rows] = top[:, 0] + np.log(_TRAPEZOID_STEP * total)
    return out[inverse.reshape(-1)]


def _log_integral(p: np.ndarray, q: np.ndarray, alpha: float, beta: float,
                  t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """``log int_t1^t2 (alpha + t)**-p (beta + t)**-q dt`` (``-inf`` where ``t1 == t2``)."""
    log_from = _log_tail(p, q, alpha + t1, beta + t1)
    log_to = _log_tail(p, q, alpha + t2, beta + t2)
    with np.errstate(divide="ignore"):
        return log_from + np.log(-np.expm1(np.minimum(log_to - log_from, 0.0)))


# --------------------------------------------------------------------------
# Model formulas (arrays in, arrays out; parameters as floats)
# --------------------------------------------------------------------------


def _log_terms(r: float, alpha: float, s: float, beta: float, x: np.ndarray, t_x: np.ndarray,
               big_t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The shared part and the two log-terms of the individual likelihood.

    ``log L = shared + logaddexp(alive, dead)``: ``alive`` is the log-probability
    (density) of the data with the customer still active at ``T``, ``dead`` that
    with the customer dropping out at some time in ``(t_x, T]``:
    ``s * int_{t_x}^T (alpha + t)**-(r+x) (beta + t)**-(s+1) dt``, which is Fader &
    Hardie's ``s / (r + s + x) * A_0``.
    """
    shared = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = -(r + x) * np.log(alpha + big_t) - s * np.log(beta + big_t)
    dead = np.log(s) + _log_integral(r + x, s + 1.0, alpha, beta, t_x, big_t)
    return shared, alive, dead


def _loglik(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray,
            big_t: np.ndarray) -> np.ndarray:
    shared, alive, dead = _log_terms(*np.exp(log_params), x, t_x, big_t)
    return shared + np.logaddexp(alive, dead)


def _p_alive(r: float, alpha: float, s: float, beta: float, x: np.ndarray, t_x: np.ndarray,
             big_t: np.ndarray) -> np.ndarray:
    _, alive, dead = _log_terms(r, alpha, s, beta, x, t_x, big_t)
    return expit(alive - dead)


def _expected_if_alive(r: float, alpha: float, s: float, beta: float, x: np.ndarray,
                       big_t: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``E[X(T, T + t) | active at T] = E[lambda] * E[(1 - exp(-mu t)) / mu]``.

    Given the history and "active at ``T``", ``lambda ~ Gamma(r + x, alpha + T)`` and
    ``mu ~ Gamma(s, beta + T)``, so this is ``(r + x) / (alpha + T) * (beta + T) /
    (s - 1) * [1 - ((beta + T) / (beta + T + t))**(s - 1)]``, written with
    ``exprel(y) = (e**y - 1) / y`` so that it is exact through ``s == 1``.
    """
    g = np.log1p(t / (beta + big_t))
    return (r + x) / (alpha + big_t) * (beta + big_t) * g * exprel((1.0 - s) * g)


def _p_buy_if_alive(r: float, alpha: float, s: float, beta: float, x: np.ndarray,
                    big_t: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``P(a purchase in (T, T + t] | active at T) = E[lambda / (lambda + mu) *
    (1 - exp(-(lambda + mu) t))]``, over the gamma posteriors of ``lambda`` and ``mu``.

    With ``1 / (lambda + mu) = int_0^inf exp(-(lambda + mu) v) dv`` and the gamma
    Laplace transforms this is ``(r + x) (alpha + T)**(r + x) (beta + T)**s *
    int_T^{T+t} (alpha + u)**-(r+x+1) (beta + u)**-s du``.
    """
    log_integral = _log_integral(r + x + 1.0, s, alpha, beta, big_t, big_t + t)
    return np.exp(np.log(r + x) + (r + x) * np.log(alpha + big_t) + s * np.log(beta + big_t)
                  + log_integral)


# --------------------------------------------------------------------------
# Estimator
# --------------------------------------------------------------------------


class ParetoNBDModel(BaseEstimator):
    """Pareto/NBD model of repeat buying (Schmittlein, Morrison & Colombo, 1987).

    Parameters
    ----------
    penalizer : float, default=0.0
        Weight of an L2 penalty ``penalizer * (r**2 + alpha**2 + s**2 + beta**2)``
        added to the mean negative log-likelihood per customer (as in
        :class:`~models.bgnbd.BetaGeoModel`). 0 gives the maximum-likelihood estimate.
    max_iter : int, default=1000
        Maximum number of L-BFGS-B iterations.
    tol : float, default=1e-12
        Tolerance passed to :func:`scipy.optimize.minimize` (L-BFGS-B's ``ftol`` and
        ``gtol``) on the mean negative log-likelihood per customer. Tighter than
        :class:`~models.bgnbd.BetaGeoModel`'s: the likelihood is flat along a ridge
        in ``(s, beta)``, where 1e-10 stops about 1e-4 (relative) short in ``beta``.

    Attributes
    ----------
    r_, alpha_ : float
        Shape and rate of the gamma distribution of purchase rates (``alpha_`` in
        the time unit of ``recency`` and ``T``).
    s_, beta_ : float
        Shape and rate of the gamma distribution of dropout rates (``beta_`` in
        that unit).
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
    The likelihood is maximised over the logarithms of the four parameters with
    L-BFGS-B; its gradient is taken by central differences (step 1e-5 in the
    log-parameters), as the derivatives of ``2F1`` in its parameters have no closed
    form in SciPy. See the module docstring for how the hypergeometric terms are
    evaluated.

    References
    ----------
    Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987), "Counting Your
    Customers: Who Are They and What Will They Do Next?", *Management Science*
    33(1), 1-24.

    Fader, P. S. and Hardie, B. G. S. (2005), "A Note on Deriving the Pareto/NBD
    Model and Related Expressions", http://brucehardie.com/notes/009/.
    """

    def __init__(self, *, penalizer: float = 0.0, max_iter: int = 1000,
                 tol: float = 1e-12) -> None:
        self.penalizer = penalizer
        self.max_iter = max_iter
        self.tol = tol

    # -- fitting -------------------------------------------------------------

    def fit(self, frequency: Any, recency: Any, T: Any, weights: Any = None) -> ParetoNBDModel:
        """Estimate ``r``, ``alpha``, ``s`` and ``beta`` by maximum likelihood.

        Parameters
        ----------
        frequency, recency, T : array-like of shape (n,)
            As in :meth:`models.bgnbd.BetaGeoModel.fit`: repeat purchases (whole
            numbers >= 0), time of the last repeat purchase (0 if none,
            ``0 <= recency <= T``) and length of the observation, both measured
            from the first purchase in one time unit.
        weights : array-like of shape (n,), optional
            Number of customers each row stands for. Default 1.

        Returns
        -------
        ParetoNBDModel
            The fitted model (``self``).

        Raises
        ------
        ValueError
            If the inputs break the contract of :mod:`models.btyd_data` (the message
            gives the number of bad rows and the first of them) or the
            hyper-parameters are invalid.
        """
        check_fit_settings(self.penalizer, self.max_iter, self.tol)
        x, t_x, big_t = _check_customers(frequency, recency, T, broadcast=False)
        w = _check_weights(weights, x.size)
        total = w.sum()
        penalizer = float(self.penalizer)
        steps = _GRADIENT_STEP * np.eye(4)

        def mean_loglik(log_params: np.ndarray) -> float:
            return float(w @ _loglik(log_params, x, t_x, big_t)) / total

        def objective(log_params: np.ndarray) -> tuple[float, np.ndarray]:
            params = np.exp(log_params)
            grad = np.array([mean_loglik(log_params + h) - mean_loglik(log_params - h)
                             for h in steps]) / (2.0 * _GRADIENT_STEP)
            value = -mean_loglik(log_params) + penalizer * np.sum(params**2)
            return value, -grad + 2.0 * penalizer * params**2

        result = maximize_log_likelihood(objective, self._start(x, big_t, w), tol=self.tol,
                                         max_iter=self.max_iter, who="ParetoNBDModel",
                                         ridge="s and beta")
        self.r_, self.alpha_, self.s_, self.beta_ = (float(v) for v in np.exp(result.x))
        self.log_likelihood_ = float(w @ _loglik(result.x, x, t_x, big_t))
        self.n_iter_ = int(result.nit)
        self.converged_ = bool(result.success)
        return self

    @staticmethod
    def _start(x: np.ndarray, big_t: np.ndarray, w: np.ndarray) -> np.ndarray:
        # r = 1 and the pooled repeat-purchase rate put alpha on the data's time scale;
        # s = 1 and beta = the mean observation length, a diffuse dropout rate of the
        # order of one per observation.
        mean_t = float(np.average(big_t, weights=w))
        rate = (w @ x) / max(w @ big_t, 1e-12)
        alpha = 1.0 / rate if rate > 0 else mean_t + 1.0
        return np.log([1.0, np.clip(alpha, 1e-6, 1e6), 1.0, np.clip(mean_t, 1e-6, 1e6)])

    # -- predictions -----------------------------------------------------------

    def _params(self) -> tuple[float, float, float, float]:
        check_is_fitted(self, ["r_", "alpha_", "s_", "beta_"])
        return self.r_, self.alpha_, self.s_, self.beta_

    def log_likelihood(self, frequency: Any, recency: Any, T: Any) -> np.ndarray | float:
        """Log-likelihood of each customer's ``(frequency, recency, T)``.

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
        ll = _loglik(np.log(params), x, t_x, big_t)
        return _shape_result(ll, frequency, recency, T)

    def conditional_probability_alive(self, frequency: Any, recency: Any,
                                      T: Any) -> np.ndarray | float:
        """Probability that the customer is still active at ``T``.

        ``P(alive | x, t_x, T) = 1 / (1 + s / (r + s + x) * (alpha + T)**(r + x) *
        (beta + T)**s * A_0)`` (Fader & Hardie, 2005), as a logistic of the two
        log-terms of the likelihood.

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

    def conditional_expected_number_of_purchases_up_to_time(
            self, t: Any, frequency: Any, recency: Any, T: Any) -> np.ndarray | float:
        """Expected number of purchases in ``(T, T + t]`` given the history.

        ``E[X(T, T + t) | x, t_x, T] = P(alive) * (r + x) (beta + T) /
        ((alpha + T) (s - 1)) * [1 - ((beta + T) / (beta + T + t))**(s - 1)]``
        (Fader & Hardie, 2005), continuous through ``s == 1``.

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
        expected = (_p_alive(*params, x, t_x, big_t)
                    * _expected_if_alive(*params, x, big_t, horizon))
        return _shape_result(expected, t, frequency, recency, T)

    def conditional_probability_no_purchase(self, t: Any, frequency: Any, recency: Any,
                                            T: Any) -> np.ndarray | float:
        """Probability of no purchase in ``(T, T + t]`` given the history.

        Derivation. Given the history, the customer is either already inactive
        (probability ``1 - P(alive)``), and then makes no purchase, or active at ``T``
        (probability ``P(alive)``); then ``lambda ~ Gamma(r + x, alpha + T)`` and
        ``mu ~ Gamma(s, beta + T)`` independently, and by memorylessness the customer
        buys nothing in the window if they drop out (at rate ``mu``) before their next
        purchase (at rate ``lambda``) or neither happens within ``t``:
        ``mu / (lambda + mu) + lambda / (lambda + mu) * exp(-(lambda + mu) t)``. Its
        expectation is ``1 - (r + x) (alpha + T)**(r + x) (beta + T)**s *
        int_T^{T+t} (alpha + u)**-(r+x+1) (beta + u)**-s du``, the integral evaluated
        like the likelihood's. Hence::

            P(no purchase in (T, T + t]) = 1 - P(alive) * P(purchase | active at T)

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
        params = self._params()
        x, t_x, big_t = _check_customers(frequency, recency, T, broadcast=True)
        x, t_x, big_t, horizon = _check_horizon(t, x, t_x, big_t)
        alive = _p_alive(*params, x, t_x, big_t)
        buy = np.minimum(_p_buy_if_alive(*params, x, big_t, horizon), 1.0)
        return _shape_result(1.0 - alive * buy, t, frequency, recency, T)
