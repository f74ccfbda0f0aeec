"""The budget of a scoring run: which customers are contacted, in what order, across the
whole population.

Each scored row carries the action decided for it alone (:func:`models.economics.decide`)
with its expected net value and cost. The contacts (rows whose action spends,
:data:`~models.economics.SPEND_ACTIONS`) are then ranked over the whole population, and
a :class:`Budget` (contacts and money, in total and per action) keeps the best of them:

* the order is by expected net value, or by expected net value per unit of cost when
  some limit is in money (the greedy rule of the knapsack); ties by ``customer_id``, so
  the order does not depend on how the rows were split into chunks or partitions;
* in that order, a contact is dropped when its action's limit is reached, and the
  contacts stop at the first one that would exceed a total limit; every limit is
  respected exactly (never exceeded);
* a dropped contact gets the action of no spend (:func:`models.economics.no_spend_actions`),
  an expected net value and a cost of 0, and ``action_rule`` :data:`~models.economics.BUDGET`.

``contact_rank`` is the order of the kept contacts (1 first), null for everyone else.
:func:`contact_summary` says what the budget buys and what a larger one would return.

Pure functions of arrays and frames; the scoring stage reads the budget from
``params.yaml`` (``score.budget``) and applies it to the spooled scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, field_validator

from models.actions import ActionPolicy
from models.economics import BUDGET, SPEND_ACTIONS, check_spend_actions, no_spend_actions

__all__ = [
    "PLAN_COLUMNS",
    "Budget",
    "Limits",
    "apply_budget",
    "contact_summary",
    "plan_contacts",
    "within_budget",
]

#: The columns of the scored rows the budget reads.
PLAN_COLUMNS: tuple[str, ...] = ("customer_id", "stage", "risk_label", "value_tier", "action",
                                 "action_rule", "expected_net_value", "action_cost")


class Limits(BaseModel):
    """At most ``contacts`` contacts and ``money`` spent (expected cost); None: no limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    contacts: StrictInt | None = Field(default=None, ge=0)
    money: StrictFloat | None = Field(default=None, ge=0, allow_inf_nan=False)

    def scaled(self, factor: float) -> Limits:
        return Limits(contacts=None if self.contacts is None else int(self.contacts * factor),
                      money=None if self.money is None else self.money * factor)


class Budget(Limits):
    """The budget of a scoring run (``score.budget`` in ``params.yaml``): limits in total
    and per action (``per_action``: action -> :class:`Limits`)."""

    per_action: dict[str, Limits] = Field(default_factory=dict)

    @field_validator("per_action")
    @classmethod
    def _known_actions(cls, value: dict[str, Limits]) -> dict[str, Limits]:
        check_spend_actions(value, "budget")
        return value

    @property
    def in_money(self) -> bool:
        """Whether some limit is in money (then contacts are ranked by net value per cost)."""
        return self.money is not None or any(x.money is not None
                                             for x in self.per_action.values())

    @property
    def limited(self) -> bool:
        return (self.contacts is not None or self.in_money
                or any(x.contacts is not None for x in self.per_action.values()))

    def scaled(self, factor: float) -> Budget:
        """Every limit times ``factor`` (contacts rounded down)."""
        top = Limits.scaled(self, factor)
        return Budget(contacts=top.contacts, money=top.money,
                      per_action={a: x.scaled(factor) for a, x in self.per_action.items()})


@dataclass(frozen=True)
class ContactPlan:
    """Which rows are contacted: ``rank`` (1 first; 0 for rows not contacted) and
    ``dropped`` (contacts the budget left out)."""

    rank: np.ndarray
    dropped: np.ndarray

    @property
    def contacted(self) -> np.ndarray:
        return self.rank > 0


def plan_contacts(customer_id: Any, action: Any, net: Any, cost: Any,
                  budget: Budget) -> ContactPlan:
    """Rank the contacts over the rows given and keep those the budget pays for.

    Parameters
    ----------
    customer_id, action, net, cost
        Per row: identifier (unique), decided action, its expected net value and cost.
    budget
        The limits.

    Returns
    -------
    ContactPlan
    """
    action = np.asarray(action, dtype=object)
    net = np.asarray(net, dtype=np.float64)
    cost = np.asarray(cost, dtype=np.float64)
    contact = np.flatnonzero(np.isin(action, SPEND_ACTIONS))
    rank = np.zeros(action.size, dtype=np.int64)
    dropped = np.zeros(action.size, dtype=bool)
    if not contact.size:
        return ContactPlan(rank, dropped)
    c_net, c_cost = net[contact], cost[contact]
    if budget.in_money:
        with np.errstate(divide="ignore", invalid="ignore"):
            key = np.where(c_cost > 0, c_net / c_cost, np.inf)
    else:
        key = c_net
    order = pd.DataFrame({"key": key, "id": np.asarray(customer_id, dtype=object)[contact]}
                         ).sort_values(["key", "id"], ascending=[False, True],
                                       kind="stable").index.to_numpy()
    rows = contact[order]
    keep = within_budget(action[contact][order], c_cost[order], budget)
    rank[rows[keep]] = np.arange(1, int(keep.sum()) + 1)
    dropped[rows[~keep]] = True
    return ContactPlan(rank, dropped)


