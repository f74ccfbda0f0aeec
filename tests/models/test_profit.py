"""Profit of contact policies at a budget, by hand, against the truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.actions import DEFAULT_RULES, ActionPolicy
from models.contacts import Budget
from models.economics import ActionEconomics, Economics
from models.profit import evaluate_policies, true_values

POLICY = ActionPolicy.from_rules(DEFAULT_RULES)
ECONOMICS = Economics(margin=0.5, actions={
    "protect": ActionEconomics(cost=2, effect=0.5, effect_on="defection"),
    "regain": ActionEconomics(cost=2, effect=0.5, effect_on="defection"),
})


def scored() -> pd.DataFrame:
    """Three core customers and a lost one, as the scorer decided them."""
    frame = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "stage": ["core", "core", "core", "lost"],
        "p_defect": [0.6, 0.5, 0.9, 0.8],
        "predicted_value": [20.0, 40.0, 10.0, 10.0],
    })
    frame["value_at_risk"] = frame["p_defect"] * frame["predicted_value"]
    # protect a: 0.3 * 50 * 0.5 - 2 = 5.5; b: 0.25 * 80 * 0.5 - 2 = 8; c: 0.45 * 100 *
    # 0.5 - 2 = 20.5; regain d: 0.4 * 50 * 0.5 - 2 = 8.
    frame["action"] = ["protect", "protect", "protect", "regain"]
    frame["expected_net_value"] = [5.5, 8.0, 20.5, 8.0]
    frame["action_cost"] = [2.0, 2.0, 2.0, 2.0]
    return frame


def truth() -> pd.DataFrame:
    """The same customers' truth: c is a lost cause (no effect), b a sleeping dog."""
    return pd.DataFrame({
        "is_buyer": [True] * 4,
        "p_defect": [0.6, 0.5, 0.9, 0.8],
        "expected_spend": [20.0, 40.0, 10.0, 10.0],
        **{f"effect_{a}": [0.0] * 4 for a in ("start", "re_engineer", "enhance")},
        "effect_protect": [0.5, -0.5, 0.0, 0.5],
        "effect_regain": [0.5, -0.5, 0.0, 0.5],
    })


def test_true_values_use_the_true_effects():
    net, _ = true_values(ECONOMICS, truth())
    # protect is column 1 of SPEND_ACTIONS: a 5.5; b -0.25 * 80 * 0.5 - 2 = -12; c -2.
    assert net[:, 1] == pytest.approx([5.5, -12.0, -2.0, 8.0])


def test_each_policy_is_charged_what_its_contacts_truly_return():
    metrics, curves = evaluate_policies(
        scored(), np.array(["protect", "protect", "end", "regain"], dtype=object), ECONOMICS,
        Budget(contacts=2), allowed=POLICY.actions_by_stage(), truth=truth(),
        bootstrap_samples=200, seed=0)
    got = metrics["policies"]
    # costed: c (20.5 expected, -2 true), then b or d at 8 (b before d by id): -2 - 12.
    assert got["costed"] == {"contacts": 2, "expected_profit": 28.5, "true_profit": -14.0}
    # top by p_defect: c (0.9), d (0.8, regain): -2 + 8.
    assert got["top_p_defect"]["true_profit"] == pytest.approx(6.0)
    # rules: the rows whose rule spends (a, b, d), by value at risk: b 20, a 12.
    assert got["rules"]["true_profit"] == pytest.approx(-12.0 + 5.5)
    # The oracle: d 8, a 5.5.
    assert got["oracle"] == {"contacts": 2, "expected_profit": 13.5, "true_profit": 13.5}
    assert metrics["oracle_share"] == pytest.approx(-14.0 / 13.5, abs=1e-4)
    vs = metrics["costed_vs_top_p_defect"]
    assert vs["diff"] == pytest.approx(-20.0) and vs["ci_low"] <= -20.0 <= vs["ci_high"]
    assert list(curves.columns) == ["contacts", "costed", "rules", "top_p_defect",
                                    "top_value_at_risk", "oracle"]
    # All four contacts of the costed policy: -2 - 12 + 8 + 5.5.
    assert curves.set_index("contacts").loc[4, "costed"] == pytest.approx(-0.5)


def test_without_the_truth_only_expected_profits():
    metrics, curves = evaluate_policies(
        scored(), np.array(["protect"] * 3 + ["regain"], dtype=object), ECONOMICS,
        Budget(contacts=1), allowed=POLICY.actions_by_stage())
    assert "oracle" not in metrics["policies"] and "oracle_share" not in metrics
    assert metrics["policies"]["costed"] == {"contacts": 1, "expected_profit": 20.5}
    assert "oracle" not in curves.columns
