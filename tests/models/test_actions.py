"""The action policy's checks and lookups."""

from __future__ import annotations

import copy
import itertools
import re

import numpy as np
import pandas as pd
import pytest

from models.actions import DEFAULT_RULES, ActionPolicy, PolicyError
from models.policy_rules import ACTIONS, PolicyRule
from models.risk import RISK_DTYPE, RISK_LABELS, RiskBands, risk_label
from models.stages import STAGE_DTYPE, STAGES
from models.value_tiers import VALUE_DTYPE, VALUE_TIERS

BANDS = RiskBands()  # medium from 0.3, high from 0.5, critical from 0.75


def rules() -> list[dict]:
    """A fresh, mutable copy of the default rules."""
    return copy.deepcopy(list(DEFAULT_RULES))


def rule(name: str, stage="*", risk="*", value="*", action="harvest", why="test") -> dict:
    return {"name": name, "stage": stage, "risk": risk, "value": value, "action": action,
            "why": why}


# --------------------------------------------------------------------------
# Policy coverage
# --------------------------------------------------------------------------


def test_default_policy_covers_every_combination_exactly_once():
    policy = ActionPolicy.from_rules(DEFAULT_RULES)
    table = policy.table()
    expected = [("prospect", None, v) for v in VALUE_TIERS] + [
        (s, r, v) for s in STAGES if s != "prospect" for r in RISK_LABELS for v in VALUE_TIERS]
    got = [(s, None if pd.isna(r) else r, v)
           for s, r, v in table[["stage", "risk", "value_tier"]].itertuples(index=False)]
    assert sorted(got, key=str) == sorted(expected, key=str)
    assert len(table) == 75
    assert set(table["action"]) == set(ACTIONS)  # the default uses all seven strategies
    assert all(r["why"].strip() for r in DEFAULT_RULES)
    assert len({r["name"] for r in DEFAULT_RULES}) == len(DEFAULT_RULES)


@pytest.mark.parametrize(("stage", "risk", "value", "action", "rule_name"), [
    ("prospect", None, "high", "start", "start_promising_prospect"),
    ("prospect", None, "medium", "harvest", "harvest_average_prospect"),
    ("prospect", None, "low", "end", "end_unpromising_prospect"),
    ("core", "high", "high", "protect", "protect_valuable"),
    ("early_repeat", "medium", "medium", "protect", "protect_valuable"),
    ("core", "low", "high", "enhance", "enhance_engaged"),
    ("first_time_buyer", "low", "medium", "enhance", "enhance_engaged"),
    ("core", "low", "low", "harvest", "harvest_stable_low_value"),
    ("early_repeat", "critical", "low", "re_engineer", "re_engineer_risky_low_value"),
    ("at_risk", "low", "high", "regain", "regain_drifting_high_value"),
    ("at_risk", "critical", "low", "end", "end_drifting_low_value"),
    ("lost", "critical", "medium", "regain", "regain_lost_valuable"),
    ("lost", "high", "low", "end", "end_lost_low_value"),
    ("reactivated", "medium", "high", "protect", "protect_valuable"),
])
def test_default_policy_follows_the_domain_table(stage, risk, value, action, rule_name):
    policy = ActionPolicy.from_rules(DEFAULT_RULES)
    actions, names = policy.apply([stage], [risk], [value])
    assert (actions[0], names[0]) == (action, rule_name)


def test_a_gap_is_reported_with_the_uncovered_combination():
    broken = [r for r in rules() if r["name"] != "end_lost_low_value"]
    with pytest.raises(PolicyError, match=r"4 combinations are covered by no rule: "
                                          r"stage=lost, risk=low\|medium\|high\|critical, "
                                          r"value=low") as err:
        ActionPolicy.from_rules(broken)
    assert "rules '" not in str(err.value)  # no overlap reported


def test_gaps_in_several_places_are_all_named():
    broken = [r for r in rules()
              if r["name"] not in ("start_promising_prospect", "re_engineer_risky_low_value")]
    with pytest.raises(PolicyError) as err:
        ActionPolicy.from_rules(broken)
    message = str(err.value)
    assert "9 combinations are covered by no rule" in message
    assert "stage=prospect, risk=NA, value=high" in message
    assert ("stage=first_time_buyer|early_repeat|core|reactivated, risk=high|critical, "
            "value=low") in message


