"""Baselines for the defection and stage-transition models.

Each baseline answers the question a model must beat with as little machinery
as possible:

* :class:`RecencyHeuristic` -- "how overdue is the next purchase?", turned into
  a probability by an increasing isotonic fit;
* :func:`rfm_logistic` -- a logistic regression on recency, frequency and
  monetary value;
* :class:`BGNBDBaseline` -- the BG/NBD model of repeat buying
  (:class:`models.bgnbd.BetaGeoModel`), fitted on the feature table; its
  predictions can also be fed to other models with :func:`bgnbd_features`;
* :class:`MarkovTransitionBaseline` -- the empirical next-stage distribution of
  each lifecycle stage.

The defection baselines read rows of the feature table (see
:func:`features.build.feature_table`) and predict ``p_defect``, the probability
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

from models.bgnbd import BetaGeoModel
from models.stages import STAGE_DTYPE, STAGES

__all__ = [
    "RFM_COLUMNS",
    "RFM_LOG_COLUMNS",
    "BGNBDBaseline",
    "MarkovTransitionBaseline",
    "RecencyHeuristic",
    "bgnbd_features",
    "rfm_logistic",
]

#: Feature-table columns of the RFM logistic regression.
RFM_COLUMNS: tuple[str, ...] = ("recency_days", "frequency", "monetary_mean", "monetary_sum")
#: Of these, the right-skewed counts and amounts that also enter as ``log1p``.
RFM_LOG_COLUMNS: tuple[str, ...] = ("frequency", "monetary_mean", "monetary_sum")

_BGNBD_COLUMNS = ("frequency", "recency_days", "days_since_first_purchase")


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _require(frame: Any, columns: Sequence[str], who: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{who}: X must be a pandas DataFrame of feature-table rows; got "
                        f"{type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{who}: X lacks the feature-table columns {missing}; it needs "
                         f"{list(columns)}")


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].to_numpy(dtype=np.float64, na_value=np.nan)


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


def _stage_codes(stages: Any, what: str) -> np.ndarray:
    """Positions in :data:`STAGES` of each value; raises on nulls and unknown stages."""
    series = pd.Series(stages).reset_index(drop=True)
    missing = series.isna().to_numpy()
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{what}: {int(missing.sum())} of {len(series)} values are missing "
                         f"(first at position {i})")
    codes = pd.Index(list(STAGES)).get_indexer(series.astype(object))
    unknown = codes < 0
    if unknown.any():
        i = int(np.flatnonzero(unknown)[0])
        raise ValueError(f"{what}: {int(unknown.sum())} values are not stages (first at "
                         f"position {i}: {series.iloc[i]!r}); the stages are {list(STAGES)}")
    return np.asarray(codes, dtype=np.int64)


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


# --------------------------------------------------------------------------
# BG/NBD
# --------------------------------------------------------------------------


def _bgnbd_inputs(frame: pd.DataFrame, unit_days: float,
                  who: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(buyer, x, t_x, T)`` from feature-table rows; ``x, t_x, T`` for buyers only."""
    _require(frame, _BGNBD_COLUMNS, who)
    n = _column(frame, "frequency")
    recency = _column(frame, "recency_days")
    since_first = _column(frame, "days_since_first_purchase")
    if np.isnan(n).any():
        i = int(np.flatnonzero(np.isnan(n))[0])
        raise ValueError(f"{who}: {int(np.isnan(n).sum())} rows have no frequency (first: row "
                         f"{frame.index[i]!r})")
    buyer = n > 0
    incomplete = buyer & (np.isnan(recency) | np.isnan(since_first))
    if incomplete.any():
        i = int(np.flatnonzero(incomplete)[0])
        raise ValueError(f"{who}: {int(incomplete.sum())} rows have purchases but no "
                         f"recency_days or days_since_first_purchase (first: row "
                         f"{frame.index[i]!r}); pass rows of the feature table")
    x = n[buyer] - 1.0
    t_x = (since_first[buyer] - recency[buyer]) / unit_days
    big_t = since_first[buyer] / unit_days
    return buyer, x, t_x, big_t


