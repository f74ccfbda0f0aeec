"""Baselines for the defection model, used by the evaluation.

Each baseline answers the question a model must beat with as little machinery
as possible:

* :class:`RecencyHeuristic` -- "how overdue is the next purchase?", turned into
  a probability by an increasing isotonic fit;
* :func:`rfm_logistic` -- a logistic regression on recency, frequency and
  monetary value;

The transition baseline, the empirical next-stage distribution of each stage, is
:class:`models.markov.MarkovTransitionBaseline`.

The BG/NBD baseline (:class:`models.bgnbd_features.BGNBDBaseline`), whose
predictions are also features of the models, is in :mod:`models.bgnbd_features`.

The defection baselines read rows of the feature table (see
:func:`features.spec.feature_table`) and predict ``p_defect``, the probability
of no purchase in the label window; rows without a purchase (prospects, for
whom defection has no meaning, see :func:`models.labels.make_labels`) get NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

# Bundles of fitted models pickle the BG/NBD baseline by its class path; those written
# while it was defined in this module name it models.baselines.BGNBDBaseline, and this
# import keeps that name resolving so that they still load.
from models.bgnbd_features import BGNBDBaseline as BGNBDBaseline
from models.bgnbd_features import _column, _require

__all__ = [
    "RFM_COLUMNS",
    "RFM_LOG_COLUMNS",
    "RecencyHeuristic",
    "rfm_logistic",
]

#: Feature-table columns of the RFM logistic regression.
RFM_COLUMNS: tuple[str, ...] = ("recency_days", "frequency", "monetary_mean", "monetary_sum")
#: Of these, the right-skewed counts and amounts that also enter as ``log1p``.
RFM_LOG_COLUMNS: tuple[str, ...] = ("frequency", "monetary_mean", "monetary_sum")


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _binary_target(y: Any, n: int, who: str) -> np.ndarray:
    """``y`` as a 0/1 float array of length ``n``; raises on nulls or other values."""
    series = pd.Series(y) if not isinstance(y, pd.Series) else y
    if len(series) != n:
        raise ValueError(f"{who}: y has {len(series)} values for {n} rows of X")
    missing = series.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{who}: {int(missing.sum())} of {n} labels are missing (first at "
                         f"position {i}); drop the rows without a defection label (prospects) "
                         "first")
    values = series.to_numpy(dtype=np.float64)
    bad = (values != 0) & (values != 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{who}: y must be boolean or 0/1; {int(bad.sum())} values are not "
                         f"(first at position {i}: {series.iloc[i]!r})")
    return values


# --------------------------------------------------------------------------
# Recency heuristic
# --------------------------------------------------------------------------


class RecencyHeuristic(BaseEstimator):
    """Defection probability from how overdue the next purchase is.

    The *overdue score* of a row is ``recency_gap_ratio`` (days since the last
    purchase over ``1 +`` the customer's median gap) where it is defined, i.e.
    for customers with two or more purchases. For one-time buyers, who have no
    gap of their own, it is ``recency_days / one_time_scale``: the days since
    the purchase measured in a typical rhythm. The score is mapped to a
    probability by an increasing isotonic regression of the defection label on
    the score over the training rows, so that log loss and Brier score are
    meaningful and the ranking is the ranking of the score.

    Parameters
    ----------
    one_time_scale_days : float, optional
        The days one "usual gap" lasts for one-time buyers. By default learned in
        :meth:`fit` as ``1 +`` the median of ``gap_median_days`` over the
        training rows that have it (the rhythm of a typical repeat buyer, with
        the same ``1 +`` as ``recency_gap_ratio``); without any such row, the
        median ``recency_days`` of the training rows.
    min_proba : float, default=1e-3
        Probabilities are clipped to ``[min_proba, 1 - min_proba]``: an isotonic
        fit is 0 or 1 on score ranges where the training rows all agree, and a
        single exception on new data would make the log loss infinite.

    Attributes
    ----------
    one_time_scale_ : float
        The scale used for one-time buyers, in days.
    isotonic_ : sklearn.isotonic.IsotonicRegression
        The fitted map from score to probability (clipped outside the training
        range of scores).
    n_train_ : int
        Number of training rows.

    Notes
    -----
    Input columns: ``recency_days`` (required), ``recency_gap_ratio`` and
    ``gap_median_days`` (used when present). Rows without ``recency_days``
    (no purchase yet) have no score: :meth:`predict_proba` gives NaN for them
    and :meth:`fit` refuses them.
    """

    def __init__(self, *, one_time_scale_days: float | None = None,
                 min_proba: float = 1e-3) -> None:
        self.one_time_scale_days = one_time_scale_days
        self.min_proba = min_proba

    def _score(self, X: pd.DataFrame, scale: float) -> np.ndarray:
        recency = _column(X, "recency_days")
        score = recency / scale
        if "recency_gap_ratio" in X.columns:
            ratio = _column(X, "recency_gap_ratio")
            score = np.where(np.isnan(ratio), score, ratio)
        return score

    def fit(self, X: pd.DataFrame, y: Any) -> RecencyHeuristic:
        """Learn the one-time-buyer scale and the isotonic map.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature-table rows of buyers (``recency_days`` not null).
        y : array-like of bool
            Defection labels (``defected``), one per row, without nulls.

        Returns
        -------
        RecencyHeuristic
            The fitted estimator (``self``).

        Raises
        ------
        ValueError
            If a column is missing, a row has no ``recency_days``, the labels are
            missing or not binary, or a parameter is out of range.
        """
        who = "RecencyHeuristic.fit"
        if not (0.0 <= self.min_proba < 0.5):
            raise ValueError(f"{who}: min_proba must be in [0, 0.5); got {self.min_proba!r}")
        if self.one_time_scale_days is not None and not (
                np.isfinite(self.one_time_scale_days) and self.one_time_scale_days > 0):
            raise ValueError(f"{who}: one_time_scale_days must be a positive number or None; "
                             f"got {self.one_time_scale_days!r}")
        _require(X, ["recency_days"], who)
        if len(X) == 0:
            raise ValueError(f"{who}: X has no rows")
        target = _binary_target(y, len(X), who)
        recency = _column(X, "recency_days")
        missing = np.isnan(recency)
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ValueError(f"{who}: {int(missing.sum())} of {len(X)} rows have no "
                             f"recency_days (first: row {X.index[i]!r}); fit on buyers only")
        if self.one_time_scale_days is not None:
            scale = float(self.one_time_scale_days)
        else:
            gaps = (_column(X, "gap_median_days") if "gap_median_days" in X.columns
                    else np.array([np.nan]))
            gaps = gaps[~np.isnan(gaps)]
            scale = 1.0 + float(np.median(gaps)) if gaps.size else float(np.median(recency))
            scale = max(scale, 1.0)
        score = self._score(X, scale)
        self.isotonic_ = IsotonicRegression(increasing=True, out_of_bounds="clip",
                                            y_min=0.0, y_max=1.0).fit(score, target)
        self.one_time_scale_ = scale
        self.n_train_ = len(X)
        return self

    def overdue(self, X: pd.DataFrame) -> np.ndarray:
        """The overdue score of each row (NaN without a purchase).

        Parameters
        ----------
        X : pandas.DataFrame
            Feature-table rows with ``recency_days`` (and ``recency_gap_ratio``
            when available).

        Returns
        -------
        numpy.ndarray of shape (n,)
        """
        check_is_fitted(self, ["isotonic_", "one_time_scale_"])
        _require(X, ["recency_days"], "RecencyHeuristic.overdue")
        return self._score(X, self.one_time_scale_)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of defection of each row.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature-table rows.

        Returns
        -------
        numpy.ndarray of shape (n,)
            ``p_defect``: non-decreasing in the overdue score, NaN for rows without
            a purchase. (One column, not scikit-learn's two: the positive class is
            always "defected".)
        """
        score = self.overdue(X)
        out = np.full(score.shape, np.nan)
        known = ~np.isnan(score)
        if known.any():
            p = self.isotonic_.predict(score[known])
            out[known] = np.clip(p, self.min_proba, 1.0 - self.min_proba)
        return out


# --------------------------------------------------------------------------
# RFM logistic regression
# --------------------------------------------------------------------------


def _signed_log1p(values: Any) -> Any:
    # log1p on |x| keeps the sign: a negative amount (net of refunds) stays finite.
    return np.sign(values) * np.log1p(np.abs(values))


def rfm_logistic(
    *,
    columns: Sequence[str] = RFM_COLUMNS,
    log_columns: Sequence[str] = RFM_LOG_COLUMNS,
    C: float = 1.0,
    class_weight: dict | str | None = None,
) -> Pipeline:
    """A logistic regression of defection on recency, frequency and monetary value.

    Steps: a :class:`~sklearn.compose.ColumnTransformer` takes ``columns`` as
    they are and, for ``log_columns``, also ``sign(x) * log1p(|x|)``; each group
    is imputed with its median and a missing-value indicator for every column
    that had nulls in training (e.g. ``recency_days`` and ``monetary_mean`` of
    prospects); then :class:`~sklearn.preprocessing.StandardScaler` and
    :class:`~sklearn.linear_model.LogisticRegression` (``lbfgs``,
    ``max_iter=1000``). Every step is deterministic.

    Parameters
    ----------
    columns : sequence of str
        Feature-table columns used as they are.
    log_columns : sequence of str
        Columns (usually a subset of ``columns``) also used after ``log1p``.
    C : float, default=1.0
        Inverse strength of the L2 penalty.
    class_weight : dict, "balanced" or None
        Passed to :class:`~sklearn.linear_model.LogisticRegression`.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Unfitted; ``fit(X, y)`` with ``X`` a DataFrame of feature-table rows and
        ``y`` the defection labels; ``predict_proba(X)[:, 1]`` is ``p_defect``.
    """
    impute = {"strategy": "median", "add_indicator": True, "keep_empty_features": True}
    transformers: list[tuple[str, Any, list[str]]] = [
        ("raw", SimpleImputer(**impute), list(columns)),
    ]
    if log_columns:
        log = Pipeline([
            ("log1p", FunctionTransformer(_signed_log1p, feature_names_out="one-to-one")),
            ("impute", SimpleImputer(**impute)),
        ])
        transformers.append(("log", log, list(log_columns)))
    return Pipeline([
        ("columns", ColumnTransformer(transformers, remainder="drop")),
        ("scale", StandardScaler()),
        ("logistic", LogisticRegression(C=C, class_weight=class_weight, max_iter=1000)),
    ])