def test_an_overlap_is_reported_naming_both_rules():
    overlapping = [*rules(), rule("vip_core", stage="core", risk=["high", "critical"],
                                  value="high", action="regain")]
    with pytest.raises(PolicyError, match=re.escape(
            "rules 'protect_valuable', 'vip_core' both match 2 combinations: "
            "stage=core, risk=high|critical, value=high")):
        ActionPolicy.from_rules(overlapping)


def test_gaps_and_overlaps_are_reported_together():
    mixed = rules()
    for r in mixed:
        if r["name"] == "end_lost_low_value":
            r["stage"] = "at_risk"  # leaves lost/low uncovered, overlaps at_risk/high risk/low
    with pytest.raises(PolicyError) as err:
        ActionPolicy.from_rules(mixed)
    message = str(err.value)
    assert "stage=lost, risk=low|medium|high|critical, value=low" in message
    assert ("rules 'harvest_drifting_low_value', 'end_lost_low_value' both match 2 "
            "combinations: stage=at_risk, risk=low|medium, value=low") in message
    assert ("rules 'end_drifting_low_value', 'end_lost_low_value' both match 2 "
            "combinations: stage=at_risk, risk=high|critical, value=low") in message


@pytest.mark.parametrize(("field", "bad", "message"), [
    ("stage", "prospekt", r"rule 'harvest_average_prospect': stage: unknown 'prospekt' "
                          r"\(did you mean 'prospect'\?\); valid: prospect, first_time_buyer"),
    ("risk", ["low", "severe"], r"rule 'harvest_average_prospect': risk: unknown 'severe'.*"
                                r"valid: low, medium, high, critical or '\*'"),
    ("value", "vip", r"rule 'harvest_average_prospect': value: unknown 'vip'; "
                     r"valid: low, medium, high or '\*'"),
    ("action", "nurture", r"rule 'harvest_average_prospect': unknown action 'nurture'; "
                          r"valid actions: start, protect, re_engineer, enhance, harvest, end, "
                          r"regain"),
    ("stage", [], r"rule 'harvest_average_prospect': stage must be '\*', a name or a non-empty"),
    ("value", ["*", "low"], r"value: '\*' matches anything and cannot be listed with names"),
    ("why", "", r"rule 'harvest_average_prospect': why must be a non-empty text"),
])
def test_unknown_names_are_refused_naming_the_rule(field, bad, message):
    broken = rules()
    broken[1][field] = bad
    with pytest.raises(PolicyError, match=message):
        ActionPolicy.from_rules(broken)


def test_malformed_rules_are_refused():
    broken = rules()
    broken[2]["colour"] = "red"
    del broken[3]["why"]
    broken[4]["name"] = broken[0]["name"]
    with pytest.raises(PolicyError) as err:
        ActionPolicy.from_rules([*broken, "not a rule"])
    message = str(err.value)
    assert "rule 'end_unpromising_prospect': unknown keys ['colour']" in message
    assert "rule 'enhance_engaged': missing keys ['why']" in message
    assert "rule 'start_promising_prospect': the name is used by more than one rule" in message
    assert "rule #14: expected a mapping" in message
    with pytest.raises(PolicyError, match="has no rules"):
        ActionPolicy.from_rules([])
    with pytest.raises(PolicyError, match="must be a list of rules, got dict"):
        ActionPolicy.from_rules(DEFAULT_RULES[0])


def test_a_rule_for_prospects_with_a_risk_label_matches_nothing():
    dead = [*rules(), rule("prospect_risky", stage="prospect", risk="high")]
    with pytest.raises(PolicyError, match=r"rule 'prospect_risky' matches no combination "
                                          r"\(prospects have no risk label"):
        ActionPolicy.from_rules(dead)


def test_rules_may_be_policy_rule_objects():
    policy = ActionPolicy.from_rules(DEFAULT_RULES)
    again = ActionPolicy.from_rules(policy.rules)
    assert again.rules == policy.rules
    assert policy.rules[3] == PolicyRule(
        name="enhance_engaged", stage=("first_time_buyer", "early_repeat", "core", "reactivated"),
        risk=("low",), value=("medium", "high"), action="enhance", why=policy.rules[3].why)
    assert policy.reasons["end_lost_low_value"].startswith("Lost customer of low value")


# --------------------------------------------------------------------------
# apply()
# --------------------------------------------------------------------------

