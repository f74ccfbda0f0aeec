"""The BG/NBD inputs from purchase events: same-day purchases, the cutoff, UTC days, refusals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.bgnbd import BetaGeoModel
from models.btyd_data import summary_from_events


def _model(r: float, alpha: float, a: float, b: float) -> BetaGeoModel:
    """A model with given parameters, as if fitted."""
    model = BetaGeoModel()
    model.r_, model.alpha_, model.a_, model.b_ = r, alpha, a, b
    return model


HAND = (1.0, 1.0, 1.0, 2.0)


# --------------------------------------------------------------------------
# summary_from_events
# --------------------------------------------------------------------------


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": ["A", "B", "A", "A", "C", "A", "D", "A", "D", "C"],
        "timestamp": pd.to_datetime([
            "2024-01-08 12:00",  # A: second purchase day
            "2024-01-29 23:59",  # B: only purchase, the last day before the cutoff
            "2024-01-01 09:00",  # A: first purchase day ...
            "2024-01-01 18:00",  # ... twice: counts once
            "2024-02-05 00:00",  # C: on the cutoff: ignored
            "2024-01-22 10:00",  # A: third purchase day, the last before the cutoff
            "2024-01-15 08:00",  # D: first purchase day ...
            "2024-02-06 10:00",  # A: after the cutoff: ignored
            "2024-01-15 20:00",  # ... twice: counts once
            "2024-03-01 00:00",  # C: after the cutoff: ignored
        ]),
    })


def test_summary_from_events_hand_computed(events: pd.DataFrame) -> None:
    before = events.copy()
    out = summary_from_events(events["customer_id"], events["timestamp"], "2024-02-05")
    # A: days Jan 1, 8, 22 -> 2 repeat days, recency 21 d = 3 weeks, T = 35 d = 5 weeks.
    # B: one day, T = Jan 29 -> Feb 5 = 1 week. D: one day (twice), T = 21 d = 3 weeks.
    expected = pd.DataFrame(
        {"frequency": np.array([2, 0, 0], dtype="int64"),
         "recency": [3.0, 0.0, 0.0],
         "T": [5.0, 1.0, 3.0]},
        index=pd.Index(["A", "B", "D"], name="customer_id"),
    )
    pd.testing.assert_frame_equal(out, expected)
    pd.testing.assert_frame_equal(events, before)


def test_summary_from_events_in_days(events: pd.DataFrame) -> None:
    out = summary_from_events(events["customer_id"], events["timestamp"],
                              pd.Timestamp("2024-02-05"), unit_days=1.0)
    assert out.loc["A"].tolist() == [2, 21.0, 35.0]
    assert out.loc["B"].tolist() == [0, 0.0, 7.0]


def test_summary_from_events_uses_utc_days() -> None:
    # 23:30 in New York on Jan 28 is Jan 29 in UTC.
    times = pd.to_datetime(["2024-01-01 10:00", "2024-01-28 23:30"]).tz_localize("America/New_York")
    out = summary_from_events(["A", "A"], times, "2024-02-05", unit_days=1.0)
    assert out.loc["A"].tolist() == [1, 28.0, 35.0]


def test_summary_from_events_keeps_id_dtype_and_can_be_empty() -> None:
    out = summary_from_events(np.array([7, 7, 3]), ["2024-01-01", "2024-01-03", "2024-01-05"],
                              "2024-02-01", unit_days=1.0)
    assert out.index.tolist() == [3, 7]
    assert out.index.dtype == np.int64
    assert out.loc[7].tolist() == [1, 2.0, 31.0]
    empty = summary_from_events(["A"], ["2024-02-01"], "2024-02-01")
    assert empty.empty
    assert empty.dtypes.tolist() == [np.dtype("int64"), np.dtype("float64"), np.dtype("float64")]


def test_summary_from_events_feeds_the_model(events: pd.DataFrame) -> None:
    out = summary_from_events(events["customer_id"], events["timestamp"], "2024-02-05")
    alive = _model(*HAND).p_alive(out["frequency"], out["recency"], out["T"])
    assert alive.shape == (3,)


@pytest.mark.parametrize(("ids", "times", "cutoff", "kwargs", "match"), [
    (["A"], ["2024-01-01", "2024-01-02"], "2024-02-01", {}, r"one length; got 1 and 2"),
    (["A", None], ["2024-01-01", "2024-01-02"], "2024-02-01", {},
     r"1 of 2 events have a missing customer_ids value \(first at position 1\)"),
    (["A", "A"], ["2024-01-01", None], "2024-02-01", {},
     r"1 of 2 events have a missing timestamps value \(first at position 1\)"),
    (["A"], ["2024-01-01"], "2024-02-01 12:00", {}, r"cutoff must be a date"),
    (["A"], ["2024-01-01"], "2024-02-01", {"unit_days": 0.0}, r"unit_days must be"),
    (["A"], ["not a date"], "2024-02-01", {}, r"timestamps could not be read"),
])
def test_summary_from_events_rejects_bad_input(ids, times, cutoff, kwargs, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        summary_from_events(ids, times, cutoff, **kwargs)
