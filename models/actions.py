"""The action policy: from a customer's stage, risk label and value tier to one of seven actions.

Every scored customer gets three coordinates and one action:

* a **risk label** (``low``, ``medium``, ``high``, ``critical``) from its
  calibrated defection probability (:mod:`models.risk`);
* a **value tier** (``low``, ``medium``, ``high``) from its predicted spend in
  the horizon (:mod:`models.value_tiers`);
* an **action**, one of the seven customer-management strategies of the domain
  model (``DOMAIN.md``), chosen by the rule of an :class:`ActionPolicy` that
  matches its (stage, risk label, value tier). The policy is data (a list of
  rules, the ``score.policy`` section of ``params.yaml``; what a rule says is in
  :mod:`models.policy_rules`), checked on load to cover every combination
  exactly once, and the name of the rule that fired is written with every
  scored row, so an analyst can trace each action to a rule and its stated
  reason (``why``).

Prospects
---------
A prospect has never bought, so it has no defection probability: its risk label
is null (NA), whatever ``p`` the scorer may have produced for it. The policy
chooses a prospect's action from its stage and value tier only: the
combinations to cover are ``prospect x {NA} x tiers`` plus
``other stage x {low, medium, high, critical} x tiers``. A rule's ``risk: "*"``
matches the NA risk of prospects; a named risk label never does, so a rule for
prospects must say ``risk: "*"``. :meth:`ActionPolicy.apply` ignores the risk
label of prospect rows and requires one on every other row.

All functions here are pure: they take arrays and rules and return new arrays;
the scoring stage reads the rules from ``params.yaml`` and passes them in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from models.policy_rules import (
    _NA,
    _PROSPECT,
    _RISK_AXIS,
    ANY,
    PolicyRule,
    _axis_mask,
    _compact,
    _listing,
    _parse_rule,
    _valid_combinations,
)
from models.risk import RISK_DTYPE, RISK_LABELS
from models.stages import STAGES
from models.value_tiers import VALUE_DTYPE, VALUE_TIERS

__all__ = [
    "DEFAULT_RULES",
    "ActionPolicy",
    "PolicyError",
]


# --------------------------------------------------------------------------
# The action policy
# --------------------------------------------------------------------------


class PolicyError(ValueError):
    """The rules of an action policy are invalid, leave gaps or overlap."""


@dataclass(frozen=True)
class ActionPolicy:
    """A validated action policy: every (stage, risk, value tier) maps to exactly one rule.

    Build it with :meth:`from_rules`. The combinations it must cover are the
    seven stages x the four risk labels x the three value tiers, except that
    prospects have no risk label: for them, only (prospect, NA, tier). That
    makes ``3 + 6 x 4 x 3 = 75`` combinations; the policy stores the action and
    the rule of each in a lookup table that :meth:`apply` indexes with the codes
    of the input columns.

    Parameters
    ----------
    rules
        The rules, in the order given.
    """

    rules: tuple[PolicyRule, ...]
    _rule_of: np.ndarray = field(repr=False, compare=False)

    @classmethod
    def from_rules(cls, rules: Iterable[Mapping[str, Any] | PolicyRule]) -> ActionPolicy:
        """Validate rules and build the policy.

        Parameters
        ----------
        rules
            Mappings with the keys ``name``, ``stage``, ``risk``, ``value``,
            ``action`` and ``why`` (as in ``params.yaml``), or :class:`PolicyRule`
            objects. ``stage``, ``risk`` and ``value`` are each one name, a list of
            names, or ``"*"`` for any.

        Returns
        -------
        ActionPolicy

        Raises
        ------
        PolicyError
            Listing every problem: a rule with missing or unknown keys, an
            unknown stage, risk label, value tier or action (with the rule and
            the valid names), a duplicate rule name, a rule that matches no
            combination; or, when every rule is valid, every combination no rule
            covers and every combination that several rules match (with their
            names).
        """
        if isinstance(rules, str | bytes | Mapping) or not isinstance(rules, Iterable):
            raise PolicyError(f"the action policy must be a list of rules, got "
                              f"{type(rules).__name__}")
        rules = list(rules)
        if not rules:
            raise PolicyError("the action policy has no rules")
        problems: list[str] = []
        parsed: list[PolicyRule] = []
        for i, raw in enumerate(rules):
            rule = _parse_rule(raw, i, problems)
            if rule is not None:
                parsed.append(rule)
        seen: dict[str, int] = {}
        for i, rule in enumerate(parsed):
            if rule.name in seen:
                problems.append(f"rule {rule.name!r}: the name is used by more than one rule "
                                "(names identify the rule that fired)")
            seen.setdefault(rule.name, i)
        if problems:
            raise PolicyError(_listing("the action policy has invalid rules", problems))

        valid = _valid_combinations()
        masks = np.stack([rule.mask() for rule in parsed])
        for rule, mask in zip(parsed, masks, strict=True):
            if not (mask & valid).any():
                problems.append(
                    f"rule {rule.name!r} matches no combination"
                    + (" (prospects have no risk label: use risk: '*' for them)"
                       if _axis_mask(rule.stage, STAGES)[_PROSPECT] else "")
                )
        counts = (masks & valid).sum(axis=0)
        gaps = np.argwhere(valid & (counts == 0))
        if gaps.size:
            problems.append(
                f"{len(gaps)} combinations are covered by no rule: "
                + "; ".join(_compact(map(tuple, gaps)))
            )
        overlaps: dict[tuple[str, ...], list[tuple[int, ...]]] = {}
        for cell in np.argwhere(valid & (counts > 1)):
            names = tuple(r.name for r, m in zip(parsed, masks, strict=True) if m[tuple(cell)])
            overlaps.setdefault(names, []).append(tuple(cell))
        for names, cells in overlaps.items():
            problems.append(
                f"rules {', '.join(repr(n) for n in names)} "
                f"{'both' if len(names) == 2 else 'all'} match "
                f"{len(cells)} combination{'s' if len(cells) > 1 else ''}: "
                + "; ".join(_compact(cells))
            )
        if problems:
            raise PolicyError(_listing("the action policy does not map every combination of "
                                       "stage, risk and value tier to exactly one rule",
                                       problems))
        rule_of = np.where(valid, masks.argmax(axis=0), -1)
        return cls(rules=tuple(parsed), _rule_of=rule_of)

    @property
    def reasons(self) -> dict[str, str]:
        """Rule name -> its ``why``."""
        return {rule.name: rule.why for rule in self.rules}

    def actions_by_stage(self) -> dict[str, frozenset[str]]:
        """Stage -> the actions some rule gives it (for any risk label and value tier):
        what the stage allows when the actions are chosen by expected net value
        (:func:`models.economics.decide`)."""
        out: dict[str, set[str]] = {stage: set() for stage in STAGES}
        for s, r, v in np.argwhere(self._rule_of >= 0):
            out[STAGES[s]].add(self.rules[self._rule_of[s, r, v]].action)
        return {stage: frozenset(actions) for stage, actions in out.items()}

    def table(self) -> pd.DataFrame:
        """Every combination with its action and rule (for reports and documentation).

        Returns
        -------
        pandas.DataFrame
            Columns ``stage``, ``risk`` (NA for prospects), ``value_tier``,
            ``action``, ``action_rule``, ``why``; one row per combination, in the
            order of :data:`~models.stages.STAGES`, :data:`RISK_LABELS` and
            :data:`VALUE_TIERS`.
        """
        rows = []
        for s, r, v in np.argwhere(self._rule_of >= 0):
            rule = self.rules[self._rule_of[s, r, v]]
            rows.append({"stage": STAGES[s], "risk": _RISK_AXIS[r], "value_tier": VALUE_TIERS[v],
                         "action": rule.action, "action_rule": rule.name, "why": rule.why})
        out = pd.DataFrame(rows)
        out["risk"] = pd.Categorical(out["risk"], dtype=RISK_DTYPE)
        out["value_tier"] = pd.Categorical(out["value_tier"], dtype=VALUE_DTYPE)
        return out

    def apply(self, stage: Any, risk: Any, value_tier: Any) -> tuple[np.ndarray, np.ndarray]:
        """The action and the rule that chose it, for every row.

        Parameters
        ----------
        stage, risk, value_tier
            One-dimensional array-likes of equal length (e.g. columns of the
            scored frame): stage names, risk labels and value tiers, as strings
            or categoricals. The risk of ``prospect`` rows is ignored (they have
            none, see the module docstring); every other row needs one.

        Returns
        -------
        action, action_rule : numpy.ndarray
            Object arrays of the action and of the rule name, one per row.

        Raises
        ------
        ValueError
            When the lengths differ, a value is not a known stage, risk label or
            value tier, or a stage, a value tier, or the risk of a customer who
            is not a prospect is missing (with the number of rows and an example).
        """
        s = _codes(stage, STAGES, "stage")
        r = _codes(risk, RISK_LABELS, "risk")
        v = _codes(value_tier, VALUE_TIERS, "value_tier")
        if not s.size == r.size == v.size:
            raise ValueError(f"ActionPolicy.apply: stage, risk and value_tier have "
                             f"{s.size}, {r.size} and {v.size} rows")
        for codes, what in ((s, "stage"), (v, "value_tier")):
            if (codes < 0).any():
                raise ValueError(f"ActionPolicy.apply: {int((codes < 0).sum())} rows have no "
                                 f"{what} (first: row {int(np.flatnonzero(codes < 0)[0])})")
        prospect = s == _PROSPECT
        missing = ~prospect & (r < 0)
        if missing.any():
            i = int(np.flatnonzero(missing)[0])
            raise ValueError(
                f"ActionPolicy.apply: {int(missing.sum())} rows of customers who have bought "
                f"have no risk label (first: row {i}, stage {STAGES[s[i]]!r}); only prospects "
                "go without one"
            )
        r = np.where(prospect, _NA, r)
        rule = self._rule_of[s, r, v]
        actions = np.array([x.action for x in self.rules], dtype=object)
        names = np.array([x.name for x in self.rules], dtype=object)
        return actions[rule], names[rule]


# --------------------------------------------------------------------------
# The default policy
# --------------------------------------------------------------------------

_BUYING = ["first_time_buyer", "early_repeat", "core", "reactivated"]

#: The default policy (the ``score.policy`` section of ``params.yaml``), after the
#: domain model's table of strategies. ``re_engineer`` is "a customer who costs
#: more to serve than it brings"; without cost data it is approximated by a
#: customer who is still buying (first-time, repeat, core or reactivated) but
#: whose expected spend is low and whose defection risk is high or critical:
#: personal attention would cost more than it can save, so service moves to
#: self-service and automated channels. ``end`` is kept for customers who have
#: stopped buying (at risk or lost) with low value and for low-value prospects.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"name": "start_promising_prospect", "stage": "prospect", "risk": ANY, "value": "high",
     "action": "start",
     "why": "Prospect among the highest predicted value: begin the relationship, diagnose "
            "needs first, then offer."},
    {"name": "harvest_average_prospect", "stage": "prospect", "risk": ANY, "value": "medium",
     "action": "harvest",
     "why": "Prospect of middling predicted value: keep it in low-cost automated contact, "
            "no extra spend until it shows interest."},
    {"name": "end_unpromising_prospect", "stage": "prospect", "risk": ANY, "value": "low",
     "action": "end",
     "why": "Prospect with no sign of future profit: stop active spending on it."},
    {"name": "enhance_engaged", "stage": [*_BUYING], "risk": "low", "value": ["medium", "high"],
     "action": "enhance",
     "why": "Buying, low risk, room to grow: cross-sell and up-sell, move it up the value "
            "ladder."},
    {"name": "protect_valuable", "stage": [*_BUYING], "risk": ["medium", "high", "critical"],
     "value": ["medium", "high"], "action": "protect",
     "why": "Valuable customer whose risk is rising: proactive contact, priority service and "
            "follow-up before a competitor gets in."},
    {"name": "harvest_stable_low_value", "stage": [*_BUYING], "risk": ["low", "medium"],
     "value": "low", "action": "harvest",
     "why": "Stable customer with low predicted value: keep service lean, no extra spend."},
    {"name": "re_engineer_risky_low_value", "stage": [*_BUYING], "risk": ["high", "critical"],
     "value": "low", "action": "re_engineer",
     "why": "Still buying, but low value and likely to leave: personal service costs more "
            "than it brings, move it to self-service and automated channels."},
    {"name": "regain_drifting_high_value", "stage": "at_risk", "risk": ANY, "value": "high",
     "action": "regain",
     "why": "High-value customer drifting away: win-back contact, find out why, strong offer "
            "at the right moment."},
    {"name": "protect_drifting_medium_value", "stage": "at_risk", "risk": ANY,
     "value": "medium", "action": "protect",
     "why": "Customer of middling value overdue for its next purchase: proactive contact "
            "before it is lost."},
    {"name": "harvest_drifting_low_value", "stage": "at_risk", "risk": ["low", "medium"],
     "value": "low", "action": "harvest",
     "why": "Low-value customer overdue, but likely to buy again: no extra spend."},
    {"name": "end_drifting_low_value", "stage": "at_risk", "risk": ["high", "critical"],
     "value": "low", "action": "end",
     "why": "Low-value customer overdue and likely gone: no sign of future profit, stop "
            "active spending."},
    {"name": "regain_lost_valuable", "stage": "lost", "risk": ANY, "value": ["medium", "high"],
     "action": "regain",
     "why": "Lost customer still worth winning back: find out why it left and contact it "
            "with a strong offer."},
    {"name": "end_lost_low_value", "stage": "lost", "risk": ANY, "value": "low",
     "action": "end",
     "why": "Lost customer of low value: no sign of future profit, stop active spending."},
)


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _codes(values: Any, categories: Sequence[str], what: str) -> np.ndarray:
    """Positions of ``values`` in ``categories``; -1 for missing; unknown names refused."""
    if np.ndim(values) != 1:
        raise ValueError(f"ActionPolicy.apply: {what} must be one-dimensional, got shape "
                         f"{np.shape(values)}")
    raw = pd.Series(np.asarray(values, dtype=object))
    missing = raw.isna().to_numpy()
    codes = pd.Index(list(categories)).get_indexer(raw.where(~missing, None))
    unknown = (codes < 0) & ~missing
    if unknown.any():
        names = sorted({str(x) for x in raw[unknown]})
        raise ValueError(f"ActionPolicy.apply: {int(unknown.sum())} rows have an unknown {what} "
                         f"({', '.join(repr(n) for n in names[:5])}); valid: "
                         f"{', '.join(categories)}")
    return codes.astype(np.int64)
