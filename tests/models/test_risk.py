"""Risk labels at their thresholds, and the checks of the risk bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.risk import RISK_DTYPE, RISK_LABELS, RiskBands, risk_label

BANDS = RiskBands()  # medium from 0.3, high from 0.5, critical from 0.75


# --------------------------------------------------------------------------
# Risk labels
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("p", "label"), [
    (0.0, "low"), (0.2999, "low"), (0.3, "medium"), (0.4999, "medium"), (0.5, "high"),
    (0.7499, "high"), (0.75, "critical"), (1.0, "critical"),
])
def test_risk_label_at_and_around_each_threshold(p, label):
    assert risk_label([p], BANDS)[0] == label


def test_risk_label_is_ordered_categorical_with_na_for_missing_probability():
    labels = risk_label(pd.Series([0.9, None, 0.1, np.nan], dtype="Float64"), BANDS)
    assert isinstance(labels, pd.Categorical)
    assert labels.dtype == RISK_DTYPE and labels.ordered
    assert list(labels.categories) == list(RISK_LABELS)
    assert labels[0] == "critical" and labels[2] == "low"
    assert pd.isna(labels[1]) and pd.isna(labels[3])
    assert list(labels.codes) == [3, -1, 0, -1]  # order: low < medium < high < critical


def test_risk_label_custom_bands():
    labels = risk_label(np.array([0.1, 0.2, 0.5, 0.8]), RiskBands(medium=0.2, high=0.6,
                                                                  critical=0.8))
    assert list(labels) == ["low", "medium", "medium", "critical"]


def test_risk_label_refuses_probabilities_outside_unit_interval():
    with pytest.raises(ValueError, match=r"2 of 3 probabilities are outside \[0, 1\] "
                                         r"\(e\.g\. 1\.2\)"):
        risk_label([1.2, 0.5, -0.1], BANDS)
    with pytest.raises(ValueError, match="1 values are not numbers"):
        risk_label([0.5, "high"], BANDS)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"medium": 0.0}, r"RiskBands\nmedium\n  Input should be greater than 0 \[type=greater_than, "
                      r"input_value=0\.0"),
    ({"critical": 1.0}, r"RiskBands\ncritical\n  Input should be less than 1 .* input_value=1\.0"),
    ({"high": -0.2}, r"RiskBands\nhigh\n  Input should be greater than 0 .* input_value=-0\.2"),
    ({"high": "0.5"}, r"RiskBands\nhigh\n  Input should be a valid number .* input_value='0\.5'"),
    ({"high": True}, r"RiskBands\nhigh\n  Input should be a valid number .* input_value=True"),
    ({"high": float("nan")}, r"RiskBands\nhigh\n  Input should be a finite number .* "
                             r"input_value=nan"),
    ({"medium": 0.5, "high": 0.5}, r"high \(0\.5\) is not above medium \(0\.5\)"),
    ({"high": 0.8, "critical": 0.75}, r"critical \(0\.75\) is not above high \(0\.8\)"),
    ({"medium": 0.6}, r"high \(0\.5\) is not above medium \(0\.6\)"),
])
def test_invalid_bands_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RiskBands(**kwargs)
