"""Evaluation metrics for defection, stage transitions and future value.

Pure functions: arrays in, plain dicts (of Python floats) and tidy DataFrames
out, for the evaluate stage to write as DVC metrics and to log to MLflow. The
frames of the plots are in :mod:`models.curves` and the comparison of a model
with a baseline in :mod:`models.comparison`; both check their inputs with the
helpers here.

Conventions
-----------
* ``y`` is the defection label (boolean or 0/1, no nulls: drop prospects
  first); ``p`` the predicted probability of defection, in ``[0, 1]``.
* The *top decile* is the ``k = ceil(n / 10)`` rows with the highest ``p``.
  When several rows tie at the boundary, they share the remaining places
  equally: each counts as the fraction ``(k - rows strictly above) / rows tied``
  of a row. So the result does not depend on the row order, and a constant
  ``p`` has a lift of exactly 1. The deciles of :func:`models.curves.curves`
  follow the same rule with boundaries ``ceil(n * j / 10)``.
* A metric that is undefined on the data (ROC AUC with one class, lift with no
  defector, ...) is NaN rather than an error, so that per-group tables keep
  their shape.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import ConstantInputWarning, spearmanr
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    log_loss,
    roc_auc_score,
)

from models.stages import STAGES

__all__ = [
    "defection_metrics",
    "per_group_metrics",
    "transition_metrics",
    "value_metrics",
]

#: Keys of :func:`defection_metrics`, in order; the columns of :func:`per_group_metrics`.
DEFECTION_METRICS: tuple[str, ...] = (
    "n", "base_rate", "roc_auc", "pr_auc", "log_loss", "brier", "ece",
    "lift_top_decile", "capture_top_decile",
)


# --------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------


def _values(values: Any, name: str) -> np.ndarray:
    if isinstance(values, pd.Series | pd.Index):
        if values.isna().any():
            raise ValueError(f"{name} has {int(values.isna().sum())} missing values of "
                             f"{len(values)}; drop those rows first")
        values = values.to_numpy(dtype=np.float64)
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric or boolean: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional; got shape {arr.shape}")
    return arr


def _first(mask: np.ndarray, name: str, problem: str, arr: np.ndarray) -> None:
    if mask.any():
        i = int(np.flatnonzero(mask)[0])
        raise ValueError(f"{name}: {int(mask.sum())} of {mask.size} values {problem} (first at "
                         f"position {i}: {arr[i]!r})")


def _binary(y: Any, name: str = "y") -> np.ndarray:
    arr = _values(y, name)
    if arr.size == 0:
        raise ValueError(f"{name} is empty: there is nothing to evaluate")
    _first(np.isnan(arr), name, "are missing; drop those rows first", arr)
    _first((arr != 0) & (arr != 1), name, "are not 0/1 or boolean", arr)
    return arr


def _scores(p: Any, n: int, name: str, *, probability: bool = True) -> np.ndarray:
    arr = _values(p, name)
    if arr.size != n:
        raise ValueError(f"{name} has {arr.size} values for {n} labels")
    _first(~np.isfinite(arr), name, "are missing or infinite", arr)
    if probability:
        _first((arr < 0) | (arr > 1), name, "are outside [0, 1]", arr)
    return arr


def _both_classes(y: np.ndarray, who: str) -> None:
    if y.min() == y.max():
        raise ValueError(f"{who}: y has only the class {int(y[0])} ({y.size} rows); it needs "
                         "defectors and non-defectors")


# --------------------------------------------------------------------------
# Ranking helpers
# --------------------------------------------------------------------------


def _defectors_in_top(y: np.ndarray, p: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Defectors among the ``m`` highest-``p`` rows, rows tied at the boundary shared.

    ``m`` is an integer array of counts in ``0..n``; the result has its shape.
    """
    order = np.argsort(-p, kind="stable")
    desc = -p[order]  # ascending, so searchsorted finds each value's run of ties
    cum = np.concatenate([[0.0], np.cumsum(y[order])])
    m = np.asarray(m, dtype=np.int64)
    out = np.zeros(m.shape)
    taken = m > 0
    value = desc[m[taken] - 1]  # the score of the last row taken
    lo = np.searchsorted(desc, value, side="left")
    hi = np.searchsorted(desc, value, side="right")
    out[taken] = cum[lo] + (m[taken] - lo) * (cum[hi] - cum[lo]) / (hi - lo)
    return out


# --------------------------------------------------------------------------
# Defection
# --------------------------------------------------------------------------


