"""The Markov transition baseline: counts by hand, smoothing, input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pandas.testing import assert_frame_equal
from sklearn.exceptions import NotFittedError

from models.markov import MarkovTransitionBaseline
from models.stages import STAGE_DTYPE, STAGES

# core -> core x3, core -> at_risk x1, at_risk -> lost x2, at_risk -> reactivated x2.
STAGE_T = ["core"] * 4 + ["at_risk"] * 4
STAGE_T_PLUS_H = ["core", "core", "core", "at_risk", "lost", "lost", "reactivated",
                  "reactivated"]


def _matrix(rows: dict[str, dict[str, float]], fill: float = 0.0) -> pd.DataFrame:
    out = pd.DataFrame(fill, index=pd.Index(list(STAGES), name="stage"),
                       columns=pd.Index(list(STAGES), name="next_stage"))
    for src, row in rows.items():
        for dst, value in row.items():
            out.loc[src, dst] = value
    return out


def test_markov_counts_and_raw_frequencies() -> None:
    model = MarkovTransitionBaseline(alpha=0.0).fit(STAGE_T, STAGE_T_PLUS_H)
    counts = _matrix({"core": {"core": 3, "at_risk": 1},
                      "at_risk": {"lost": 2, "reactivated": 2}}).astype(np.int64)
    assert_frame_equal(model.counts_, counts)
    # Seen stages: the raw frequencies. Unseen stages (alpha = 0): the overall
    # next-stage distribution, 3/8 core, 1/8 at_risk, 2/8 lost, 2/8 reactivated.
    marginal = {"core": 3 / 8, "at_risk": 1 / 8, "lost": 2 / 8, "reactivated": 2 / 8}
    expected = _matrix({
        **{s: marginal for s in STAGES if s not in ("core", "at_risk")},
        "core": {"core": 0.75, "at_risk": 0.25},
        "at_risk": {"lost": 0.5, "reactivated": 0.5},
    })
    assert_frame_equal(model.transition_matrix_, expected)
    assert list(model.classes_) == list(STAGES)


def test_markov_smoothing_and_rows_sum_to_one() -> None:
    model = MarkovTransitionBaseline(alpha=1.0).fit(pd.Series(STAGE_T), pd.Series(STAGE_T_PLUS_H))
    matrix = model.transition_matrix_
    np.testing.assert_allclose(matrix.sum(axis=1).to_numpy(), 1.0)
    # core: 4 transitions + 7 * alpha = 11; core -> core (3 + 1) / 11, core -> lost 1/11.
    assert matrix.loc["core", "core"] == pytest.approx(4 / 11)
    assert matrix.loc["core", "lost"] == pytest.approx(1 / 11)
    assert matrix.loc["prospect"].tolist() == pytest.approx([1 / 7] * 7)

    stages = pd.Series(["at_risk", "core", "prospect"], index=[10, 20, 30])
    proba = model.predict_proba(stages)
    assert list(proba.columns) == list(STAGES)
    assert list(proba.index) == [10, 20, 30]
    np.testing.assert_allclose(proba.sum(axis=1).to_numpy(), 1.0)
    assert proba.loc[20].tolist() == pytest.approx(matrix.loc["core"].tolist())
    predicted = model.predict(stages)
    assert predicted.dtype == STAGE_DTYPE
    # at_risk: lost and reactivated tie at 3/11; the earlier stage wins.
    assert predicted.tolist() == ["lost", "core", "prospect"]


def test_markov_accepts_categorical_labels() -> None:
    src = pd.Series(STAGE_T, dtype=STAGE_DTYPE)
    dst = pd.Series(STAGE_T_PLUS_H, dtype=STAGE_DTYPE)
    model = MarkovTransitionBaseline(alpha=0.0).fit(src, dst)
    assert model.transition_matrix_.loc["core", "core"] == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("stages", "next_stages", "alpha", "match"),
    [
        (["core", "gone"], ["core", "core"], 1.0, "not stages"),
        (["core", None], ["core", "core"], 1.0, "missing"),
        (["core"], ["core", "core"], 1.0, "differ in length"),
        (["core"], ["core"], -1.0, "alpha must be"),
    ],
)
def test_markov_rejects_bad_input(stages: list, next_stages: list, alpha: float,
                                  match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MarkovTransitionBaseline(alpha=alpha).fit(stages, next_stages)


def test_markov_needs_fit() -> None:
    with pytest.raises(NotFittedError):
        MarkovTransitionBaseline().predict_proba(["core"])


