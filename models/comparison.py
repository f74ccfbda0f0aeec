"""A model against its baseline on the same rows: the paired bootstrap of the
difference of their ROC AUC, and the share of the baseline-to-oracle gap that
the model closes.

The labels and scores follow the conventions of :mod:`models.metrics` and are
checked by its helpers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from models.metrics import _binary, _both_classes, _scores

__all__ = ["gap_closed", "paired_bootstrap_auc_diff"]

# Rows x resamples handled at once by the bootstrap (bounds the memory to ~100 MB).
_BOOT_CELLS = 4_000_000


def _auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC from weights per score level (last axis: levels, ascending).

    ``AUC = sum_l pos_l * (neg below l + neg_l / 2) / (pos total * neg total)``; NaN
    where a class has no weight.
    """
    below = np.cumsum(neg, axis=-1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=-1)
    den = pos.sum(axis=-1) * neg.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def paired_bootstrap_auc_diff(y: Any, p_model: Any, p_baseline: Any, *, n_boot: int = 1000,
                              seed: int = 0) -> dict[str, float]:
    """Bootstrap the difference of ROC AUC between a model and a baseline on one sample.

    Each resample draws ``n`` rows with replacement and evaluates both scores on
    the same rows, so the noise common to both cancels. The AUC of a resample is
    the Mann-Whitney statistic computed from how many times each row was drawn
    (counts per distinct score), which needs one sort of the scores in all;
    ties count one half, as in :func:`sklearn.metrics.roc_auc_score`.

    Parameters
    ----------
    y : array-like of bool or 0/1, shape (n,)
        Labels, with both classes.
    p_model, p_baseline : array-like of float, shape (n,)
        Scores (any finite numbers: only their order matters).
    n_boot : int, default=1000
        Number of resamples.
    seed : int, default=0
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    dict
        ``auc_model``, ``auc_baseline`` and ``diff`` (``auc_model - auc_baseline``)
        on the full sample; ``ci_low`` and ``ci_high``, the 2.5 and 97.5
        percentiles of the resampled differences; ``p_value``, the share of
        resamples with a difference ``<= 0`` (a one-sided bootstrap indication
        that the model is not better, not an exact test); ``n_boot`` and
        ``n_boot_valid``, the resamples with both classes (the others have no
        AUC and are left out).

    Raises
    ------
    ValueError
        If ``y`` has a single class, the lengths differ, a score is missing, or
        ``n_boot < 1``.
    """
    y = _binary(y)
    _both_classes(y, "paired_bootstrap_auc_diff")
    n = y.size
    if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 1:
        raise ValueError(f"n_boot must be an integer >= 1; got {n_boot!r}")
    label = y.astype(np.int64)
    sides = []
    for name, scores in (("p_model", p_model), ("p_baseline", p_baseline)):
        s = _scores(scores, n, name, probability=False)
        _, level = np.unique(s, return_inverse=True)
        sides.append((level.astype(np.int64), int(level.max()) + 1))

    def auc(idx: np.ndarray | None, level: np.ndarray, n_levels: int) -> np.ndarray:
        """AUC of each resample (rows of ``idx``); the full sample if ``idx`` is None."""
        if idx is None:
            idx = np.arange(n)[None, :]
        rows = idx.shape[0]
        key = (np.arange(rows)[:, None] * 2 + label[idx]) * n_levels + level[idx]
        counts = np.bincount(key.ravel(), minlength=rows * 2 * n_levels)
        counts = counts.reshape(rows, 2, n_levels).astype(np.float64)
        return _auc_from_counts(counts[:, 1], counts[:, 0])

    full = [float(auc(None, level, k)[0]) for level, k in sides]
    rng = np.random.default_rng(seed)
    chunk = max(1, _BOOT_CELLS // n)
    diffs = np.empty(int(n_boot))
    for start in range(0, int(n_boot), chunk):
        stop = min(start + chunk, int(n_boot))
        idx = rng.integers(0, n, size=(stop - start, n))
        diffs[start:stop] = auc(idx, *sides[0]) - auc(idx, *sides[1])
    valid = diffs[~np.isnan(diffs)]
    if valid.size:
        low, high = np.percentile(valid, [2.5, 97.5])
        p_value = float(np.mean(valid <= 0))
    else:
        low = high = p_value = math.nan
    return {
        "auc_model": full[0],
        "auc_baseline": full[1],
        "diff": full[0] - full[1],
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": p_value,
        "n_boot": int(n_boot),
        "n_boot_valid": int(valid.size),
    }


def gap_closed(model_auc: float, baseline_auc: float, oracle_auc: float) -> float:
    """Share of the baseline-to-oracle AUC gap that the model closes.

    ``(model_auc - baseline_auc) / (oracle_auc - baseline_auc)``: 0 at the
    baseline, 1 at the oracle, negative below the baseline and above 1 beyond
    the oracle (not clipped, so that such cases show).

    Parameters
    ----------
    model_auc, baseline_auc, oracle_auc : float
        AUCs on the same evaluation rows.

    Returns
    -------
    float
        The share; NaN when ``oracle_auc <= baseline_auc`` (there is no gap to
        close, so the share is undefined) or when an input is NaN.
    """
    model, base, oracle = (float(v) for v in (model_auc, baseline_auc, oracle_auc))
    if any(math.isnan(v) for v in (model, base, oracle)) or oracle <= base:
        return math.nan
    return (model - base) / (oracle - base)
