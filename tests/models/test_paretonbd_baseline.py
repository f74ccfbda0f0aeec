"""The Pareto/NBD baseline on data simulated from its own story, and its inputs."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score

from models.bgnbd_features import BTYDBaseline
from models.paretonbd import ParetoNBDModel
from models.paretonbd_baseline import ParetoNBDBaseline

PARAMS_DAYS = {"r": 0.8, "alpha": 40.0, "s": 0.7, "beta": 200.0}  # alpha, beta in days


def _simulate_paretonbd(n: int, horizon: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Feature-table rows at one cutoff and the purchases in the next ``horizon`` days.

    Each customer buys first at time 0 (day 0); then, while active, at the times of a
    Poisson process with rate ``lambda ~ Gamma(r, alpha)``, for an exponential
    lifetime with rate ``mu ~ Gamma(s, beta)``. The cutoff of a customer is day
    ``T``: purchases on days ``< T`` are history, those on days ``T .. T + horizon - 1``
    fall in the label window. Given their number, purchase times are uniform over
    the active part of ``(0, T + horizon)``.
    """
    rng = np.random.default_rng(seed)
    p = PARAMS_DAYS
    lam = rng.gamma(p["r"], 1.0 / p["alpha"], n)
    mu = rng.gamma(p["s"], 1.0 / p["beta"], n)
    cutoff_day = rng.integers(60, 720, n)
    active_end = np.minimum(rng.exponential(1.0 / mu), cutoff_day + horizon)
    count = rng.poisson(lam * active_end)
    owner = np.repeat(np.arange(n), count)
    days = np.floor(rng.uniform(0.0, 1.0, owner.size) * active_end[owner])
    past = days < cutoff_day[owner]
    last = np.zeros(n)
    np.maximum.at(last, owner[past], days[past])
    frame = pd.DataFrame({"frequency": 1 + np.bincount(owner[past], minlength=n),
                          "recency_days": (cutoff_day - last).astype(float),
                          "days_since_first_purchase": cutoff_day.astype(float)})
    future = np.bincount(owner[~past], minlength=n)
    labels = pd.DataFrame({"future_purchases": future, "defected": future == 0})
    return frame, labels


@pytest.fixture(scope="module")
def simulated() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _simulate_paretonbd(4000, horizon=90, seed=0)


def test_paretonbd_baseline_matches_observed_no_purchase_rate(simulated: tuple) -> None:
    frame, labels = simulated
    model = ParetoNBDBaseline(horizon_days=90).fit(frame)
    p = model.predict_proba(frame)
    assert model.n_train_ == 4000
    assert abs(p.mean() - labels["defected"].mean()) < 0.03
    assert roc_auc_score(labels["defected"], p) > 0.85
    expected = model.expected_purchases(frame)
    observed = labels["future_purchases"].mean()
    assert abs(expected.mean() - observed) < 0.15 * observed
    # Ranking by -E[X] also separates those who buy again from those who do not.
    assert roc_auc_score(labels["defected"], -expected) > 0.85
    # The fit recovers the simulated parameters roughly (alpha and beta in weeks): s and
    # beta lie on a flat ridge of the likelihood (over 4,000 customers beta varies by
    # about 15% from seed to seed), and the whole-day recency makes them a few percent low.
    pnbd = model.model_
    assert pnbd.r_ == pytest.approx(PARAMS_DAYS["r"], rel=0.2)
    assert pnbd.alpha_ * 7 == pytest.approx(PARAMS_DAYS["alpha"], rel=0.25)
    assert pnbd.s_ == pytest.approx(PARAMS_DAYS["s"], rel=0.4)
    assert pnbd.beta_ * 7 == pytest.approx(PARAMS_DAYS["beta"], rel=0.5)


def test_paretonbd_baseline_derives_inputs_from_the_feature_table() -> None:
    # r = alpha = s = beta = 1 (weeks), as in the hand-computed cases of
    # tests/models/test_paretonbd.py. Frequency 2, first purchase 21 days ago, last
    # 14 days ago: x = 1, t_x = 1 week, T = 3 weeks; over 28 days (4 weeks)
    # P(no purchase) = 1 - 3/10 * 7/12 = 0.825 and E[X] = 3/10 * 1/2 * 4 log(2).
    pnbd = ParetoNBDModel()
    pnbd.r_, pnbd.alpha_, pnbd.s_, pnbd.beta_ = 1.0, 1.0, 1.0, 1.0
    model = ParetoNBDBaseline(horizon_days=28)
    model.model_ = pnbd
    frame = pd.DataFrame({"frequency": [2, 0, 1],
                          "recency_days": [14.0, np.nan, 21.0],
                          "days_since_first_purchase": [21.0, np.nan, 21.0]},
                         index=["a", "b", "c"])
    p = model.predict_proba(frame)
    assert p[0] == pytest.approx(0.825, rel=1e-12)
    assert np.isnan(p[1])
    # A one-time buyer: x = 0, T = 3 weeks; P(alive) = 2/17 and, given active,
    # P(purchase in 4 weeks) = 16 * int_4^8 v**-3 dv = 3/8, so 1 - 2/17 * 3/8 = 65/68.
    assert p[2] == pytest.approx(65 / 68, rel=1e-12)
    expected = model.expected_purchases(frame)
    assert expected[0] == pytest.approx(0.6 * np.log(2.0), rel=1e-12)
    assert np.isnan(expected[1])


def test_paretonbd_baseline_errors() -> None:
    frame = pd.DataFrame({"frequency": [0, 0], "recency_days": [np.nan, np.nan],
                          "days_since_first_purchase": [np.nan, np.nan]})
    with pytest.raises(ValueError, match="^ParetoNBDBaseline.fit: none of the 2 rows has a "
                                         "purchase$"):
        ParetoNBDBaseline().fit(frame)
    with pytest.raises(ValueError, match=r"^ParetoNBDBaseline.fit: X lacks the feature-table "
                                         r"columns \['recency_days'\]"):
        ParetoNBDBaseline().fit(frame.drop(columns="recency_days"))
    with pytest.raises(ValueError, match="^ParetoNBDBaseline.fit: unit_days must be a positive "
                                         "number; got 0$"):
        ParetoNBDBaseline(unit_days=0).fit(frame)
    with pytest.raises(TypeError, match="X must be a pandas DataFrame"):
        ParetoNBDBaseline().fit(frame.to_numpy())  # type: ignore[arg-type]
    with pytest.raises(NotFittedError):
        ParetoNBDBaseline().predict_proba(frame)
    buyers = pd.DataFrame({"frequency": [2, 3], "recency_days": [5.0, np.nan],
                           "days_since_first_purchase": [30.0, 40.0]})
    with pytest.raises(ValueError, match=r"^ParetoNBDBaseline.fit: 1 rows have purchases but "
                                         r"no recency_days or days_since_first_purchase"):
        ParetoNBDBaseline().fit(buyers)


def test_paretonbd_baseline_is_a_plain_estimator() -> None:
    model = ParetoNBDBaseline(horizon_days=30, unit_days=1.0, penalizer=0.1, max_iter=50)
    assert isinstance(model, BTYDBaseline)
    assert model.get_params() == {"horizon_days": 30, "unit_days": 1.0, "penalizer": 0.1,
                                  "max_iter": 50}
    assert clone(model).get_params() == model.get_params()
    frame, _ = _simulate_paretonbd(300, horizon=30, seed=1)
    fitted = model.fit(frame)
    again = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(again.predict_proba(frame), fitted.predict_proba(frame))