def defection_metrics(y: Any, p: Any) -> dict[str, float]:
    """Discrimination, calibration and top-decile metrics of defection probabilities.

    Parameters
    ----------
    y : array-like of bool or 0/1, shape (n,)
        Defection labels, without nulls.
    p : array-like of float, shape (n,)
        Predicted probabilities of defection, in ``[0, 1]``.

    Returns
    -------
    dict
        ``n`` (rows), ``base_rate`` (share of defectors), ``roc_auc``, ``pr_auc``
        (average precision), ``log_loss``, ``brier`` (mean squared error of
        ``p``), ``ece`` (expected calibration error over 10 equal-frequency bins,
        :func:`models.calibration.expected_calibration_error`),
        ``lift_top_decile`` (defection rate in the top decile by ``p`` over the
        base rate) and ``capture_top_decile`` (share of all defectors in the
        top decile). The top decile is ``ceil(n / 10)`` rows, ties at its
        boundary shared (see the module notes). ROC and PR AUC are NaN with a
        single class; lift and capture are NaN without defectors.

    Raises
    ------
    ValueError
        If the inputs are empty, of different lengths, have nulls, ``y`` is not
        binary or ``p`` is outside ``[0, 1]``.
    """
    from models.calibration import expected_calibration_error

    y = _binary(y)
    p = _scores(p, y.size, "p")
    n = y.size
    defectors = float(y.sum())
    base_rate = defectors / n
    two_classes = 0 < defectors < n
    k = math.ceil(n / 10)
    top = float(_defectors_in_top(y, p, np.array([k]))[0])
    return {
        "n": int(n),
        "base_rate": base_rate,
        "roc_auc": float(roc_auc_score(y, p)) if two_classes else math.nan,
        "pr_auc": float(average_precision_score(y, p)) if two_classes else math.nan,
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(np.mean((p - y) ** 2)),
        "ece": float(expected_calibration_error(y, p, n_bins=10)),
        "lift_top_decile": (top / k) / base_rate if defectors else math.nan,
        "capture_top_decile": top / defectors if defectors else math.nan,
    }


def per_group_metrics(y: Any, p: Any, groups: Any) -> pd.DataFrame:
    """:func:`defection_metrics` within each group (e.g. each lifecycle stage).

    Parameters
    ----------
    y, p : array-like, shape (n,)
        As in :func:`defection_metrics`.
    groups : array-like, shape (n,)
        Group of each row, without nulls.

    Returns
    -------
    pandas.DataFrame
        One row per group that has rows (in category order for a categorical,
        else sorted), indexed by group (named after ``groups`` if it is a named
        Series, else ``group``), with the columns :data:`DEFECTION_METRICS`.
        Metrics undefined in a group (e.g. ROC AUC when all its rows defected)
        are NaN.

    Raises
    ------
    ValueError
        As :func:`defection_metrics`, or if ``groups`` differs in length or has nulls.
    """
    y = _binary(y)
    p = _scores(p, y.size, "p")
    g = pd.Series(groups).reset_index(drop=True)
    if len(g) != y.size:
        raise ValueError(f"groups has {len(g)} values for {y.size} labels")
    missing = g.isna().to_numpy()
    if missing.any():
        raise ValueError(f"groups has {int(missing.sum())} missing values of {len(g)} (first "
                         f"at position {int(np.flatnonzero(missing)[0])}); fill or drop them")
    if isinstance(g.dtype, pd.CategoricalDtype):
        present = set(g.unique())
        keys: list[Hashable] = [c for c in g.cat.categories if c in present]
    else:
        keys = sorted(g.unique())
    rows = []
    for key in keys:
        mask = (g == key).to_numpy()
        rows.append(defection_metrics(y[mask], p[mask]))
    name = groups.name if isinstance(groups, pd.Series) and groups.name is not None else "group"
    out = pd.DataFrame(rows, index=pd.Index(keys, name=name), columns=list(DEFECTION_METRICS))
    return out.astype({c: "float64" for c in DEFECTION_METRICS if c != "n"})


# --------------------------------------------------------------------------
# Stage transitions
# --------------------------------------------------------------------------


