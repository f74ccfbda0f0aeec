"""Fixtures shared by the tests of models/."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def twenty_rows() -> tuple[np.ndarray, np.ndarray]:
    """20 rows with distinct scores; defectors at score ranks 1, 3, 5 and 8 (base rate 0.2).

    Shuffled, so that nothing relies on the input order.
    """
    p = np.linspace(0.95, 0.0, 20)  # rank 1 = 0.95
    y = np.zeros(20, dtype=int)
    y[[0, 2, 4, 7]] = 1
    order = np.random.default_rng(3).permutation(20)
    return y[order], p[order]
