"""Defection baselines: the recency heuristic and the RFM logistic regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from models.baselines import RecencyHeuristic, rfm_logistic

# --------------------------------------------------------------------------
# RecencyHeuristic
# --------------------------------------------------------------------------


def _overdue_data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Buyers whose defection odds grow with how overdue they are; a third buy once."""
    rng = np.random.default_rng(seed)
    gap = rng.uniform(5.0, 60.0, n)
    one_time = rng.random(n) < 1 / 3
    recency = np.ceil(rng.uniform(0.1, 4.0, n) * (1.0 + gap))
    frame = pd.DataFrame({
        "recency_days": recency,
        "gap_median_days": np.where(one_time, np.nan, gap),
        "recency_gap_ratio": np.where(one_time, np.nan, recency / (1.0 + gap)),
    })
    score = np.where(one_time, recency / (1.0 + np.median(gap[~one_time])),
                     frame["recency_gap_ratio"])
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-2.0 * (score - 2.0)))
    return frame, y


def test_recency_heuristic_overdue_score_by_hand() -> None:
    # Median gap of the repeat buyers is 9, so one "usual gap" of a one-time buyer
    # lasts 1 + 9 = 10 days: 20 days since the purchase score 2.0.
    train = pd.DataFrame({
        "recency_days": [8.0, 30.0, 45.0, 20.0, 5.0],
        "gap_median_days": [4.0, 9.0, 14.0, np.nan, np.nan],
        "recency_gap_ratio": [8 / 5, 3.0, 3.0, np.nan, np.nan],
    })
    model = RecencyHeuristic().fit(train, [False, True, True, True, False])
    assert model.one_time_scale_ == pytest.approx(10.0)
    assert model.overdue(train).tolist() == pytest.approx([1.6, 3.0, 3.0, 2.0, 0.5])
    fixed = RecencyHeuristic(one_time_scale_days=40.0).fit(train, [0, 1, 1, 1, 0])
    assert fixed.overdue(train)[3] == pytest.approx(0.5)


def test_recency_heuristic_is_increasing_in_overdueness() -> None:
    frame, y = _overdue_data(3000, seed=0)
    model = RecencyHeuristic().fit(frame, y)
    grid = pd.DataFrame({"recency_days": np.linspace(1.0, 200.0, 60),
                         "gap_median_days": 19.0})
    grid["recency_gap_ratio"] = grid["recency_days"] / 20.0
    p = model.predict_proba(grid)
    assert np.all(np.diff(p) >= 0)
    assert p[-1] - p[0] > 0.5
    assert p.min() >= model.min_proba and p.max() <= 1 - model.min_proba
    assert roc_auc_score(y, model.predict_proba(frame)) > 0.7


def test_recency_heuristic_gives_nan_to_prospects_and_refuses_them_in_fit() -> None:
    frame, y = _overdue_data(200, seed=1)
    model = RecencyHeuristic().fit(frame, y)
    prospect = pd.DataFrame({"recency_days": [np.nan, 10.0], "gap_median_days": np.nan,
                             "recency_gap_ratio": np.nan})
    p = model.predict_proba(prospect)
    assert np.isnan(p[0]) and not np.isnan(p[1])
    with pytest.raises(ValueError, match="1 of 2 rows have no recency_days"):
        RecencyHeuristic().fit(prospect, [True, False])


@pytest.mark.parametrize(
    ("y", "match"),
    [
        (pd.array([True, None, False], dtype="boolean"), "1 of 3 labels are missing"),
        ([0, 2, 1], "boolean or 0/1"),
        ([0, 1], "2 values for 3 rows"),
    ],
)
def test_recency_heuristic_rejects_bad_labels(y: object, match: str) -> None:
    frame = pd.DataFrame({"recency_days": [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=match):
        RecencyHeuristic().fit(frame, y)


def test_recency_heuristic_works_without_gap_columns() -> None:
    # Without gap columns the scale is the median recency of the training rows (20).
    frame = pd.DataFrame({"recency_days": [10.0, 20.0, 30.0]})
    model = RecencyHeuristic().fit(frame, [0, 0, 1])
    assert model.one_time_scale_ == pytest.approx(20.0)
    assert model.overdue(frame).tolist() == pytest.approx([0.5, 1.0, 1.5])


# --------------------------------------------------------------------------
# rfm_logistic
# --------------------------------------------------------------------------


def _rfm_frame(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frequency = rng.poisson(3.0, n)
    buyer = frequency > 0
    recency = np.where(buyer, rng.exponential(60.0, n).round() + 1, np.nan)
    mean = np.where(buyer, rng.lognormal(3.0, 1.0, n), np.nan)
    frame = pd.DataFrame({
        "recency_days": recency,
        "frequency": frequency.astype("int32"),
        "monetary_mean": mean,
        "monetary_sum": np.where(buyer, mean * frequency, 0.0),
        "segment": "retail",  # not an RFM column: dropped
    })
    logit = np.where(buyer, 0.03 * (np.nan_to_num(recency) - 60.0) - 0.3 * frequency, 1.0)
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return frame, y


def test_rfm_logistic_fits_and_is_deterministic() -> None:
    frame, y = _rfm_frame(2000, seed=0)
    first = rfm_logistic().fit(frame, y)
    second = clone(first).fit(frame, y)
    p1 = first.predict_proba(frame)[:, 1]
    np.testing.assert_array_equal(p1, second.predict_proba(frame)[:, 1])
    # 4 raw + 3 log1p columns, and an indicator wherever training had nulls:
    # recency_days and monetary_mean (raw), monetary_mean (log).
    assert first.named_steps["logistic"].coef_.shape == (1, 10)
    assert roc_auc_score(y, p1) > 0.75


def test_rfm_logistic_handles_negative_amounts_and_unseen_nulls() -> None:
    frame, y = _rfm_frame(500, seed=1)
    model = rfm_logistic().fit(frame, y)
    odd = frame.head(3).copy()
    odd["monetary_sum"] = [-50.0, np.nan, 10.0]  # net of refunds; a null never seen in fit
    p = model.predict_proba(odd)[:, 1]
    assert np.all(np.isfinite(p)) and np.all((p > 0) & (p < 1))
