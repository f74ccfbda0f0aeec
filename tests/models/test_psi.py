"""Population stability index: hand-computed values, symmetry, the epsilon floor, refusals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.psi import psi

EPS = 1e-4


def test_psi_hand_computed_and_symmetric():
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 (ln 2 + ln 1.5) = 0.25 ln 3
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(3), rel=1e-12)
    assert psi([0.25, 0.75], [0.5, 0.5]) == pytest.approx(0.25 * math.log(3), rel=1e-12)
    e, a = [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]
    expected = sum((ai - ei) * math.log(ai / ei) for ei, ai in zip(e, a, strict=True))
    assert psi(np.array(e), pd.Series(a)) == pytest.approx(expected, rel=1e-12)


def test_psi_is_zero_for_equal_shares_and_for_bins_empty_on_both_sides():
    assert psi([0.2, 0.0, 0.8], [0.2, 0.0, 0.8]) == 0.0


def test_psi_floors_empty_bins_at_epsilon():
    expected = (0.5 - 1) * math.log(0.5) + (0.5 - EPS) * math.log(0.5 / EPS)
    assert psi([1.0, 0.0], [0.5, 0.5]) == pytest.approx(expected, rel=1e-12)
    looser = (0.5 - 1) * math.log(0.5) + (0.5 - 0.01) * math.log(0.5 / 0.01)
    assert psi([1.0, 0.0], [0.5, 0.5], epsilon=0.01) == pytest.approx(looser, rel=1e-12)


@pytest.mark.parametrize(("expected", "actual", "kwargs", "message"), [
    ([0.5, 0.5], [1.0], {}, "expected has 2 bins and actual 1"),
    ([0.5, 0.6], [0.5, 0.5], {}, r"the shares of expected sum to 1\.1, not 1"),
    ([1.5, -0.5], [0.5, 0.5], {}, r"1 shares that are negative, NaN or infinite \(e\.g\. -0\.5 "
                                  r"in bin 1\)"),
    ([0.5, 0.5], [np.nan, 1.0], {}, "actual has 1 shares that are negative, NaN or infinite"),
    ([[0.5, 0.5]], [0.5, 0.5], {}, r"non-empty one-dimensional vector .* shape \(1, 2\)"),
    ([], [], {}, "non-empty one-dimensional"),
    ([0.5, 0.5], [0.5, 0.5], {"epsilon": 0}, "epsilon must be a number strictly between 0 and 1"),
])
def test_psi_refuses_invalid_shares(expected, actual, kwargs, message):
    with pytest.raises(ValueError, match=message):
        psi(expected, actual, **kwargs)