SMALL_RULES = [
    rule("prospects", stage="prospect", action="start"),
    rule("buyers_valuable", stage=[s for s in STAGES if s != "prospect"],
         value=["high", "medium"], action="protect"),
    rule("buyers_cheap_safe", stage=[s for s in STAGES if s != "prospect"],
         risk=["low", "medium"], value="low", action="harvest"),
    rule("buyers_cheap_risky", stage=[s for s in STAGES if s != "prospect"],
         risk=["critical", "high"], value="low", action="end"),
]


def test_apply_on_a_hand_made_frame():
    frame = pd.DataFrame({
        "stage": ["core", "prospect", "lost", "at_risk", "prospect", "first_time_buyer"],
        "risk": ["medium", None, "critical", "high", "low", "low"],
        "value_tier": ["high", "low", "low", "low", "medium", "low"],
    }, index=[10, 11, 12, 13, 14, 15])
    policy = ActionPolicy.from_rules(SMALL_RULES)
    actions, names = policy.apply(frame["stage"], frame["risk"], frame["value_tier"])
    assert list(actions) == ["protect", "start", "end", "end", "start", "harvest"]
    assert list(names) == ["buyers_valuable", "prospects", "buyers_cheap_risky",
                           "buyers_cheap_risky", "prospects", "buyers_cheap_safe"]
    # Same answer from categoricals, as the scoring stage holds them.
    cat_actions, cat_names = policy.apply(
        frame["stage"].astype(STAGE_DTYPE), pd.Categorical(frame["risk"], dtype=RISK_DTYPE),
        pd.Categorical(frame["value_tier"], dtype=VALUE_DTYPE))
    assert list(cat_actions) == list(actions) and list(cat_names) == list(names)


def test_apply_matches_wildcards_and_lists_on_every_combination():
    policy = ActionPolicy.from_rules(SMALL_RULES)
    combos = [("prospect", None, v) for v in VALUE_TIERS] + [
        (s, r, v) for s, r, v in itertools.product(STAGES[1:], RISK_LABELS, VALUE_TIERS)]
    stage, risk, value = (list(x) for x in zip(*combos, strict=True))
    actions, names = policy.apply(stage, risk, value)
    for (s, r, v), action, name in zip(combos, actions, names, strict=True):
        if s == "prospect":
            expected = ("start", "prospects")
        elif v in ("high", "medium"):
            expected = ("protect", "buyers_valuable")
        elif r in ("low", "medium"):
            expected = ("harvest", "buyers_cheap_safe")
        else:
            expected = ("end", "buyers_cheap_risky")
        assert (action, name) == expected, (s, r, v)


def test_apply_prospects_are_decided_by_stage_and_value_only():
    policy = ActionPolicy.from_rules(DEFAULT_RULES)
    p = np.array([np.nan, 0.95, 0.01])
    risk = risk_label(p, BANDS)  # NA, critical, low: a prospect's p is ignored
    actions, names = policy.apply(["prospect"] * 3, risk, ["high"] * 3)
    assert list(actions) == ["start"] * 3
    assert list(names) == ["start_promising_prospect"] * 3


def test_apply_on_an_empty_frame():
    actions, names = ActionPolicy.from_rules(DEFAULT_RULES).apply([], [], [])
    assert actions.shape == names.shape == (0,)


@pytest.mark.parametrize(("stage", "risk", "value", "message"), [
    (["core"], [None], ["high"], r"1 rows of customers who have bought have no risk label "
                                 r"\(first: row 0, stage 'core'\)"),
    (["kore"], ["low"], ["high"], r"1 rows have an unknown stage \('kore'\); valid: prospect"),
    (["core"], ["severe"], ["high"], r"unknown risk \('severe'\)"),
    (["core"], ["low"], ["vip"], r"unknown value_tier \('vip'\)"),
    (["core", None], ["low", "low"], ["high", "high"], r"1 rows have no stage \(first: row 1\)"),
    (["core"], ["low"], [np.nan], r"1 rows have no value_tier"),
    (["core", "lost"], ["low"], ["high", "low"], r"have 2, 1 and 2 rows"),
])
def test_apply_refuses_bad_rows(stage, risk, value, message):
    policy = ActionPolicy.from_rules(DEFAULT_RULES)
    with pytest.raises(ValueError, match=message):
        policy.apply(stage, risk, value)


def test_default_rules_are_not_shared_between_copies():
    # The stage lists of the default are separate objects: editing one rule's copy
    # cannot change another rule.
    lists = [r["stage"] for r in DEFAULT_RULES if isinstance(r["stage"], list)]
    assert len({id(x) for x in lists}) == len(lists)
