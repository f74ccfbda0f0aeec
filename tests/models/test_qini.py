"""Qini curves, the Qini coefficient and uplift at k, against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from models.qini import qini_coefficient, qini_curve, qini_interval, uplift_at_k


def test_the_qini_curve_matches_a_hand_computed_one():
    # Ranked by uplift: T(gain 1), C(0), T(1), C(1), T(0), C(1).
    gain = [1, 0, 1, 1, 0, 1]
    treated = [True, False, True, False, True, False]
    uplift = [0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
    curve = qini_curve(gain, uplift, treated)
    # n=1: 1 - 0; n=2: 1 - 0*1/1; n=3: 2 - 0*2/1; n=4: 2 - 1*2/2; n=5: 2 - 1*3/2;
    # n=6: 2 - 2*3/3.
    assert curve["qini"].tolist() == pytest.approx([0, 1, 1, 2, 1, 0.5, 0])
    assert curve["random"].tolist() == pytest.approx([0] * 7)
    assert curve["n"].tolist() == list(range(7))


def _experiment(n: int, seed: int):
    """A random half treated; a contact raises the stay rate of the 30% persuadable from
    0.3 to 0.6 and changes nothing for the others. Returns the generator, the stay
    outcome, the treatment and a score that finds the persuadable."""
    rng = np.random.default_rng(seed)
    persuadable = rng.random(n) < 0.3
    treated = rng.random(n) < 0.5
    stay = rng.random(n) < np.where(persuadable & treated, 0.6, 0.3)
    return rng, stay, treated, persuadable + 0.1 * rng.random(n)


def test_a_model_that_finds_the_persuadable_has_a_positive_coefficient():
    n = 20_000
    rng, stay, treated, informed = _experiment(n, seed=0)
    shuffled = rng.random(n)
    # Expected: the curve climbs to N_t * 0.3 * 0.3 (900) over the first 30% and stays;
    # the area above the random line is 0.35 * 0.09 * N_t / N = 0.0158 per customer.
    assert qini_coefficient(stay, informed, treated) == pytest.approx(0.0158, abs=0.003)
    assert abs(qini_coefficient(stay, shuffled, treated)) < 0.003
    # The top 30% by the informed score are the persuadable: about 0.6 - 0.3.
    assert uplift_at_k(stay, informed, treated, k=0.3) == pytest.approx(0.3, abs=0.04)
    # Reversed, the model puts them last: a negative coefficient.
    assert qini_coefficient(stay, -informed, treated) < -0.01


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="one length"):
        qini_curve([1, 0], [0.1], [True, False])
    with pytest.raises(ValueError, match="both treated and control"):
        qini_curve([1, 0], [0.1, 0.2], [True, True])
    with pytest.raises(ValueError, match="finite"):
        qini_curve([1, np.nan], [0.1, 0.2], [True, False])
    with pytest.raises(ValueError, match="share"):
        uplift_at_k([1, 0], [0.1, 0.2], [True, False], k=0)
    assert np.isnan(uplift_at_k([1, 0, 1], [0.9, 0.1, 0.2], [True, False, False], k=0.3))


def test_the_interval_of_the_coefficient_holds_it_and_excludes_0_for_a_real_signal():
    n = 4_000
    rng, stay, treated, score = _experiment(n, seed=1)
    low, high = qini_interval(stay, score, treated, n_boot=200)
    assert 0 < low < qini_coefficient(stay, score, treated) < high
    low, high = qini_interval(stay, rng.random(n), treated, n_boot=200)
    assert low < 0 < high
    with pytest.raises(ValueError, match="level"):
        qini_interval(stay, score, treated, level=1.5)