def within_budget(action: np.ndarray, cost: np.ndarray, budget: Budget) -> np.ndarray:
    """Which contacts, taken in the order given, the budget keeps: a contact is dropped
    when its action's limit is reached, and the contacts stop at the first one that
    would exceed a total limit."""
    keep = np.ones(action.size, dtype=bool)
    for name, limits in budget.per_action.items():
        mine = action == name
        keep[mine] &= _within(limits, cost[mine])
    kept = np.flatnonzero(keep)
    keep[kept] = _within(budget, cost[kept])
    return keep


def _within(limits: Limits, costs: np.ndarray) -> np.ndarray:
    """The longest prefix of contacts (in order) that stays within the limits."""
    ok = np.ones(costs.size, dtype=bool)
    if limits.contacts is not None:
        ok &= np.arange(1, costs.size + 1) <= limits.contacts
    if limits.money is not None:
        ok &= np.cumsum(costs) <= limits.money
    return np.minimum.accumulate(ok) if ok.size else ok


def apply_budget(scores: pd.DataFrame, policy: ActionPolicy,
                 budget: Budget) -> tuple[pd.DataFrame, ContactPlan]:
    """The decided rows after the budget.

    Parameters
    ----------
    scores
        The columns :data:`PLAN_COLUMNS` of every scored row of one date (the whole
        population). Not modified.
    policy
        The rule table (the action of no spend of a dropped contact).
    budget
        The limits.

    Returns
    -------
    rows : pandas.DataFrame
        ``action``, ``action_rule``, ``expected_net_value``, ``action_cost`` and
        ``contact_rank`` (nullable Int64), one row per input row, in order.
    plan : ContactPlan
    """
    plan = plan_contacts(scores["customer_id"], scores["action"],
                         scores["expected_net_value"], scores["action_cost"], budget)
    action = scores["action"].to_numpy(dtype=object).copy()
    rule = scores["action_rule"].to_numpy(dtype=object).copy()
    net = scores["expected_net_value"].to_numpy(dtype=np.float64).copy()
    cost = scores["action_cost"].to_numpy(dtype=np.float64).copy()
    cut = plan.dropped
    if cut.any():
        part = scores.loc[cut]
        action[cut] = no_spend_actions(policy, part["stage"], part["risk_label"],
                                       part["value_tier"])
        rule[cut] = BUDGET
        net[cut] = 0.0
        cost[cut] = 0.0
    rank = pd.Series(plan.rank, dtype="Int64").where(plan.contacted)
    out = pd.DataFrame({"action": pd.array(action, dtype="str"),
                        "action_rule": pd.array(rule, dtype="str"),
                        "expected_net_value": net, "action_cost": cost,
                        "contact_rank": rank.array})
    return out, plan


def contact_summary(scores: pd.DataFrame, budget: Budget,
                    factors: tuple[float, ...] = (1.25, 2.0)) -> dict[str, Any]:
    """What the budget buys, from the decided rows before the budget.

    Parameters
    ----------
    scores
        ``customer_id``, ``action``, ``expected_net_value``, ``action_cost`` of every
        row, as decided before the budget.
    budget
        The limits.
    factors
        Larger budgets to compare with (every limit times each factor).

    Returns
    -------
    dict
        ``budget`` (the limits), ``contacts`` and ``candidates`` (rows whose best
        action spends), ``by_action`` (contacts, expected cost and net value per
        action), ``expected_cost``, ``expected_value_saved`` (value saved or added
        before costs), ``expected_net_value``, ``last_contact_net_value`` (the
        marginal profit of the last contact kept), and ``larger_budgets``: for each
        factor, the contacts and the extra expected net value it would return.
    """
    def plan_of(b: Budget) -> tuple[np.ndarray, Mapping[str, Any]]:
        plan = plan_contacts(scores["customer_id"], scores["action"],
                             scores["expected_net_value"], scores["action_cost"], b)
        kept = plan.contacted
        return plan.rank, {"contacts": int(kept.sum()),
                           "expected_net_value": round(float(net[kept].sum()), 2)}

    net = scores["expected_net_value"].to_numpy(dtype=np.float64)
    cost = scores["action_cost"].to_numpy(dtype=np.float64)
    action = scores["action"].to_numpy(dtype=object)
    rank, totals = plan_of(budget)
    kept = rank > 0
    by_action = {}
    for name in SPEND_ACTIONS:
        mine = kept & (action == name)
        if mine.any():
            by_action[name] = {"contacts": int(mine.sum()),
                               "expected_cost": round(float(cost[mine].sum()), 2),
                               "expected_net_value": round(float(net[mine].sum()), 2)}
    last = (float(net[np.argmax(rank)]) if kept.any() else None)
    larger = []
    if budget.limited:
        for factor in factors:
            _, more = plan_of(budget.scaled(factor))
            larger.append({"factor": factor, "contacts": more["contacts"],
                           "extra_expected_net_value": round(
                               more["expected_net_value"] - totals["expected_net_value"], 2)})
    return {
        "budget": budget.model_dump(),
        "candidates": int(np.isin(action, SPEND_ACTIONS).sum()),
        "contacts": totals["contacts"],
        "by_action": by_action,
        "expected_cost": round(float(cost[kept].sum()), 2),
        "expected_value_saved": round(float((net[kept] + cost[kept]).sum()), 2),
        "expected_net_value": totals["expected_net_value"],
        "last_contact_net_value": None if last is None else round(last, 4),
        "larger_budgets": larger,
    }
