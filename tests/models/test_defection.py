"""Tests of models/defection.py: the logistic part, the weighting and the choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.contributions import BIAS_COLUMN
from models.defection import (
    CANDIDATES,
    LOGISTIC_INPUTS,
    BTYDLogistic,
    DefectionChoice,
    choose,
    combine,
    grouped_contributions,
    logit,
)
from models.paretonbd_baseline import ParetoNBDBaseline


def _rows(n: int = 1500, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Feature-table rows of buyers (and a few prospects) whose defection depends on
    how overdue they are."""
    rng = np.random.default_rng(seed)
    tenure = rng.integers(30, 400, n).astype(float)
    frequency = 1 + rng.poisson(tenure / 60.0)
    recency = np.minimum(tenure, rng.exponential(60.0, n).round())
    recency[frequency == 1] = tenure[frequency == 1]  # one purchase: the first is the last
    frequency[:20] = 0  # prospects
    recency[:20] = np.nan
    tenure[:20] = np.nan
    rows = pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)],
                         "cutoff": pd.Timestamp("2024-01-01"), "frequency": frequency,
                         "recency_days": recency, "days_since_first_purchase": tenure})
    p = 1 / (1 + np.exp(-(np.nan_to_num(recency) / 40.0 - 1.0 - 0.1 * frequency)))
    return rows, rng.random(n) < p


def test_contributions_add_up_to_the_log_odds_and_prospects_get_the_base_rate():
    rows, y = _rows()
    model = BTYDLogistic(horizon_days=56).fit(rows, y)
    shares = model.contributions(rows)
    assert list(shares.columns) == [*LOGISTIC_INPUTS, BIAS_COLUMN]
    np.testing.assert_allclose(shares.sum(axis=1), model.decision_function(rows), atol=1e-12)
    prospects = rows["frequency"].to_numpy() == 0
    buyers_rate = y[~prospects].mean()
    np.testing.assert_allclose(model.decision_function(rows)[prospects],
                               np.log(buyers_rate / (1 - buyers_rate)))
    assert (shares.loc[prospects, list(LOGISTIC_INPUTS)] == 0).all().all()
    # Recency carries the signal the labels were drawn from.
    assert model.coef_[0] > 0


def test_the_btyd_model_as_it_is_has_its_own_log_odds():
    rows, y = _rows()
    fixed = BTYDLogistic(horizon_days=56, inputs=("paretonbd_p_no_purchase",),
                         fit_coefficients=False).fit(rows, y)
    direct = ParetoNBDBaseline(horizon_days=56).fit(rows[rows["frequency"] > 0])
    buyer = rows["frequency"].to_numpy() > 0
    np.testing.assert_allclose(fixed.decision_function(rows)[buyer],
                               logit(direct.predict_proba(rows))[buyer], rtol=1e-9)
    shares = fixed.contributions(rows)
    np.testing.assert_allclose(shares.sum(axis=1), fixed.decision_function(rows), atol=1e-12)


def test_fitted_btyd_models_are_reused_and_the_sample_is_stable():
    rows, y = _rows(3000)
    a = BTYDLogistic(horizon_days=56, max_fit_rows=1000).fit(rows, y)
    b = BTYDLogistic(horizon_days=56, max_fit_rows=1000).fit(rows, y)
    n_fit = a.btyd_["paretonbd_p_no_purchase"].n_train_
    assert 800 < n_fit < 1200
    np.testing.assert_array_equal(a.decision_function(rows), b.decision_function(rows))
    reused = BTYDLogistic(horizon_days=56, inputs=("bgnbd_p_no_purchase",),
                          fit_coefficients=False).fit(rows, y, a.btyd_)
    assert reused.btyd_["bgnbd_p_no_purchase"] is a.btyd_["bgnbd_p_no_purchase"]


def test_the_btyd_models_are_fitted_on_the_latest_cutoff_unless_told_otherwise():
    # Two cutoffs: the earlier one's customers buy about twice as often.
    early, y_early = _rows(1500, seed=1)
    early = early.assign(cutoff=pd.Timestamp("2023-07-01"),
                         frequency=early["frequency"] * 2)
    late, y_late = _rows(1500, seed=2)
    rows = pd.concat([early, late], ignore_index=True)
    y = np.concatenate([y_early, y_late])
    one = ("paretonbd_p_no_purchase",)
    latest = BTYDLogistic(horizon_days=56, inputs=one, fit_coefficients=False).fit(rows, y)
    pooled = BTYDLogistic(horizon_days=56, inputs=one, fit_coefficients=False,
                          btyd_rows="all").fit(rows, y)
    direct = ParetoNBDBaseline(horizon_days=56).fit(late[late["frequency"] > 0])
    buyer = late["frequency"].to_numpy() > 0
    np.testing.assert_allclose(latest.decision_function(late)[buyer],
                               logit(direct.predict_proba(late))[buyer], rtol=1e-9)
    assert latest.btyd_[one[0]].n_train_ == buyer.sum()
    assert pooled.btyd_[one[0]].n_train_ == (rows["frequency"] > 0).sum()
    assert not np.allclose(pooled.decision_function(late)[buyer],
                           latest.decision_function(late)[buyer])
    with pytest.raises(ValueError, match="btyd_rows must be 'latest' or 'all'"):
        BTYDLogistic(btyd_rows="newest").fit(rows, y)


