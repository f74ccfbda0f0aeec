"""BG/NBD on feature-table rows: a defection baseline, and the features it gives the models.

:class:`BGNBDBaseline` fits the BG/NBD model of repeat buying
(:class:`models.bgnbd.BetaGeoModel`) on rows of the feature table and predicts
``p_defect``, the probability of no purchase in the label window; the
evaluation compares the models with it like with the baselines of
:mod:`models.baselines`. :func:`bgnbd_features` turns its predictions into the
:data:`BGNBD_FEATURES` columns that the defection and value models take as
inputs, in training and in scoring (:func:`with_bgnbd_features`). Rows without
a purchase (prospects, for whom defection has no meaning, see
:func:`models.labels.make_labels`) get NaN.

:class:`BTYDBaseline` holds what such a baseline does for any model of repeat
buying with ``(frequency, recency, T)`` inputs: those inputs from feature-table
rows in a unit of time, the buyers to fit on, and predictions over the horizon
with NaN for prospects; the Pareto/NBD baseline
(:class:`models.paretonbd_baseline.ParetoNBDBaseline`) is built on it too.

Data contract: the rows need ``frequency``, ``recency_days`` and
``days_since_first_purchase`` (see :func:`features.spec.feature_table`); the
features are ``float64`` columns on the index of the rows. The input checks
(``_require``, ``_column``) are shared with :mod:`models.baselines`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from models.bgnbd import BetaGeoModel

__all__ = [
    "BGNBD_FEATURES",
    "BGNBDBaseline",
    "BTYDBaseline",
    "bgnbd_features",
    "with_bgnbd_features",
]

_BTYD_COLUMNS = ("frequency", "recency_days", "days_since_first_purchase")


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


# --------------------------------------------------------------------------
# Models of repeat buying on feature-table rows
# --------------------------------------------------------------------------


def _btyd_inputs(frame: pd.DataFrame, unit_days: float,
                 who: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(buyer, x, t_x, T)`` from feature-table rows; ``x, t_x, T`` for buyers only."""
    _require(frame, _BTYD_COLUMNS, who)
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


class BTYDBaseline(BaseEstimator):
    """What the baselines of repeat-buying models on feature-table rows share.

    A subclass has the parameters ``horizon_days`` and ``unit_days``, fits a
    model of ``(frequency, recency, T)`` in units of ``unit_days`` days as
    ``model_`` on :meth:`_buyers`, and predicts with :meth:`_predict`. See
    :class:`BGNBDBaseline` for how the inputs are taken from the rows.
    """

    #: The model class (fitted as ``model_``) and its method of P(no purchase in t).
    _model: type
    _no_purchase: str

    def __init__(self, *, horizon_days: float = 90, unit_days: float = 7.0,
                 penalizer: float = 0.0, max_iter: int = 1000) -> None:
        self.horizon_days = horizon_days
        self.unit_days = unit_days
        self.penalizer = penalizer
        self.max_iter = max_iter

    def fit(self, X: pd.DataFrame, y: Any = None) -> BTYDBaseline:
        """Fit the model on the buyers among the rows of ``X``.

        Parameters
        ----------
        X : pandas.DataFrame
            Feature-table rows with ``frequency``, ``recency_days`` and
            ``days_since_first_purchase``.
        y : ignored
            Present for the scikit-learn API; the model learns from the history only.

        Returns
        -------
        The fitted estimator (``self``).

        Raises
        ------
        ValueError
            If a column is missing, a buyer lacks its recency or tenure, there is
            no buyer, or a parameter is out of range.
        """
        x, t_x, big_t = self._buyers(X, f"{type(self).__name__}.fit")
        self.model_ = self._model(penalizer=self.penalizer,
                                  max_iter=self.max_iter).fit(x, t_x, big_t)
        self.n_train_ = int(x.size)
        return self

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
        return self._predict(X, self._no_purchase,
                             f"{type(self).__name__}.{self._no_purchase}")

    def _buyers(self, X: pd.DataFrame, who: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, t_x, T)`` of the rows of ``X`` with a purchase, to fit on.

        Raises ``ValueError`` if ``horizon_days`` or ``unit_days`` is not positive,
        a column is missing, a buyer lacks its recency or tenure, or there is no
        buyer.
        """
        for name in ("horizon_days", "unit_days"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{who}: {name} must be a positive number; got {value!r}")
        _, x, t_x, big_t = _btyd_inputs(X, float(self.unit_days), who)
        if x.size == 0:
            raise ValueError(f"{who}: none of the {len(X)} rows has a purchase")
        return x, t_x, big_t

    def _predict(self, X: pd.DataFrame, method: str, who: str) -> np.ndarray:
        """``model_.<method>(horizon, x, t_x, T)`` for the buyers, NaN for the others."""
        check_is_fitted(self, "model_")
        buyer, x, t_x, big_t = _btyd_inputs(X, float(self.unit_days), who)
        out = np.full(len(X), np.nan)
        if x.size:
            horizon = float(self.horizon_days) / float(self.unit_days)
            out[buyer] = getattr(self.model_, method)(horizon, x, t_x, big_t)
        return out


class BGNBDBaseline(BTYDBaseline):
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
    :func:`models.btyd_data.summary_from_events` does), while the feature table's
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

    _model = BetaGeoModel
    _no_purchase = "p_no_purchase"

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
        return self._predict(X, "expected_purchases", "BGNBDBaseline.expected_purchases")


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
    buyer, x, t_x, big_t = _btyd_inputs(frame, unit, who)
    horizon = float(horizon_days) / unit
    columns = {name: np.full(len(frame), np.nan) for name in BGNBD_FEATURES}
    if x.size:
        columns["bgnbd_p_alive"][buyer] = bg.p_alive(x, t_x, big_t)
        columns["bgnbd_expected_purchases"][buyer] = bg.expected_purchases(horizon, x, t_x, big_t)
        columns["bgnbd_p_no_purchase"][buyer] = bg.p_no_purchase(horizon, x, t_x, big_t)
    return pd.DataFrame(columns, index=frame.index)
