"""Expected net value of the actions, by hand, and the action each row gets."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from features.schema import CONTACT_ACTIONS
from models.actions import DEFAULT_RULES, ActionPolicy
from models.economics import (
    NET_VALUE,
    NO_SPEND_PAYS,
    SPEND_ACTIONS,
    STAGE_ALLOWS_NO_SPEND,
    ActionEconomics,
    Economics,
    action_values,
    decide,
    no_spend_actions,
)

POLICY = ActionPolicy.from_rules(DEFAULT_RULES)
J = {a: j for j, a in enumerate(SPEND_ACTIONS)}

#: Margin 0.5; every number below is worked out in the comments.
ECONOMICS = Economics(margin=0.5, actions={
    "protect": ActionEconomics(cost=2, incentive=4, effect=0.5, effect_on="defection"),
    "regain": ActionEconomics(cost=1, effect=0.1, effect_on="defection",
                              effect_kind="absolute"),
    "enhance": ActionEconomics(cost=1, effect=0.1, effect_on="spend"),
    "start": ActionEconomics(cost=1, incentive=2, effect=0.25, effect_on="spend"),
})


def test_hand_computed_net_values():
    p = np.array([0.6, 0.2, np.nan, 0.995])
    v = np.array([20.0, 100.0, 40.0, 1.0])
    net, cost = action_values(ECONOMICS, p, v)
    # protect, p 0.6, V 20: retained spend 20 / 0.4 = 50; p' = 0.3; saved 0.3 * 50 * 0.5
    # = 7.5; cost 2 + 4 * (1 - 0.3) = 4.8; net 2.7.
    assert net[0, J["protect"]] == pytest.approx(2.7)
    assert cost[0, J["protect"]] == pytest.approx(4.8)
    # p 0.2, V 100: retained 125; p' 0.1; saved 0.1 * 125 * 0.5 = 6.25; cost 2 + 3.6.
    assert net[1, J["protect"]] == pytest.approx(6.25 - 5.6)
    # regain, absolute 0.1: p 0.6 -> 0.5, saved 0.1 * 50 * 0.5 = 2.5, cost 1: net 1.5.
    assert net[0, J["regain"]] == pytest.approx(1.5)
    # p 0.995: 1 - p floored at 0.02, retained 1 / 0.02 = 50; saved 0.1 * 50 * 0.5 - 1.
    assert net[3, J["regain"]] == pytest.approx(1.5)
    # enhance, +10% of spend: V 20 -> 2 more, 1 of margin, cost 1: net 0; V 100: 5 - 1.
    assert net[0, J["enhance"]] == pytest.approx(0.0)
    assert net[1, J["enhance"]] == pytest.approx(4.0)
    # start on a prospect (no p): +25% of 40 = 10, 5 of margin; incentive paid by every
    # contacted prospect: cost 1 + 2 = 3; net 2.
    assert net[2, J["start"]] == pytest.approx(2.0)
    assert cost[2, J["start"]] == pytest.approx(3.0)
    # An effect on defection does not apply without p; re_engineer has no economics.
    assert np.isnan(net[2, J["protect"]]) and np.isnan(net[:, J["re_engineer"]]).all()


def test_a_harmful_effect_costs_value():
    harm = Economics(margin=1.0, actions={
        "protect": ActionEconomics(cost=0, effect=-0.5, effect_on="defection")})
    net, _ = action_values(harm, [0.4], [60.0])
    # p 0.4 -> 0.6: retained spend 100 lost with probability 0.2: -20.
    assert net[0, J["protect"]] == pytest.approx(-20.0)


def test_learned_effects_replace_the_prior_row_by_row():
    net, _ = action_values(ECONOMICS, [0.6, 0.6], [20.0, 20.0],
                           effects={"protect": np.array([0.5, 0.0])})
    assert net[:, J["protect"]] == pytest.approx([2.7, -2 - 4 * 0.4])


def test_each_row_gets_the_allowed_action_of_highest_net_value_or_no_spend():
    d = decide(ECONOMICS, POLICY,
               stage=["core", "lost", "prospect", "prospect", "lost", "core"],
               risk=["high", "high", None, None, "low", "low"],
               value_tier=["low", "medium", "high", "low", "low", "high"],
               p_defect=[0.6, 0.6, np.nan, np.nan, 0.999, 0.01],
               predicted_value=[20.0, 20.0, 40.0, 4.0, 0.0, 1.0])
    # core: protect 2.7 beats enhance 0; lost: regain 1.5 (protect is not a lost stage's
    # action); prospect: start 2; a prospect of value 4: start 0.5 - 3 < 0, no spend, its
    # rule's own harvest/end; lost of no value: regain pays nothing, end; core, V 1:
    # nothing pays, harvest.
    assert list(d.action) == ["protect", "regain", "start", "end", "end", "harvest"]
    assert list(d.action_rule) == [NET_VALUE, NET_VALUE, NET_VALUE, NO_SPEND_PAYS,
                                   NO_SPEND_PAYS, NO_SPEND_PAYS]
    assert d.expected_net_value == pytest.approx([2.7, 1.5, 2.0, 0, 0, 0])
    assert d.action_cost == pytest.approx([4.8, 1.0, 3.0, 0, 0, 0])


def test_costs_above_every_saving_leave_everyone_without_spend():
    dear = Economics(actions={a: ActionEconomics(cost=1e6, effect=1.0, effect_on="spend")
                              for a in ("start", "enhance")}
                     | {a: ActionEconomics(cost=1e6, effect=1.0, effect_on="defection")
                        for a in ("protect", "regain", "re_engineer")})
    rng = np.random.default_rng(0)
    n = 500
    stage = rng.choice(["prospect", "core", "at_risk", "lost", "first_time_buyer"], n)
    p = np.where(stage == "prospect", np.nan, rng.random(n))
    risk = np.where(stage == "prospect", None,
                    np.array(["low", "medium", "high", "critical"])[
                        (np.nan_to_num(p) * 3.99).astype(int)])
    tier = rng.choice(["low", "medium", "high"], n)
    d = decide(dear, POLICY, stage=stage, risk=risk, value_tier=tier, p_defect=p,
               predicted_value=rng.gamma(2.0, 500.0, n))
    assert set(d.action) <= {"harvest", "end"}
    assert (d.action_cost == 0).all() and (d.expected_net_value == 0).all()


def test_the_rule_table_decides_in_rules_mode_and_the_economics_price_it():
    rules = ECONOMICS.model_copy(update={"mode": "rules"})
    d = decide(rules, POLICY, stage=["core", "core"], risk=["high", "low"],
               value_tier=["medium", "low"], p_defect=[0.6, 0.1],
               predicted_value=[20.0, 20.0])
    assert list(d.action) == ["protect", "harvest"]
    assert list(d.action_rule) == ["protect_valuable", "harvest_stable_low_value"]
    assert d.expected_net_value == pytest.approx([2.7, 0.0])


def test_a_stage_the_rules_give_no_costed_action_says_so():
    rules = [dict(r) for r in DEFAULT_RULES]
    for r in rules:
        if r["name"] == "regain_lost_valuable":
            r["action"] = "end"
    d = decide(ECONOMICS, ActionPolicy.from_rules(rules), stage=["lost"], risk=["high"],
               value_tier=["high"], p_defect=[0.6], predicted_value=[1000.0])
    assert list(d.action) == ["end"] and list(d.action_rule) == [STAGE_ALLOWS_NO_SPEND]


def test_the_action_of_no_spend_follows_the_rules_then_the_stage():
    got = no_spend_actions(POLICY, ["core", "lost", "at_risk", "prospect"],
                           ["high", "low", "critical", None], ["high", "high", "low", "low"])
    assert list(got) == ["harvest", "end", "end", "end"]


@pytest.mark.parametrize(("change", "message"), [
    ({"margin": 0}, "Input should be greater than 0"),
    ({"margin": 1.5}, "Input should be less than or equal to 1"),
    ({"mode": "greedy"}, "Input should be 'net_value' or 'rules'"),
    ({"actions": {"harvest": {"cost": 1, "effect": 0, "effect_on": "spend"}}},
     "'harvest' spends nothing by definition: leave it out of the economics"),
    ({"actions": {"protekt": {"cost": 1, "effect": 0, "effect_on": "spend"}}},
     "unknown action 'protekt' (did you mean 'protect'?); the actions that spend are start, "
     "protect, re_engineer, enhance, regain"),
    ({"actions": {"start": {"cost": 1, "effect": 0.1, "effect_on": "defection"}}},
     "start begins the relationship with a prospect, who has no defection probability: its "
     "effect must be on spend"),
    ({"actions": {"protect": {"cost": -1, "effect": 0.1, "effect_on": "defection"}}},
     "Input should be greater than or equal to 0"),
    ({"actions": {"protect": {"cost": 1, "effect": 1.5, "effect_on": "defection"}}},
     "a relative effect on defection is the share of the defection probability removed: at "
     "most 1 (all of it), got 1.5"),
    ({"actions": {"protect": {"cost": 1, "effect": -2, "effect_on": "defection",
                              "effect_kind": "absolute"}}},
     "an absolute effect on defection is a change of probability: between -1 and 1, got -2"),
    ({"actions": {"enhance": {"cost": 1, "effect": -1, "effect_on": "spend"}}},
     "a relative effect on spend is a lift of the spend: above -1 (a contact cannot remove "
     "more than all of it), got -1"),
])
def test_invalid_economics_are_refused_with_the_reason(change, message):
    with pytest.raises(ValidationError) as raised:
        Economics.model_validate(change)
    assert message in str(raised.value)


def test_the_actions_that_spend_are_those_a_retention_contact_may_name():
    assert SPEND_ACTIONS == CONTACT_ACTIONS
