"""Probability calibration, the expected calibration error and the calibration split."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from models.calibration import (
    EPS,
    ProbabilityCalibrator,
    expected_calibration_error,
    split_for_calibration,
)

# --------------------------------------------------------------------------
# Expected calibration error
# --------------------------------------------------------------------------


def test_ece_hand_computed_ten_points_two_bins():
    # sorted by p, bin 1 = first five rows, bin 2 = last five:
    #   bin 1: mean p = (0.05 + 0.1 + 0.15 + 0.2 + 0.5) / 5 = 0.2, mean y = 3/5 = 0.6
    #   bin 2: mean p = (0.6 + 0.7 + 0.8 + 0.9 + 1.0) / 5 = 0.8, mean y = 1
    # ECE = 5/10 * 0.4 + 5/10 * 0.2 = 0.3
    p = [0.9, 0.05, 0.6, 0.1, 1.0, 0.15, 0.7, 0.2, 0.8, 0.5]
    y = [1, 1, 1, 0, 1, 1, 1, 0, 1, 1]
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.3, abs=1e-12)


def test_ece_one_bin_is_the_gap_of_the_means():
    assert expected_calibration_error([0, 1, 1, 1], [0.5, 0.5, 0.6, 0.6], n_bins=1) == \
        pytest.approx(0.75 - 0.55, abs=1e-12)


def test_ece_keeps_ties_in_one_bin_whatever_the_row_order():
    # ranks of the first row of each tie: 0, 0, 2, 2, 2, 5 -> bins 0, 0, 0, 0, 0, 1;
    # the tie at 0.5 straddles the boundary at rank 3 and goes whole to bin 0.
    # ECE = (|1 - 1.7| + |1 - 0.9|) / 6 = 0.8 / 6. Cutting the tie at rank 3 would
    # give 0.8 / 6 or 1.2 / 6 depending on which tied row comes first.
    p = np.array([0.1, 0.1, 0.5, 0.5, 0.5, 0.9])
    y = np.array([0, 0, 1, 0, 0, 1])
    rng = np.random.default_rng(0)
    for _ in range(10):
        order = rng.permutation(p.size)
        assert expected_calibration_error(y[order], p[order], n_bins=2) == \
            pytest.approx(0.8 / 6, abs=1e-12)


def test_ece_is_zero_when_each_bin_is_calibrated():
    p = [0.25] * 4 + [0.75] * 4
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(("y", "p", "n_bins", "match"), [
    ([0, 1], [0.2, 1.2], 10, "probabilities in"),
    ([0, 2], [0.2, 0.3], 10, "0/1 or boolean"),
    ([0, 1, 1], [0.2, 0.3], 10, "2 values"),
    ([0, 1], [0.2, 0.3], 0, "n_bins"),
    ([], [], 10, "at least one row"),
])
def test_ece_errors(y, p, n_bins, match):
    with pytest.raises(ValueError, match=match):
        expected_calibration_error(y, p, n_bins=n_bins)


# --------------------------------------------------------------------------
# The calibrator
# --------------------------------------------------------------------------


def _sample(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores with a known distortion of the true probability, and outcomes."""
    rng = np.random.default_rng(seed)
    if kind == "logit_shift":  # p_raw = expit(logit(p_true) + 1.5): Platt is exact
        z = rng.normal(0.0, 1.5, n)
        p_true, p_raw = expit(z), expit(z + 1.5)
    elif kind == "step":  # p_true jumps from 0.2 to 0.8 at p_raw = 0.5: no sigmoid fits
        p_raw = rng.uniform(0.01, 0.99, n)
        p_true = np.where(p_raw < 0.5, 0.2, 0.8)
    else:  # "cube": p_raw = p_true ** 3
        p_true = rng.uniform(0.02, 0.98, n)
        p_raw = p_true**3
    return p_raw, rng.uniform(size=n) < p_true


@pytest.mark.parametrize("kind", ["logit_shift", "step", "cube"])
def test_calibration_reduces_ece_on_held_out_rows(kind):
    p_fit, y_fit = _sample(kind, 20_000, 1)
    p_new, y_new = _sample(kind, 20_000, 2)
    before = expected_calibration_error(y_new, p_new)
    after = expected_calibration_error(y_new, ProbabilityCalibrator().fit(p_fit, y_fit)
                                       .predict(p_new))
    assert before > 0.1
    assert after < before / 5
    if kind != "cube":  # there the log-loss choice may be a sigmoid, biased by ~0.02
        assert after < 0.02


