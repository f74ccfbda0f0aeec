"""Baselines: Markov counts by hand, the recency heuristic and the RFM logistic regression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from models.baselines import (
    MarkovTransitionBaseline,
    RecencyHeuristic,
    rfm_logistic,
)
from models.stages import STAGE_DTYPE, STAGES

# --------------------------------------------------------------------------
# MarkovTransitionBaseline
# --------------------------------------------------------------------------

# core -> core x3, core -> at_risk x1, at_risk -> lost x2, at_risk -> reactivated x2.
STAGE_T = ["core"] * 4 + ["at_risk"] * 4
STAGE_T_PLUS_H = ["core", "core", "core", "at_risk", "lost", "lost", "reactivated",
                  "reactivated"]


def _matrix(rows: dict[str, dict[str, float]], fill: float = 0.0) -> pd.DataFrame:
    out = pd.DataFrame(fill, index=pd.Index(list(STAGES), name="stage"),
                       columns=pd.Index(list(STAGES), name="next_stage"))
    for src, row in rows.items():
        for dst, value in row.items():
            out.loc[src, dst] = value
    return out


def test_markov_counts_and_raw_frequencies() -> None:
    model = MarkovTransitionBaseline(alpha=0.0).fit(STAGE_T, STAGE_T_PLUS_H)
    counts = _matrix({"core": {"core": 3, "at_risk": 1},
                      "at_risk": {"lost": 2, "reactivated": 2}}).astype(np.int64)
    assert_frame_equal(model.counts_, counts)
    # Seen stages: the raw frequencies. Unseen stages (alpha = 0): the overall
    # next-stage distribution, 3/8 core, 1/8 at_risk, 2/8 lost, 2/8 reactivated.
    marginal = {"core": 3 / 8, "at_risk": 1 / 8, "lost": 2 / 8, "reactivated": 2 / 8}
    expected = _matrix({
        **{s: marginal for s in STAGES if s not in ("core", "at_risk")},
        "core": {"core": 0.75, "at_risk": 0.25},
        "at_risk": {"lost": 0.5, "reactivated": 0.5},
    })
    assert_frame_equal(model.transition_matrix_, expected)
    assert list(model.classes_) == list(STAGES)


def test_markov_smoothing_and_rows_sum_to_one() -> None:
    model = MarkovTransitionBaseline(alpha=1.0).fit(pd.Series(STAGE_T), pd.Series(STAGE_T_PLUS_H))
    matrix = model.transition_matrix_
    np.testing.assert_allclose(matrix.sum(axis=1).to_numpy(), 1.0)
    # core: 4 transitions + 7 * alpha = 11; core -> core (3 + 1) / 11, core -> lost 1/11.
    assert matrix.loc["core", "core"] == pytest.approx(4 / 11)
    assert matrix.loc["core", "lost"] == pytest.approx(1 / 11)
    assert matrix.loc["prospect"].tolist() == pytest.approx([1 / 7] * 7)

    stages = pd.Series(["at_risk", "core", "prospect"], index=[10, 20, 30])
    proba = model.predict_proba(stages)
    assert list(proba.columns) == list(STAGES)
    assert list(proba.index) == [10, 20, 30]
    np.testing.assert_allclose(proba.sum(axis=1).to_numpy(), 1.0)
    assert proba.loc[20].tolist() == pytest.approx(matrix.loc["core"].tolist())
    predicted = model.predict(stages)
    assert predicted.dtype == STAGE_DTYPE
    # at_risk: lost and reactivated tie at 3/11; the earlier stage wins.
    assert predicted.tolist() == ["lost", "core", "prospect"]


def test_markov_accepts_categorical_labels() -> None:
    src = pd.Series(STAGE_T, dtype=STAGE_DTYPE)
    dst = pd.Series(STAGE_T_PLUS_H, dtype=STAGE_DTYPE)
    model = MarkovTransitionBaseline(alpha=0.0).fit(src, dst)
    assert model.transition_matrix_.loc["core", "core"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("stages", "next_stages", "alpha", "match"),
    [
        (["core", "gone"], ["core", "core"], 1.0, "not stages"),
        (["core", None], ["core", "core"], 1.0, "missing"),
        (["core"], ["core", "core"], 1.0, "differ in length"),
        (["core"], ["core"], -1.0, "alpha must be"),
    ],
)
def test_markov_rejects_bad_input(stages: list, next_stages: list, alpha: float,
                                  match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MarkovTransitionBaseline(alpha=alpha).fit(stages, next_stages)


def test_markov_needs_fit() -> None:
    with pytest.raises(NotFittedError):
        MarkovTransitionBaseline().predict_proba(["core"])


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
