"""The economics of the actions: what a contact costs, what it is expected to save, and
the action of highest expected net value for every customer.

A retention team decides with money: what contacting a customer costs, what the
contact is expected to save or add, and how many contacts it can afford. The five
actions that spend (:data:`SPEND_ACTIONS`: ``start``, ``protect``, ``re_engineer``,
``enhance``, ``regain``) each have an :class:`ActionEconomics`: a cost per contact, an
optional incentive paid by the customers who take it, and a prior effect (used until
data can estimate it): a reduction of the defection probability, or a lift of spend.
``harvest`` and ``end`` spend nothing (:data:`NO_SPEND_ACTIONS`).

The expected net value of action ``a`` for a customer with calibrated defection
probability ``p`` and predicted spend ``V`` (expected spend in the horizon) at margin
``m`` (the share of spend that is profit):

* effect on **defection**: the probability after the contact is ``p' = p (1 - e)``
  (relative) or ``p' = p - e`` (absolute), clipped to [0, 1]; the spend of a retained
  customer is ``V / (1 - p)`` (``1 - p`` floored at :data:`MIN_STAY_SHARE`), so the
  value saved is ``(p - p') V / (1 - p) m``, and the incentive is paid by the
  ``1 - p'`` who stay: ``cost = contact + incentive (1 - p')``. Prospects have no
  ``p``: an effect on defection does not apply to them.
* effect on **spend**: the spend after the contact is ``V (1 + e)`` (relative) or
  ``V + e`` (absolute, an amount), the value added ``(V' - V) m``; the incentive is paid
  by the ``1 - p`` who buy (by every contacted prospect, who has no ``p``).

``net = value saved or added - cost``. A negative effect is a contact that harms
(some customers react badly).

:func:`decide` picks, for every row, the action with the highest expected net value
among the costed actions its stage allows (the stages allow the actions the rule table
gives them, :meth:`models.actions.ActionPolicy.actions_by_stage`); when none pays
(net value not above 0), the no-spend action (:func:`no_spend_actions`). With
``mode: rules`` the rule table decides and the economics only price its actions. The
budget, a step over the whole population, is :mod:`models.contacts`.

Data contract: arrays of one row per customer in, arrays of the same length out; the
scoring stage reads the economics from ``params.yaml`` (``score.economics``).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    field_validator,
    model_validator,
)

from models.actions import ActionPolicy
from models.policy_rules import ACTIONS

__all__ = [
    "BUDGET",
    "NET_VALUE",
    "NO_SPEND_ACTIONS",
    "NO_SPEND_PAYS",
    "SPEND_ACTIONS",
    "STAGE_ALLOWS_NO_SPEND",
    "ActionEconomics",
    "Decided",
    "Economics",
    "EffectSettings",
    "action_values",
    "decide",
    "no_spend_actions",
]

#: The actions that spend on a customer (a contact, an offer, a channel change).
SPEND_ACTIONS: tuple[str, ...] = tuple(a for a in ACTIONS if a not in ("harvest", "end"))
#: The actions that spend nothing.
NO_SPEND_ACTIONS: tuple[str, ...] = ("harvest", "end")

#: ``action_rule`` of a row whose action is the costed action of highest expected net value.
NET_VALUE = "net_value"
#: ``action_rule`` of a row whose stage allows costed actions, none of which pays.
NO_SPEND_PAYS = "no_spend_pays"
#: ``action_rule`` of a row whose stage allows no costed action (the rule table's constraint).
STAGE_ALLOWS_NO_SPEND = "stage_allows_no_spend"
#: ``action_rule`` of a row whose best action paid but the budget went to better contacts.
BUDGET = "budget"

#: Floor of ``1 - p`` when the spend of a retained customer is taken as ``V / (1 - p)``:
#: a probability of defection near 1 leaves too little spend to divide reliably.
MIN_STAY_SHARE = 0.02


class ActionEconomics(BaseModel):
    """What one action costs and what it is expected to do (a prior).

    Parameters
    ----------
    cost
        Cost of one contact, in the data's currency (>= 0).
    incentive
        Cost of the offer, paid by each contacted customer who buys in the horizon (>= 0).
    effect
        The prior effect: with ``effect_on: defection`` the share of the defection
        probability removed (``relative``, at most 1) or the probability removed
        (``absolute``, between -1 and 1); with ``effect_on: spend`` the relative lift of
        the spend (above -1) or the amount added (``absolute``). Negative: the contact
        harms.
    effect_on
        ``defection`` or ``spend``.
    effect_kind
        ``relative`` or ``absolute``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    cost: StrictFloat = Field(ge=0, allow_inf_nan=False)
    incentive: StrictFloat = Field(default=0.0, ge=0, allow_inf_nan=False)
    effect: StrictFloat = Field(allow_inf_nan=False)
    effect_on: Literal["defection", "spend"]
    effect_kind: Literal["relative", "absolute"] = "relative"

    @model_validator(mode="after")
    def _effect_in_range(self) -> ActionEconomics:
        e = self.effect
        if self.effect_on == "defection" and self.effect_kind == "relative" and not e <= 1:
            raise ValueError(f"a relative effect on defection is the share of the defection "
                             f"probability removed: at most 1 (all of it), got {e}")
        if self.effect_on == "defection" and self.effect_kind == "absolute" and not -1 <= e <= 1:
            raise ValueError(f"an absolute effect on defection is a change of probability: "
                             f"between -1 and 1, got {e}")
        if self.effect_on == "spend" and self.effect_kind == "relative" and not e > -1:
            raise ValueError(f"a relative effect on spend is a lift of the spend: above -1 (a "
                             f"contact cannot remove more than all of it), got {e}")
        return self


