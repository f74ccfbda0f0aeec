"""BG/NBD model: published CDNOW figures, simulation, hand-computed values and input checks.

Hand-computable parameters used below: ``r = alpha = a = 1``, ``b = 2`` and the
customer ``x = 1, t_x = 1, T = 3``. Then (eq. 6 of Fader, Hardie & Lee 2005)

* "still active" term: ``B(1, 3)/B(1, 2) * 1/(1 + 3)**2 = (2/3) / 16 = 1/24``,
* "dropped out at t_x" term: ``B(2, 2)/B(1, 2) * 1/(1 + 1)**2 = (1/3) / 4 = 1/12``,

so ``L = 1/8``, ``P(alive) = (1/24) / (1/8) = 1/3`` and, over ``t = 4`` more,
``P(no purchase) = 1 - 1/3 * (1 - (4/8)**2) = 3/4``. A customer with ``x = 0``
and ``T = 3`` has ``L = (alpha / (alpha + T))**r = 1/4``.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.integrate import quad
from scipy.special import betaln
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError

from models.bgnbd import BetaGeoModel

CDNOW = Path(__file__).resolve().parents[1] / "fixtures" / "bgnbd" / "cdnow_customers_summary.csv"

# Table/text of Fader, Hardie & Lee (2005) for the CDNOW sample (2,357 customers).
PAPER_PARAMS = {"r_": 0.243, "alpha_": 4.414, "a_": 0.793, "b_": 2.426}
PAPER_LOG_LIKELIHOOD = -9582.4


def _model(r: float, alpha: float, a: float, b: float) -> BetaGeoModel:
    """A model with given parameters, as if fitted."""
    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_ = r, alpha, a, b
    return model


HAND = (1.0, 1.0, 1.0, 2.0)


def _posterior_mc(params: tuple[float, float, float, float], x: int, t_x: float, T: float,
                  t: float, *, n: int, seed: int) -> tuple[float, float]:
    """E[Y(t)] and P(no purchase in t) given (x, t_x, T), by Monte Carlo integration.

    Draws (lambda, p) from the prior and weights each draw by the probability of the
    history under the model's story: Poisson purchases at rate lambda and, after each
    of the x repeat purchases, a coin with dropout probability p. The history is
    either "x purchases by T, survived all x coins" (density
    ``lambda**x exp(-lambda T) (1-p)**x``) or "dropped out at the x-th purchase, at
    t_x" (``lambda**x exp(-lambda t_x) p (1-p)**(x-1)``). An active customer then
    makes ``(1 - exp(-lambda p t)) / p`` purchases in t on average and no purchase with
    probability ``exp(-lambda t)``. Nothing here uses the closed forms under test.
    """
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    log_alive = x * np.log(lam) + x * np.log1p(-p) - lam * T
    log_dead = (x * np.log(lam) + np.log(p) + (x - 1) * np.log1p(-p) - lam * t_x
                if x > 0 else np.full(n, -np.inf))
    top = max(log_alive.max(), log_dead.max())
    w_alive, w_dead = np.exp(log_alive - top), np.exp(log_dead - top)
    total = w_alive.sum() + w_dead.sum()
    expected = float((w_alive * -np.expm1(-lam * p * t) / p).sum() / total)
    p_none = float(1.0 - (w_alive * -np.expm1(-lam * t)).sum() / total)
    return expected, p_none


def _simulate(rng: np.random.Generator, n: int, params: tuple[float, float, float, float],
              T: np.ndarray | float, t: float) -> pd.DataFrame:
    """Customers from the BG/NBD story, observed over (0, T] and then over (T, T + t].

    Purchases form a Poisson process with rate lambda on (0, T + t]; the customer
    drops out right after the G-th purchase, G ~ Geometric(p). Given N(T) = k, the
    purchase times in (0, T] are k sorted uniforms, so the x-th is T * Beta(x, k - x + 1).
    """
    r, alpha, a, b = params
    T = np.broadcast_to(np.asarray(T, dtype=float), (n,))
    lam = rng.gamma(r, 1.0 / alpha, n)
    p = rng.beta(a, b, n)
    n_total = rng.poisson(lam * (T + t))
    n_calibration = rng.binomial(n_total, T / (T + t))
    g = rng.geometric(p)
    x = np.minimum(n_calibration, g)
    t_x = np.where(x > 0, T * rng.beta(np.maximum(x, 1), n_calibration - x + 1), 0.0)
    return pd.DataFrame({"frequency": x, "recency": t_x, "T": T,
                         "future": np.minimum(n_total, g) - x})


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(CDNOW)


@pytest.fixture(scope="module")
def cdnow_model(cdnow: pd.DataFrame) -> BetaGeoModel:
    return BetaGeoModel().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])


# --------------------------------------------------------------------------
# Published CDNOW figures
# --------------------------------------------------------------------------


def test_cdnow_fixture_is_the_published_sample(cdnow: pd.DataFrame) -> None:
    assert len(cdnow) == 2357
    assert cdnow["T"].max() == pytest.approx(38.86)  # 39-week calibration period
    assert cdnow["frequency"].sum() == 2457  # repeat purchases in the calibration period


@pytest.mark.parametrize("name", list(PAPER_PARAMS))
def test_cdnow_fit_matches_published_parameters(cdnow_model: BetaGeoModel, name: str) -> None:
    # Published to 3 decimals; allow one unit in the last place.
    assert getattr(cdnow_model, name) == pytest.approx(PAPER_PARAMS[name], abs=1e-3)


def test_cdnow_fit_matches_published_log_likelihood(cdnow_model: BetaGeoModel) -> None:
    assert cdnow_model.converged_
    assert cdnow_model.n_iter_ > 0
    # Published to 1 decimal.
    assert cdnow_model.log_likelihood_ == pytest.approx(PAPER_LOG_LIKELIHOOD, abs=0.05)


def test_cdnow_example_customer_expects_1_226_purchases(cdnow_model: BetaGeoModel) -> None:
    # Customer 1 of the sample: x = 2, t_x = 30.43, T = 38.86 weeks; next 39 weeks.
    expected = cdnow_model.expected_purchases(39, 2, 30.43, 38.86)
    assert isinstance(expected, float)
    assert expected == pytest.approx(1.226, abs=5e-4)
    params = (cdnow_model.r_, cdnow_model.alpha_, cdnow_model.a_, cdnow_model.b_)
    mc, _ = _posterior_mc(params, 2, 30.43, 38.86, 39.0, n=200_000, seed=1)
    assert expected == pytest.approx(mc, rel=0.01)


def test_cdnow_expected_repeat_purchases_of_a_new_customer(cdnow_model: BetaGeoModel) -> None:
    # E[X(t)], eq. (7), as tabulated (4 decimals) in the Excel implementation note that
    # accompanies the paper (Fader, Hardie & Lee 2005, "Implementing the BG/NBD Model
    # for Customer Base Analysis in Excel"), computed there with its own estimates.
    weeks = np.array([0.1429, 1.0, 3.0, 31.8571, 32.0, 78.0])
    published = np.array([0.0078, 0.0532, 0.1506, 1.0405, 1.0437, 1.8576])
    np.testing.assert_allclose(cdnow_model.expected_purchases_new(weeks), published, atol=1e-3)


def test_new_customer_without_purchase_over_39_weeks_matches_btyd() -> None:
    # P(X(39) = 0) at the published estimates, 0.5737864 in the documentation of the R
    # package BTYD (bgnbd.pmf); for x = t_x = T = 0 it is (alpha / (alpha + t))**r.
    model = _model(*PAPER_PARAMS.values())
    assert model.p_no_purchase(39.0, 0, 0.0, 0.0) == pytest.approx(0.5737864, abs=1e-7)


def test_fit_on_aggregated_rows_equals_fit_on_expanded_rows() -> None:
    rng = np.random.default_rng(7)
    data = _simulate(rng, 400, (0.6, 3.0, 0.7, 2.5), rng.choice([20.0, 30.0, 40.0], 400), 0.0)
    counts = rng.integers(1, 5, len(data))
    expanded = data.loc[data.index.repeat(counts)]
    weighted = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"], weights=counts)
    plain = BetaGeoModel().fit(expanded["frequency"], expanded["recency"], expanded["T"])
    for name in ("r_", "alpha_", "a_", "b_"):
        assert getattr(weighted, name) == pytest.approx(getattr(plain, name), rel=1e-6)
    assert weighted.log_likelihood_ == pytest.approx(plain.log_likelihood_, rel=1e-9)


def test_cdnow_fit_on_aggregated_duplicates(cdnow: pd.DataFrame,
                                            cdnow_model: BetaGeoModel) -> None:
    grouped = cdnow.groupby(["frequency", "recency", "T"]).size().reset_index(name="n")
    assert len(grouped) < len(cdnow)  # the sample has duplicate rows to aggregate
    model = BetaGeoModel().fit(grouped["frequency"], grouped["recency"], grouped["T"],
                               weights=grouped["n"])
    assert model.r_ == pytest.approx(cdnow_model.r_, rel=1e-6)
    assert model.log_likelihood_ == pytest.approx(cdnow_model.log_likelihood_, rel=1e-9)


# --------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------


def test_fit_recovers_simulated_parameters() -> None:
    true = (0.5, 4.0, 0.6, 2.0)
    rng = np.random.default_rng(2024)
    data = _simulate(rng, 20_000, true, rng.uniform(26.0, 78.0, 20_000), 0.0)
    model = BetaGeoModel().fit(data["frequency"], data["recency"], data["T"])
    assert model.converged_
    # Over 20 other seeds the relative errors of (r, alpha, a, b) had standard
    # deviations of about 1.3%, 2.2%, 3.2% and 5.4%; the tolerances are 4-5 of them.
    estimate = (model.r_, model.alpha_, model.a_, model.b_)
    for value, target, rel in zip(estimate, true, (0.07, 0.10, 0.15, 0.22), strict=True):
        assert value == pytest.approx(target, rel=rel)
    # The maximum-likelihood estimate beats the true parameters on the same data.
    at_truth = _model(*true).log_likelihood(data["frequency"], data["recency"], data["T"])
    assert model.log_likelihood_ > at_truth.sum()


@pytest.fixture(scope="module")
def holdout() -> pd.DataFrame:
    """200,000 simulated CDNOW-like customers with their purchases in the next 39 weeks."""
    rng = np.random.default_rng(11)
    return _simulate(rng, 200_000, tuple(PAPER_PARAMS.values()),
                     rng.uniform(27.0, 39.0, 200_000), 39.0)


@pytest.mark.parametrize("group", [(0, 0), (1, 1), (2, 3), (4, 1000)])
def test_predictions_are_calibrated_on_simulated_holdout(holdout: pd.DataFrame,
                                                         group: tuple[int, int]) -> None:
    # Each prediction is an exact conditional expectation given the history, so its
    # mean over any group defined by the history equals the group's observed mean.
    model = _model(*PAPER_PARAMS.values())
    rows = holdout[holdout["frequency"].between(*group)]
    assert len(rows) > 2000
    args = (39.0, rows["frequency"], rows["recency"], rows["T"])
    none = (rows["future"] == 0).to_numpy()
    se_none = none.std() / np.sqrt(len(rows))
    assert model.p_no_purchase(*args).mean() == pytest.approx(none.mean(), abs=4 * se_none)
    future = rows["future"].to_numpy()
    se_future = future.std() / np.sqrt(len(rows))
    assert model.expected_purchases(*args).mean() == pytest.approx(future.mean(),
                                                                   abs=4 * se_future)


# --------------------------------------------------------------------------
# Hand-computed values and closed forms
# --------------------------------------------------------------------------


def test_log_likelihood_hand_computed() -> None:
    ll = _model(*HAND).log_likelihood([1, 0], [1.0, 0.0], [3.0, 3.0])
    np.testing.assert_allclose(ll, np.log([1 / 8, 1 / 4]), rtol=1e-12)


def test_log_likelihood_sums_to_fitted_total(cdnow: pd.DataFrame,
                                             cdnow_model: BetaGeoModel) -> None:
    ll = cdnow_model.log_likelihood(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert ll.shape == (len(cdnow),)
    assert ll.sum() == pytest.approx(cdnow_model.log_likelihood_, rel=1e-12)


def test_p_alive_hand_computed() -> None:
    assert _model(*HAND).p_alive(1, 1.0, 3.0) == pytest.approx(1 / 3, rel=1e-12)


def test_p_no_purchase_hand_computed() -> None:
    assert _model(*HAND).p_no_purchase(4.0, 1, 1.0, 3.0) == pytest.approx(3 / 4, rel=1e-12)


def _expected_by_quadrature(params: tuple[float, float, float, float], x: int, t_x: float,
                            T: float, t: float) -> float:
    """Eq. (10) by numerical integration over p instead of the 2F1 closed form.

    Given "active at T", lambda ~ Gamma(r + x, alpha + T) and p ~ Beta(a, b + x);
    ``E[(1 - exp(-lambda p t)) / p | p] = (1 - ((alpha+T)/(alpha+T+p t))**(r+x)) / p``.
    """
    r, alpha, a, b = params

    def integrand(p: float) -> float:
        density = np.exp((a - 1) * np.log(p) + (b + x - 1) * np.log1p(-p) - betaln(a, b + x))
        buys = -np.expm1((r + x) * (np.log(alpha + T) - np.log(alpha + T + p * t)))
        return buys / p * density

    if_alive = quad(integrand, 0.0, 1.0, limit=200, epsrel=1e-10)[0]
    return if_alive * _model(*params).p_alive(x, t_x, T)


@pytest.mark.parametrize(("x", "t_x", "T", "t"),
                         [(0, 0.0, 38.86, 39.0), (2, 30.43, 38.86, 39.0), (7, 12.0, 30.0, 5.0),
                          (60, 38.0, 38.5, 52.0), (300, 37.0, 39.0, 104.0)])
def test_expected_purchases_matches_quadrature(x: int, t_x: float, T: float, t: float) -> None:
    params = tuple(PAPER_PARAMS.values())
    expected = _model(*params).expected_purchases(t, x, t_x, T)
    assert np.isfinite(expected)
    assert expected == pytest.approx(_expected_by_quadrature(params, x, t_x, T, t), rel=1e-6)


def test_expected_purchases_is_continuous_through_a_equal_one() -> None:
    # Eq. (10) is 0/0 at a == 1; the value there must sit between its neighbours.
    values = [_model(0.5, 3.0, a, 2.0).expected_purchases(30.0, 3, 20.0, 25.0)
              for a in (1 - 1e-4, 1.0, 1 + 1e-4)]
    assert np.all(np.isfinite(values))
    assert values[1] == pytest.approx(np.mean([values[0], values[2]]), rel=1e-6)


def test_expected_purchases_new_customer() -> None:
    model = _model(*PAPER_PARAMS.values())
    t = np.array([1e-6, 13.0, 39.0, 78.0])
    new = model.expected_purchases_new(t)
    # A new customer is the x = t_x = T = 0 case of eq. (10).
    np.testing.assert_allclose(new, model.expected_purchases(t, 0, 0.0, 0.0), rtol=1e-12)
    # Over a short time it buys at the mean rate r / alpha (nobody has dropped out yet).
    assert new[0] / t[0] == pytest.approx(model.r_ / model.alpha_, rel=1e-4)
    assert np.all(np.diff(new) > 0)
    rng = np.random.default_rng(3)
    lam = rng.gamma(model.r_, 1.0 / model.alpha_, 1_000_000)
    p = rng.beta(model.a_, model.b_, 1_000_000)
    assert new[2] == pytest.approx(np.mean(-np.expm1(-lam * p * 39.0) / p), rel=0.01)


# --------------------------------------------------------------------------
# P(alive) and P(no purchase)
# --------------------------------------------------------------------------


def test_p_alive_is_one_without_repeat_purchases(cdnow_model: BetaGeoModel) -> None:
    np.testing.assert_array_equal(cdnow_model.p_alive([0, 0, 0], [0.0, 0.0, 0.0],
                                                      [0.5, 30.0, 500.0]), 1.0)


def test_p_alive_decreases_with_time_since_last_purchase(cdnow_model: BetaGeoModel) -> None:
    T = np.linspace(20.0, 200.0, 50)
    for x in (1, 3, 10):
        alive = cdnow_model.p_alive(x, 20.0, T)
        assert np.all(np.diff(alive) < 0)
        assert np.all((alive >= 0) & (alive <= 1))


def test_p_alive_stays_in_unit_interval_for_extreme_histories(cdnow_model: BetaGeoModel) -> None:
    alive = cdnow_model.p_alive([500, 500, 1], [1.0, 1000.0, 1000.0], [1000.0, 1000.0, 1000.0])
    assert np.all(np.isfinite(alive))
    assert alive[0] == pytest.approx(0.0, abs=1e-300)
    assert np.all((alive >= 0) & (alive <= 1))


@pytest.mark.parametrize(("x", "t_x", "T", "t"),
                         [(0, 0.0, 38.86, 39.0), (1, 5.0, 30.0, 10.0), (2, 30.43, 38.86, 39.0),
                          (5, 20.0, 38.86, 52.0), (10, 35.0, 38.0, 5.0)])
def test_p_no_purchase_matches_monte_carlo(cdnow_model: BetaGeoModel, x: int, t_x: float,
                                           T: float, t: float) -> None:
    params = (cdnow_model.r_, cdnow_model.alpha_, cdnow_model.a_, cdnow_model.b_)
    _, mc = _posterior_mc(params, x, t_x, T, t, n=1_000_000, seed=5)
    assert cdnow_model.p_no_purchase(t, x, t_x, T) == pytest.approx(mc, rel=0.01)


def test_p_no_purchase_bounds_and_monotone_in_t(cdnow_model: BetaGeoModel) -> None:
    t = np.concatenate([[0.0], np.geomspace(0.01, 1e6, 60)])
    for x, t_x in ((0, 0.0), (2, 30.43), (15, 38.0)):
        none = cdnow_model.p_no_purchase(t, x, t_x, 38.86)
        assert none[0] == 1.0
        assert np.all(np.diff(none) <= 0)
        assert np.all(np.diff(none[t <= 100.0]) < 0)
        # Those who have already dropped out never buy again: a floor at 1 - P(alive),
        # reached once ((alpha + T) / (alpha + T + t))**(r + x) has vanished.
        floor = 1 - cdnow_model.p_alive(x, t_x, 38.86)
        assert np.all(none >= floor)
        if x == 15:
            assert none[-1] == pytest.approx(floor, abs=1e-12)
        assert np.all((none >= 0) & (none <= 1))


def test_predictions_broadcast_and_keep_length(cdnow_model: BetaGeoModel) -> None:
    x, t_x = np.array([0, 1, 4]), np.array([0.0, 3.0, 20.0])
    out = cdnow_model.expected_purchases([13.0, 26.0, 39.0], x, t_x, 38.86)
    assert out.shape == (3,)
    assert out[2] == pytest.approx(cdnow_model.expected_purchases(39.0, 4, 20.0, 38.86))


# --------------------------------------------------------------------------
# Estimator contract and input validation
# --------------------------------------------------------------------------


def test_init_is_keyword_only_and_only_stores_arguments() -> None:
    model = BetaGeoModel(penalizer=0.1, max_iter=50, tol=1e-6)
    assert model.get_params() == {"penalizer": 0.1, "max_iter": 50, "tol": 1e-6}
    assert clone(model).get_params() == model.get_params()
    assert not [k for k in vars(model) if k.endswith("_")]
    params = inspect.signature(BetaGeoModel.__init__).parameters
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for n, p in params.items() if n != "self")


@pytest.mark.parametrize("method", ["p_alive", "log_likelihood"])
def test_unfitted_model_refuses_to_predict(method: str) -> None:
    with pytest.raises(NotFittedError):
        getattr(BetaGeoModel(), method)([1], [1.0], [2.0])


def test_penalizer_shrinks_parameters(cdnow: pd.DataFrame, cdnow_model: BetaGeoModel) -> None:
    penalized = BetaGeoModel(penalizer=0.01).fit(cdnow["frequency"], cdnow["recency"],
                                                  cdnow["T"])
    size = lambda m: m.r_**2 + m.alpha_**2 + m.a_**2 + m.b_**2  # noqa: E731
    assert size(penalized) < size(cdnow_model)
    assert penalized.log_likelihood_ < cdnow_model.log_likelihood_


def test_too_few_iterations_warn(cdnow: pd.DataFrame) -> None:
    with pytest.warns(ConvergenceWarning, match="did not converge after 1 iterations"):
        model = BetaGeoModel(max_iter=1).fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert not model.converged_


@pytest.mark.parametrize(("frequency", "recency", "T", "match"), [
    ([1, 2], [1.0], [2.0, 3.0], r"one length; got lengths 2, 1 and 2"),
    ([], [], [], r"empty"),
    ([1, np.nan, 2], [1.0, 1.0, np.inf], [2.0, 2.0, 2.0],
     r"1 of 3 rows have a missing or infinite frequency \(first at position 1"),
    ([1, 2, 3], [1.0, 1.0, np.inf], [2.0, 2.0, 2.0],
     r"1 of 3 rows have a missing or infinite recency \(first at position 2"),
    ([1, -1, -2], [1.0, 0.0, 0.0], [2.0, 2.0, 2.0],
     r"2 of 3 rows have frequency < 0 \(first at position 1: frequency=-1\.0,"),
    ([1, 1.5, 2], [1.0, 1.0, 1.0], [2.0, 2.0, 2.0],
     r"1 of 3 rows have a frequency that is not a whole number \(first at position 1: "
     r"frequency=1\.5,"),
    ([1, 1], [-1.0, 1.0], [2.0, 2.0], r"1 of 2 rows have recency < 0 \(first at position 0"),
    ([1, 1, 1, 1], [1.0, 3.0, 2.0, 5.0], [2.0, 2.0, 2.0, 2.0],
     r"2 of 4 rows have recency > T \(first at position 1: frequency=1\.0, recency=3\.0, "
     r"T=2\.0\); the last purchase cannot come after the end of the observation"),
    ([0, 1], [0.5, 0.5], [2.0, 2.0], r"1 of 2 rows have recency != 0 although frequency == 0"),
    (["a", "b"], [0.0, 0.0], [1.0, 1.0], r"frequency must be numeric"),
])
def test_fit_rejects_bad_customers(frequency, recency, T, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BetaGeoModel().fit(frequency, recency, T)


@pytest.mark.parametrize(("weights", "match"), [
    ([1.0, -1.0, 2.0], r"1 of 3 rows have a weight that is missing, infinite or negative "
                       r"\(first at position 1: weights=-1\.0\)"),
    ([1.0, 2.0], r"one value per customer row \(3\); got shape \(2,\)"),
    ([0.0, 0.0, 0.0], r"weights sum to 0"),
])
def test_fit_rejects_bad_weights(weights, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BetaGeoModel().fit([0, 1, 2], [0.0, 1.0, 2.0], [3.0, 3.0, 3.0], weights=weights)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"penalizer": -1.0}, r"penalizer must be a finite number >= 0"),
    ({"max_iter": 0}, r"max_iter must be an integer >= 1"),
    ({"tol": 0.0}, r"tol must be a finite number > 0"),
])
def test_fit_rejects_bad_hyperparameters(kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        BetaGeoModel(**kwargs).fit([0, 1], [0.0, 1.0], [2.0, 2.0])


def test_predictions_validate_inputs(cdnow_model: BetaGeoModel) -> None:
    with pytest.raises(ValueError, match=r"1 of 2 rows have recency > T"):
        cdnow_model.p_alive([1, 1], [1.0, 3.0], 2.0)
    with pytest.raises(ValueError, match=r"1 of 2 rows have a horizon t that is missing, "
                       r"infinite or negative \(first at position 1: t=-1\.0\)"):
        cdnow_model.p_no_purchase([1.0, -1.0], 1, 1.0, 2.0)
    with pytest.raises(ValueError, match=r"one value per customer \(3\); got 2 values"):
        cdnow_model.expected_purchases([1.0, 2.0], [1, 1, 1], 1.0, 2.0)
    with pytest.raises(ValueError, match=r"one length \(or be scalars\)"):
        cdnow_model.p_alive([1, 1, 1], [1.0, 1.0], 2.0)
