"""Plot frames: ROC, precision-recall, calibration and lift."""

from __future__ import annotations

import numpy as np
import pytest

from models.calibration import expected_calibration_error
from models.curves import curves

# --------------------------------------------------------------------------
# curves
# --------------------------------------------------------------------------


def test_curves_frames(twenty_rows) -> None:
    y, p = twenty_rows
    out = curves(y, p)
    assert set(out) == {"roc", "pr", "calibration", "lift"}
    roc = out["roc"]
    assert list(roc.columns) == ["fpr", "tpr", "threshold"]
    assert roc[["fpr", "tpr"]].iloc[0].tolist() == [0.0, 0.0]
    assert roc[["fpr", "tpr"]].iloc[-1].tolist() == [1.0, 1.0]
    assert roc["fpr"].is_monotonic_increasing and roc["tpr"].is_monotonic_increasing
    pr = out["pr"]
    assert list(pr.columns) == ["recall", "precision"]
    assert pr["recall"].is_monotonic_increasing and pr["recall"].iloc[-1] == 1.0

    # 20 distinct scores, 10 bins: two rows per bin. The lowest two (0.0 and 0.05)
    # have no defector; the highest two (0.95 and 0.9) one.
    cal = out["calibration"]
    assert list(cal.columns) == ["bin", "mean_p", "observed", "count"]
    assert cal["bin"].tolist() == list(range(1, 11))
    assert cal["count"].tolist() == [2] * 10
    assert cal.iloc[0][["mean_p", "observed"]].tolist() == pytest.approx([0.025, 0.0])
    assert cal.iloc[-1][["mean_p", "observed"]].tolist() == pytest.approx([0.925, 0.5])

    # Deciles of 2 rows; defectors at ranks 1, 3, 5, 8 -> 1 in each of deciles 1-4.
    lift = out["lift"]
    assert list(lift.columns) == ["decile", "lift", "cumulative_capture"]
    assert lift["lift"].tolist() == pytest.approx([2.5, 2.5, 2.5, 2.5] + [0.0] * 6)
    assert lift["cumulative_capture"].tolist() == pytest.approx(
        [0.25, 0.5, 0.75, 1.0] + [1.0] * 6)


def test_calibration_frame_adds_up_to_the_ece() -> None:
    rng = np.random.default_rng(8)
    p = np.round(rng.random(137), 1)  # many ties
    y = (rng.random(137) < p).astype(int)
    cal = curves(y, p)["calibration"]
    assert cal["count"].sum() == 137
    gaps = (cal["count"] * (cal["observed"] - cal["mean_p"]).abs()).sum() / 137
    assert gaps == pytest.approx(expected_calibration_error(y, p, n_bins=10))


def test_curves_need_both_classes() -> None:
    with pytest.raises(ValueError, match="only the class 0"):
        curves([0, 0, 0], [0.1, 0.2, 0.3])
