"""The stage-transition baseline: the empirical next-stage distribution of each
lifecycle stage (a first-order Markov matrix), used by the evaluation."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from models.stages import STAGE_DTYPE, STAGES


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