def _default_actions() -> dict[str, ActionEconomics]:
    return {
        "start": ActionEconomics(cost=2.0, incentive=5.0, effect=0.15, effect_on="spend"),
        "protect": ActionEconomics(cost=4.0, incentive=5.0, effect=0.15,
                                   effect_on="defection"),
        "enhance": ActionEconomics(cost=1.5, effect=0.05, effect_on="spend"),
        "regain": ActionEconomics(cost=6.0, incentive=10.0, effect=0.05,
                                  effect_on="defection"),
    }


class Economics(BaseModel):
    """The economics of the actions (``score.economics`` in ``params.yaml``).

    Parameters
    ----------
    mode
        ``net_value``: each customer gets the costed action of highest expected net
        value that its stage allows, or no spend; ``rules``: the rule table
        (``score.policy``) chooses and the economics price its actions.
    margin
        Share of spend that is profit, in (0, 1].
    actions
        Action -> :class:`ActionEconomics`, for the actions that spend
        (:data:`SPEND_ACTIONS`); an action left out is never chosen by net value and
        costs nothing where the rule table chooses it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["net_value", "rules"] = "net_value"
    margin: StrictFloat = Field(default=0.3, gt=0, le=1, allow_inf_nan=False)
    actions: dict[str, ActionEconomics] = Field(default_factory=_default_actions)

    @field_validator("actions")
    @classmethod
    def _known_actions(cls, value: dict[str, ActionEconomics]) -> dict[str, ActionEconomics]:
        check_spend_actions(value, "economics")
        if "start" in value and value["start"].effect_on == "defection":
            raise ValueError("start begins the relationship with a prospect, who has no "
                             "defection probability: its effect must be on spend")
        return value


def check_spend_actions(keys: Mapping[str, Any], what: str) -> None:
    """Refuse keys that are not costed actions, naming the nearest one."""
    for key in keys:
        if key in NO_SPEND_ACTIONS:
            raise ValueError(f"{key!r} spends nothing by definition: leave it out of the "
                             f"{what}")
        if key not in SPEND_ACTIONS:
            close = difflib.get_close_matches(str(key), SPEND_ACTIONS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"unknown action {key!r}{hint}; the actions that spend are "
                             f"{', '.join(SPEND_ACTIONS)}")


# --------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------


def action_values(economics: Economics, p_defect: Any, predicted_value: Any,
                  effects: Mapping[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Expected net value and expected cost of every costed action for every row.

    Parameters
    ----------
    economics
        Costs, priors and margin.
    p_defect
        Calibrated defection probability per row; NaN for prospects.
    predicted_value
        Expected spend in the horizon per row (negative values count as 0).
    effects
        Optional action -> effect per row (an array), in place of the prior.

    Returns
    -------
    net, cost : numpy.ndarray
        Shape ``(rows, len(SPEND_ACTIONS))``, columns in the order of
        :data:`SPEND_ACTIONS`; NaN where the action has no economics or does not
        apply (an effect on defection for a row without ``p_defect``).
    """
    p = np.asarray(p_defect, dtype=np.float64)
    v = np.maximum(np.asarray(predicted_value, dtype=np.float64), 0.0)
    has_p = np.isfinite(p)
    stay = v / np.maximum(1.0 - np.where(has_p, p, 0.0), MIN_STAY_SHARE)
    net = np.full((p.size, len(SPEND_ACTIONS)), np.nan)
    cost = np.full_like(net, np.nan)
    m = economics.margin
    for j, action in enumerate(SPEND_ACTIONS):
        e = economics.actions.get(action)
        if e is None:
            continue
        effect = (np.asarray(effects[action], dtype=np.float64)
                  if effects is not None and action in effects else e.effect)
        if e.effect_on == "defection":
            after = p * (1.0 - effect) if e.effect_kind == "relative" else p - effect
            after = np.clip(after, 0.0, 1.0)
            gain = (p - after) * stay * m
            paid = e.cost + e.incentive * (1.0 - after)
            net[:, j] = np.where(has_p, gain - paid, np.nan)
            cost[:, j] = np.where(has_p, paid, np.nan)
        else:
            added = v * effect if e.effect_kind == "relative" else np.broadcast_to(effect, v.shape)
            paid = e.cost + e.incentive * np.where(has_p, 1.0 - p, 1.0)
            net[:, j] = added * m - paid
            cost[:, j] = paid
    return net, cost