def transition_metrics(y_true: Any, proba: pd.DataFrame) -> dict[str, Any]:
    """Accuracy, macro F1, per-class recall, log loss and confusion of next-stage predictions.

    Parameters
    ----------
    y_true : array-like of str, shape (n,)
        The observed stage at ``t + horizon`` (``labels["next_stage"]``).
    proba : pandas.DataFrame, shape (n, 7)
        Predicted probabilities with the stages of :data:`models.stages.STAGES` as
        columns (any order); rows match ``y_true`` by position and sum to 1.

    Returns
    -------
    dict
        ``n``; ``accuracy``; ``macro_f1`` (unweighted mean of the F1 of the stages
        that occur in ``y_true`` or among the predictions); ``recall`` (dict
        stage -> recall, for the stages that occur in ``y_true``, in ``STAGES``
        order); ``log_loss`` (over all seven stages); ``confusion`` (DataFrame of
        counts, rows the true stage, columns the predicted one, both in
        ``STAGES`` order). The prediction of a row is its most probable stage,
        the earlier one in ``STAGES`` on ties.

    Raises
    ------
    ValueError
        If the columns are not the stages, the lengths differ, a value is not a
        stage, or a row of ``proba`` is not a probability distribution.
    """
    if not isinstance(proba, pd.DataFrame):
        raise TypeError(f"proba must be a DataFrame with the stages as columns; got "
                        f"{type(proba).__name__}")
    if sorted(map(str, proba.columns)) != sorted(STAGES) or len(proba.columns) != len(STAGES):
        raise ValueError(f"proba must have exactly the columns {list(STAGES)}; got "
                         f"{list(proba.columns)}")
    truth = pd.Series(y_true).reset_index(drop=True)
    if len(truth) != len(proba):
        raise ValueError(f"y_true has {len(truth)} values for {len(proba)} rows of proba")
    if len(truth) == 0:
        raise ValueError("y_true is empty: there is nothing to evaluate")
    codes = pd.Index(list(STAGES)).get_indexer(truth.astype(object)).astype(np.int64)
    bad = codes < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"y_true: {int(bad.sum())} of {len(truth)} values are missing or not "
                         f"stages (first at position {i}: {truth.iloc[i]!r})")
    probs = proba[list(STAGES)].to_numpy(dtype=np.float64)
    off = ~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1)
    off |= np.abs(probs.sum(axis=1) - 1.0) > 1e-6
    if off.any():
        i = int(np.flatnonzero(off)[0])
        raise ValueError(f"proba: {int(off.sum())} of {len(proba)} rows are not probability "
                         f"distributions over the stages (first at position {i}, sum "
                         f"{probs[i].sum()!r})")
    predicted = probs.argmax(axis=1)
    labels = np.arange(len(STAGES))
    present = np.union1d(codes, predicted)
    matrix = confusion_matrix(codes, predicted, labels=labels)
    index = pd.Index(list(STAGES), name="true")
    recall = {STAGES[c]: float(matrix[c, c] / matrix[c].sum())
              for c in labels if matrix[c].sum() > 0}
    return {
        "n": int(codes.size),
        "accuracy": float(np.mean(codes == predicted)),
        "macro_f1": float(f1_score(codes, predicted, labels=present, average="macro",
                                   zero_division=0.0)),
        "recall": recall,
        "log_loss": float(log_loss(codes, probs, labels=labels)),
        "confusion": pd.DataFrame(matrix.astype(np.int64), index=index,
                                  columns=pd.Index(list(STAGES), name="predicted")),
    }


# --------------------------------------------------------------------------
# Future value
# --------------------------------------------------------------------------


def value_metrics(y: Any, pred: Any) -> dict[str, float]:
    """Errors and rank agreement of a predicted amount (e.g. ``future_spend``).

    Parameters
    ----------
    y : array-like of float, shape (n,)
        Observed values.
    pred : array-like of float, shape (n,)
        Predictions.

    Returns
    -------
    dict
        ``n``, ``mae``, ``rmse``, ``spearman`` (rank correlation,
        :func:`scipy.stats.spearmanr`; NaN if either side is constant or
        ``n < 2``), ``mean_y`` and ``mean_pred``.

    Raises
    ------
    ValueError
        If the inputs are empty, differ in length or have missing or infinite values.
    """
    truth = _values(y, "y")
    if truth.size == 0:
        raise ValueError("y is empty: there is nothing to evaluate")
    _first(~np.isfinite(truth), "y", "are missing or infinite", truth)
    guess = _scores(pred, truth.size, "pred", probability=False)
    err = guess - truth
    constant = truth.size < 2 or truth.min() == truth.max() or guess.min() == guess.max()
    if constant:
        rho = math.nan
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConstantInputWarning)
            rho = float(spearmanr(truth, guess).statistic)
    return {
        "n": int(truth.size),
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "spearman": rho,
        "mean_y": float(truth.mean()),
        "mean_pred": float(guess.mean()),
    }
