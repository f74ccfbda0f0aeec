"""Calibration of predicted probabilities, its measure, and the calibration sample.

A boosted model's probabilities rank customers well but are not, as they
come, frequencies: among customers given 0.8, the share who defect may be
0.7. Risk labels and expected-value arithmetic need frequencies, so the raw
defection probability goes through a :class:`ProbabilityCalibrator` fitted
on rows the booster never saw, neither in training nor in early stopping.
:func:`split_for_calibration` divides the validation cutoff's customers into
those two parts; :func:`expected_calibration_error` measures the result.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from scipy.special import logit
from sklearn.base import BaseEstimator
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.validation import check_is_fitted

from models.hashing import stable_share

__all__ = [
    "EPS",
    "METHODS",
    "ProbabilityCalibrator",
    "expected_calibration_error",
    "split_for_calibration",
]

#: Calibrated probabilities are kept in ``[EPS, 1 - EPS]``: a log loss stays finite.
EPS = 1e-6

#: The calibration maps :class:`ProbabilityCalibrator` chooses from.
METHODS: tuple[str, ...] = ("isotonic", "sigmoid")

# Inverse L2 strength of the Platt fit: practically unpenalised, but the two
# coefficients stay finite when the calibration data are separable.
_PLATT_C = 1e4

_Map = IsotonicRegression | LogisticRegression


def _probabilities(p: Any, what: str) -> np.ndarray:
    arr = np.asarray(p, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be one-dimensional, got shape {arr.shape}")
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1)
    if bad.any():
        raise ValueError(f"{what} must be probabilities in [0, 1]; {int(bad.sum())} value(s) "
                         f"are not, e.g. {arr[bad][0]!r} at position {int(np.flatnonzero(bad)[0])}")
    return arr


def _labels(y: Any, n: int, what: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{what} must be one-dimensional with {n} values, got shape {arr.shape}")
    if arr.dtype == bool:
        return arr.astype(np.float64)
    try:
        values = arr.astype(np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be 0/1 or boolean, got dtype {arr.dtype}") from None
    bad = (values != 0) & (values != 1)  # NaN is neither
    if bad.any():
        raise ValueError(f"{what} must be 0/1 or boolean; {int(bad.sum())} value(s) are not, "
                         f"e.g. {arr[bad][0]!r}")
    return values


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, EPS, 1 - EPS)).reshape(-1, 1)


def _fit_method(method: str, p: np.ndarray, y: np.ndarray) -> _Map:
    if method == "isotonic":
        return IsotonicRegression(y_min=EPS, y_max=1 - EPS, increasing=True,
                                  out_of_bounds="clip").fit(p, y)
    return LogisticRegression(C=_PLATT_C, max_iter=1000).fit(_logit(p), y.astype(np.int64))


def _apply(calibrator: _Map, p: np.ndarray) -> np.ndarray:
    if isinstance(calibrator, IsotonicRegression):
        out = calibrator.predict(p)
    else:
        out = calibrator.predict_proba(_logit(p))[:, 1]
    return np.clip(np.asarray(out, dtype=np.float64), EPS, 1 - EPS)


class ProbabilityCalibrator(BaseEstimator):
    """Map raw probabilities to calibrated ones, by isotonic or sigmoid (Platt) regression.

    Both maps are fitted; the one with the lower cross-fitted log loss on the
    calibration data is kept, refitted on all of it.

    * isotonic: the best non-decreasing step function of the raw probability
      (:class:`~sklearn.isotonic.IsotonicRegression`, linear between steps,
      flat beyond the range seen in fitting, bounded to ``[EPS, 1 - EPS]``).
      Fits any monotone distortion, at the price of variance on small samples.
    * sigmoid: ``1 / (1 + exp(-(a * logit(p_raw) + b)))``, a logistic
      regression on the logit of the raw probability (Platt scaling). Two
      parameters: exact when the distortion is a shift and scaling of the
      logit, stable on small samples.

    Parameters
    ----------
    method : {"auto", "isotonic", "sigmoid"}, default="auto"
        "auto" keeps the map with the lower cross-fitted log loss (the sigmoid
        on a tie, being the simpler one); the others force a map, and the
        cross-fitted losses of both are still reported.
    n_splits : int, default=5
        Number of folds K of the cross-fitting (at least 2).
    random_state : int or None, default=0
        Seed of the shuffled, stratified folds. An int gives the same folds,
        hence the same choice, on every run.

    Attributes
    ----------
    method_ : str
        The map kept: "isotonic" or "sigmoid".
    cv_log_loss_ : dict of str to float
        For each map, the log loss of its out-of-fold predictions over all the
        calibration rows (each row predicted by the map fitted on the other
        K - 1 folds).
    calibrator_ : IsotonicRegression or LogisticRegression
        The kept map, refitted on all the calibration rows.
    n_samples_ : int
        Number of calibration rows.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p_true = rng.uniform(0.05, 0.95, 5000)
    >>> y = rng.uniform(size=5000) < p_true
    >>> cal = ProbabilityCalibrator().fit(p_true**3, y)
    >>> cal.predict([0.001, 0.125, 0.7]).round(1).tolist()  # true values 0.1, 0.5, 0.89
    [0.1, 0.5, 0.8]
    """

    def __init__(self, *, method: str = "auto", n_splits: int = 5,
                 random_state: int | None = 0) -> None:
        self.method = method
        self.n_splits = n_splits
        self.random_state = random_state

    def fit(self, p_raw: Any, y: Any) -> ProbabilityCalibrator:
        """Cross-fit both maps, keep the better one and refit it on all rows.

        Parameters
        ----------
        p_raw : array-like of shape (n,)
            Raw probabilities in [0, 1], from rows not used to train the model.
        y : array-like of shape (n,)
            Outcomes, 0/1 or boolean.

        Returns
        -------
        ProbabilityCalibrator
            The fitted calibrator (``self``).

        Raises
        ------
        ValueError
            If a parameter is invalid, the inputs are not probabilities and
            binary outcomes of the same length, or either outcome occurs in
            fewer than ``n_splits`` rows.
        """
        if self.method not in ("auto", *METHODS):
            raise ValueError(f"method must be 'auto', 'isotonic' or 'sigmoid', "
                             f"got {self.method!r}")
        if isinstance(self.n_splits, bool) or not isinstance(self.n_splits, (int, np.integer)) \
                or self.n_splits < 2:
            raise ValueError(f"n_splits must be an integer >= 2, got {self.n_splits!r}")
        p = _probabilities(p_raw, "p_raw")
        target = _labels(y, p.size, "y")
        n_pos = int(target.sum())
        n_neg = target.size - n_pos
        if min(n_pos, n_neg) < self.n_splits:
            raise ValueError(f"calibration needs at least n_splits={self.n_splits} rows of each "
                             f"outcome; got {n_pos} positive and {n_neg} negative rows")

        folds = StratifiedKFold(n_splits=int(self.n_splits), shuffle=True,
                                random_state=self.random_state)
        out_of_fold = {m: np.empty(p.size) for m in METHODS}
        for fit_rows, held_out in folds.split(p.reshape(-1, 1), target):
            for m in METHODS:
                part = _fit_method(m, p[fit_rows], target[fit_rows])
                out_of_fold[m][held_out] = _apply(part, p[held_out])
        self.cv_log_loss_ = {m: _log_loss(target, out_of_fold[m]) for m in METHODS}

        if self.method == "auto":
            better = self.cv_log_loss_["isotonic"] < self.cv_log_loss_["sigmoid"]
            self.method_ = "isotonic" if better else "sigmoid"
        else:
            self.method_ = self.method
        self.calibrator_ = _fit_method(self.method_, p, target)
        self.n_samples_ = int(p.size)
        return self

    def predict(self, p_raw: Any) -> np.ndarray:
        """Calibrated probabilities.

        Parameters
        ----------
        p_raw : array-like of shape (n,)
            Raw probabilities in [0, 1], from the same model as in :meth:`fit`.

        Returns
        -------
        numpy.ndarray of shape (n,)
            Calibrated probabilities in ``[EPS, 1 - EPS]``.
        """
        check_is_fitted(self, "calibrator_")
        p = _probabilities(p_raw, "p_raw")
        if p.size == 0:
            return p
        return _apply(self.calibrator_, p)


def expected_calibration_error(y: Any, p: Any, n_bins: int = 10) -> float:
    """Expected calibration error over equal-frequency bins of ``p``.

    ``ECE = sum over bins b of (n_b / n) * |mean(y in b) - mean(p in b)|``.

    Bins are consecutive runs of the rows sorted by ``p``, of (nearly) equal
    size: the row of rank ``r`` (0-based) goes to bin ``floor(r * n_bins / n)``.
    Tied probabilities are never split between bins: every row of a tie takes
    the rank of the first row of the tie, hence its bin. So the result does not
    depend on the order of the rows, and with ties some bins are larger than
    ``n / n_bins`` and others smaller or empty; an empty bin contributes 0.

    Parameters
    ----------
    y : array-like of shape (n,)
        Outcomes, 0/1 or boolean.
    p : array-like of shape (n,)
        Predicted probabilities in [0, 1].
    n_bins : int, default=10
        Number of bins (at least 1).

    Returns
    -------
    float
        The error, in [0, 1].

    Examples
    --------
    Bins {0.1, 0.2} and {0.6, 0.9}: ``(2/4) * |0 - 0.15| + (2/4) * |1 - 0.75|``.

    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.6, 0.9], n_bins=2), 12)
    0.2
    """
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1, got {n_bins!r}")
    prob = _probabilities(p, "p")
    if prob.size == 0:
        raise ValueError("expected_calibration_error needs at least one row")
    target = _labels(y, prob.size, "y")
    n = prob.size
    order = np.argsort(prob, kind="stable")
    sorted_p = prob[order]
    # 0-based rank of the first row of each tie
    first_rank = np.searchsorted(sorted_p, sorted_p, side="left")
    bins = (first_rank * n_bins) // n
    count = np.bincount(bins, minlength=n_bins)
    sum_y = np.bincount(bins, weights=target[order], minlength=n_bins)
    sum_p = np.bincount(bins, weights=sorted_p, minlength=n_bins)
    used = count > 0
    gap = np.abs(sum_y[used] - sum_p[used])  # n_b * |mean y - mean p|
    return float(gap.sum() / n)


def split_for_calibration(
    customer_ids: Iterable[Any],
    fraction: float = 0.5,
    salt: str = "calibration",
) -> np.ndarray:
    """Assign customers to the calibration part by a stable hash
    (:func:`models.hashing.stable_share`): True for rows in the calibration part,
    False for the early-stopping part."""
    return stable_share(customer_ids, fraction, salt)