def test_inputs_are_checked():
    rows, y = _rows(200)
    with pytest.raises(ValueError, match="inputs must be names among"):
        BTYDLogistic(inputs=("recency",)).fit(rows, y)
    with pytest.raises(ValueError, match="one BTYD probability"):
        BTYDLogistic(inputs=("recency_days",), fit_coefficients=False).fit(rows, y)
    with pytest.raises(ValueError, match="both defected and retained"):
        BTYDLogistic().fit(rows, np.ones(len(rows), dtype=bool))


def test_choice_weights_and_round_trip():
    assert DefectionChoice.of("logistic_btyd") == DefectionChoice("logistic_btyd", 1.0, 0.0)
    assert DefectionChoice.of("lightgbm_btyd") == DefectionChoice("lightgbm_btyd", 0.0, 1.0)
    assert DefectionChoice.of("blend") == DefectionChoice("blend", 0.5, 0.5)
    for name in CANDIDATES:
        choice = DefectionChoice.of(name)
        assert DefectionChoice.from_dict(choice.to_dict()) == choice
    z1, z2 = np.array([0.0, 2.0]), np.array([2.0, -2.0])
    np.testing.assert_allclose(combine(DefectionChoice.of("blend"), z1, z2),
                               1 / (1 + np.exp(-np.array([1.0, 0.0]))))


def test_the_simplest_candidate_within_one_standard_error_is_chosen():
    rng = np.random.default_rng(0)
    n = 4000
    signal = rng.normal(size=n)
    y = rng.random(n) < 1 / (1 + np.exp(-2 * signal))
    good = signal + rng.normal(scale=0.5, size=n)
    # Better by less than the noise of the difference: the one listed first stays.
    within = good + 0.1 * signal + rng.normal(scale=0.2, size=n)
    name, table = choose(y, {"simple": good, "complex": within})
    simple = table["candidates"]["simple"]
    assert table["best"] == "complex" and name == "simple"
    assert -simple["std_error"] <= simple["diff_to_best"] < 0
    # Better beyond it: the better one is chosen.
    beyond = good + 0.15 * signal + rng.normal(scale=0.2, size=n)
    name, table = choose(y, {"simple": good, "complex": beyond})
    assert name == "complex"
    assert table["candidates"]["simple"]["diff_to_best"] < -table["candidates"]["simple"][
        "std_error"]
    # A useless candidate listed first is passed over.
    noise = rng.normal(size=n)
    name, table = choose(y, {"useless": noise, "good": good})
    assert name == "good"
    assert table["candidates"]["useless"]["diff_to_best"] < -3 * table["candidates"][
        "useless"]["std_error"]


def test_grouped_contributions_of_the_logistic_part_add_up():
    rows, y = _rows()
    model = BTYDLogistic(horizon_days=56).fit(rows, y)
    X = pd.DataFrame(index=rows.index)
    sums = grouped_contributions(DefectionChoice.of("logistic_btyd"), model, None, rows, X)
    assert list(sums.columns) == ["overdue", "frequency", "tenure", "purchase_pattern",
                                  BIAS_COLUMN]
    np.testing.assert_allclose(sums.sum(axis=1), model.decision_function(rows), atol=1e-12)


def _labelled(cutoffs: list[str], customers: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame([{"customer_id": f"c{i}", "cutoff": pd.Timestamp(c),
                          "defected": bool(rng.random() < 0.5)}
                         for c in cutoffs for i in range(customers)])


def test_the_choice_is_out_of_time_when_validation_shares_the_training_cutoffs():
    from models.train import _out_of_time

    cutoffs = [str(d.date()) for d in pd.date_range("2024-01-01", periods=6, freq="28D")]
    tr, st, cb = (_labelled(cutoffs, 200, seed) for seed in (0, 1, 2))
    fit, stop, rows = _out_of_time(tr, st, cb, horizon_days=56)
    latest = pd.Timestamp(cutoffs[-1])
    assert (rows["cutoff"] == latest).all() and len(rows) == 200
    # Only the windows [c, c + 56) that end by the latest cutoff are fitted on.
    assert (fit["cutoff"] + pd.Timedelta(days=56) <= latest).all()
    assert sorted(fit["cutoff"].unique()) == [pd.Timestamp(c) for c in cutoffs[:4]]
    assert (stop["cutoff"] + pd.Timedelta(days=56) <= latest).all()
    # No window ends by the latest cutoff: no out-of-time choice.
    assert _out_of_time(tr, st, cb, horizon_days=200) is None
    # Validation on cutoffs of its own (the strict plans) is already out of time.
    later = _labelled(["2024-09-01"], 200, 3)
    assert _out_of_time(tr, st, later, horizon_days=56) is None
