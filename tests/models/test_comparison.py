"""A model against its baseline: the paired bootstrap of the AUC difference, the gap closed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.comparison import gap_closed, paired_bootstrap_auc_diff

# --------------------------------------------------------------------------
# paired_bootstrap_auc_diff
# --------------------------------------------------------------------------


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, a strong score and a weak score (rounded, so with many ties)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    strong = y * 1.0 + rng.normal(0.0, 1.0, n)
    weak = np.round(y * 0.3 + rng.normal(0.0, 1.0, n), 1)
    return y, strong, weak


def test_bootstrap_point_estimate_matches_sklearn() -> None:
    y, strong, weak = _synthetic(300, seed=1)
    out = paired_bootstrap_auc_diff(y, strong, weak, n_boot=200, seed=0)
    assert out["auc_model"] == pytest.approx(roc_auc_score(y, strong))
    assert out["auc_baseline"] == pytest.approx(roc_auc_score(y, weak))
    assert out["diff"] == pytest.approx(roc_auc_score(y, strong) - roc_auc_score(y, weak))
    assert out["n_boot"] == 200 and out["n_boot_valid"] == 200


def test_bootstrap_resample_auc_matches_sklearn_on_the_drawn_rows() -> None:
    # With one resample the interval collapses onto that resample's difference;
    # the rows are the first draw of the same generator.
    y, strong, weak = _synthetic(200, seed=2)
    idx = np.random.default_rng(7).integers(0, 200, size=(1, 200))[0]
    expected = roc_auc_score(y[idx], strong[idx]) - roc_auc_score(y[idx], weak[idx])
    out = paired_bootstrap_auc_diff(y, strong, weak, n_boot=1, seed=7)
    assert out["ci_low"] == pytest.approx(expected)
    assert out["ci_high"] == pytest.approx(expected)


def test_bootstrap_ci_contains_estimate_and_shrinks_with_n() -> None:
    small = paired_bootstrap_auc_diff(*_synthetic(400, seed=3), n_boot=500, seed=0)
    large = paired_bootstrap_auc_diff(*_synthetic(4000, seed=3), n_boot=500, seed=0)
    for out in (small, large):
        assert out["ci_low"] <= out["diff"] <= out["ci_high"]
    assert (large["ci_high"] - large["ci_low"]) < 0.6 * (small["ci_high"] - small["ci_low"])


def test_bootstrap_clearly_better_model_has_ci_above_zero() -> None:
    out = paired_bootstrap_auc_diff(*_synthetic(2000, seed=4), n_boot=500, seed=0)
    assert out["diff"] > 0.1
    assert out["ci_low"] > 0
    assert out["p_value"] == 0.0


def test_bootstrap_identical_predictions_give_zero() -> None:
    y, strong, _ = _synthetic(500, seed=5)
    out = paired_bootstrap_auc_diff(y, strong, strong.copy(), n_boot=100, seed=0)
    assert out["diff"] == 0.0
    assert out["ci_low"] == 0.0 and out["ci_high"] == 0.0
    assert out["p_value"] == 1.0


def test_bootstrap_is_reproducible_at_scale() -> None:
    y, strong, weak = _synthetic(40_000, seed=6)
    first = paired_bootstrap_auc_diff(y, strong, weak, n_boot=1000, seed=11)
    again = paired_bootstrap_auc_diff(y[:5000], strong[:5000], weak[:5000], n_boot=50, seed=11)
    assert again == paired_bootstrap_auc_diff(y[:5000], strong[:5000], weak[:5000], n_boot=50,
                                              seed=11)
    assert first["ci_low"] < first["diff"] < first["ci_high"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"y": [1, 1, 1]}, "only the class 1"),
        ({"n_boot": 0}, "n_boot must be an integer >= 1"),
        ({"p_baseline": [0.1, np.nan, 0.3]}, "missing or infinite"),
    ],
)
def test_bootstrap_rejects_bad_input(kwargs: dict, match: str) -> None:
    args = {"y": [0, 1, 1], "p_model": [0.1, 0.2, 0.3], "p_baseline": [0.3, 0.2, 0.1]}
    args.update(kwargs)
    n_boot = args.pop("n_boot", 10)
    with pytest.raises(ValueError, match=match):
        paired_bootstrap_auc_diff(**args, n_boot=n_boot)


# --------------------------------------------------------------------------
# gap_closed
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "baseline", "oracle", "expected"),
    [
        (0.80, 0.70, 0.90, 0.5),
        (0.70, 0.70, 0.90, 0.0),
        (0.90, 0.70, 0.90, 1.0),
        (0.65, 0.70, 0.90, -0.25),
        (0.95, 0.70, 0.90, 1.25),
    ],
)
def test_gap_closed_arithmetic(model: float, baseline: float, oracle: float,
                               expected: float) -> None:
    assert gap_closed(model, baseline, oracle) == pytest.approx(expected)


@pytest.mark.parametrize(("baseline", "oracle"), [(0.8, 0.8), (0.8, 0.75), (math.nan, 0.9)])
def test_gap_closed_is_nan_without_a_gap(baseline: float, oracle: float) -> None:
    assert math.isnan(gap_closed(0.85, baseline, oracle))