class BGNBDBaseline(BaseEstimator):
    """Defection as "no purchase in the horizon" under a BG/NBD model.

    The BG/NBD inputs of a customer at a cutoff are taken from its row of the
    feature table, in units of ``unit_days`` (weeks by default):

    * ``x = frequency - 1``: repeat purchases;
    * ``t_x = (days_since_first_purchase - recency_days) / unit_days``: time from
      the first to the last purchase;
    * ``T = days_since_first_purchase / unit_days``: time from the first purchase
      to the cutoff.

    ``p_defect`` is :meth:`models.bgnbd.BetaGeoModel.p_no_purchase` over
    ``horizon_days / unit_days``: exactly the event "no purchase in
    ``[t, t + horizon_days)``" of the defection label.

    Parameters
    ----------
    horizon_days : float, default=90
        Length of the label window, in days.
    unit_days : float, default=7.0
        Time unit of the model, in days.
    penalizer : float, default=0.0
        L2 penalty of :class:`~models.bgnbd.BetaGeoModel`.
    max_iter : int, default=1000
        Iterations of :class:`~models.bgnbd.BetaGeoModel`.

    Attributes
    ----------
    model_ : models.bgnbd.BetaGeoModel
        The fitted BG/NBD model.
    n_train_ : int
        Number of rows (customer snapshots with a purchase) it was fitted on.

    Notes
    -----
    An approximation: BG/NBD counts repeat purchase *days* (as
    :func:`models.bgnbd.summary_from_events` does), while the feature table's
    ``frequency`` counts purchases, so two purchases on one day count as two
    here, and the last purchase day is known only through ``recency_days``.
    With same-day repeat purchases ``x`` is too high (and ``t_x`` may be 0 with
    ``x > 0``), which makes such customers look more active. ``p_defect`` is
    unaffected by the unit of counting (no purchase is no purchase day), but
    :meth:`expected_purchases` counts purchase days and so falls short of
    ``future_purchases`` for customers who buy several times a day.

    ``fit`` uses every row with a purchase; rows of several training cutoffs
    count the same customer several times: the sum of their log-likelihoods is
    a composite likelihood, whose maximum is still a sound estimate, but
    ``model_.log_likelihood_`` is not the likelihood of independent customers.
    Rows without a purchase (prospects) are skipped in ``fit`` and get NaN.
    """

    def __init__(self, *, horizon_days: float = 90, unit_days: float = 7.0,
                 penalizer: float = 0.0, max_iter: int = 1000) -> None:
        self.horizon_days = horizon_days
        self.unit_days = unit_days
        self.penalizer = penalizer
        self.max_iter = max_iter

    def fit(self, X: pd.DataFrame, y: Any = None) -> BGNBDBaseline:
        """Fit the BG/NBD model on the buyers among the rows of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature-table rows with ``frequency``, ``recency_days`` and
            ``days_since_first_purchase``.
        y : ignored
            Present for the scikit-learn API; BG/NBD learns from the history only.

        Returns
        -------
        BGNBDBaseline
            The fitted estimator (``self``).

        Raises
        ------
        ValueError
            If a column is missing, a buyer lacks its recency or tenure, there is
            no buyer, or a parameter is out of range.
        """
        who = "BGNBDBaseline.fit"
        for name in ("horizon_days", "unit_days"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{who}: {name} must be a positive number; got {value!r}")
        _, x, t_x, big_t = _bgnbd_inputs(X, float(self.unit_days), who)
        if x.size == 0:
            raise ValueError(f"{who}: none of the {len(X)} rows has a purchase")
        self.model_ = BetaGeoModel(penalizer=self.penalizer,
                                   max_iter=self.max_iter).fit(x, t_x, big_t)
        self.n_train_ = int(x.size)
        return self

    def _predict(self, X: pd.DataFrame, what: str) -> np.ndarray:
        check_is_fitted(self, "model_")
        buyer, x, t_x, big_t = _bgnbd_inputs(X, float(self.unit_days),
                                             f"BGNBDBaseline.{what}")
        out = np.full(len(X), np.nan)
        if x.size:
            horizon = float(self.horizon_days) / float(self.unit_days)
            method = getattr(self.model_, what)
            out[buyer] = method(horizon, x, t_x, big_t)
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Probability of no purchase in the next ``horizon_days`` days.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature-table rows.

        Returns
        -------
        numpy.ndarray of shape (n,)
            ``p_defect``; NaN for rows without a purchase.
        """
        return self._predict(X, "p_no_purchase")

    def expected_purchases(self, X: pd.DataFrame) -> np.ndarray:
        """Expected purchase days in the next ``horizon_days`` days.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature-table rows.

        Returns
        -------
        numpy.ndarray of shape (n,)
            NaN for rows without a purchase.
        """
        return self._predict(X, "expected_purchases")


#: Columns of :func:`bgnbd_features`.
BGNBD_FEATURES = ("bgnbd_p_alive", "bgnbd_expected_purchases", "bgnbd_p_no_purchase")


def with_bgnbd_features(frame: pd.DataFrame, model: BGNBDBaseline | None,
                        horizon_days: float) -> pd.DataFrame:
    """``frame`` (index reset) with the :data:`BGNBD_FEATURES` columns appended;
    ``frame`` itself, index reset, when ``model`` is None. Not modified."""
    frame = frame.reset_index(drop=True)
    if model is None:
        return frame
    extra = bgnbd_features(model, frame, horizon_days)
    return pd.concat([frame, extra.reset_index(drop=True)], axis=1)


def bgnbd_features(model: BGNBDBaseline | BetaGeoModel, frame: pd.DataFrame,
                   horizon_days: float, *, unit_days: float | None = None) -> pd.DataFrame:
    """BG/NBD predictions as columns for another model.

    Parameters
    ----------
    model : BGNBDBaseline or models.bgnbd.BetaGeoModel
        Fitted. A :class:`~models.bgnbd.BetaGeoModel` must have been fitted in
        units of ``unit_days``.
    frame : pandas.DataFrame
        Feature-table rows with ``frequency``, ``recency_days`` and
        ``days_since_first_purchase``. Not modified.
    horizon_days : float
        Length of the prediction window, in days.
    unit_days : float, optional
        Time unit of the model, in days; default the baseline's ``unit_days``, or
        7 for a bare :class:`~models.bgnbd.BetaGeoModel`.

    Returns
    -------
    pandas.DataFrame
        On the index of ``frame``, float64 columns ``bgnbd_p_alive`` (probability
        of being active at the cutoff), ``bgnbd_expected_purchases`` (purchase
        days expected in the window) and ``bgnbd_p_no_purchase`` (probability of
        none); NaN for rows without a purchase.

    Raises
    ------
    ValueError
        If ``unit_days`` contradicts the baseline's, ``horizon_days`` is not
        positive, or the frame lacks a column.

    Notes
    -----
    Fitted on the training rows and applied to the same rows, these features
    carry only the four fitted parameters from the labels-free history, so they
    add no label leakage. See :class:`BGNBDBaseline` for the approximation in
    the inputs.
    """
    who = "bgnbd_features"
    if isinstance(model, BGNBDBaseline):
        check_is_fitted(model, "model_")
        if unit_days is not None and unit_days != model.unit_days:
            raise ValueError(f"{who}: unit_days={unit_days!r} differs from the baseline's "
                             f"unit_days={model.unit_days!r}")
        unit = float(model.unit_days)
        bg = model.model_
    elif isinstance(model, BetaGeoModel):
        unit = 7.0 if unit_days is None else float(unit_days)
        bg = model
    else:
        raise TypeError(f"{who}: model must be a BGNBDBaseline or a BetaGeoModel; got "
                        f"{type(model).__name__}")
    if not (np.isfinite(horizon_days) and horizon_days > 0):
        raise ValueError(f"{who}: horizon_days must be a positive number; got {horizon_days!r}")
    if not (np.isfinite(unit) and unit > 0):
        raise ValueError(f"{who}: unit_days must be a positive number; got {unit!r}")
    buyer, x, t_x, big_t = _bgnbd_inputs(frame, unit, who)
    horizon = float(horizon_days) / unit
    columns = {name: np.full(len(frame), np.nan) for name in BGNBD_FEATURES}
    if x.size:
        columns["bgnbd_p_alive"][buyer] = bg.p_alive(x, t_x, big_t)
        columns["bgnbd_expected_purchases"][buyer] = bg.expected_purchases(horizon, x, t_x, big_t)
        columns["bgnbd_p_no_purchase"][buyer] = bg.p_no_purchase(horizon, x, t_x, big_t)
    return pd.DataFrame(columns, index=frame.index)


# --------------------------------------------------------------------------
# Markov transitions
# --------------------------------------------------------------------------


class MarkovTransitionBaseline(BaseEstimator):
    """Next lifecycle stage drawn from the training frequencies of each stage.

    ``P(next_stage = j | stage = i) = (n_ij + alpha) / (n_i + alpha * K)`` with
    ``n_ij`` the training transitions from ``i`` to ``j``, ``n_i`` those from
    ``i`` and ``K = 7`` the number of stages (:data:`models.stages.STAGES`).

    Parameters
    ----------
    alpha : float, default=1.0
        Additive (Laplace) smoothing; 0 gives the raw frequencies.

    Attributes
    ----------
    classes_ : numpy.ndarray
        The stages, in :data:`~models.stages.STAGES` order.
    counts_ : pandas.DataFrame
        Training transitions: rows the stage at ``t``, columns the stage at
        ``t + horizon``, both in ``STAGES`` order (int64).
    transition_matrix_ : pandas.DataFrame
        The probabilities, same layout; every row sums to 1.

    Notes
    -----
    A stage without training rows has no frequencies to smooth; with
    ``alpha > 0`` its row is uniform, with ``alpha == 0`` it is the overall
    next-stage distribution of the training data.
    """

    def __init__(self, *, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, stages: Any, next_stages: Any) -> MarkovTransitionBaseline:
        """Count the training transitions.

        Parameters
        ----------
        stages : array-like of str
            Stage at each training cutoff (``labels["stage"]``).
        next_stages : array-like of str
            Stage ``horizon_days`` later (``labels["next_stage"]``), same length.

        Returns
        -------
        MarkovTransitionBaseline
            The fitted estimator (``self``).

        Raises
        ------
        ValueError
            If the lengths differ, a value is missing or not a stage, there are no
            rows, or ``alpha`` is negative.
        """
        who = "MarkovTransitionBaseline.fit"
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise ValueError(f"{who}: alpha must be a number >= 0; got {self.alpha!r}")
        src = _stage_codes(stages, f"{who}: stages")
        dst = _stage_codes(next_stages, f"{who}: next_stages")
        if src.size != dst.size:
            raise ValueError(f"{who}: stages and next_stages differ in length "
                             f"({src.size} and {dst.size})")
        if src.size == 0:
            raise ValueError(f"{who}: there are no transitions to count")
        k = len(STAGES)
        counts = np.bincount(src * k + dst, minlength=k * k).reshape(k, k).astype(np.int64)
        smoothed = counts + float(self.alpha)
        totals = smoothed.sum(axis=1, keepdims=True)
        marginal = counts.sum(axis=0) / counts.sum()
        matrix = np.where(totals > 0, smoothed / np.where(totals > 0, totals, 1.0), marginal)
        labels = pd.Index(list(STAGES))
        self.classes_ = np.array(STAGES, dtype=object)
        self.counts_ = pd.DataFrame(counts, index=labels.rename("stage"),
                                    columns=labels.rename("next_stage"))
        self.transition_matrix_ = pd.DataFrame(matrix, index=labels.rename("stage"),
                                               columns=labels.rename("next_stage"))
        return self

    def predict_proba(self, stages: Any) -> pd.DataFrame:
        """Next-stage distribution of each row.

        Parameters
        ----------
        stages : array-like of str
            Current stages.

        Returns
        -------
        pandas.DataFrame
            One row per input (on the input's index if it is a Series, else a
            fresh one), columns :data:`~models.stages.STAGES`; rows sum to 1.
        """
        check_is_fitted(self, "transition_matrix_")
        codes = _stage_codes(stages, "MarkovTransitionBaseline.predict_proba: stages")
        index = stages.index if isinstance(stages, pd.Series) else pd.RangeIndex(codes.size)
        out = pd.DataFrame(self.transition_matrix_.to_numpy()[codes], index=index,
                           columns=list(STAGES))
        return out

    def predict(self, stages: Any) -> pd.Series:
        """Most likely next stage of each row (the earlier stage in ``STAGES`` on ties).

        Parameters
        ----------
        stages : array-like of str
            Current stages.

        Returns
        -------
        pandas.Series
            Named ``next_stage``, of dtype :data:`models.stages.STAGE_DTYPE`.
        """
        proba = self.predict_proba(stages)
        codes = proba.to_numpy().argmax(axis=1)
        values = pd.Categorical.from_codes(codes, dtype=STAGE_DTYPE)
        return pd.Series(values, index=proba.index, name="next_stage")
