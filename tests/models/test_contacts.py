"""The budget over the whole population: the order of the contacts, the limits kept
exactly, the rows left without spend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from models.actions import DEFAULT_RULES, ActionPolicy
from models.contacts import Budget, Limits, apply_budget, contact_summary, plan_contacts
from models.economics import BUDGET

POLICY = ActionPolicy.from_rules(DEFAULT_RULES)


def rows() -> pd.DataFrame:
    """Six customers: four contacts (net 10, 8, 8, 3) and two without spend."""
    return pd.DataFrame({
        "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
        "stage": ["core", "lost", "core", "at_risk", "core", "prospect"],
        "risk_label": ["high", "high", "medium", "high", "low", None],
        "value_tier": ["high", "high", "medium", "medium", "low", "low"],
        "action": ["protect", "regain", "protect", "protect", "harvest", "end"],
        "action_rule": ["net_value"] * 4 + ["no_spend_pays"] * 2,
        "expected_net_value": [10.0, 8.0, 8.0, 3.0, 0.0, 0.0],
        "action_cost": [5.0, 2.0, 4.0, 1.0, 0.0, 0.0],
    })


def test_without_limits_every_contact_is_ranked_by_net_value_ties_by_id():
    plan = plan_contacts(*(rows()[c] for c in ("customer_id", "action", "expected_net_value",
                                               "action_cost")), Budget())
    assert list(plan.rank) == [1, 2, 3, 4, 0, 0]
    assert not plan.dropped.any()


def test_a_contact_budget_keeps_the_best_and_gives_the_rest_no_spend():
    out, plan = apply_budget(rows(), POLICY, Budget(contacts=2))
    assert list(out["contact_rank"]) == [1, 2, pd.NA, pd.NA, pd.NA, pd.NA]
    # c3 (core, medium risk, medium value: protect_valuable) -> harvest; c4 (at risk,
    # medium value: protect_drifting_medium_value) -> harvest, the stage allows it.
    assert list(out["action"]) == ["protect", "regain", "harvest", "harvest", "harvest", "end"]
    assert list(out["action_rule"]) == ["net_value", "net_value", BUDGET, BUDGET,
                                        "no_spend_pays", "no_spend_pays"]
    assert list(out["expected_net_value"]) == [10.0, 8.0, 0.0, 0.0, 0.0, 0.0]
    assert list(out["action_cost"]) == [5.0, 2.0, 0.0, 0.0, 0.0, 0.0]


def test_a_money_budget_ranks_by_net_value_per_cost_and_is_never_exceeded():
    # Net per cost: c4 3.0, c2 4.0, c1 2.0, c3 2.0 -> c2, c4, c1, c3.
    plan = plan_contacts(*(rows()[c] for c in ("customer_id", "action", "expected_net_value",
                                               "action_cost")), Budget(money=7.9))
    assert list(plan.rank) == [0, 1, 0, 2, 0, 0]  # c2 + c4 = 3; + c1 = 8 > 7.9: stop
    plan = plan_contacts(*(rows()[c] for c in ("customer_id", "action", "expected_net_value",
                                               "action_cost")), Budget(money=8.0))
    assert list(plan.rank) == [3, 1, 0, 2, 0, 0]


def test_per_action_limits_skip_that_action_only():
    budget = Budget(contacts=3, per_action={"protect": Limits(contacts=1)})
    out, _ = apply_budget(rows(), POLICY, budget)
    assert list(out["contact_rank"].fillna(0)) == [1, 2, 0, 0, 0, 0]
    budget = Budget(per_action={"protect": Limits(money=9.0)})
    out, _ = apply_budget(rows(), POLICY, budget)
    # A money limit: by net value per cost, c2, c4, c1, c3; protect c4 1 + c1 5 = 6, + c3 4
    # = 10 > 9: c3 is left out.
    assert list(out["contact_rank"].fillna(0)) == [3, 1, 0, 2, 0, 0]


@pytest.mark.parametrize("budget", [Budget(contacts=0), Budget(money=0.0),
                                    Budget(per_action={"protect": Limits(contacts=0),
                                                       "regain": Limits(money=0.0)})])
def test_a_budget_of_zero_contacts_nobody(budget):
    out, plan = apply_budget(rows(), POLICY, budget)
    assert out["contact_rank"].isna().all() and not plan.contacted.any()
    assert set(out["action"]) <= {"harvest", "end"}
    assert (out["action_cost"] == 0).all()


def test_the_budget_is_respected_exactly_on_a_large_population():
    rng = np.random.default_rng(3)
    n = 20_000
    frame = pd.DataFrame({
        "customer_id": [f"c{i:05d}" for i in range(n)],
        "action": rng.choice(["protect", "regain", "enhance", "harvest"], n),
        "expected_net_value": rng.normal(5, 3, n).round(1),
        "action_cost": rng.choice([1.5, 4.0, 6.0, 9.5], n),
    })
    for budget in (Budget(contacts=1234), Budget(money=5000.0),
                   Budget(contacts=3000, money=9000.0,
                          per_action={"regain": Limits(contacts=200, money=1000.0)})):
        plan = plan_contacts(frame["customer_id"], frame["action"],
                             frame["expected_net_value"], frame["action_cost"], budget)
        kept = frame[plan.contacted]
        assert budget.contacts is None or len(kept) <= budget.contacts
        assert budget.money is None or kept["action_cost"].sum() <= budget.money
        regain = kept[kept["action"] == "regain"]
        for action, limits in budget.per_action.items():
            mine = kept[kept["action"] == action]
            assert len(mine) <= limits.contacts and mine["action_cost"].sum() <= limits.money
        assert len(regain) or "regain" not in budget.per_action
        # Filled: the next contact in order would not have fitted.
        if budget.contacts == 1234:
            assert len(kept) == 1234
        # The ranks are 1..k and follow the order (net value, or net value per cost).
        assert sorted(plan.rank[plan.contacted]) == list(range(1, len(kept) + 1))
        # The same plan for the rows in any order: it depends on the population only.
        shuffled = rng.permutation(n)
        again = plan_contacts(frame["customer_id"].to_numpy()[shuffled],
                              frame["action"].to_numpy()[shuffled],
                              frame["expected_net_value"].to_numpy()[shuffled],
                              frame["action_cost"].to_numpy()[shuffled], budget)
        np.testing.assert_array_equal(again.rank, plan.rank[shuffled])


def test_the_summary_says_what_the_budget_buys_and_what_more_would_return():
    got = contact_summary(rows(), Budget(contacts=2))
    assert got["candidates"] == 4 and got["contacts"] == 2
    assert got["by_action"] == {
        "protect": {"contacts": 1, "expected_cost": 5.0, "expected_net_value": 10.0},
        "regain": {"contacts": 1, "expected_cost": 2.0, "expected_net_value": 8.0}}
    assert got["expected_cost"] == 7.0 and got["expected_net_value"] == 18.0
    assert got["expected_value_saved"] == 25.0
    assert got["last_contact_net_value"] == 8.0
    # 2.5 contacts -> 2; 4 contacts: c3 and c4 add 11.
    assert got["larger_budgets"] == [
        {"factor": 1.25, "contacts": 2, "extra_expected_net_value": 0.0},
        {"factor": 2.0, "contacts": 4, "extra_expected_net_value": 11.0}]


def test_invalid_budgets_are_refused():
    with pytest.raises(ValidationError, match="Input should be greater than or equal to 0"):
        Budget(contacts=-1)
    with pytest.raises(ValidationError, match="Input should be a valid integer"):
        Budget.model_validate({"contacts": 2.5})
    with pytest.raises(ValidationError, match="'end' spends nothing by definition: leave it "
                                              "out of the budget"):
        Budget.model_validate({"per_action": {"end": {"contacts": 3}}})
