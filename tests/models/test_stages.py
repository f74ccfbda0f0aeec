"""Stage rules: one row per stage, thresholds at their boundaries, transitions on event histories.

Unless a test says otherwise the rules are the defaults: lost after 365 days,
a one-time buyer at risk after 120, a repeat buyer at risk after 3 x its median
gap, core from 4 purchases and 180 days since the first, reactivated for 90
days after the comeback purchase.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from features.build import compute_features
from models.labels import make_labels
from models.stages import REQUIRED_COLUMNS, STAGE_DTYPE, STAGES, StageRules, assign_stages
from tests.features.conftest import SPEC, make_inputs, ts

RULES = StageRules()
NA = np.nan


def row(f: int, r: float = NA, gap: float = NA, last: float = NA, prior: float = NA,
        since_first: float = NA) -> dict[str, float]:
    """A feature row: frequency, recency, median gap, last gap, prior median gap, tenure."""
    return {"frequency": f, "recency_days": r, "gap_median_days": gap, "last_gap_days": last,
            "prior_gap_median_days": prior, "days_since_first_purchase": since_first}


def stage_of(r: dict[str, float], rules: StageRules = RULES) -> str:
    return str(assign_stages(pd.DataFrame([r]), rules).iloc[0])


# --------------------------------------------------------------------------
# One row per stage
# --------------------------------------------------------------------------

ONE_PER_STAGE = {
    "prospect": row(0),
    "first_time_buyer": row(1, r=30, since_first=30),
    "early_repeat": row(2, r=20, gap=30, last=30, since_first=50),
    "core": row(6, r=20, gap=30, last=30, prior=30, since_first=200),
    "at_risk": row(6, r=100, gap=30, last=30, prior=30, since_first=300),
    "lost": row(6, r=400, gap=30, last=30, prior=30, since_first=600),
    "reactivated": row(6, r=20, gap=30, last=200, prior=30, since_first=400),
}


def test_one_row_per_stage_in_one_frame():
    frame = pd.DataFrame(list(ONE_PER_STAGE.values()), index=list("abcdefg"))
    stages = assign_stages(frame, RULES)
    assert list(stages) == list(ONE_PER_STAGE)
    assert stages.dtype == STAGE_DTYPE and list(stages.cat.categories) == list(STAGES)
    assert stages.name == "stage" and list(stages.index) == list("abcdefg")


def test_input_is_not_modified():
    frame = pd.DataFrame(list(ONE_PER_STAGE.values()))
    before = frame.copy()
    assign_stages(frame, RULES)
    pd.testing.assert_frame_equal(frame, before)


# --------------------------------------------------------------------------
# Boundaries: exactly at a threshold keeps the earlier stage
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("features", "expected"), [
    # lost: no purchase in the last 365 days
    pytest.param(row(1, r=365, since_first=365), "at_risk", id="lost-at-365"),
    pytest.param(row(1, r=366, since_first=366), "lost", id="lost-at-366"),
    # one-time buyer: dormant after 120 days
    pytest.param(row(1, r=120, since_first=120), "first_time_buyer", id="dormant-at-120"),
    pytest.param(row(1, r=121, since_first=121), "at_risk", id="dormant-at-121"),
    # repeat buyer: 3 x median gap
    pytest.param(row(3, r=30, gap=10, last=10, prior=10, since_first=50), "early_repeat",
                 id="gap-factor-at-30"),
    pytest.param(row(3, r=31, gap=10, last=10, prior=10, since_first=51), "at_risk",
                 id="gap-factor-at-31"),
    # same-day repeat purchases: the usual gap counts as min_usual_gap_days (7)
    pytest.param(row(2, r=21, gap=0, last=0, since_first=21), "early_repeat",
                 id="gap-floor-21"),
    pytest.param(row(2, r=22, gap=0, last=0, since_first=22), "at_risk", id="gap-floor-22"),
    # core: 4 purchases and 180 days since the first
    pytest.param(row(4, r=10, gap=50, last=50, prior=50, since_first=180), "core",
                 id="core-at-180-days"),
    pytest.param(row(4, r=10, gap=50, last=50, prior=50, since_first=179), "early_repeat",
                 id="core-at-179-days"),
    pytest.param(row(3, r=10, gap=50, last=50, prior=50, since_first=500), "early_repeat",
                 id="core-at-3-purchases"),
    # reactivated for 90 days after the comeback
    pytest.param(row(6, r=90, gap=40, last=200, prior=40, since_first=400), "reactivated",
                 id="window-at-90"),
    pytest.param(row(6, r=91, gap=40, last=200, prior=40, since_first=400), "core",
                 id="window-at-91"),
    # comeback after a gap that made it lost (the rhythm would not have)
    pytest.param(row(4, r=10, gap=150, last=365, prior=150, since_first=700), "core",
                 id="comeback-lost-gap-365"),
    pytest.param(row(4, r=10, gap=150, last=366, prior=150, since_first=700), "reactivated",
                 id="comeback-lost-gap-366"),
    # comeback after a gap beyond 3 x the rhythm known before it
    pytest.param(row(5, r=10, gap=30, last=90, prior=30, since_first=300), "core",
                 id="comeback-rhythm-90"),
    pytest.param(row(5, r=10, gap=30, last=91, prior=30, since_first=300), "reactivated",
                 id="comeback-rhythm-91"),
    pytest.param(row(3, r=2, gap=2, last=21, prior=0, since_first=23), "early_repeat",
                 id="comeback-prior-floor-21"),
    pytest.param(row(3, r=2, gap=2, last=22, prior=0, since_first=24), "reactivated",
                 id="comeback-prior-floor-22"),
    # a second purchase after the one-time buyer went dormant
    pytest.param(row(2, r=10, gap=120, last=120, since_first=130), "early_repeat",
                 id="comeback-dormant-120"),
    pytest.param(row(2, r=10, gap=121, last=121, since_first=131), "reactivated",
                 id="comeback-dormant-121"),
])
def test_boundaries(features, expected):
    assert stage_of(features) == expected


def test_precedence_lost_before_at_risk_before_reactivated():
    # All of lost, at_risk and (but for recency) reactivated hold: lost wins.
    assert stage_of(row(6, r=400, gap=30, last=400, prior=30, since_first=900)) == "lost"
    # Gaps 10, 10, 10, 40: a comeback (40 > 3 x 10); overdue again after 30 days, it
    # is at_risk rather than reactivated.
    assert stage_of(row(5, r=30, gap=10, last=40, prior=10, since_first=100)) == "reactivated"
    assert stage_of(row(5, r=31, gap=10, last=40, prior=10, since_first=101)) == "at_risk"


# --------------------------------------------------------------------------
# Every threshold moves the outcome
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value", "features", "before", "after"), [
    ("lost_after_days", 450, row(6, r=400, gap=200, last=200, prior=200, since_first=1500),
     "lost", "core"),
    ("dormant_after_days", 200, row(1, r=150, since_first=150), "at_risk", "first_time_buyer"),
    ("at_risk_gap_factor", 4.0, row(5, r=100, gap=30, last=30, prior=30, since_first=300),
     "at_risk", "core"),
    ("core_min_purchases", 5, row(4, r=10, gap=30, last=30, prior=30, since_first=300),
     "core", "early_repeat"),
    ("core_min_tenure_days", 100, row(6, r=10, gap=30, last=30, prior=30, since_first=150),
     "early_repeat", "core"),
    ("reactivated_window_days", 30, row(6, r=60, gap=30, last=200, prior=30, since_first=400),
     "reactivated", "core"),
    ("min_usual_gap_days", 1, row(3, r=10, gap=3, last=3, prior=3, since_first=16),
     "early_repeat", "at_risk"),
])
def test_every_threshold_changes_the_outcome(field, value, features, before, after):
    assert stage_of(features) == before
    assert stage_of(features, StageRules(**{**RULES.model_dump(), field: value})) == after


def test_every_threshold_is_covered_above():
    assert set(StageRules.model_fields) == {
        "lost_after_days", "dormant_after_days", "at_risk_gap_factor", "core_min_purchases",
        "core_min_tenure_days", "reactivated_window_days", "min_usual_gap_days"}


# --------------------------------------------------------------------------
# Invalid rules and inputs
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "message"), [
    ({"dormant_after_days": 365}, r"dormant_after_days \(365\) must be below lost_after_days"),
    ({"lost_after_days": 100}, r"dormant_after_days \(120\) must be below lost_after_days \(100\)"),
    ({"lost_after_days": 0}, r"lost_after_days\n  Input should be greater than 0 "),
    ({"reactivated_window_days": -5},
     r"reactivated_window_days\n  Input should be greater than 0 "),
    ({"at_risk_gap_factor": 0.5},
     r"at_risk_gap_factor\n  Input should be greater than or equal to 1 "),
    ({"at_risk_gap_factor": float("inf")},
     r"at_risk_gap_factor\n  Input should be a finite number "),
    ({"at_risk_gap_factor": True}, r"at_risk_gap_factor\n  Input should be a valid number "),
    ({"core_min_purchases": 1},
     r"core_min_purchases\n  Input should be greater than or equal to 2 "),
    ({"core_min_purchases": 3.5},
     r"core_min_purchases\n  Input should be a valid integer \[type=int_type, input_value=3\.5"),
    ({"core_min_tenure_days": -1},
     r"core_min_tenure_days\n  Input should be greater than or equal to 0 "),
    ({"lost_after_days": float("nan")},
     r"lost_after_days\n  Input should be a valid integer \[type=int_type, input_value=nan"),
    ({"dormant_after_days": "120"},
     r"dormant_after_days\n  Input should be a valid integer \[type=int_type, input_value='120'"),
    ({"lost_after_days": True},
     r"lost_after_days\n  Input should be a valid integer \[type=int_type, input_value=True"),
])
def test_invalid_rules_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        StageRules(**changes)


def test_rules_are_frozen_values_that_keep_whole_days_whole():
    rules = StageRules(at_risk_gap_factor=3)
    assert rules == RULES and hash(rules) == hash(RULES)
    assert isinstance(rules.lost_after_days, int) and isinstance(rules.at_risk_gap_factor, float)
    with pytest.raises(ValueError, match="frozen"):
        rules.lost_after_days = 400  # type: ignore[misc]
    with pytest.raises(ValueError, match=r"lost_afterdays\n  Extra inputs are not permitted"):
        StageRules(lost_afterdays=400)


def test_missing_columns_are_named():
    frame = pd.DataFrame([row(1, r=3, since_first=3)]).drop(columns=["last_gap_days"])
    with pytest.raises(ValueError, match=r"lack the columns \['last_gap_days'\]"):
        assign_stages(frame, RULES)


def test_buyer_without_recency_is_refused():
    frame = pd.DataFrame([row(0), row(2, r=NA, since_first=10)], index=["p", "x"])
    with pytest.raises(ValueError, match=r"1 rows have purchases but no recency_days .*'x'"):
        assign_stages(frame, RULES)


def test_required_columns_exist_in_the_feature_table():
    from features.spec import FeatureSpec, feature_table

    assert set(REQUIRED_COLUMNS) <= set(feature_table(FeatureSpec()).names)


# --------------------------------------------------------------------------
# Transitions on hand-made event histories, through the feature kernel
# --------------------------------------------------------------------------

H = 90


def monthly(first: str, n: int) -> list[str]:
    """``n`` purchase days, one a month on the day of ``first``."""
    d = dt.date.fromisoformat(first)
    return [dt.date(d.year + (d.month - 1 + k) // 12, (d.month - 1 + k) % 12 + 1, d.day)
            .isoformat() for k in range(n)]


# (purchase days, signup day or None, cutoff t, stage at t, stage at t + 90 days)
TRANSITIONS = {
    "prospect->prospect": ([], "2023-01-01", "2023-03-01", "prospect", "prospect"),
    "prospect->first_time_buyer": (["2023-03-15"], "2023-01-01", "2023-03-01",
                                   "prospect", "first_time_buyer"),
    # 28 days after the first purchase; then a second one 47 days after it
    "first_time_buyer->early_repeat": (["2023-02-01", "2023-03-20"], None, "2023-03-01",
                                       "first_time_buyer", "early_repeat"),
    # 50 days after the only purchase, then 140 > 120
    "first_time_buyer->at_risk": (["2022-01-10"], None, "2022-03-01",
                                  "first_time_buyer", "at_risk"),
    # 3 purchases, then 6 with 196 days since the first
    "early_repeat->core": (monthly("2022-11-15", 3) + monthly("2023-03-10", 3), None,
                           "2023-03-01", "early_repeat", "core"),
    # monthly through 2022; 121 days after the last > 3 x 31
    "core->at_risk": (monthly("2022-01-01", 12), None, "2023-01-01", "core", "at_risk"),
    "core->core": (monthly("2022-01-01", 15), None, "2023-01-01", "core", "core"),
    # 304 days after the last purchase, then 394 > 365
    "at_risk->lost": (monthly("2022-01-01", 6), None, "2023-04-01", "at_risk", "lost"),
    "lost->lost": (monthly("2021-01-01", 6), None, "2022-07-01", "lost", "lost"),
    # lost (395 days), then a purchase after a 426-day gap
    "lost->reactivated": (monthly("2021-01-01", 6) + ["2022-08-01"], None, "2022-07-01",
                          "lost", "reactivated"),
    # 122 days > 3 x 31, then a purchase after a 167-day gap
    "at_risk->reactivated": (monthly("2022-01-01", 6) + ["2022-11-15"], None, "2022-10-01",
                             "at_risk", "reactivated"),
    # back 16 days ago, then three purchases at the old rhythm
    "reactivated->core": (monthly("2022-01-01", 6) + ["2022-11-15"]
                          + monthly("2022-12-15", 3), None, "2022-12-01",
                          "reactivated", "core"),
    # second purchase 142 > 120 days after the first, then a third 30 days later
    "reactivated->early_repeat": (["2022-01-10", "2022-06-01", "2022-07-01"], None,
                                  "2022-06-15", "reactivated", "early_repeat"),
}


def _features(purchases: list[str], signup: str | None, cutoffs: list[dt.date]) -> pd.DataFrame:
    tx = [("c1", ts(d), 25.0) for d in purchases]
    cu = [("c1", ts(signup, 9), "loyal", "self_service")] if signup else []
    tables = make_inputs(tx, (), cu)
    return compute_features(*tables, cutoffs, SPEC).to_pandas()


@pytest.mark.parametrize("case", list(TRANSITIONS))
def test_transitions_on_event_histories(case):
    purchases, signup, t, stage_t, stage_h = TRANSITIONS[case]
    t = dt.date.fromisoformat(t)
    feats = _features(purchases, signup, [t, t + dt.timedelta(days=H)])
    labels = make_labels(feats[feats["cutoff"] == t], feats[feats["cutoff"] != t],
                         rules=RULES, horizon_days=H)
    assert len(labels) == 1
    assert (labels["stage"].iloc[0], labels["next_stage"].iloc[0]) == (stage_t, stage_h)


def test_every_stage_occurs_in_the_transition_cases():
    seen = {s for *_, a, b in TRANSITIONS.values() for s in (a, b)}
    assert seen == set(STAGES)
