"""Tidy frames for the ROC, precision-recall, calibration and lift plots of
defection probabilities, which the evaluate stage writes as DVC plots.

The labels and probabilities follow the conventions of :mod:`models.metrics`
and are checked by its helpers; the lift deciles share tied rows at their
boundaries as its top decile does, and the calibration bins are those of
:func:`models.calibration.expected_calibration_error`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from models.metrics import _binary, _both_classes, _defectors_in_top, _scores

__all__ = ["curves"]


def curves(y: Any, p: Any, *, n_bins: int = 10) -> dict[str, pd.DataFrame]:
    """Tidy frames for ROC, precision-recall, calibration and lift plots.

    Parameters
    ----------
    y : array-like of bool or 0/1, shape (n,)
        Defection labels, with both classes.
    p : array-like of float, shape (n,)
        Predicted probabilities of defection, in ``[0, 1]``.
    n_bins : int, default=10
        Number of equal-frequency bins of the calibration frame.

    Returns
    -------
    dict of str to pandas.DataFrame
        * ``roc``: ``fpr``, ``tpr``, ``threshold`` (:func:`sklearn.metrics.roc_curve`;
          the first row, nothing predicted positive, has threshold ``inf``);
        * ``pr``: ``recall``, ``precision``, by increasing recall
          (:func:`sklearn.metrics.precision_recall_curve`);
        * ``calibration``: ``bin`` (1 = lowest ``p``), ``mean_p``, ``observed``
          (defection rate), ``count``, one row per non-empty bin. The bins are
          those of :func:`models.calibration.expected_calibration_error`: the
          row of rank ``r`` (0-based, by increasing ``p``) goes to bin
          ``floor(r * n_bins / n)``, and tied rows all take the rank of the
          first of the tie, so a tie is never split and some bins may be empty;
        * ``lift``: ``decile`` (1 = highest ``p``), ``lift`` (defection rate in
          the decile over the base rate), ``cumulative_capture`` (share of all
          defectors in deciles ``1..decile``); decile ``j`` ends at row
          ``ceil(n * j / 10)``, ties shared as in
          :func:`~models.metrics.defection_metrics`, and a decile without rows
          (``n < 10``) has NaN lift.

    Raises
    ------
    ValueError
        If ``y`` has a single class or the inputs are invalid (see
        :func:`~models.metrics.defection_metrics`).
    """
    y = _binary(y)
    p = _scores(p, y.size, "p")
    _both_classes(y, "curves")
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be an integer >= 1; got {n_bins!r}")
    n = y.size

    fpr, tpr, thresholds = roc_curve(y, p)
    roc = pd.DataFrame({"fpr": fpr, "tpr": tpr, "threshold": thresholds})

    precision, recall, _ = precision_recall_curve(y, p)
    pr = pd.DataFrame({"recall": recall[::-1], "precision": precision[::-1]})

    order = np.argsort(p, kind="stable")
    sorted_p = p[order]
    # The binning of models.calibration.expected_calibration_error, so that the plot
    # shows the gaps the ECE adds up: rank r goes to bin r * n_bins // n, and every
    # row of a tie takes the rank of the tie's first row.
    first_rank = np.searchsorted(sorted_p, sorted_p, side="left")
    bin_of = (first_rank * int(n_bins)) // n
    count = np.bincount(bin_of, minlength=int(n_bins))
    used = np.flatnonzero(count)
    sum_p = np.bincount(bin_of, weights=sorted_p, minlength=int(n_bins))[used]
    sum_y = np.bincount(bin_of, weights=y[order], minlength=int(n_bins))[used]
    calibration = pd.DataFrame({
        "bin": (used + 1).astype(np.int64),
        "mean_p": sum_p / count[used],
        "observed": sum_y / count[used],
        "count": count[used].astype(np.int64),
    })

    deciles = np.arange(1, 11, dtype=np.int64)
    ends = -(-n * deciles // 10)  # ceil(n * j / 10)
    cum = _defectors_in_top(y, p, ends)
    rows = np.diff(ends, prepend=0)
    gained = np.diff(cum, prepend=0.0)
    base_rate = y.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        lift_values = np.where(rows > 0, gained / np.where(rows > 0, rows, 1) / base_rate,
                               np.nan)
    lift = pd.DataFrame({
        "decile": deciles,
        "lift": lift_values,
        "cumulative_capture": cum / y.sum(),
    })
    return {"roc": roc, "pr": pr, "calibration": calibration, "lift": lift}