@pytest.mark.parametrize(("kind", "method"), [("logit_shift", "sigmoid"), ("step", "isotonic")])
def test_calibration_chooses_the_map_that_fits(kind, method):
    p, y = _sample(kind, 20_000, 3)
    cal = ProbabilityCalibrator().fit(p, y)
    assert cal.method_ == method
    other = "isotonic" if method == "sigmoid" else "sigmoid"
    assert cal.cv_log_loss_[method] < cal.cv_log_loss_[other]


def test_calibration_is_deterministic_given_random_state():
    p, y = _sample("cube", 5_000, 4)
    a = ProbabilityCalibrator(random_state=3).fit(p, y)
    b = ProbabilityCalibrator(random_state=3).fit(p, y)
    c = ProbabilityCalibrator(random_state=4).fit(p, y)
    assert a.cv_log_loss_ == b.cv_log_loss_
    assert a.cv_log_loss_ != c.cv_log_loss_  # other folds, other out-of-fold losses
    assert np.array_equal(a.predict(p), b.predict(p))


@pytest.mark.parametrize("method", ["isotonic", "sigmoid"])
def test_forced_method_and_clipped_output(method):
    p, y = _sample("step", 4_000, 5)
    cal = ProbabilityCalibrator(method=method).fit(p, y)
    assert cal.method_ == method
    assert set(cal.cv_log_loss_) == {"isotonic", "sigmoid"}
    assert cal.n_samples_ == 4_000
    out = cal.predict([0.0, 0.5, 1.0])
    assert out.shape == (3,)
    assert ((out >= EPS) & (out <= 1 - EPS)).all()
    assert out[0] <= out[1] <= out[2]


def test_calibrator_follows_the_estimator_contract():
    cal = ProbabilityCalibrator(n_splits=3, random_state=1)
    assert cal.get_params() == {"method": "auto", "n_splits": 3, "random_state": 1}
    assert clone(cal).get_params() == cal.get_params()
    with pytest.raises(NotFittedError):
        cal.predict([0.5])
    with pytest.raises(TypeError):
        ProbabilityCalibrator("isotonic")  # keyword-only


@pytest.mark.parametrize(("params", "p", "y", "match"), [
    ({"method": "beta"}, [0.1, 0.9] * 5, [0, 1] * 5, "method must be"),
    ({"n_splits": 1}, [0.1, 0.9] * 5, [0, 1] * 5, "n_splits"),
    ({}, [0.1, np.nan] * 5, [0, 1] * 5, "probabilities in"),
    ({}, [0.1, 0.9] * 5, [0, 1] * 4, "one-dimensional with 10"),
    ({}, [0.1, 0.9] * 5, [0] * 6 + [1] * 4, "4 positive"),
])
def test_calibrator_input_errors(params, p, y, match):
    with pytest.raises(ValueError, match=match):
        ProbabilityCalibrator(**params).fit(p, y)


# --------------------------------------------------------------------------
# The calibration split
# --------------------------------------------------------------------------


def test_split_is_stable_and_pinned():
    ids = [f"C{i:05d}" for i in range(12)]
    first = split_for_calibration(ids)
    assert np.array_equal(first, split_for_calibration(list(ids)))
    # md5("calibration" + id): a change of the rule would move customers between parts
    assert first.tolist() == [True, True, False, False, False, False,
                              True, False, False, False, True, False]


def test_split_takes_about_fraction_of_customers_and_all_their_rows():
    ids = [f"cust-{i}" for i in range(20_000)]
    part = split_for_calibration(ids, fraction=0.3)
    assert part.dtype == bool and part.shape == (20_000,)
    assert abs(part.mean() - 0.3) < 0.015
    repeated = split_for_calibration(ids[:50] * 3, fraction=0.3)
    assert np.array_equal(repeated, np.tile(part[:50], 3))
    # a larger fraction only adds customers; another salt gives another split
    assert (part <= split_for_calibration(ids, fraction=0.5)).all()
    other = split_for_calibration(ids, fraction=0.3, salt="other")
    assert 0.35 < (part == other).mean() < 0.75
    assert split_for_calibration(ids[:100], fraction=1.0).all()
    assert not split_for_calibration(ids[:100], fraction=0.0).any()


@pytest.mark.parametrize(("ids", "fraction", "match"), [
    (["a", None], 0.5, "1 missing value"),
    (["a"], 1.5, "fraction"),
])
def test_split_errors(ids, fraction, match):
    with pytest.raises(ValueError, match=match):
        split_for_calibration(ids, fraction=fraction)