@dataclass(frozen=True)
class Decided:
    """The decision of every row before the budget: action, what decided it, its expected
    net value and cost (0 for the actions that spend nothing)."""

    action: np.ndarray
    action_rule: np.ndarray
    expected_net_value: np.ndarray
    action_cost: np.ndarray


def no_spend_actions(policy: ActionPolicy, stage: Any, risk: Any,
                     value_tier: Any) -> np.ndarray:
    """The action of a customer on whom nothing is spent: the rule table's action when it
    is ``harvest`` or ``end``; else ``harvest`` where the stage allows it, else ``end``
    where the stage allows it, else ``harvest``."""
    rule_action, _ = policy.apply(stage, risk, value_tier)
    return _no_spend(policy, stage, rule_action)


def _no_spend(policy: ActionPolicy, stage: Any, rule_action: np.ndarray) -> np.ndarray:
    allowed = policy.actions_by_stage()
    fallback = np.array(["harvest" if "harvest" in allowed[s] or "end" not in allowed[s]
                         else "end" for s in allowed], dtype=object)
    by_stage = fallback[_stage_codes(allowed, stage)]
    return np.where(np.isin(rule_action, NO_SPEND_ACTIONS), rule_action, by_stage)


def _stage_codes(allowed: Mapping[str, Any], stage: Any) -> np.ndarray:
    """Positions of the stages of ``stage`` among the keys of ``allowed``."""
    return pd.Index(list(allowed)).get_indexer(np.asarray(stage, dtype=object).astype(str))


def decide(economics: Economics, policy: ActionPolicy, *, stage: Any, risk: Any,
           value_tier: Any, p_defect: Any, predicted_value: Any,
           effects: Mapping[str, Any] | None = None) -> Decided:
    """The action of every row, before the budget (see the module docstring).

    Parameters
    ----------
    economics, policy
        The economics and the rule table (its constraints, and the decisions in
        ``mode: rules``).
    stage, risk, value_tier
        As :meth:`models.actions.ActionPolicy.apply` takes them.
    p_defect, predicted_value, effects
        As :func:`action_values` takes them.

    Returns
    -------
    Decided
        ``action_rule`` is the rule's name in ``mode: rules``, else :data:`NET_VALUE`,
        :data:`NO_SPEND_PAYS` or :data:`STAGE_ALLOWS_NO_SPEND`.
    """
    rule_action, rule_name = policy.apply(stage, risk, value_tier)
    net, cost = action_values(economics, p_defect, predicted_value, effects)
    n = len(rule_action)
    if economics.mode == "rules":
        column = {a: j for j, a in enumerate(SPEND_ACTIONS)}
        j = np.array([column.get(a, -1) for a in rule_action], dtype=np.int64)
        rows = np.arange(n)
        priced = (j >= 0) & np.isfinite(net[rows, np.maximum(j, 0)])
        value = np.where(priced, net[rows, np.maximum(j, 0)], 0.0)
        paid = np.where(priced, cost[rows, np.maximum(j, 0)], 0.0)
        return Decided(rule_action, rule_name, value, paid)
    allowed = policy.actions_by_stage()
    mask = np.array([[a in allowed[s] for a in SPEND_ACTIONS] for s in allowed], dtype=bool)
    ok = mask[_stage_codes(allowed, stage)]
    candidate = np.where(ok & np.isfinite(net), net, -np.inf)
    best = candidate.argmax(axis=1) if n else np.zeros(0, np.int64)
    best_net = candidate[np.arange(n), best]
    pays = best_net > 0
    fallback = _no_spend(policy, stage, rule_action)
    action = np.where(pays, np.asarray(SPEND_ACTIONS, dtype=object)[best], fallback)
    why = np.where(ok.any(axis=1), NO_SPEND_PAYS, STAGE_ALLOWS_NO_SPEND).astype(object)
    rule = np.where(pays, NET_VALUE, why).astype(object)
    return Decided(action.astype(object), rule, np.where(pays, best_net, 0.0),
                   np.where(pays, cost[np.arange(n), best], 0.0))


class EffectSettings(BaseModel):
    """How the effects that replace the priors are learned from past contacts
    (:mod:`models.uplift`; ``train.effects`` in ``params.yaml``).

    Parameters
    ----------
    contact_within_days
        A contact belongs to the latest snapshot cutoff at or before it, at most this
        many days earlier (31: the month of a monthly snapshot grid).
    min_rows
        The least contacted and control rows of an action to learn its effect.
    min_outcomes
        On defection, the least defected and retained rows of each group (in the part
        that fits and in the part that stops the boosting).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    contact_within_days: StrictInt = Field(default=31, ge=0, le=366)
    min_rows: StrictInt = Field(default=200, ge=20, le=10_000_000)
    min_outcomes: StrictInt = Field(default=20, ge=1, le=1_000_000)
