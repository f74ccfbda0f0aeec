"""The BG/NBD baseline on data simulated from its own story, and the features it gives."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from models.bgnbd import BetaGeoModel
from models.bgnbd_features import BGNBDBaseline, bgnbd_features

# --------------------------------------------------------------------------
# BGNBDBaseline
# --------------------------------------------------------------------------

BG_PARAMS_DAYS = {"r": 0.8, "alpha": 40.0, "a": 1.0, "b": 3.0}  # alpha in days


def _simulate_bgnbd(n: int, horizon: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feature-table rows at one cutoff and the purchases in the next ``horizon`` days.

    Each customer buys first at time 0 (day 0); while active, buys at the times of
    a Poisson process with rate ``lambda ~ Gamma(r, alpha)`` and after each repeat
    purchase drops out with probability ``p ~ Beta(a, b)``. The cutoff of a
    customer is day ``T`` (events on days ``< T`` are history, those on days
    ``T .. T + horizon - 1`` fall in the label window).
    """
    rng = np.random.default_rng(seed)
    p = BG_PARAMS_DAYS
    lam = rng.gamma(p["r"], 1.0 / p["alpha"], n)
    drop = rng.beta(p["a"], p["b"], n)
    cutoff_day = rng.integers(60, 720, n)
    rows, future = [], []
    for i in range(n):
        end = cutoff_day[i] + horizon
        times, t = [], 0.0
        while True:
            t += rng.exponential(1.0 / lam[i])
            if t >= end:
                break
            times.append(t)
            if rng.random() < drop[i]:
                break
        days = np.floor(np.array(times))
        past = days[days < cutoff_day[i]]
        last = past.max() if past.size else 0.0
        rows.append({"frequency": 1 + past.size, "recency_days": cutoff_day[i] - last,
                     "days_since_first_purchase": float(cutoff_day[i])})
        future.append(int((days >= cutoff_day[i]).sum()))
    frame = pd.DataFrame(rows)
    labels = pd.DataFrame({"future_purchases": future,
                           "defected": np.array(future) == 0})
    return frame, labels


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _simulate_bgnbd(4000, horizon=90, seed=0)


def test_bgnbd_baseline_matches_observed_no_purchase_rate(simulated: tuple) -> None:
    frame, labels = simulated
    model = BGNBDBaseline(horizon_days=90).fit(frame)
    p = model.predict_proba(frame)
    assert model.n_train_ == 4000
    assert abs(p.mean() - labels["defected"].mean()) < 0.03
    assert roc_auc_score(labels["defected"], p) > 0.7
    expected = model.expected_purchases(frame)
    observed = labels["future_purchases"].mean()
    assert abs(expected.mean() - observed) < 0.15 * observed
    # The fit recovers the simulated parameters roughly (alpha in weeks).
    bg = model.model_
    assert bg.r_ == pytest.approx(BG_PARAMS_DAYS["r"], rel=0.15)
    assert bg.alpha_ * 7 == pytest.approx(BG_PARAMS_DAYS["alpha"], rel=0.2)
    assert bg.a_ == pytest.approx(BG_PARAMS_DAYS["a"], rel=0.3)
    assert bg.b_ == pytest.approx(BG_PARAMS_DAYS["b"], rel=0.3)


def test_bgnbd_baseline_derives_inputs_from_the_feature_table() -> None:
    # frequency 3, first purchase 70 days ago, last 14 days ago:
    # x = 2 repeat purchases, t_x = 56 days = 8 weeks, T = 10 weeks.
    bg = BetaGeoModel()
    bg.r_, bg.alpha_, bg.a_, bg.b_ = 1.0, 1.0, 1.0, 2.0
    model = BGNBDBaseline(horizon_days=28)
    model.model_ = bg
    frame = pd.DataFrame({"frequency": [3, 0, 1],
                          "recency_days": [14.0, np.nan, 21.0],
                          "days_since_first_purchase": [70.0, np.nan, 21.0]},
                         index=["a", "b", "c"])
    p = model.predict_proba(frame)
    assert p[0] == pytest.approx(bg.p_no_purchase(4.0, 2, 8.0, 10.0))
    assert np.isnan(p[1])
    # A one-time buyer: x = 0, t_x = 0, T = 3 weeks; P(alive) = 1, so
    # P(no purchase in 4 weeks) = ((1 + 3) / (1 + 3 + 4)) ** 1 = 1/2.
    assert p[2] == pytest.approx(0.5)

    features = bgnbd_features(model, frame, 28)
    assert list(features.columns) == ["bgnbd_p_alive", "bgnbd_expected_purchases",
                                      "bgnbd_p_no_purchase"]
    assert list(features.index) == ["a", "b", "c"]
    np.testing.assert_allclose(features["bgnbd_p_no_purchase"].to_numpy(), p)
    assert features["bgnbd_p_alive"].tolist()[2] == 1.0
    assert features.loc["b"].isna().all()
    same = bgnbd_features(bg, frame, 28)  # a bare BetaGeoModel in weeks
    assert_frame_equal(same, features)


def test_bgnbd_baseline_errors() -> None:
    frame = pd.DataFrame({"frequency": [0, 0], "recency_days": [np.nan, np.nan],
                          "days_since_first_purchase": [np.nan, np.nan]})
    with pytest.raises(ValueError, match="none of the 2 rows has a purchase"):
        BGNBDBaseline().fit(frame)
    with pytest.raises(ValueError, match=r"lacks the feature-table columns \['recency_days'\]"):
        BGNBDBaseline().fit(frame.drop(columns="recency_days"))
    with pytest.raises(ValueError, match="horizon_days must be a positive number"):
        BGNBDBaseline(horizon_days=0).fit(frame)
    with pytest.raises(NotFittedError):
        BGNBDBaseline().predict_proba(frame)
    with pytest.raises(TypeError, match="BGNBDBaseline or a BetaGeoModel"):
        bgnbd_features(object(), frame, 90)  # type: ignore[arg-type]


def test_bundles_that_name_the_baselines_module_still_load() -> None:
    # Fitted bundles pickle the baseline by its class path; older ones name it
    # models.baselines.BGNBDBaseline.
    data = pickle.dumps(BGNBDBaseline(horizon_days=30, unit_days=1.0), protocol=0)
    old = data.replace(b"models.bgnbd_features", b"models.baselines")
    assert old != data
    model = pickle.loads(old)
    assert type(model) is BGNBDBaseline
    assert (model.horizon_days, model.unit_days) == (30, 1.0)
